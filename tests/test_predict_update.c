/*
 * test_predict_update.c — sf_trainer_predict_update (test-then-train in one
 * call, one upload) against the two calls it replaces, on the CPU backend:
 * for OLS, ridge, logistic and softmax (with and without standardize), after
 * a warm-up fit and from a cold start, each batch's predictions must equal
 * sf_predict with a snapshot taken before the batch, and the model after it
 * the one sf_trainer_update gives on a twin trainer fed the same batches.
 * The models are compared exactly (bit for bit): same backend, same
 * operations. Least-squares predictions are exact too; a classifier's come
 * from its FTRL step's own pass over the batch (the same parameters in
 * standardized units), so they equal sf_predict's within 1e-12 (values
 * exactly, but for a probability that close to a tie). The backend's
 * ftrl_step with scores asked for leaves theta, z and n bit for bit as
 * without, on the CPU backend's fused pass and on the generic host step.
 * Also: a bad label changes nothing, and the least-squares streaming state
 * keeps no R factor unless the condition estimate (or --solver qr) asks.
 */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "reference.h"
#include "streamfit.h"

static sf_context *g_ctx;

static int group_setup(void **state)
{
    (void)state;
    sf_context_options co;
    sf_context_options_init(&co);
    co.device = SF_DEVICE_CPU;
    return sf_context_create(&co, &g_ctx) == SF_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    sf_context_destroy(g_ctx);
    return 0;
}

/* Rows with features of different means and scales; labels linear + noise
 * (K = 0) or class indices 0..K-1 drawn from a linear score. */
static void gen_rows(uint64_t seed, size_t n, size_t d, size_t K, double *X, double *y)
{
    ref_rng r;
    ref_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        double t = 0.5, t2 = -0.3;
        for (size_t j = 0; j < d; j++) {
            double x = (double)j + (1.0 + 0.5 * (double)j) * ref_rng_normal(&r);
            X[i * d + j] = x;
            t += (j % 2 ? -0.7 : 0.4) * (x - (double)j) / (1.0 + 0.5 * (double)j);
            t2 += (j % 3 ? 0.3 : -0.5) * (x - (double)j) / (1.0 + 0.5 * (double)j);
        }
        if (K == 0)
            y[i] = 3.0 * t + 0.2 * ref_rng_normal(&r);
        else if (K == 2)
            y[i] = ref_rng_uniform(&r) < 1.0 / (1.0 + exp(-t)) ? 1.0 : 0.0;
        else
            y[i] = t > 0.3 ? 0.0 : (t2 > 0 ? 1.0 : (double)(K - 1));
    }
}

static bool same_bits(const double *a, const double *b, size_t n)
{
    return memcmp(a, b, sizeof(double) * n) == 0;
}

static void expect_same_model(const char *what, sf_model *a, sf_model *b)
{
    size_t d = sf_model_n_features(a), outs = sf_model_n_outputs(a);
    for (size_t k = 0; k < outs; k++)
        if (!same_bits(sf_model_coefficients(a, k), sf_model_coefficients(b, k), d))
            fail_msg("%s: coefficients of output %zu differ", what, k);
    if (!same_bits(sf_model_intercepts(a), sf_model_intercepts(b), outs))
        fail_msg("%s: intercepts differ", what);
    assert_int_equal(sf_model_rows_seen(a), sf_model_rows_seen(b));
}

#define PROBA_TOL 1e-12

/* Probabilities within PROBA_TOL, and the same class unless the two best
 * probabilities of the row are that close. */
static void expect_same_classes(const char *what, const double *va, const double *vb,
                                const double *pa, const double *pb, size_t rows, size_t K)
{
    for (size_t i = 0; i < rows; i++) {
        const double *a = pa + i * K, *b = pb + i * K;
        double best = 0, second = 0;
        for (size_t k = 0; k < K; k++) {
            if (!(fabs(a[k] - b[k]) <= PROBA_TOL))
                fail_msg("%s: row %zu class %zu: probability %.17g, sf_predict %.17g", what, i, k,
                         a[k], b[k]);
            if (b[k] > best) {
                second = best;
                best = b[k];
            } else if (b[k] > second) {
                second = b[k];
            }
        }
        if (va[i] != vb[i] && best - second > 2 * PROBA_TOL)
            fail_msg("%s: row %zu: class %g, sf_predict %g", what, i, va[i], vb[i]);
    }
}

/* One model family: trainer A learns by predict_update, twin B by snapshot +
 * sf_predict + update; warm-up rows first when `warm`. */
