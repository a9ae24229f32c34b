/*
 * test_gpu.c — the CUDA backend checked against the CPU backend (the
 * reference implementation of backend.h) and against certified results.
 *
 * Without a usable GPU (no driver, no device, a device too old, a build
 * without kernels for it) the program prints "SKIP: no usable GPU: <why>" and
 * exits 77, which ctest reports as skipped — never as passed.
 *
 * Per op, both backends run on the same seeded data. "Relative error" is
 * norm-wise, max_j |gpu_j - cpu_j| / max_j |cpu_j| (absolute where the
 * reference is all zero). Tolerances:
 *   TOL_OP     1e-10  float64 ops on well-conditioned data: moments, QR
 *                     (rows sign-normalized), scores, logistic and softmax
 *                     loss/gradient/Hessian, solve_spd (solution and factor)
 *   TOL_EXACT  1e-14  standardize, read back through scores with W = I
 *   TOL_DD     1e-12  residual sums against a host double-double reference
 *                     (including rows whose residual cancels 12+ digits,
 *                     where plain double would lose everything); against
 *                     the CPU's long double 1e-12 on ordinary data
 *   TOL_RCOND  1e-6   solve_spd's condition estimate (same estimator on two
 *                     factors equal to rounding)
 * Whole fits through the public API, a CUDA context beside a CPU one:
 *   OLS   NIST Longley: every coefficient LRE >= 9 vs certified (solvers
 *         auto and qr, one batch and batches of 5); CUDA vs CPU 1e-7
 *   ridge random data, standardized or not: CUDA vs CPU 1e-9, vs the
 *         independent reference (reference.c) 1e-8
 *   logistic breast cancer, standardized, lambda 1e-2 (Newton, L-BFGS, one
 *         batch and batches of 100): raw-unit w, b vs the stored fit 1e-6
 *   softmax random 3-class data: CUDA vs CPU 1e-7, vs reference.c 1e-6
 *   streaming (FTRL updates, merged-R least squares) and sf_predict: CUDA vs
 *         CPU 1e-9 / 1e-12; sf_trainer_predict_update (OLS, logistic, softmax)
 *         CUDA vs CPU 1e-9 and vs CUDA's own snapshot + sf_predict 1e-12;
 *   batch_sample: the sampled rows equal the CPU backend's exactly; ftrl_step as an op (the two
 * fused kernels, and the host fallback for wide models): theta, z, n, loss within TOL_OP.
 */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "parse.h"
#include "reference.h"
#include "streamfit.h"

#define TOL_OP 1e-10
#define TOL_EXACT 1e-14
#define TOL_DD 1e-12
#define TOL_RCOND 1e-6

static sf_backend *g_gpu, *g_cpu;
static sf_context *g_ctx_gpu, *g_ctx_cpu;

static void log_stderr(void *user, sf_log_level level, const char *msg)
{
    (void)user;
    if (level <= SF_LOG_WARN) fprintf(stderr, "streamfit: %s\n", msg);
}

/* ---------------------------------------------------------------- helpers */

static double *alloc_doubles(size_t n)
{
    double *p = calloc(n ? n : 1, sizeof(double));
    assert_non_null(p);
    return p;
}

static void expect_close(const char *what, const double *got, const double *ref, size_t n,
                         double tol)
{
    double e = ref_rel_err(got, ref, n);
    if (!(e <= tol)) fail_msg("%s: relative error %.3e > %.0e", what, e, tol);
}

/* Features with different means and spreads per column, labels linear in them. */
static void gen_regression(uint64_t seed, size_t n, size_t d, double *X, double *y)
{
    ref_rng r;
    ref_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        double t = 1.5;
        for (size_t j = 0; j < d; j++) {
            double x = (1.0 + 0.25 * (double)j) * ref_rng_normal(&r) + 2.0 * (double)j - 3.0;
            X[i * d + j] = x;
            t += (j % 2 ? -0.7 : 0.4) * x;
        }
        y[i] = t + 0.1 * ref_rng_normal(&r);
    }
}

/* Class labels 0..K-1 drawn from a softmax (K = 2: a logistic) of the features. */
static void gen_classes(uint64_t seed, size_t n, size_t d, size_t K, double *X, double *y)
{
    ref_rng r;
    ref_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < d; j++)
            X[i * d + j] = (0.5 + 0.3 * (double)j) * ref_rng_normal(&r) + 0.5 * (double)j;
        double t[8], mx = -INFINITY, s = 0;
        for (size_t k = 0; k < K; k++) {
            t[k] = 0.2 * (double)k;
            for (size_t j = 0; j < d; j++)
                t[k] += ((double)((j + k) % 3) - 1.0) * 0.8 * (X[i * d + j] - 0.5 * (double)j);
            if (t[k] > mx) mx = t[k];
        }
        for (size_t k = 0; k < K; k++)
            s += exp(t[k] - mx);
        double u = ref_rng_uniform(&r), acc = 0;
        y[i] = (double)(K - 1);
        for (size_t k = 0; k < K; k++) {
            acc += exp(t[k] - mx) / s;
            if (u < acc) {
                y[i] = (double)k;
                break;
            }
        }
    }
}

typedef struct both {
    sf_dbatch *gpu, *cpu;
} both;

static both upload_both(const double *X, const double *y, size_t n, size_t d)
{
    both b = {NULL, NULL};
    assert_int_equal(g_gpu->ops->batch_upload(g_gpu, X, y, n, d, &b.gpu), SF_OK);
    assert_int_equal(g_cpu->ops->batch_upload(g_cpu, X, y, n, d, &b.cpu), SF_OK);
    assert_int_equal(g_gpu->ops->batch_rows(b.gpu), n);
    return b;
}

static void free_both(both *b)
{
    g_gpu->ops->batch_free(g_gpu, b->gpu);
    g_cpu->ops->batch_free(g_cpu, b->cpu);
}

typedef struct shape {
    size_t n, d;
} shape;

/* Single rows, fewer rows than columns, partial tiles and chunks, more than
 * one 32-column tile, and several thousand rows (several row chunks). */
static const shape k_shapes[] = {{1, 3}, {5, 7}, {7, 1}, {33, 7}, {1000, 7}, {5003, 40}, {300, 65}};
#define N_SHAPES (sizeof k_shapes / sizeof k_shapes[0])

/* ------------------------------------------------------------ batch ops */

static void test_upload_rows_free(void **state)
{
    (void)state;
    double X[6] = {1, 2, 3, 4, 5, 6}, y[3] = {1, 0, 1};
    both b = upload_both(X, y, 3, 2);
    free_both(&b);
    sf_dbatch *empty = NULL;
    assert_int_equal(g_gpu->ops->batch_upload(g_gpu, X, y, 0, 2, &empty), SF_OK);
    assert_int_equal(g_gpu->ops->batch_rows(empty), 0);
    double mean[3], m2[9];
    assert_int_equal(g_gpu->ops->batch_moments(g_gpu, empty, mean, m2), SF_OK);
    for (size_t j = 0; j < 9; j++)
        assert_true(m2[j] == 0.0);
    g_gpu->ops->batch_free(g_gpu, empty);
    g_gpu->ops->batch_free(g_gpu, NULL);
}

