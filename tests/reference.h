/*
 * reference.h — an independent, deliberately plain float64 reference for the
 * numerical tests: a seeded random number generator for test data, least
 * squares (OLS, ridge) by the normal equations solved in long double, and
 * binary logistic / softmax regression by a damped Newton loop in long
 * double. Simple loops only: no BLAS, no LAPACK, no library code. Meant for
 * small problems (n <= a few thousand, d <= 8, K <= 4); speed is no concern.
 *
 * Objectives (the ones documented in README.md):
 *   least squares  sum_i (y_i - x_i.w - b)^2 + lambda sum_j pen_j w_j^2
 *                  pen_j = std_j^2 with standardize, else 1
 *   logistic       (1/n) sum_i [log(1 + e^t_i) - y_i t_i] + (lambda/2) ||w_z||^2
 *   softmax        (1/n) sum_i [logsumexp(t_i) - t_{i,y_i}] + (lambda/2) sum_k ||w_zk||^2
 * where for the classifiers, with standardize, w_z are the weights on
 * z_j = (x_j - shift_j) / std_j (shift_j = mean_j with an intercept, else 0;
 * std_j the population std, 1 for a constant column) and the result is
 * converted back to raw feature units. Intercepts are never penalized.
 * Softmax results are reported with intercepts centered (sum 0) and, when
 * lambda = 0, with every feature's weights centered across classes (the
 * unique representative of the invariant family; the penalized solution is
 * centered by itself).
 */
#ifndef STREAMFIT_TEST_REFERENCE_H
#define STREAMFIT_TEST_REFERENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- seeded random numbers: splitmix64 + Box-Muller ---- */
typedef struct ref_rng {
    uint64_t state;
    bool has_spare;
    double spare;
} ref_rng;

void ref_rng_seed(ref_rng *r, uint64_t seed);
uint64_t ref_rng_u64(ref_rng *r);
/* Uniform in (0, 1). */
double ref_rng_uniform(ref_rng *r);
/* Standard normal. */
double ref_rng_normal(ref_rng *r);

/* ---- linear algebra ---- */
/* Solve A x = b (n x n, row-major) by Gaussian elimination with partial
 * pivoting; A and b are overwritten, x is returned in b. Returns false when a
 * pivot is exactly zero. */
bool ref_gauss_solve(size_t n, long double *A, long double *b);

/* Population mean and std of column j of a row-major n x d matrix. */
void ref_column_stats(const double *X, size_t n, size_t d, size_t j, double *mean, double *std);

/* ---- models (X row-major n x d) ---- */
/* Least squares / ridge: w (d) and b (0 without intercept). */
bool ref_least_squares(const double *X, const double *y, size_t n, size_t d, double lambda,
                       bool intercept, bool standardize, double *w, double *b);

/* Binary logistic, labels 0/1: w (d), b. */
bool ref_logistic(const double *X, const double *y, size_t n, size_t d, double lambda,
                  bool intercept, bool standardize, double *w, double *b);

/* Softmax, labels 0..K-1: W (K x d row-major), b (K). */
bool ref_softmax(const double *X, const double *y, size_t n, size_t d, size_t K, double lambda,
                 bool intercept, bool standardize, double *W, double *b);

/* ---- comparisons ---- */
/* Norm-wise relative error max_j |est_j - ref_j| / max_j |ref_j| (absolute
 * when ref is all zero). */
double ref_rel_err(const double *est, const double *ref, size_t n);
/* Largest component-wise relative error |est_j - ref_j| / |ref_j| (absolute
 * where ref_j == 0). */
double ref_max_comp_rel_err(const double *est, const double *ref, size_t n);
/* Log relative error -log10(|est - cert| / |cert|) (absolute when cert == 0),
 * capped at 16 for an exact match. */
double ref_lre(double est, double cert);

#endif
