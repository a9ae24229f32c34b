/*
 * model_lsq_exact.c — least squares from a stream's exact statistics
 * (exact_gram.h): the normal system (C_xx + P) w = c_xy of model_lsq.c,
 * formed, scaled and solved by Cholesky in double-double, then rounded.
 * Working with about 106 bits, the solve keeps the double-precision digits
 * of systems whose condition would cost them in double (NIST Wampler, Filip)
 * without the rows at hand. p is small (the trainer keeps exact statistics
 * only for few features), so the O(d^3) double-double work is negligible.
 */
#include <math.h>
#include <stdlib.h>

#include "dd_arith.h"
#include "exact_gram.h"
#include "internal.h"

/* A pivot of the scaled system below this share of its diagonal is rank
 * deficiency (to the sums' precision): the caller's rank-revealing path. */
#define SF_LSQ_EXACT_MIN_PIVOT 1e-26

/* L L^T = A in place (lower triangle of d x d column-major A); the pivots
 * (L_jj^2) into piv. false when a pivot is too small. */
static bool dd_cholesky(size_t d, sf_dd *A, double *piv)
{
    for (size_t j = 0; j < d; j++) {
        sf_dd s = A[j * d + j];
        for (size_t k = 0; k < j; k++)
            s = sf_dd_sub(s, sf_dd_mul(A[k * d + j], A[k * d + j]));
        if (!(s.hi > SF_LSQ_EXACT_MIN_PIVOT * A[j * d + j].hi)) return false;
        piv[j] = s.hi;
        sf_dd l = sf_dd_sqrt(s);
        A[j * d + j] = l;
        for (size_t i = j + 1; i < d; i++) {
            sf_dd t = A[j * d + i];
            for (size_t k = 0; k < j; k++)
                t = sf_dd_sub(t, sf_dd_mul(A[k * d + i], A[k * d + j]));
            A[j * d + i] = sf_dd_div(t, l);
        }
    }
    return true;
}

/* x <- (L L^T)^-1 x */
static void dd_cholesky_solve(size_t d, const sf_dd *L, sf_dd *x)
{
    for (size_t i = 0; i < d; i++) {
        for (size_t k = 0; k < i; k++)
            x[i] = sf_dd_sub(x[i], sf_dd_mul(L[k * d + i], x[k]));
        x[i] = sf_dd_div(x[i], L[i * d + i]);
    }
    for (size_t i = d; i-- > 0;) {
        for (size_t k = i + 1; k < d; k++)
            x[i] = sf_dd_sub(x[i], sf_dd_mul(L[i * d + k], x[k]));
        x[i] = sf_dd_div(x[i], L[i * d + i]);
    }
}

/* The power of two nearest sqrt(a) for a > 0, else 1: scaling by it is exact. */
static double pow2_root(double a) { return a > 0 && isfinite(a) ? ldexp(1.0, ilogb(a) / 2) : 1.0; }

sf_status sf_lsq_exact_solve(const sf_exact_gram *g, bool intercept, const double *pen, double *w,
                             double *b0, double *rcond)
{
    size_t p = g->p, d = p - 1;
    sf_dd *M = malloc(sizeof(sf_dd) * (p * p + p + d * d + d));
    double *s = malloc(sizeof(double) * 2 * d);
    if (!M || !s) {
        free(M);
        free(s);
        return SF_ERR_NO_MEMORY;
    }
    sf_dd *mean = M + p * p, *A = mean + p, *x = A + d * d;
    double *piv = s + d;
    sf_exact_gram_moments(g, intercept, mean, M);
    for (size_t j = 0; j < d; j++)
        s[j] = pow2_root(sf_dd_round(M[j * p + j]) + pen[j]);
    for (size_t c = 0; c < d; c++) {
        for (size_t r = 0; r < d; r++) {
            sf_dd a = M[c * p + r];
            if (r == c) a = sf_dd_add(a, sf_dd_of(pen[c]));
            A[c * d + r] = sf_dd_mul_d(a, 1.0 / (s[r] * s[c]));
        }
        x[c] = sf_dd_mul_d(M[d * p + c], 1.0 / s[c]);
    }
    sf_status st = SF_OK;
    if (dd_cholesky(d, A, piv)) {
        dd_cholesky_solve(d, A, x);
        sf_dd b = intercept ? mean[d] : sf_dd_of(0.0);
        double pmin = INFINITY, pmax = 0;
        for (size_t j = 0; j < d; j++) {
            x[j] = sf_dd_mul_d(x[j], 1.0 / s[j]);
            w[j] = sf_dd_round(x[j]);
            if (intercept) b = sf_dd_sub(b, sf_dd_mul(mean[j], x[j]));
            pmin = piv[j] < pmin ? piv[j] : pmin;
            pmax = piv[j] > pmax ? piv[j] : pmax;
        }
        *b0 = sf_dd_round(b);
        *rcond = pmax > 0 ? pmin / pmax : 0; /* a cheap estimate, reported only */
    } else {
        st = SF_ERR_NOT_POSITIVE_DEFINITE;
    }
    free(M);
    free(s);
    return st;
}