static void test_moments(void **state)
{
    (void)state;
    for (size_t s = 0; s < N_SHAPES; s++) {
        size_t n = k_shapes[s].n, d = k_shapes[s].d, p = d + 1;
        double *X = alloc_doubles(n * d), *y = alloc_doubles(n);
        gen_regression(100 + s, n, d, X, y);
        both b = upload_both(X, y, n, d);
        double *mg = alloc_doubles(p + p * p), *mc = alloc_doubles(p + p * p);
        assert_int_equal(g_gpu->ops->batch_moments(g_gpu, b.gpu, mg, mg + p), SF_OK);
        assert_int_equal(g_cpu->ops->batch_moments(g_cpu, b.cpu, mc, mc + p), SF_OK);
        char what[64];
        snprintf(what, sizeof what, "moments n=%zu d=%zu: mean", n, d);
        expect_close(what, mg, mc, p, TOL_OP);
        snprintf(what, sizeof what, "moments n=%zu d=%zu: M2", n, d);
        expect_close(what, mg + p, mc + p, p * p, TOL_OP);
        for (size_t c = 0; c < p; c++) /* full and symmetric, as documented */
            for (size_t r = 0; r < p; r++)
                assert_true(mg[p + c * p + r] == mg[p + r * p + c]);
        free_both(&b);
        free(X);
        free(y);
        free(mg);
        free(mc);
    }
}

/* R is unique up to the sign of each row: make every diagonal entry >= 0. */
static void sign_normalize_rows(double *R, size_t p)
{
    for (size_t r = 0; r < p; r++)
        if (R[r * p + r] < 0)
            for (size_t c = r; c < p; c++)
                R[c * p + r] = -R[c * p + r];
}

static void test_qr(void **state)
{
    (void)state;
    for (size_t s = 0; s < N_SHAPES; s++) {
        size_t n = k_shapes[s].n, d = k_shapes[s].d, p = d + 1;
        double *X = alloc_doubles(n * d), *y = alloc_doubles(n);
        gen_regression(200 + s, n, d, X, y);
        both b = upload_both(X, y, n, d);
        double *mean = alloc_doubles(p), *m2 = alloc_doubles(p * p), *scale = alloc_doubles(p);
        assert_int_equal(g_cpu->ops->batch_moments(g_cpu, b.cpu, mean, m2), SF_OK);
        for (size_t j = 0; j < p; j++) {
            double sd = sqrt(m2[j * p + j] / (double)n);
            scale[j] = sd > 0 ? sd : 1.0;
        }
        double *Rg = alloc_doubles(p * p), *Rc = alloc_doubles(p * p);
        assert_int_equal(g_gpu->ops->batch_qr(g_gpu, b.gpu, mean, scale, Rg), SF_OK);
        assert_int_equal(g_cpu->ops->batch_qr(g_cpu, b.cpu, mean, scale, Rc), SF_OK);
        for (size_t c = 0; c < p; c++) /* zeros below the diagonal and below row n */
            for (size_t r = 0; r < p; r++)
                if (r > c || r >= n) assert_true(Rg[c * p + r] == 0.0);
        sign_normalize_rows(Rg, p);
        sign_normalize_rows(Rc, p);
        char what[64];
        snprintf(what, sizeof what, "qr n=%zu d=%zu", n, d);
        expect_close(what, Rg, Rc, p * p, TOL_OP);
        free_both(&b);
        free(X);
        free(y);
        free(mean);
        free(m2);
        free(scale);
        free(Rg);
        free(Rc);
    }
}

/* Read a batch's features back: scores with W = I (exact: x * 1 + 0 * ...). */
static void read_back(sf_backend *be, sf_dbatch *b, size_t d, double *out)
{
    double *I = alloc_doubles(d * d);
    for (size_t j = 0; j < d; j++)
        I[j * d + j] = 1.0;
    assert_int_equal(be->ops->batch_scores(be, b, I, NULL, d, out), SF_OK);
    free(I);
}

static void test_standardize(void **state)
{
    (void)state;
    size_t n = 1000, d = 7, p = d + 1;
    double *X = alloc_doubles(n * d), *y = alloc_doubles(n);
    gen_regression(300, n, d, X, y);
    both b = upload_both(X, y, n, d);
    double *raw = alloc_doubles(n * d);
    read_back(g_gpu, b.gpu, d, raw);
    expect_close("upload round trip", raw, X, n * d, 0.0);
    double shift[7], scale[7];
    for (size_t j = 0; j < d; j++) {
        shift[j] = 0.5 * (double)j - 1.0;
        scale[j] = 1.0 + 0.3 * (double)j;
    }
    assert_int_equal(g_gpu->ops->batch_standardize(g_gpu, b.gpu, shift, scale), SF_OK);
    assert_int_equal(g_cpu->ops->batch_standardize(g_cpu, b.cpu, shift, scale), SF_OK);
    double *zg = alloc_doubles(n * d), *zc = alloc_doubles(n * d);
    read_back(g_gpu, b.gpu, d, zg);
    read_back(g_cpu, b.cpu, d, zc);
    expect_close("standardize", zg, zc, n * d, TOL_EXACT);
    /* Standardize again and use the batch at once: stream order, no sync. */
    assert_int_equal(g_gpu->ops->batch_standardize(g_gpu, b.gpu, shift, scale), SF_OK);
    assert_int_equal(g_cpu->ops->batch_standardize(g_cpu, b.cpu, shift, scale), SF_OK);
    double mg[8 + 64], mc[8 + 64];
    assert_int_equal(g_gpu->ops->batch_moments(g_gpu, b.gpu, mg, mg + p), SF_OK);
    assert_int_equal(g_cpu->ops->batch_moments(g_cpu, b.cpu, mc, mc + p), SF_OK);
    expect_close("moments after two standardizations", mg, mc, p + p * p, TOL_OP);
    free_both(&b);
    free(X);
    free(y);
    free(raw);
    free(zg);
    free(zc);
}

/* batch_sample: every stride-th row (labels too), read back, equal to the
 * CPU backend's exactly (a copy). */
static void test_batch_sample(void **state)
{
    (void)state;
    const size_t strides[] = {1, 3, 8}, offsets[] = {0, 2, 7};
    for (size_t s = 0; s < N_SHAPES; s++)
        for (size_t k = 0; k < 3; k++) {
            size_t n = k_shapes[s].n, d = k_shapes[s].d;
            double *X = alloc_doubles(n * d), *y = alloc_doubles(n);
            gen_regression(1600 + s, n, d, X, y);
            both b = upload_both(X, y, n, d);
            both t = {NULL, NULL};
            assert_int_equal(g_gpu->ops->batch_sample(g_gpu, b.gpu, strides[k], offsets[k], &t.gpu),
                             SF_OK);
            assert_int_equal(g_cpu->ops->batch_sample(g_cpu, b.cpu, strides[k], offsets[k], &t.cpu),
                             SF_OK);
            size_t rows = g_cpu->ops->batch_rows(t.cpu);
            assert_int_equal(g_gpu->ops->batch_rows(t.gpu), rows);
            if (rows) {
                double *xg = alloc_doubles(rows * d), *xc = alloc_doubles(rows * d);
                read_back(g_gpu, t.gpu, d, xg);
                read_back(g_cpu, t.cpu, d, xc);
                expect_close("batch_sample: rows", xg, xc, rows * d, 0.0);
                /* the labels, through the batch means (features, then label) */
                double mg[64], mc[64], m2g[64 * 64], m2c[64 * 64];
                if (d + 1 <= 64) {
                    assert_int_equal(g_gpu->ops->batch_moments(g_gpu, t.gpu, mg, m2g), SF_OK);
                    assert_int_equal(g_cpu->ops->batch_moments(g_cpu, t.cpu, mc, m2c), SF_OK);
                    expect_close("batch_sample: label mean", &mg[d], &mc[d], 1, TOL_OP);
                }
                free(xg);
                free(xc);
            }
            free_both(&t);
            free_both(&b);
            free(X);
            free(y);
        }
}