static void check_family(sf_model_kind kind, bool standardize, bool warm)
{
    enum { D = 6, WARM = 500, B = 300, BATCHES = 6 };
    size_t K = kind == SF_MODEL_SOFTMAX ? 3 : (kind == SF_MODEL_LOGISTIC ? 2 : 0);
    size_t n = WARM + B * BATCHES, kc = K ? K : 1;
    double *X = malloc(sizeof(double) * n * D), *y = malloc(sizeof(double) * n);
    double *va = malloc(sizeof(double) * B), *vb = malloc(sizeof(double) * B);
    double *pa = malloc(sizeof(double) * B * kc), *pb = malloc(sizeof(double) * B * kc);
    assert_true(X && y && va && vb && pa && pb);
    gen_rows(kind * 10 + standardize, n, D, K, X, y);
    sf_fit_params par;
    sf_fit_params_init(&par);
    par.model = kind;
    par.lambda = kind == SF_MODEL_OLS ? 0.0 : 0.5;
    par.standardize = standardize;
    par.keep_batches = warm;
    sf_trainer *a = NULL, *b = NULL;
    assert_int_equal(sf_trainer_create(g_ctx, &par, D, K, &a), SF_OK);
    assert_int_equal(sf_trainer_create(g_ctx, &par, D, K, &b), SF_OK);
    size_t at = 0;
    if (warm) {
        sf_model *ma = NULL, *mb = NULL;
        assert_int_equal(sf_trainer_add_batch(a, X, y, WARM), SF_OK);
        assert_int_equal(sf_trainer_add_batch(b, X, y, WARM), SF_OK);
        assert_int_equal(sf_trainer_fit(a, &ma), SF_OK);
        assert_int_equal(sf_trainer_fit(b, &mb), SF_OK);
        sf_model_destroy(ma);
        sf_model_destroy(mb);
        at = WARM;
    } else { /* a cold start predicts from the second batch on */
        assert_int_equal(sf_trainer_update(a, X, y, B), SF_OK);
        assert_int_equal(sf_trainer_update(b, X, y, B), SF_OK);
        at = B;
    }
    char what[128];
    for (size_t k = 0; at + B <= n; k++, at += B) {
        snprintf(what, sizeof what, "%s standardize %d warm %d batch %zu", sf_model_kind_name(kind),
                 standardize, warm, k);
        sf_model *snap = NULL;
        assert_int_equal(sf_trainer_snapshot(b, &snap), SF_OK);
        assert_int_equal(sf_predict(g_ctx, snap, X + at * D, B, vb, K ? pb : NULL), SF_OK);
        sf_model_destroy(snap);
        assert_int_equal(sf_trainer_update(b, X + at * D, y + at, B), SF_OK);
        assert_int_equal(sf_trainer_predict_update(a, X + at * D, y + at, B, va, K ? pa : NULL),
                         SF_OK);
        if (!K && !same_bits(va, vb, B)) fail_msg("%s: predicted values differ", what);
        if (K) expect_same_classes(what, va, vb, pa, pb, B, K);
        sf_model *ma = NULL, *mb = NULL;
        assert_int_equal(sf_trainer_snapshot(a, &ma), SF_OK);
        assert_int_equal(sf_trainer_snapshot(b, &mb), SF_OK);
        expect_same_model(what, ma, mb);
        sf_model_destroy(ma);
        sf_model_destroy(mb);
    }
    /* The saved states agree too (what a checkpoint keeps). */
    unsigned char *sa = NULL, *sb = NULL;
    size_t la = 0, lb = 0;
    assert_int_equal(sf_trainer_save_state(a, &sa, &la), SF_OK);
    assert_int_equal(sf_trainer_save_state(b, &sb, &lb), SF_OK);
    assert_int_equal(la, lb);
    assert_memory_equal(sa, sb, la);
    printf("predict_update %-8s standardize %d warm %d: %d batches, models equal bit for bit\n",
           sf_model_kind_name(kind), standardize, warm, BATCHES - (warm ? 0 : 1));
    free(sa);
    free(sb);
    sf_trainer_destroy(a);
    sf_trainer_destroy(b);
    free(X);
    free(y);
    free(va);
    free(vb);
    free(pa);
    free(pb);
}

static void test_matches_snapshot_then_update(void **state)
{
    (void)state;
    const sf_model_kind kinds[] = {SF_MODEL_OLS, SF_MODEL_RIDGE, SF_MODEL_LOGISTIC,
                                   SF_MODEL_SOFTMAX};
    for (size_t k = 0; k < 4; k++)
        for (int stdz = 0; stdz < 2; stdz++)
            for (int warm = 0; warm < 2; warm++)
                check_family(kinds[k], stdz, warm);
}

