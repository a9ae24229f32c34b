/*
 * backend_util.h — small numeric helpers shared by backends and models:
 * stable sigmoid / log(1+e^t) / softmax, finiteness, and column-major
 * matrix chores.
 */
#ifndef STREAMFIT_BACKEND_UTIL_H
#define STREAMFIT_BACKEND_UTIL_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* Whether all n values are finite (a NULL array has none that are not). */
static inline bool sf_all_finite(const double *a, size_t n)
{
    for (size_t i = 0; a && i < n; i++)
        if (!isfinite(a[i])) return false;
    return true;
}

static inline double sf_sigmoid(double t)
{
    if (t >= 0) return 1.0 / (1.0 + exp(-t));
    double e = exp(t);
    return e / (1.0 + e);
}

/* log(1 + e^t) without overflow or loss of digits for large |t|. */
static inline double sf_log1pexp(double t)
{
    if (t > 0) return t + log1p(exp(-t));
    return log1p(exp(t));
}

/* sigmoid(t) and log(1 + e^t) together, with one exp. */
static inline double sf_sigmoid_log1pexp(double t, double *log1pexp_t)
{
    double e = exp(-fabs(t)); /* in (0, 1]: no overflow */
    *log1pexp_t = (t > 0 ? t : 0.0) + log1p(e);
    return t >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

/* t <- softmax(t); returns logsumexp(t) of the input. */
static inline double sf_softmax_inplace(double *t, size_t k)
{
    double mx = t[0];
    for (size_t c = 1; c < k; c++)
        if (t[c] > mx) mx = t[c];
    double s = 0;
    for (size_t c = 0; c < k; c++) {
        t[c] = exp(t[c] - mx);
        s += t[c];
    }
    for (size_t c = 0; c < k; c++)
        t[c] /= s;
    return mx + log(s);
}

/* Means of the d feature columns and the label of a row-major batch; the
 * second pass corrects the first pass's rounding (sum of deviations). */
static inline void sf_column_means(const double *X, const double *y, size_t n, size_t d,
                                   double *mean)
{
    for (size_t j = 0; j <= d; j++)
        mean[j] = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < d; j++)
            mean[j] += X[i * d + j];
        mean[d] += y[i];
    }
    for (size_t j = 0; j <= d; j++)
        mean[j] /= (double)n;
    double c[d + 1]; /* small: d + 1 doubles; rows are walked in order, as stored */
    for (size_t j = 0; j <= d; j++)
        c[j] = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < d; j++)
            c[j] += X[i * d + j] - mean[j];
        c[d] += y[i] - mean[d];
    }
    for (size_t j = 0; j <= d; j++)
        mean[j] += c[j] / (double)n;
}

/* Chan-Golub-LeVeque pairwise merge of (nb, mean_b, m2_b) into (na, mean_a,
 * m2_a), p x p column-major, in place; delta (p) is work space and ends as
 * mean_b - the old mean_a. Returns the merged count.
 *   M2 = M2a + M2b + (na nb / n) delta delta^T,  mean = mean_a + delta nb / n */
static inline double sf_chan_merge(size_t p, double na, double *mean_a, double *m2_a, double nb,
                                   const double *mean_b, const double *m2_b, double *delta)
{
    double n = na + nb;
    if (nb <= 0) return na;
    for (size_t j = 0; j < p; j++)
        delta[j] = mean_b[j] - mean_a[j];
    double f = na * nb / n;
    for (size_t c = 0; c < p; c++)
        for (size_t r = 0; r < p; r++)
            m2_a[c * p + r] += m2_b[c * p + r] + f * delta[r] * delta[c];
    for (size_t j = 0; j < p; j++)
        mean_a[j] += delta[j] * (nb / n);
    return n;
}

/* Mirror the upper triangle of a p x p column-major matrix into the lower. */
static inline void sf_symmetrize_upper(double *A, size_t p)
{
    for (size_t c = 0; c < p; c++)
        for (size_t r = c + 1; r < p; r++)
            A[c * p + r] = A[r * p + c];
}

/* Copy the upper-trapezoidal rows x cols part of A (leading dim lda) into R
 * (leading dim ldr), leaving R's other entries as they are. */
static inline void sf_copy_upper(const double *A, size_t lda, size_t rows, size_t cols, double *R,
                                 size_t ldr)
{
    for (size_t c = 0; c < cols; c++)
        for (size_t r = 0; r <= c && r < rows; r++)
            R[c * ldr + r] = A[c * lda + r];
}

#endif