static void test_scores(void **state)
{
    (void)state;
    const size_t ks[] = {1, 3};
    for (size_t s = 0; s < N_SHAPES; s++)
        for (size_t ki = 0; ki < 2; ki++)
            for (int with_bias = 0; with_bias < 2; with_bias++) {
                size_t n = k_shapes[s].n, d = k_shapes[s].d, k = ks[ki];
                double *X = alloc_doubles(n * d), *y = alloc_doubles(n);
                gen_regression(400 + s, n, d, X, y);
                double *W = alloc_doubles(k * d), bias[3];
                ref_rng r;
                ref_rng_seed(&r, 401 + s);
                for (size_t q = 0; q < k * d; q++)
                    W[q] = ref_rng_normal(&r);
                for (size_t c = 0; c < k; c++)
                    bias[c] = 2.0 * ref_rng_normal(&r);
                both b = upload_both(X, y, n, d);
                double *Tg = alloc_doubles(n * k), *Tc = alloc_doubles(n * k);
                const double *bp = with_bias ? bias : NULL;
                assert_int_equal(g_gpu->ops->batch_scores(g_gpu, b.gpu, W, bp, k, Tg), SF_OK);
                assert_int_equal(g_cpu->ops->batch_scores(g_cpu, b.cpu, W, bp, k, Tc), SF_OK);
                char what[80];
                snprintf(what, sizeof what, "scores n=%zu d=%zu k=%zu bias=%d", n, d, k, with_bias);
                expect_close(what, Tg, Tc, n * k, TOL_OP);
                free_both(&b);
                free(X);
                free(y);
                free(W);
                free(Tg);
                free(Tc);
            }
}

/* ---- residuals: a host double-double reference ---- */

typedef struct hdd {
    double hi, lo;
} hdd;

static hdd hdd_two_sum(double a, double b)
{
    double s = a + b, bb = s - a;
    hdd r = {s, (a - (s - bb)) + (b - bb)};
    return r;
}

static hdd hdd_fast(double a, double b)
{
    double s = a + b;
    hdd r = {s, b - (s - a)};
    return r;
}

static hdd hdd_add(hdd a, hdd b)
{
    hdd s = hdd_two_sum(a.hi, b.hi), t = hdd_two_sum(a.lo, b.lo);
    s = hdd_fast(s.hi, s.lo + t.hi);
    return hdd_fast(s.hi, s.lo + t.lo);
}

static hdd hdd_mul(hdd a, hdd b)
{
    double p = a.hi * b.hi;
    double e = fma(a.hi, b.hi, -p) + (a.hi * b.lo + a.lo * b.hi);
    return hdd_fast(p, e);
}

static hdd hdd_of(double a)
{
    hdd r = {a, 0.0};
    return r;
}

static hdd hdd_row_residual(const double *x, double yi, const double *w, double b0, size_t d)
{
    hdd r = hdd_two_sum(yi, -b0);
    for (size_t j = 0; j < d; j++) {
        hdd t = hdd_mul(hdd_of(x[j]), hdd_of(w[j]));
        t.hi = -t.hi;
        t.lo = -t.lo;
        r = hdd_add(r, t);
    }
    return r;
}

/* out: sum_r, sum_r2, g (d), sxc (d). */
static void hdd_residual_sums(const double *X, const double *y, size_t n, size_t d, const double *w,
                              double b0, const double *center, double *out)
{
    hdd sr = hdd_of(0), sr2 = hdd_of(0);
    hdd *acc = malloc(sizeof(hdd) * 2 * (d + 1));
    assert_non_null(acc);
    for (size_t j = 0; j < 2 * d; j++)
        acc[j] = hdd_of(0);
    for (size_t i = 0; i < n; i++) {
        hdd r = hdd_row_residual(X + i * d, y[i], w, b0, d);
        sr = hdd_add(sr, r);
        sr2 = hdd_add(sr2, hdd_mul(r, r));
        for (size_t j = 0; j < d; j++) {
            hdd u = hdd_two_sum(X[i * d + j], -center[j]);
            acc[j] = hdd_add(acc[j], hdd_mul(u, r));
            acc[d + j] = hdd_add(acc[d + j], u);
        }
    }
    out[0] = sr.hi;
    out[1] = sr2.hi;
    for (size_t j = 0; j < d; j++) {
        out[2 + j] = acc[j].hi;
        out[2 + d + j] = acc[d + j].hi;
    }
    free(acc);
}

static void residual_sums(sf_backend *be, sf_dbatch *b, size_t d, const double *w, double b0,
                          const double *center, double *out)
{
    assert_int_equal(be->ops->batch_residuals(be, b, w, b0, center, &out[0], &out[1], out + 2,
                                              out + 2 + d, NULL),
                     SF_OK);
}

static void compare_sums(const char *what, const double *got, const double *ref, size_t d,
                         double tol)
{
    char label[96];
    snprintf(label, sizeof label, "%s: sum_r", what);
    expect_close(label, got, ref, 1, tol);
    snprintf(label, sizeof label, "%s: sum_r2", what);
    expect_close(label, got + 1, ref + 1, 1, tol);
    snprintf(label, sizeof label, "%s: g", what);
    expect_close(label, got + 2, ref + 2, d, tol);
    snprintf(label, sizeof label, "%s: sxc", what);
    expect_close(label, got + 2 + d, ref + 2 + d, d, tol);
}

static void test_residuals(void **state)
{
    (void)state;
    for (size_t s = 0; s < N_SHAPES; s++) {
        size_t n = k_shapes[s].n, d = k_shapes[s].d;
        double *X = alloc_doubles(n * d), *y = alloc_doubles(n);
        gen_regression(500 + s, n, d, X, y);
        double *w = alloc_doubles(d), *center = alloc_doubles(d);
        for (size_t j = 0; j < d; j++) {
            w[j] = (j % 2 ? -0.7 : 0.4) + 0.01 * (double)j;
            center[j] = 1.7 * (double)j - 2.9; /* away from the mean: no cancellation */
        }
        both b = upload_both(X, y, n, d);
        double *g = alloc_doubles(2 + 2 * d), *c = alloc_doubles(2 + 2 * d),
               *h = alloc_doubles(2 + 2 * d);
        residual_sums(g_gpu, b.gpu, d, w, 1.3, center, g);
        residual_sums(g_cpu, b.cpu, d, w, 1.3, center, c);
        hdd_residual_sums(X, y, n, d, w, 1.3, center, h);
        char what[64];
        snprintf(what, sizeof what, "residuals n=%zu d=%zu vs cpu", n, d);
        compare_sums(what, g, c, d, TOL_DD);
        snprintf(what, sizeof what, "residuals n=%zu d=%zu vs host dd", n, d);
        compare_sums(what, g, h, d, TOL_DD);
        free_both(&b);
        free(X);
        free(y);
        free(w);
        free(center);
        free(g);
        free(c);
        free(h);
    }
}

/* Labels equal to the fit up to 1e-11 on terms near 1e4: each residual is a
 * few units in the last place of its terms, which double arithmetic gets
 * entirely wrong and long double to about 1e-4. The GPU must agree with the
 * host double-double to TOL_DD. */