/* A bad label refuses the whole batch before anything is predicted or learned. */
static void test_bad_label_changes_nothing(void **state)
{
    (void)state;
    enum { D = 3, N = 200 };
    double X[N * D], y[N], v[N], p[N * 2];
    gen_rows(5, N, D, 2, X, y);
    sf_fit_params par;
    sf_fit_params_init(&par);
    par.model = SF_MODEL_LOGISTIC;
    par.keep_batches = false;
    sf_trainer *t = NULL;
    assert_int_equal(sf_trainer_create(g_ctx, &par, D, 2, &t), SF_OK);
    assert_int_equal(sf_trainer_update(t, X, y, N / 2), SF_OK);
    unsigned char *s0 = NULL, *s1 = NULL;
    size_t l0 = 0, l1 = 0;
    assert_int_equal(sf_trainer_save_state(t, &s0, &l0), SF_OK);
    y[N - 1] = 2.0;
    assert_int_equal(sf_trainer_predict_update(t, X + N / 2 * D, y + N / 2, N / 2, v, p),
                     SF_ERR_BAD_LABEL);
    assert_int_equal(sf_trainer_save_state(t, &s1, &l1), SF_OK);
    assert_int_equal(l0, l1);
    assert_memory_equal(s0, s1, l0);
    assert_int_equal(sf_trainer_predict_update(t, X, y, 0, v, p), SF_OK);
    assert_int_equal(sf_trainer_predict_update(t, X, y, 5, NULL, p), SF_ERR_INVALID_ARGUMENT);
    free(s0);
    free(s1);
    sf_trainer_destroy(t);
}

/* Least squares after a warm-up: a well-conditioned stream merges co-moments
 * only (no R factor, no QR per batch); --solver qr keeps R; an
 * ill-conditioned warm-up (two nearly collinear columns) keeps R under auto
 * and its streaming solve takes the QR path. Without a warm-up, an
 * ill-conditioned stream keeps exact sums (few features) or R (more). */
static void test_lsq_keeps_r_only_when_asked(void **state)
{
    (void)state;
    enum { D = 4, N = 2000 };
    double *X = malloc(sizeof(double) * N * D), *y = malloc(sizeof(double) * N);
    double *v = malloc(sizeof(double) * N);
    assert_true(X && y && v);
    for (int ill = 0; ill < 2; ill++)
        for (int qr = 0; qr < 2; qr++) {
            gen_rows(77, N, D, 0, X, y);
            if (ill)
                for (size_t i = 0; i < N; i++) /* column 1 = column 0 + 1e-7 noise */
                    X[i * D + 1] = X[i * D] + 1e-7 * X[((i * 7) % N) * D + 2];
            sf_fit_params par;
            sf_fit_params_init(&par);
            par.model = SF_MODEL_OLS;
            par.solver = qr ? SF_SOLVER_QR : SF_SOLVER_AUTO;
            sf_trainer *t = NULL;
            assert_int_equal(sf_trainer_create(g_ctx, &par, D, 0, &t), SF_OK);
            assert_int_equal(sf_trainer_add_batch(t, X, y, N / 2), SF_OK);
            assert_int_equal(sf_trainer_predict_update(t, X + N / 2 * D, y + N / 2, N / 2, v, NULL),
                             SF_OK);
            bool want_r = ill || qr;
            if (t->mom.has_r != want_r)
                fail_msg("ill %d solver %s: R kept %d", ill, qr ? "qr" : "auto", t->mom.has_r);
            sf_fit_report rep;
            sf_model *m = NULL;
            assert_int_equal(sf_trainer_snapshot(t, &m), SF_OK);
            sf_trainer_report(t, &rep);
            assert_int_equal(rep.solver_used, want_r ? SF_SOLVER_QR : SF_SOLVER_CHOLESKY);
            sf_model_destroy(m);
            sf_trainer_destroy(t);
        }
    /* Streaming from the start: the first batch's condition decides. On few
     * features an ill-conditioned stream keeps exact sums instead of R (a
     * well-conditioned one neither); on more, R. */
    const size_t widths[] = {D, SF_EXACT_GRAM_MAX_FEATURES + 2};
    for (size_t k = 0; k < 2; k++)
        for (int ill = 0; ill < 2; ill++) {
            size_t d = widths[k];
            double *Xw = malloc(sizeof(double) * N * d);
            assert_non_null(Xw);
            gen_rows(78, N, d, 0, Xw, y);
            if (ill)
                for (size_t i = 0; i < N; i++)
                    Xw[i * d + 1] = Xw[i * d] + 1e-7 * Xw[((i * 7) % N) * d + 2];
            sf_fit_params par;
            sf_fit_params_init(&par);
            par.model = SF_MODEL_OLS;
            par.keep_batches = false;
            sf_trainer *t = NULL;
            assert_int_equal(sf_trainer_create(g_ctx, &par, d, 0, &t), SF_OK);
            assert_int_equal(sf_trainer_update(t, Xw, y, N), SF_OK);
            bool few = d <= SF_EXACT_GRAM_MAX_FEATURES;
            assert_int_equal(t->mom.has_r, ill && !few);
            assert_int_equal(t->exact != NULL, ill && few);
            sf_trainer_destroy(t);
            free(Xw);
        }
    free(X);
    free(y);
    free(v);
}

