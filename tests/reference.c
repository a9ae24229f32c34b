/*
 * reference.c — the independent float64 reference used by the numerical
 * tests (see reference.h): splitmix64 + Box-Muller random numbers, least
 * squares by the normal equations on centered data solved by Gaussian
 * elimination with partial pivoting in long double, and logistic / softmax
 * regression by a damped Newton loop with every sum in long double, run until
 * the gradient is at the long double rounding level. Nothing here calls the
 * library, BLAS or LAPACK.
 */
#include "reference.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define REF_TWO_PI 6.283185307179586476925286766559L

/* ---- random numbers ---- */

void ref_rng_seed(ref_rng *r, uint64_t seed)
{
    r->state = seed;
    r->has_spare = false;
    r->spare = 0;
}

uint64_t ref_rng_u64(ref_rng *r)
{
    uint64_t z = (r->state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

double ref_rng_uniform(ref_rng *r) { return ((double)(ref_rng_u64(r) >> 11) + 0.5) * 0x1p-53; }

double ref_rng_normal(ref_rng *r)
{
    if (r->has_spare) {
        r->has_spare = false;
        return r->spare;
    }
    double u1 = ref_rng_uniform(r), u2 = ref_rng_uniform(r);
    double rad = sqrt(-2.0 * log(u1));
    double ang = (double)(REF_TWO_PI * (long double)u2);
    r->spare = rad * sin(ang);
    r->has_spare = true;
    return rad * cos(ang);
}

/* ---- linear algebra ---- */

bool ref_gauss_solve(size_t n, long double *A, long double *b)
{
    for (size_t k = 0; k < n; k++) {
        size_t piv = k;
        for (size_t i = k + 1; i < n; i++)
            if (fabsl(A[i * n + k]) > fabsl(A[piv * n + k])) piv = i;
        if (A[piv * n + k] == 0) return false;
        if (piv != k) {
            for (size_t j = 0; j < n; j++) {
                long double tmp = A[k * n + j];
                A[k * n + j] = A[piv * n + j];
                A[piv * n + j] = tmp;
            }
            long double tmp = b[k];
            b[k] = b[piv];
            b[piv] = tmp;
        }
        for (size_t i = k + 1; i < n; i++) {
            long double f = A[i * n + k] / A[k * n + k];
            if (f == 0) continue;
            for (size_t j = k; j < n; j++)
                A[i * n + j] -= f * A[k * n + j];
            b[i] -= f * b[k];
        }
    }
    for (size_t k = n; k-- > 0;) {
        long double s = b[k];
        for (size_t j = k + 1; j < n; j++)
            s -= A[k * n + j] * b[j];
        b[k] = s / A[k * n + k];
    }
    return true;
}

static void column_stats_ld(const double *X, size_t n, size_t d, size_t j, long double *mean,
                            long double *std)
{
    long double m = 0, v = 0;
    for (size_t i = 0; i < n; i++)
        m += X[i * d + j];
    m /= (long double)n;
    for (size_t i = 0; i < n; i++) {
        long double c = X[i * d + j] - m;
        v += c * c;
    }
    *mean = m;
    *std = sqrtl(v / (long double)n);
}

void ref_column_stats(const double *X, size_t n, size_t d, size_t j, double *mean, double *std)
{
    long double m, s;
    column_stats_ld(X, n, d, j, &m, &s);
    *mean = (double)m;
    *std = (double)s;
}

/* ---- least squares ---- */

bool ref_least_squares(const double *X, const double *y, size_t n, size_t d, double lambda,
                       bool intercept, bool standardize, double *w, double *b)
{
    long double *A = calloc(d * d + 2 * d + 1, sizeof(long double));
    if (!A) return false;
    long double *rhs = A + d * d, *mx = rhs + d, my = 0;
    if (intercept) {
        for (size_t i = 0; i < n; i++) {
            for (size_t j = 0; j < d; j++)
                mx[j] += X[i * d + j];
            my += y[i];
        }
        for (size_t j = 0; j < d; j++)
            mx[j] /= (long double)n;
        my /= (long double)n;
    }
    for (size_t i = 0; i < n; i++) {
        long double yc = (long double)y[i] - my;
        for (size_t a = 0; a < d; a++) {
            long double xa = (long double)X[i * d + a] - mx[a];
            rhs[a] += xa * yc;
            for (size_t c = 0; c < d; c++)
                A[a * d + c] += xa * ((long double)X[i * d + c] - mx[c]);
        }
    }
    for (size_t j = 0; j < d && lambda > 0; j++) {
        long double pen = 1;
        if (standardize) {
            long double m, s;
            column_stats_ld(X, n, d, j, &m, &s);
            if (s > 0) pen = s * s;
        }
        A[j * d + j] += (long double)lambda * pen;
    }
    bool ok = ref_gauss_solve(d, A, rhs);
    long double b0 = my;
    for (size_t j = 0; j < d; j++) {
        w[j] = (double)rhs[j];
        b0 -= mx[j] * rhs[j];
    }
    *b = intercept ? (double)b0 : 0.0;
    free(A);
    return ok;
}

/* ---- logistic and softmax by Newton ---- */

typedef struct cls_problem {
    const long double *Z; /* n x d, the (standardized) features */
    const double *y;
    size_t n, d, K; /* K = 1: binary logistic with one score */
    long double lambda;
    size_t P;          /* K * (d + 1) */
    const bool *free_; /* P: which parameters move */
} cls_problem;

static long double log1pexpl_(long double t)
{
    return t > 0 ? t + log1pl(expl(-t)) : log1pl(expl(t));
}

/* f, g (P) and, when H != NULL, the P x P Hessian (row-major). */
static void cls_eval(const cls_problem *pr, const long double *theta, long double *f,
                     long double *g, long double *H)
{
    size_t n = pr->n, d = pr->d, p = d + 1, K = pr->K, P = pr->P;
    long double loss = 0, t[8], pk[8], v[16];
    memset(g, 0, sizeof(long double) * P);
    if (H) memset(H, 0, sizeof(long double) * P * P);
    for (size_t i = 0; i < n; i++) {
        const long double *z = pr->Z + i * d;
        for (size_t a = 0; a < d; a++)
            v[a] = z[a];
        v[d] = 1;
        for (size_t k = 0; k < K; k++) {
            long double s = theta[k * p + d];
            for (size_t a = 0; a < d; a++)
                s += theta[k * p + a] * z[a];
            t[k] = s;
        }
        if (K == 1) {
            long double yi = pr->y[i];
            loss += log1pexpl_(t[0]) - yi * t[0];
            long double pi = t[0] >= 0 ? 1 / (1 + expl(-t[0])) : expl(t[0]) / (1 + expl(t[0]));
            for (size_t a = 0; a < p; a++)
                g[a] += (pi - yi) * v[a];
            if (H)
                for (size_t a = 0; a < p; a++)
                    for (size_t c = 0; c < p; c++)
                        H[a * P + c] += pi * (1 - pi) * v[a] * v[c];
        } else {
            size_t yi = (size_t)pr->y[i];
            long double mx = t[0], s = 0;
            for (size_t k = 1; k < K; k++)
                if (t[k] > mx) mx = t[k];
            for (size_t k = 0; k < K; k++)
                s += expl(t[k] - mx);
            loss += mx + logl(s) - t[yi];
            for (size_t k = 0; k < K; k++)
                pk[k] = expl(t[k] - mx) / s;
            for (size_t k = 0; k < K; k++) {
                long double e = pk[k] - (k == yi ? 1 : 0);
                for (size_t a = 0; a < p; a++)
                    g[k * p + a] += e * v[a];
            }
            if (H)
                for (size_t k = 0; k < K; k++)
                    for (size_t l = 0; l < K; l++) {
                        long double wkl = pk[k] * ((k == l ? 1 : 0) - pk[l]);
                        for (size_t a = 0; a < p; a++)
                            for (size_t c = 0; c < p; c++)
                                H[(k * p + a) * P + l * p + c] += wkl * v[a] * v[c];
                    }
        }
    }
    long double inv_n = 1.0L / (long double)n, pen = 0;
    loss *= inv_n;
    for (size_t q = 0; q < P; q++)
        g[q] *= inv_n;
    if (H)
        for (size_t q = 0; q < P * P; q++)
            H[q] *= inv_n;
    for (size_t k = 0; k < K; k++)
        for (size_t a = 0; a < d; a++) {
            size_t q = k * p + a;
            pen += theta[q] * theta[q];
            g[q] += pr->lambda * theta[q];
            if (H) H[q * P + q] += pr->lambda;
        }
    *f = loss + 0.5L * pr->lambda * pen;
}

static long double free_norm(const cls_problem *pr, const long double *g)
{
    long double s = 0;
    for (size_t q = 0; q < pr->P; q++)
        if (pr->free_[q]) s += g[q] * g[q];
    return sqrtl(s);
}

/* Damped Newton over the free parameters from theta = 0; true when the
 * gradient got down to the rounding level. */
static bool cls_newton(const cls_problem *pr, long double *theta)
{
    size_t P = pr->P, m = 0;
    size_t idx[64];
    for (size_t q = 0; q < P; q++)
        if (pr->free_[q]) idx[m++] = q;
    long double *buf = calloc(2 * P * P + 5 * P + m * m + 1, sizeof(long double));
    if (!buf) return false;
    long double *H = buf, *Hf = H + P * P, *g = Hf + m * m, *s = g + P, *trial = s + P,
                *g1 = trial + P, *step = g1 + P;
    memset(theta, 0, sizeof(long double) * P);
    long double f, f1;
    cls_eval(pr, theta, &f, g, H);
    long double gn = free_norm(pr, g);
    for (int it = 0; it < 200 && gn > 1e-18L; it++) {
        for (size_t a = 0; a < m; a++) {
            for (size_t c = 0; c < m; c++)
                Hf[a * m + c] = H[idx[a] * P + idx[c]];
            s[a] = -g[idx[a]];
        }
        if (!ref_gauss_solve(m, Hf, s)) break;
        memset(step, 0, sizeof(long double) * P);
        long double slope = 0;
        for (size_t a = 0; a < m; a++) {
            step[idx[a]] = s[a];
            slope += g[idx[a]] * s[a];
        }
        long double alpha = 1, gn1 = 0;
        bool accepted = false;
        for (int ls = 0; ls < 80 && !accepted; ls++) {
            for (size_t q = 0; q < P; q++)
                trial[q] = theta[q] + alpha * step[q];
            cls_eval(pr, trial, &f1, g1, NULL);
            gn1 = free_norm(pr, g1);
            if (isfinite(f1) && (f1 <= f + 1e-4L * alpha * slope ||
                                 (f1 <= f + 16 * LDBL_EPSILON * fabsl(f) && gn1 < gn)))
                accepted = true;
            else
                alpha *= 0.5L;
        }
        if (!accepted) break;
        memcpy(theta, trial, sizeof(long double) * P);
        cls_eval(pr, theta, &f, g, H);
        gn = free_norm(pr, g);
    }
    free(buf);
    return gn < 1e-13L;
}

/* Shared driver: standardize, solve over the free parameters, convert back
 * to raw units (outs = 1: binary logistic, else K softmax blocks). */
static bool fit_classifier(const double *X, const double *y, size_t n, size_t d, size_t outs,
                           double lambda, bool intercept, bool standardize, double *W, double *b)
{
    size_t p = d + 1, P = outs * p;
    if (d > 15 || P > 64) return false;
    long double *Z = malloc(sizeof(long double) * (n * d + 3 * d + P + 1));
    bool *fr = malloc(sizeof(bool) * (P + 1));
    if (!Z || !fr) {
        free(Z);
        free(fr);
        return false;
    }
    long double *shift = Z + n * d, *scale = shift + d, *tmp = scale + d, *theta = tmp + d;
    for (size_t j = 0; j < d; j++) {
        long double m, s;
        column_stats_ld(X, n, d, j, &m, &s);
        shift[j] = standardize && intercept ? m : 0;
        scale[j] = standardize && s > 0 ? s : 1;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            Z[i * d + j] = ((long double)X[i * d + j] - shift[j]) / scale[j];
    for (size_t q = 0; q < P; q++) {
        size_t k = q / p, a = q % p;
        bool is_b = a == d, last = outs > 1 && k == outs - 1;
        fr[q] = is_b ? (intercept && !last) : !(last && lambda == 0);
    }
    cls_problem pr = {
        .Z = Z, .y = y, .n = n, .d = d, .K = outs, .lambda = lambda, .P = P, .free_ = fr};
    bool ok = cls_newton(&pr, theta);
    if (outs > 1 && lambda == 0) /* center every feature's weights across classes */
        for (size_t j = 0; j < d; j++) {
            long double mean = 0;
            for (size_t k = 0; k < outs; k++)
                mean += theta[k * p + j] / (long double)outs;
            for (size_t k = 0; k < outs; k++)
                theta[k * p + j] -= mean;
        }
    long double bmean = 0;
    long double braw[8];
    for (size_t k = 0; k < outs; k++) {
        long double bk = theta[k * p + d];
        for (size_t j = 0; j < d; j++) {
            long double wr = theta[k * p + j] / scale[j];
            bk -= shift[j] * wr;
            W[k * d + j] = (double)wr;
        }
        braw[k] = bk;
        bmean += bk / (long double)outs;
    }
    for (size_t k = 0; k < outs; k++)
        b[k] = (double)(outs > 1 ? braw[k] - bmean : braw[k]);
    free(Z);
    free(fr);
    return ok;
}

bool ref_logistic(const double *X, const double *y, size_t n, size_t d, double lambda,
                  bool intercept, bool standardize, double *w, double *b)
{
    return fit_classifier(X, y, n, d, 1, lambda, intercept, standardize, w, b);
}

bool ref_softmax(const double *X, const double *y, size_t n, size_t d, size_t K, double lambda,
                 bool intercept, bool standardize, double *W, double *b)
{
    if (K < 2 || K > 8) return false;
    return fit_classifier(X, y, n, d, K, lambda, intercept, standardize, W, b);
}

/* ---- comparisons ---- */

double ref_rel_err(const double *est, const double *ref, size_t n)
{
    double num = 0, den = 0;
    for (size_t j = 0; j < n; j++) {
        double e = fabs(est[j] - ref[j]);
        if (isnan(e)) return NAN;
        if (e > num) num = e;
        if (fabs(ref[j]) > den) den = fabs(ref[j]);
    }
    return den > 0 ? num / den : num;
}

double ref_max_comp_rel_err(const double *est, const double *ref, size_t n)
{
    double worst = 0;
    for (size_t j = 0; j < n; j++) {
        double e = fabs(est[j] - ref[j]);
        if (ref[j] != 0) e /= fabs(ref[j]);
        if (isnan(e)) return NAN;
        if (e > worst) worst = e;
    }
    return worst;
}

double ref_lre(double est, double cert)
{
    if (isnan(est)) return 0;
    double e = fabs(est - cert);
    if (cert != 0) e /= fabs(cert);
    if (e == 0) return 16;
    double lre = -log10(e);
    return lre > 16 ? 16 : lre;
}