static void test_residuals_cancellation(void **state)
{
    (void)state;
    size_t n = 4000, d = 6;
    double *X = alloc_doubles(n * d), *y = alloc_doubles(n), w[6], center[6];
    ref_rng r;
    ref_rng_seed(&r, 600);
    for (size_t j = 0; j < d; j++) {
        w[j] = ref_rng_normal(&r);
        center[j] = 1000.0 * (double)j;
    }
    double b0 = 12.5;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < d; j++)
            X[i * d + j] = 1000.0 * ref_rng_normal(&r) + center[j];
        hdd fit = hdd_of(b0);
        for (size_t j = 0; j < d; j++)
            fit = hdd_add(fit, hdd_mul(hdd_of(X[i * d + j]), hdd_of(w[j])));
        y[i] = fit.hi + 1e-11 * ref_rng_normal(&r);
    }
    both b = upload_both(X, y, n, d);
    double g[2 + 12], c[2 + 12], h[2 + 12];
    residual_sums(g_gpu, b.gpu, d, w, b0, center, g);
    residual_sums(g_cpu, b.cpu, d, w, b0, center, c);
    hdd_residual_sums(X, y, n, d, w, b0, center, h);
    compare_sums("cancelling residuals vs host dd", g, h, d, TOL_DD);
    /* long double keeps 64 bits: about four digits of these residuals. */
    compare_sums("cancelling residuals vs cpu (long double)", g, c, d, 1e-2);
    free_both(&b);
    free(X);
    free(y);
}

/* ------------------------------------------------------ classifier terms */

static void test_logistic_terms(void **state)
{
    (void)state;
    for (size_t s = 0; s < N_SHAPES; s++) {
        size_t n = k_shapes[s].n, d = k_shapes[s].d, p = d + 1;
        double *X = alloc_doubles(n * d), *y = alloc_doubles(n), *theta = alloc_doubles(p);
        gen_classes(700 + s, n, d, 2, X, y);
        ref_rng r;
        ref_rng_seed(&r, 701 + s);
        for (size_t j = 0; j < p; j++)
            theta[j] = 0.3 * ref_rng_normal(&r);
        both b = upload_both(X, y, n, d);
        double lg, lc, *gg = alloc_doubles(p), *gc = alloc_doubles(p);
        double *Hg = alloc_doubles(p * p), *Hc = alloc_doubles(p * p);
        assert_int_equal(g_gpu->ops->logistic_terms(g_gpu, b.gpu, theta, &lg, gg, Hg), SF_OK);
        assert_int_equal(g_cpu->ops->logistic_terms(g_cpu, b.cpu, theta, &lc, gc, Hc), SF_OK);
        char what[64];
        snprintf(what, sizeof what, "logistic n=%zu d=%zu: loss", n, d);
        expect_close(what, &lg, &lc, 1, TOL_OP);
        snprintf(what, sizeof what, "logistic n=%zu d=%zu: gradient", n, d);
        expect_close(what, gg, gc, p, TOL_OP);
        snprintf(what, sizeof what, "logistic n=%zu d=%zu: Hessian", n, d);
        expect_close(what, Hg, Hc, p * p, TOL_OP);
        double l2, *g2 = alloc_doubles(p); /* without the Hessian (FTRL) */
        assert_int_equal(g_gpu->ops->logistic_terms(g_gpu, b.gpu, theta, &l2, g2, NULL), SF_OK);
        expect_close("logistic without Hessian: gradient", g2, gc, p, TOL_OP);
        free_both(&b);
        free(X);
        free(y);
        free(theta);
        free(gg);
        free(gc);
        free(Hg);
        free(Hc);
        free(g2);
    }
}

static void test_softmax_terms(void **state)
{
    (void)state;
    const size_t Ks[] = {2, 3, 5};
    for (size_t s = 0; s < N_SHAPES; s++)
        for (size_t ki = 0; ki < 3; ki++) {
            size_t n = k_shapes[s].n, d = k_shapes[s].d, p = d + 1, K = Ks[ki], P = K * p;
            double *X = alloc_doubles(n * d), *y = alloc_doubles(n), *theta = alloc_doubles(P);
            gen_classes(800 + s, n, d, K, X, y);
            ref_rng r;
            ref_rng_seed(&r, 801 + s);
            for (size_t j = 0; j < P; j++)
                theta[j] = 0.3 * ref_rng_normal(&r);
            both b = upload_both(X, y, n, d);
            double lg, lc, *gg = alloc_doubles(P), *gc = alloc_doubles(P);
            double *Hg = alloc_doubles(P * P), *Hc = alloc_doubles(P * P);
            assert_int_equal(g_gpu->ops->softmax_terms(g_gpu, b.gpu, theta, K, &lg, gg, Hg), SF_OK);
            assert_int_equal(g_cpu->ops->softmax_terms(g_cpu, b.cpu, theta, K, &lc, gc, Hc), SF_OK);
            char what[80];
            snprintf(what, sizeof what, "softmax n=%zu d=%zu K=%zu: loss", n, d, K);
            expect_close(what, &lg, &lc, 1, TOL_OP);
            snprintf(what, sizeof what, "softmax n=%zu d=%zu K=%zu: gradient", n, d, K);
            expect_close(what, gg, gc, P, TOL_OP);
            snprintf(what, sizeof what, "softmax n=%zu d=%zu K=%zu: Hessian", n, d, K);
            expect_close(what, Hg, Hc, P * P, TOL_OP);
            double l2, *g2 = alloc_doubles(P);
            assert_int_equal(g_gpu->ops->softmax_terms(g_gpu, b.gpu, theta, K, &l2, g2, NULL),
                             SF_OK);
            expect_close("softmax without Hessian: gradient", g2, gc, P, TOL_OP);
            free_both(&b);
            free(X);
            free(y);
            free(theta);
            free(gg);
            free(gc);
            free(Hg);
            free(Hc);
            free(g2);
        }
}

/* ------------------------------------------------------- dense solves */

/* A = M^T M / n + I: symmetric positive definite and well conditioned. */
static void gen_spd(uint64_t seed, size_t n, double *A)
{
    ref_rng r;
    ref_rng_seed(&r, seed);
    double *M = alloc_doubles(n * n);
    for (size_t q = 0; q < n * n; q++)
        M[q] = ref_rng_normal(&r);
    for (size_t c = 0; c < n; c++)
        for (size_t rr = 0; rr < n; rr++) {
            double s = 0;
            for (size_t k = 0; k < n; k++)
                s += M[rr * n + k] * M[c * n + k];
            A[c * n + rr] = s / (double)n + (rr == c ? 1.0 : 0.0);
        }
    free(M);
}

static void test_solve_spd(void **state)
{
    (void)state;
    const size_t sizes[] = {1, 5, 50, 300};
    for (size_t si = 0; si < 4; si++)
        for (size_t nrhs = 1; nrhs <= 3; nrhs += 2) {
            size_t n = sizes[si];
            double *A = alloc_doubles(n * n), *B = alloc_doubles(n * nrhs);
            gen_spd(900 + si, n, A);
            ref_rng r;
            ref_rng_seed(&r, 901 + si);
            for (size_t q = 0; q < n * nrhs; q++)
                B[q] = ref_rng_normal(&r);
            /* Mark the strictly lower part: both backends must leave it alone. */
            for (size_t c = 0; c < n; c++)
                for (size_t rr = c + 1; rr < n; rr++)
                    A[c * n + rr] = -777.0;
            double *Ag = alloc_doubles(n * n), *Ac = alloc_doubles(n * n);
            double *Bg = alloc_doubles(n * nrhs), *Bc = alloc_doubles(n * nrhs);
            memcpy(Ag, A, sizeof(double) * n * n);
            memcpy(Ac, A, sizeof(double) * n * n);
            memcpy(Bg, B, sizeof(double) * n * nrhs);
            memcpy(Bc, B, sizeof(double) * n * nrhs);
            double rg = -1, rc = -1;
            assert_int_equal(g_gpu->ops->solve_spd(g_gpu, n, Ag, Bg, nrhs, &rg), SF_OK);
            assert_int_equal(g_cpu->ops->solve_spd(g_cpu, n, Ac, Bc, nrhs, &rc), SF_OK);
            char what[64];
            snprintf(what, sizeof what, "solve_spd n=%zu nrhs=%zu: solution", n, nrhs);
            expect_close(what, Bg, Bc, n * nrhs, TOL_OP);
            snprintf(what, sizeof what, "solve_spd n=%zu nrhs=%zu: factor", n, nrhs);
            expect_close(what, Ag, Ac, n * n, TOL_OP);
            snprintf(what, sizeof what, "solve_spd n=%zu nrhs=%zu: rcond", n, nrhs);
            expect_close(what, &rg, &rc, 1, TOL_RCOND);
            for (size_t c = 0; c < n; c++)
                for (size_t rr = c + 1; rr < n; rr++)
                    assert_true(Ag[c * n + rr] == -777.0);
            /* Without a condition estimate. */
            memcpy(Ag, A, sizeof(double) * n * n);
            memcpy(Bg, B, sizeof(double) * n * nrhs);
            assert_int_equal(g_gpu->ops->solve_spd(g_gpu, n, Ag, Bg, nrhs, NULL), SF_OK);
            expect_close("solve_spd without rcond", Bg, Bc, n * nrhs, TOL_OP);
            free(A);
            free(B);
            free(Ag);
            free(Ac);
            free(Bg);
            free(Bc);
        }
}