/* ftrl_step with scores asked for, on the CPU backend (scores from the
 * gradient's pass) and through the generic host step (scores from
 * batch_scores): theta, z and n bit for bit those of the step without
 * scores, several steps in a row; the scores those of the parameters before
 * each step, against a long-double evaluation within 1e-12. */
static void ftrl_scores_case(size_t K, bool standardize)
{
    enum { D = 5, N = 900, STEP = 300 };
    sf_backend *be = g_ctx->be;
    size_t outs = K ? K : 1, p = D + 1, P = outs * p;
    double X[N * D], y[N], shift[D], scale[D], scores[2][STEP * 4];
    double st[3][3][4 * (D + 1)]; /* variant (none, fused, host) x (theta, z, n) */
    gen_rows(40 + K + standardize, N, D, K ? K : 2, X, y);
    for (size_t j = 0; j < D; j++) {
        shift[j] = (double)j;
        scale[j] = 1.0 + 0.5 * (double)j;
    }
    memset(st, 0, sizeof st);
    sf_ftrl_params prm = {.alpha = 0.3, .beta = 1.0, .l1 = 1e-3, .l2 = 1e-2, .fit_intercept = true};
    for (size_t at = 0; at + STEP <= N; at += STEP) {
        double before[4 * (D + 1)];
        memcpy(before, st[0][0], sizeof(double) * P);
        for (int v = 0; v < 3; v++) {
            sf_dbatch *b = NULL;
            assert_int_equal(be->ops->batch_upload(be, X + at * D, y + at, STEP, D, &b), SF_OK);
            double *sc = v == 0 ? NULL : scores[v - 1];
            const double *sh = standardize ? shift : NULL, *sl = standardize ? scale : NULL;
            sf_status r = v == 2 ? sf_ftrl_step_host(be, b, D, K, sh, sl, &prm, st[v][0], st[v][1],
                                                     st[v][2], NULL, sc)
                                 : be->ops->ftrl_step(be, b, D, K, sh, sl, &prm, st[v][0], st[v][1],
                                                      st[v][2], NULL, sc);
            assert_int_equal(r, SF_OK);
            be->ops->batch_free(be, b);
        }
        for (int v = 1; v < 3; v++)
            for (int k = 0; k < 3; k++)
                if (!same_bits(st[v][k], st[0][k], P))
                    fail_msg("K=%zu standardize %d rows %zu: state %d of variant %d differs", K,
                             standardize, at, k, v);
        for (size_t i = 0; i < STEP; i++)
            for (size_t k = 0; k < outs; k++) {
                long double t = before[k * p + D];
                for (size_t j = 0; j < D; j++) {
                    double x = X[(at + i) * D + j];
                    if (standardize) x = (x - shift[j]) / scale[j];
                    t += (long double)x * before[k * p + j];
                }
                for (int v = 0; v < 2; v++) {
                    double got = scores[v][i * outs + k];
                    if (!(fabsl(got - t) <= 1e-12L * (1 + fabsl(t))))
                        fail_msg("K=%zu row %zu: score %.17g, expected %.17Lg", K, at + i, got, t);
                }
            }
    }
    printf("ftrl_step K=%zu standardize %d: scores asked for change nothing\n", K, standardize);
}

static void test_ftrl_step_scores(void **state)
{
    (void)state;
    for (int stdz = 0; stdz < 2; stdz++) {
        ftrl_scores_case(0, stdz);
        ftrl_scores_case(3, stdz);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_snapshot_then_update),
        cmocka_unit_test(test_bad_label_changes_nothing),
        cmocka_unit_test(test_lsq_keeps_r_only_when_asked),
        cmocka_unit_test(test_ftrl_step_scores),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