static void test_solve_spd_not_pd(void **state)
{
    (void)state;
    double A[9] = {2, 1, 0, 1, -3, 0, 0, 0, 1}, B[3] = {1, 2, 3}, Bg[3];
    double Ag[9], Ac[9], Bc[3];
    memcpy(Ag, A, sizeof A);
    memcpy(Ac, A, sizeof A);
    memcpy(Bg, B, sizeof B);
    memcpy(Bc, B, sizeof B);
    assert_int_equal(g_gpu->ops->solve_spd(g_gpu, 3, Ag, Bg, 1, NULL),
                     SF_ERR_NOT_POSITIVE_DEFINITE);
    assert_int_equal(g_cpu->ops->solve_spd(g_cpu, 3, Ac, Bc, 1, NULL),
                     SF_ERR_NOT_POSITIVE_DEFINITE);
    expect_close("right-hand side untouched after a failed factorization", Bg, B, 3, 0.0);
    /* The backend is still usable afterwards. */
    double S[4] = {4, 2, 2, 3}, s[2] = {1, 1};
    assert_int_equal(g_gpu->ops->solve_spd(g_gpu, 2, S, s, 1, NULL), SF_OK);
    assert_true(fabs(s[0] - 0.125) < 1e-15 && fabs(s[1] - 0.25) < 1e-15);
}

/* solve_lstsq, solve_triangular and qr_small run on the host in both backends. */
static void test_small_dense_host_ops(void **state)
{
    (void)state;
    enum { M = 9, N = 4 };
    double A[M * N], b[M];
    ref_rng r;
    ref_rng_seed(&r, 1000);
    for (size_t q = 0; q < M * N; q++)
        A[q] = ref_rng_normal(&r);
    for (size_t q = 0; q < M; q++)
        b[q] = ref_rng_normal(&r);
    double Ag[M * N], Ac[M * N], bg[M], bc[M], Rg[N * N], Rc[N * N];
    memcpy(Ag, A, sizeof A);
    memcpy(Ac, A, sizeof A);
    assert_int_equal(g_gpu->ops->qr_small(g_gpu, M, N, Ag, Rg), SF_OK);
    assert_int_equal(g_cpu->ops->qr_small(g_cpu, M, N, Ac, Rc), SF_OK);
    expect_close("qr_small", Rg, Rc, N * N, TOL_EXACT);
    memcpy(bg, b, sizeof b);
    memcpy(bc, b, sizeof b);
    assert_int_equal(g_gpu->ops->solve_triangular(g_gpu, N, Rg, bg, 1, true), SF_OK);
    assert_int_equal(g_cpu->ops->solve_triangular(g_cpu, N, Rc, bc, 1, true), SF_OK);
    expect_close("solve_triangular", bg, bc, N, TOL_EXACT);
    memcpy(Ag, A, sizeof A);
    memcpy(Ac, A, sizeof A);
    memcpy(bg, b, sizeof b);
    memcpy(bc, b, sizeof b);
    int rank_g = 0, rank_c = 0;
    assert_int_equal(g_gpu->ops->solve_lstsq(g_gpu, M, N, Ag, bg, 1e-13, &rank_g), SF_OK);
    assert_int_equal(g_cpu->ops->solve_lstsq(g_cpu, M, N, Ac, bc, 1e-13, &rank_c), SF_OK);
    assert_int_equal(rank_g, rank_c);
    expect_close("solve_lstsq", bg, bc, N, TOL_EXACT);
}

/* ------------------------------------------- memory: OOM, pinned staging */

static void test_upload_out_of_memory(void **state)
{
    (void)state;
    /* 2^27 rows x 1023 features: 1 TiB, more than any one GPU holds. The
     * backend must say "no memory" (the caller retries with smaller
     * batches) before it reads the host arrays, and stay usable. */
    double x[1] = {0}, yv[1] = {0};
    sf_dbatch *b = NULL;
    assert_int_equal(g_gpu->ops->batch_upload(g_gpu, x, yv, (size_t)1 << 27, 1023, &b),
                     SF_ERR_NO_MEMORY);
    assert_null(b);
    double X[6] = {1, 2, 3, 4, 5, 7}, y[3] = {1, 2, 4}, mean[3], m2[9];
    assert_int_equal(g_gpu->ops->batch_upload(g_gpu, X, y, 3, 2, &b), SF_OK);
    assert_int_equal(g_gpu->ops->batch_moments(g_gpu, b, mean, m2), SF_OK);
    assert_true(fabs(mean[0] - 3.0) < 1e-15 && fabs(mean[2] - 7.0 / 3.0) < 1e-15);
    g_gpu->ops->batch_free(g_gpu, b);
}

static void test_pinned_staging(void **state)
{
    (void)state;
    assert_null(g_cpu->ops->host_alloc); /* the CPU backend: plain malloc */
    assert_non_null(g_gpu->ops->host_alloc);
    assert_non_null(g_gpu->ops->host_free);
    size_t n = 5003, d = 7, p = d + 1;
    double *X = g_gpu->ops->host_alloc(g_gpu, sizeof(double) * n * d);
    double *y = g_gpu->ops->host_alloc(g_gpu, sizeof(double) * n);
    assert_non_null(X);
    assert_non_null(y);
    gen_regression(1100, n, d, X, y);
    double *Xc = alloc_doubles(n * d), *yc = alloc_doubles(n);
    memcpy(Xc, X, sizeof(double) * n * d);
    memcpy(yc, y, sizeof(double) * n);
    sf_dbatch *b = NULL;
    assert_int_equal(g_gpu->ops->batch_upload(g_gpu, X, y, n, d, &b), SF_OK);
    /* The contract: the staging arrays are free once batch_upload returns. */
    for (size_t q = 0; q < n * d; q++)
        X[q] = NAN;
    for (size_t q = 0; q < n; q++)
        y[q] = NAN;
    sf_dbatch *bc = NULL;
    assert_int_equal(g_cpu->ops->batch_upload(g_cpu, Xc, yc, n, d, &bc), SF_OK);
    double mg[8 + 64], mc[8 + 64];
    assert_int_equal(g_gpu->ops->batch_moments(g_gpu, b, mg, mg + p), SF_OK);
    assert_int_equal(g_cpu->ops->batch_moments(g_cpu, bc, mc, mc + p), SF_OK);
    expect_close("moments of a batch uploaded from pinned memory", mg, mc, p + p * p, TOL_OP);
    g_gpu->ops->batch_free(g_gpu, b);
    g_cpu->ops->batch_free(g_cpu, bc);
    g_gpu->ops->host_free(g_gpu, X);
    g_gpu->ops->host_free(g_gpu, y);
    g_gpu->ops->host_free(g_gpu, NULL);
    free(Xc);
    free(yc);
}

/* ------------------------------------------------- fits, public API */

static sf_status fit_on(sf_context *ctx, const sf_fit_params *par, size_t d, size_t K,
                        const double *X, const double *y, size_t n, size_t batch, sf_model **out)
{
    sf_trainer *t = NULL;
    *out = NULL;
    if (batch == 0) batch = n;
    sf_status st = sf_trainer_create(ctx, par, d, K, &t);
    for (size_t i = 0; st == SF_OK && i < n; i += batch) {
        size_t r = n - i < batch ? n - i : batch;
        st = sf_trainer_add_batch(t, X + i * d, y + i, r);
    }
    if (st == SF_OK) st = sf_trainer_fit(t, out);
    sf_trainer_destroy(t);
    return st;
}

/* Coefficients row by row, then the intercepts; returns the count. */
static size_t model_params(sf_model *m, double *out)
{
    size_t d = sf_model_n_features(m), outs = sf_model_n_outputs(m);
    for (size_t k = 0; k < outs; k++)
        memcpy(out + k * d, sf_model_coefficients(m, k), sizeof(double) * d);
    memcpy(out + outs * d, sf_model_intercepts(m), sizeof(double) * outs);
    return outs * (d + 1);
}

static void parse_csv(const char *rel, sf_table *t)
{
    char path[1024], err[256] = "";
    snprintf(path, sizeof path, "%s/%s", SF_TEST_DATA, rel);
    sf_parse_options opt;
    sf_parse_options_init(&opt);
    opt.threads = 1;
    sf_status st = sf_parse_file(path, &opt, t, err, sizeof err);
    if (st != SF_OK) fail_msg("%s: %s", path, err);
    assert_int_equal(t->bad_rows, 0);
}

static cJSON *read_json(const char *rel)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", SF_TEST_DATA, rel);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    assert_true(len > 0);
    char *text = malloc((size_t)len + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)len, f), (size_t)len);
    text[len] = '\0';
    fclose(f);
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!j) fail_msg("%s: not JSON", path);
    return j;
}

/* The numbers of a JSON array into out; returns how many. */
static size_t json_numbers(const cJSON *arr, double *out, size_t max)
{
    size_t n = 0;
    const cJSON *v;
    assert_true(cJSON_IsArray(arr));
    cJSON_ArrayForEach(v, arr)
    {
        assert_true(cJSON_IsNumber(v));
        assert_true(n < max);
        out[n++] = v->valuedouble;
    }
    return n;
}

static void test_fit_ols_longley(void **state)
{
    (void)state;
    sf_table t;
    parse_csv("nist/Longley.csv", &t);
    size_t d = t.d;
    assert_int_equal(d, 6);
    cJSON *json = read_json("nist/Longley.json");
    double cert[7];
    assert_int_equal(json_numbers(cJSON_GetObjectItemCaseSensitive(json, "coefficients"), cert, 7),
                     7);
    cJSON_Delete(json);
    const sf_solver_kind solvers[] = {SF_SOLVER_AUTO, SF_SOLVER_QR};
    const size_t batches[] = {0, 5};
    for (size_t s = 0; s < 2; s++)
        for (size_t bi = 0; bi < 2; bi++) {
            sf_fit_params par;
            sf_fit_params_init(&par);
            par.model = SF_MODEL_OLS;
            par.solver = solvers[s];
            sf_model *mg = NULL, *mc = NULL;
            assert_int_equal(fit_on(g_ctx_gpu, &par, d, 0, t.X, t.y, t.rows, batches[bi], &mg),
                             SF_OK);
            assert_int_equal(fit_on(g_ctx_cpu, &par, d, 0, t.X, t.y, t.rows, batches[bi], &mc),
                             SF_OK);
            double eg[7], ec[7];
            model_params(mg, eg);
            model_params(mc, ec);
            /* eg is [w1..w6, b]; cert is [b, w1..w6]. */
            double lre = ref_lre(eg[6], cert[0]);
            for (size_t j = 0; j < d; j++)
                lre = fmin(lre, ref_lre(eg[j], cert[j + 1]));
            printf("Longley on cuda, solver %s, %s: min LRE %.2f\n",
                   sf_solver_kind_name(solvers[s]), batches[bi] ? "batches of 5" : "one batch",
                   lre);
            if (!(lre >= 9))
                fail_msg("Longley solver %s: min LRE %.2f < 9", sf_solver_kind_name(solvers[s]),
                         lre);
            expect_close("Longley cuda vs cpu", eg, ec, 7, 1e-7);
            sf_model_destroy(mg);
            sf_model_destroy(mc);
        }
    sf_table_free(&t);
}

static void test_fit_ridge(void **state)
{
    (void)state;
    enum { N = 3000, D = 6 };
    double *X = alloc_doubles(N * D), *y = alloc_doubles(N);
    gen_regression(1200, N, D, X, y);
    for (int stdz = 0; stdz < 2; stdz++)
        for (int streaming = 0; streaming < 2; streaming++) {
            sf_fit_params par;
            sf_fit_params_init(&par);
            par.model = SF_MODEL_RIDGE;
            par.lambda = 0.7;
            par.standardize = stdz;
            /* Streaming: batches are not kept, the merged statistics (and
             * merged R from batch_qr) are all there is. */
            par.keep_batches = !streaming;
            if (streaming) par.solver = SF_SOLVER_QR;
            sf_model *mg = NULL, *mc = NULL;
            assert_int_equal(fit_on(g_ctx_gpu, &par, D, 0, X, y, N, 700, &mg), SF_OK);
            assert_int_equal(fit_on(g_ctx_cpu, &par, D, 0, X, y, N, 700, &mc), SF_OK);
            double eg[D + 1], ec[D + 1], ref[D + 1];
            model_params(mg, eg);
            model_params(mc, ec);
            assert_true(ref_least_squares(X, y, N, D, par.lambda, true, stdz, ref, &ref[D]));
            char what[80];
            snprintf(what, sizeof what, "ridge standardize=%d streaming=%d: cuda vs cpu", stdz,
                     streaming);
            expect_close(what, eg, ec, D + 1, 1e-9);
            snprintf(what, sizeof what, "ridge standardize=%d streaming=%d: cuda vs reference",
                     stdz, streaming);
            expect_close(what, eg, ref, D + 1, 1e-8);
            sf_model_destroy(mg);
            sf_model_destroy(mc);
        }
    free(X);
    free(y);
}

static void test_fit_logistic_breast_cancer(void **state)
{
    (void)state;
    sf_table t;
    parse_csv("real/breast_cancer.csv", &t);
    assert_int_equal(t.rows, 569);
    assert_int_equal(t.d, 30);
    cJSON *json = read_json("real/breast_cancer_logreg.json");
    const cJSON *fit = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(json, "fits"), 0);
    assert_non_null(fit);
    assert_true(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(fit, "lambda")) == 1e-2);
    const cJSON *raw = cJSON_GetObjectItemCaseSensitive(fit, "raw_feature_equivalent");
    double ref[31];
    assert_int_equal(json_numbers(cJSON_GetObjectItemCaseSensitive(raw, "w_raw"), ref, 30), 30);
    const cJSON *b_raw = cJSON_GetObjectItemCaseSensitive(raw, "b_raw");
    assert_true(cJSON_IsNumber(b_raw));
    ref[30] = b_raw->valuedouble;
    cJSON_Delete(json);
    const sf_solver_kind solvers[] = {SF_SOLVER_NEWTON, SF_SOLVER_LBFGS};
    const size_t batches[] = {0, 100};
    for (size_t s = 0; s < 2; s++)
        for (size_t bi = 0; bi < 2; bi++) {
            sf_fit_params par;
            sf_fit_params_init(&par);
            par.model = SF_MODEL_LOGISTIC;
            par.standardize = true;
            par.lambda = 1e-2;
            par.solver = solvers[s];
            sf_model *mg = NULL, *mc = NULL;
            assert_int_equal(fit_on(g_ctx_gpu, &par, 30, 2, t.X, t.y, t.rows, batches[bi], &mg),
                             SF_OK);
            assert_int_equal(fit_on(g_ctx_cpu, &par, 30, 2, t.X, t.y, t.rows, batches[bi], &mc),
                             SF_OK);
            double eg[31], ec[31];
            model_params(mg, eg);
            model_params(mc, ec);
            char what[96];
            snprintf(what, sizeof what, "breast cancer %s %s: cuda vs stored fit",
                     sf_solver_kind_name(solvers[s]), batches[bi] ? "batches of 100" : "one batch");
            expect_close(what, eg, ref, 31, 1e-6);
            snprintf(what, sizeof what, "breast cancer %s: cuda vs cpu",
                     sf_solver_kind_name(solvers[s]));
            expect_close(what, eg, ec, 31, 1e-6);
            sf_model_destroy(mg);
            sf_model_destroy(mc);
        }
    sf_table_free(&t);
}

static void test_fit_softmax(void **state)
{
    (void)state;
    enum { N = 1500, D = 4, K = 3, P = K * (D + 1) };
    double *X = alloc_doubles(N * D), *y = alloc_doubles(N);
    gen_classes(1300, N, D, K, X, y);
    double ref[P];
    assert_true(ref_softmax(X, y, N, D, K, 1e-3, true, true, ref, ref + K * D));
    const sf_solver_kind solvers[] = {SF_SOLVER_NEWTON, SF_SOLVER_LBFGS};
    for (size_t s = 0; s < 2; s++) {
        sf_fit_params par;
        sf_fit_params_init(&par);
        par.model = SF_MODEL_SOFTMAX;
        par.standardize = true;
        par.lambda = 1e-3;
        par.solver = solvers[s];
        sf_model *mg = NULL, *mc = NULL;
        assert_int_equal(fit_on(g_ctx_gpu, &par, D, K, X, y, N, 400, &mg), SF_OK);
        assert_int_equal(fit_on(g_ctx_cpu, &par, D, K, X, y, N, 400, &mc), SF_OK);
        double eg[P], ec[P];
        assert_int_equal(model_params(mg, eg), P);
        model_params(mc, ec);
        char what[64];
        snprintf(what, sizeof what, "softmax %s: cuda vs cpu", sf_solver_kind_name(solvers[s]));
        expect_close(what, eg, ec, P, 1e-7);
        snprintf(what, sizeof what, "softmax %s: cuda vs reference",
                 sf_solver_kind_name(solvers[s]));
        expect_close(what, eg, ref, P, 1e-6);
        /* Prediction through the CUDA backend's scores. */
        double *vg = alloc_doubles(N), *vc = alloc_doubles(N);
        double *pg = alloc_doubles(N * K), *pc = alloc_doubles(N * K);
        assert_int_equal(sf_predict(g_ctx_gpu, mg, X, N, vg, pg), SF_OK);
        assert_int_equal(sf_predict(g_ctx_cpu, mg, X, N, vc, pc), SF_OK);
        expect_close("softmax predict: probabilities", pg, pc, N * K, 1e-12);
        size_t differ = 0;
        for (size_t i = 0; i < N; i++)
            differ += vg[i] != vc[i];
        assert_true(differ <= 1); /* only an exact tie could flip */
        sf_model_destroy(mg);
        sf_model_destroy(mc);
        free(vg);
        free(vc);
        free(pg);
        free(pc);
    }
    free(X);
    free(y);
}

static void test_streaming_ftrl(void **state)
{
    (void)state;
    enum { N = 2000, D = 5 };
    double *X = alloc_doubles(N * D), *y = alloc_doubles(N);
    gen_classes(1400, N, D, 2, X, y);
    sf_model *m[2] = {NULL, NULL};
    sf_context *ctx[2] = {g_ctx_gpu, g_ctx_cpu};
    for (int c = 0; c < 2; c++) {
        sf_fit_params par;
        sf_fit_params_init(&par);
        par.model = SF_MODEL_LOGISTIC;
        par.standardize = true;
        par.lambda = 1e-3;
        par.keep_batches = false;
        sf_trainer *t = NULL;
        assert_int_equal(sf_trainer_create(ctx[c], &par, D, 2, &t), SF_OK);
        for (size_t i = 0; i < N; i += 100)
            assert_int_equal(sf_trainer_update(t, X + i * D, y + i, 100), SF_OK);
        assert_int_equal(sf_trainer_snapshot(t, &m[c]), SF_OK);
        sf_trainer_destroy(t);
    }
    double eg[D + 1], ec[D + 1];
    model_params(m[0], eg);
    model_params(m[1], ec);
    expect_close("FTRL updates: cuda vs cpu", eg, ec, D + 1, 1e-9);
    sf_model_destroy(m[0]);
    sf_model_destroy(m[1]);
    free(X);
    free(y);
}

/* sf_trainer_predict_update (one upload: predict with the model of before
 * the batch, then learn) on CUDA against the CPU backend, after a warm-up
 * fit: OLS, logistic and softmax (standardized); values and probabilities
 * within 1e-9 relative, predicted classes equal; and on CUDA itself the
 * predictions equal sf_predict with a snapshot taken before each batch
 * within 1e-12. */
static void predict_update_on_both(sf_model_kind kind)
{
    enum { D = 6, WARM = 3000, B = 1000, BATCHES = 5 };
    size_t K = kind == SF_MODEL_SOFTMAX ? 3 : (kind == SF_MODEL_LOGISTIC ? 2 : 0);
    size_t n = WARM + B * BATCHES, kc = K ? K : 1;
    double *X = alloc_doubles(n * D), *y = alloc_doubles(n);
    if (K)
        gen_classes(1700 + K, n, D, K, X, y);
    else
        gen_regression(1700, n, D, X, y);
    sf_context *ctx[2] = {g_ctx_gpu, g_ctx_cpu};
    sf_trainer *t[2] = {NULL, NULL};
    double *v[2], *p[2], *vs = alloc_doubles(B), *ps = alloc_doubles(B * kc);
    for (int c = 0; c < 2; c++) {
        sf_fit_params par;
        sf_fit_params_init(&par);
        par.model = kind;
        par.standardize = true;
        par.lambda = K ? 1e-3 : 0.0;
        assert_int_equal(sf_trainer_create(ctx[c], &par, D, K, &t[c]), SF_OK);
        assert_int_equal(sf_trainer_add_batch(t[c], X, y, WARM), SF_OK);
        sf_model *m = NULL;
        assert_int_equal(sf_trainer_fit(t[c], &m), SF_OK);
        sf_model_destroy(m);
        v[c] = alloc_doubles(B);
        p[c] = alloc_doubles(B * kc);
    }
    for (size_t at = WARM; at + B <= n; at += B) {
        sf_model *snap = NULL;
        assert_int_equal(sf_trainer_snapshot(t[0], &snap), SF_OK);
        assert_int_equal(sf_predict(g_ctx_gpu, snap, X + at * D, B, vs, K ? ps : NULL), SF_OK);
        sf_model_destroy(snap);
        for (int c = 0; c < 2; c++)
            assert_int_equal(
                sf_trainer_predict_update(t[c], X + at * D, y + at, B, v[c], K ? p[c] : NULL),
                SF_OK);
        if (K) {
            expect_close("predict_update: cuda vs cpu probabilities", p[0], p[1], B * K, 1e-9);
            expect_close("predict_update: cuda vs its snapshot", p[0], ps, B * K, 1e-12);
            for (size_t i = 0; i < B; i++)
                assert_true(v[0][i] == v[1][i]);
        } else {
            expect_close("predict_update: cuda vs cpu values", v[0], v[1], B, 1e-9);
            expect_close("predict_update: cuda vs its snapshot", v[0], vs, B, 1e-12);
        }
    }
    sf_model *m[2];
    double eg[3 * (D + 1)], ec[3 * (D + 1)];
    for (int c = 0; c < 2; c++)
        assert_int_equal(sf_trainer_snapshot(t[c], &m[c]), SF_OK);
    size_t P = model_params(m[0], eg);
    model_params(m[1], ec);
    expect_close("predict_update: model after, cuda vs cpu", eg, ec, P, 1e-9);
    for (int c = 0; c < 2; c++) {
        sf_model_destroy(m[c]);
        sf_trainer_destroy(t[c]);
        free(v[c]);
        free(p[c]);
    }
    free(vs);
    free(ps);
    free(X);
    free(y);
}

static void test_predict_update(void **state)
{
    (void)state;
    predict_update_on_both(SF_MODEL_OLS);
    predict_update_on_both(SF_MODEL_LOGISTIC);
    predict_update_on_both(SF_MODEL_SOFTMAX);
}

/* ftrl_step as an op: the fused kernels (logistic, softmax, standardized on
 * the fly, L1 and L2, intercept held) and the fallback for wide models
 * against the CPU backend, several steps in a row: theta, z, n, the loss and
 * (every other step) the scores of the step's pass within TOL_OP. */
static void ftrl_steps(size_t n, size_t d, size_t K, bool standardize, bool intercept)
{
    size_t outs = K ? K : 1, P = outs * (d + 1);
    double *X = alloc_doubles(n * d), *y = alloc_doubles(n), *shift = alloc_doubles(d),
           *scale = alloc_doubles(d);
    gen_classes(1500 + d + K, n, d, K ? K : 2, X, y);
    for (size_t j = 0; j < d; j++) {
        shift[j] = 0.5 * (double)j;
        scale[j] = 0.5 + 0.3 * (double)j;
    }
    double *st[2][3];
    for (int b = 0; b < 2; b++)
        for (int k = 0; k < 3; k++)
            st[b][k] = alloc_doubles(P); /* theta, z, n */
    sf_ftrl_params prm = {
        .alpha = 0.2, .beta = 1.0, .l1 = 1e-3, .l2 = 1e-2, .fit_intercept = intercept};
    sf_backend *be[2] = {g_gpu, g_cpu};
    size_t step = n / 4;
    double *scores[2] = {alloc_doubles(step * outs), alloc_doubles(step * outs)};
    for (size_t i = 0; i + step <= n; i += step) {
        double loss[2];
        bool with_scores = (i / step) % 2 == 1; /* every other step asks for the scores */
        for (int b = 0; b < 2; b++) {
            sf_dbatch *bt = NULL;
            assert_int_equal(be[b]->ops->batch_upload(be[b], X + i * d, y + i, step, d, &bt),
                             SF_OK);
            assert_int_equal(be[b]->ops->ftrl_step(be[b], bt, d, K, standardize ? shift : NULL,
                                                   standardize ? scale : NULL, &prm, st[b][0],
                                                   st[b][1], st[b][2], &loss[b],
                                                   with_scores ? scores[b] : NULL),
                             SF_OK);
            be[b]->ops->batch_free(be[b], bt);
        }
        char what[96];
        snprintf(what, sizeof what, "ftrl_step d=%zu K=%zu: theta", d, K);
        expect_close(what, st[0][0], st[1][0], P, TOL_OP);
        expect_close("ftrl_step: z", st[0][1], st[1][1], P, TOL_OP);
        expect_close("ftrl_step: n", st[0][2], st[1][2], P, TOL_OP);
        expect_close("ftrl_step: loss", &loss[0], &loss[1], 1, TOL_OP);
        if (with_scores)
            expect_close("ftrl_step: scores", scores[0], scores[1], step * outs, TOL_OP);
    }
    free(scores[0]);
    free(scores[1]);
    if (!intercept) /* held intercepts stay where they were */
        for (size_t k = 0; k < outs; k++)
            assert_true(st[0][0][k * (d + 1) + d] == 0.0);
    for (int b = 0; b < 2; b++)
        for (int k = 0; k < 3; k++)
            free(st[b][k]);
    free(X);
    free(y);
    free(shift);
    free(scale);
}

static void test_ftrl_step(void **state)
{
    (void)state;
    ftrl_steps(4000, 7, 0, false, true);
    ftrl_steps(4000, 7, 0, true, false);
    ftrl_steps(3001, 40, 3, true, true);
    ftrl_steps(1000, 1, 4, false, true);
    ftrl_steps(2000, 2000, 0, true, true); /* wider than the fused kernel: the fallback */
}

/* ------------------------------------------------------------------ main */

int main(void)
{
    char why[256] = "";
    sf_status st = sf_backend_cuda_create(0, &g_gpu, why, sizeof why);
    if (st != SF_OK) {
        printf("SKIP: no usable GPU: %s\n", why[0] ? why : sf_strerror(st));
        return 77;
    }
    g_gpu->log = log_stderr;
    if (sf_backend_cpu_create(0, &g_cpu) != SF_OK) {
        fprintf(stderr, "cannot create the CPU backend\n");
        return 1;
    }
    sf_context_options co;
    sf_context_options_init(&co);
    co.log = log_stderr;
    co.device = SF_DEVICE_CUDA;
    if (sf_context_create(&co, &g_ctx_gpu) != SF_OK ||
        strcmp(sf_context_backend_name(g_ctx_gpu), "cuda") != 0) {
        fprintf(stderr, "a CUDA context could not be created although the backend could\n");
        return 1;
    }
    co.device = SF_DEVICE_CPU;
    if (sf_context_create(&co, &g_ctx_cpu) != SF_OK) return 1;

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upload_rows_free),
        cmocka_unit_test(test_moments),
        cmocka_unit_test(test_qr),
        cmocka_unit_test(test_standardize),
        cmocka_unit_test(test_batch_sample),
        cmocka_unit_test(test_scores),
        cmocka_unit_test(test_residuals),
        cmocka_unit_test(test_residuals_cancellation),
        cmocka_unit_test(test_logistic_terms),
        cmocka_unit_test(test_softmax_terms),
        cmocka_unit_test(test_solve_spd),
        cmocka_unit_test(test_solve_spd_not_pd),
        cmocka_unit_test(test_small_dense_host_ops),
        cmocka_unit_test(test_upload_out_of_memory),
        cmocka_unit_test(test_pinned_staging),
        cmocka_unit_test(test_fit_ols_longley),
        cmocka_unit_test(test_fit_ridge),
        cmocka_unit_test(test_fit_logistic_breast_cancer),
        cmocka_unit_test(test_fit_softmax),
        cmocka_unit_test(test_streaming_ftrl),
        cmocka_unit_test(test_predict_update),
        cmocka_unit_test(test_ftrl_step),
    };
    int failed = cmocka_run_group_tests_name("gpu", tests, NULL, NULL);
    sf_context_destroy(g_ctx_gpu);
    sf_context_destroy(g_ctx_cpu);
    g_cpu->ops->destroy(g_cpu);
    g_gpu->ops->destroy(g_gpu);
    return failed ? 1 : 0;
}
