/*
 * test_staging.c — the staging ring (backend.h) and the trainer's staged
 * feed (sf_trainer_stage / sf_trainer_commit), on the CPU backend; the CUDA
 * ring is checked against these results in test_gpu.c.
 *
 *   - ring statistics (count, mean, co-moment of [x, y]) over batches of
 *     uneven sizes (1 row, full slots, more slots than the ring has) against
 *     an independent two-pass long-double reference: norm-wise relative
 *     error <= 1e-13; float32 slots against the same reference on the
 *     float-rounded rows, same bound; reads start afresh; kept batches hold
 *     their rows; misuse is refused;
 *   - least-squares fits fed through the ring (exact fit with kept batches,
 *     streaming with cholesky, stage/commit): bit for bit the direct feed
 *     when slots hold whole batches; with smaller slots (each batch split)
 *     and the direct feed, norm-wise within 1e-10 of the long-double
 *     reference in reference.c (offsets of 1e4: Cholesky without refinement
 *     there is good to ~1e-11); a refused label leaves the slot to be filled again;
 *     saved state taken mid-stream restores to the same model; float32
 *     slots give bit for bit the direct fit of the float-rounded rows.
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

#include "backend.h"
#include "backend_faults.h"
#include "reference.h"
#include "streamfit.h"

#define TOL_MOMENTS 1e-13
#define TOL_FIT_REF 1e-10

static sf_backend *g_cpu;
static sf_context *g_ctx;

static int group_setup(void **state)
{
    (void)state;
    sf_context_options co;
    sf_context_options_init(&co);
    co.device = SF_DEVICE_CPU;
    if (sf_context_create(&co, &g_ctx) != SF_OK) return -1;
    return sf_backend_cpu_create(2, &g_cpu) == SF_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    g_cpu->ops->destroy(g_cpu);
    sf_context_destroy(g_ctx);
    return 0;
}

/* Rows with offsets far from zero (a naive sum of squares would lose digits). */
static void gen_rows(uint64_t seed, size_t n, size_t d, double *X, double *y)
{
    ref_rng r;
    ref_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        double t = 1.0;
        for (size_t j = 0; j < d; j++) {
            double x = 1e4 * (double)(j + 1) + ref_rng_normal(&r) * pow(10.0, (double)(j % 3));
            X[i * d + j] = x;
            t += (j % 2 ? -0.5 : 2.0) * x;
        }
        y[i] = t + ref_rng_normal(&r);
    }
}

/* Two-pass mean and co-moment of the augmented rows in long double. */
static void ref_moments(const double *X, const double *y, size_t n, size_t d, double *mean,
                        double *m2)
{
    size_t p = d + 1;
    long double *mu = calloc(p, sizeof *mu);
    assert_non_null(mu);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < p; j++)
            mu[j] += j < d ? X[i * d + j] : y[i];
    for (size_t j = 0; j < p; j++)
        mu[j] /= (long double)n;
    for (size_t c = 0; c < p; c++)
        for (size_t r = 0; r < p; r++) {
            long double s = 0;
            for (size_t i = 0; i < n; i++) {
                long double vr = (r < d ? X[i * d + r] : y[i]) - mu[r];
                long double vc = (c < d ? X[i * d + c] : y[i]) - mu[c];
                s += vr * vc;
            }
            m2[c * p + r] = (double)s;
        }
    for (size_t j = 0; j < p; j++)
        mean[j] = (double)mu[j];
    free(mu);
}

static void expect_close(const char *what, const double *got, const double *ref, size_t n,
                         double tol)
{
    double e = ref_rel_err(got, ref, n);
    if (!(e <= tol)) fail_msg("%s: relative error %.3e > %.0e", what, e, tol);
}

/* Feed rows to a ring in the given batch sizes (filling each slot as a
 * parser would), then read and compare with the reference. */
static void ring_round(sf_backend *be, sf_ring_input input, const size_t *sizes, size_t n_sizes,
                       size_t d)
{
    size_t total = 0;
    for (size_t k = 0; k < n_sizes; k++)
        total += sizes[k];
    size_t p = d + 1;
    double *X = malloc(sizeof(double) * total * d), *y = malloc(sizeof(double) * total);
    assert_non_null(X);
    assert_non_null(y);
    gen_rows(7 + n_sizes, total, d, X, y);
    if (input == SF_RING_F32) /* the reference sees what a float slot holds */
        for (size_t i = 0; i < total * d; i++)
            X[i] = (double)(float)X[i];
    sf_ring *ring = NULL;
    assert_int_equal(be->ops->ring_create(be, d, 64, 3, input, 0, &ring), SF_OK);
    size_t at = 0;
    for (size_t k = 0; k < n_sizes; k++) {
        sf_ring_slot s;
        assert_int_equal(be->ops->ring_acquire(be, ring, &s), SF_OK);
        assert_true(s.cap >= sizes[k]);
        for (size_t i = 0; i < sizes[k] * d; i++) {
            if (input == SF_RING_F32)
                ((float *)s.X)[i] = (float)X[at * d + i];
            else
                ((double *)s.X)[i] = X[at * d + i];
        }
        memcpy(s.y, y + at, sizeof(double) * sizes[k]);
        assert_int_equal(be->ops->ring_submit(be, ring, sizes[k], NULL), SF_OK);
        at += sizes[k];
    }
    double n = 0, *mean = malloc(sizeof(double) * p), *m2 = malloc(sizeof(double) * p * p);
    double *rmean = malloc(sizeof(double) * p), *rm2 = malloc(sizeof(double) * p * p);
    assert_int_equal(be->ops->ring_read(be, ring, &n, mean, m2), SF_OK);
    assert_true(n == (double)total);
    ref_moments(X, y, total, d, rmean, rm2);
    expect_close("ring mean", mean, rmean, p, TOL_MOMENTS);
    expect_close("ring co-moment", m2, rm2, p * p, TOL_MOMENTS);
    /* A read starts afresh. */
    assert_int_equal(be->ops->ring_read(be, ring, &n, mean, m2), SF_OK);
    assert_true(n == 0);
    be->ops->ring_destroy(be, ring);
    free(X);
    free(y);
    free(mean);
    free(m2);
    free(rmean);
    free(rm2);
}

static void test_ring_statistics(void **state)
{
    (void)state;
    const size_t sizes[] = {1, 64, 17, 64, 2, 63, 40, 64, 5};
    ring_round(g_cpu, SF_RING_F64, sizes, sizeof sizes / sizeof *sizes, 4);
    ring_round(g_cpu, SF_RING_F32, sizes, sizeof sizes / sizeof *sizes, 4);
    const size_t one[] = {30};
    ring_round(g_cpu, SF_RING_F64, one, 1, 1);
}

/* v <- v rounded to float. Out of line: GCC 12.2 at -O3, inlining this loop
 * (constant trip count) before a float conversion loop over the same array,
 * dropped the last two stores of the rounding. */
__attribute__((noinline)) static void round_to_float(double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        v[i] = (double)(float)v[i];
}

static void test_ring_keep_and_misuse(void **state)
{
    (void)state;
    enum { D = 3, N = 50 };
    sf_backend *be = g_cpu;
    double X[N * D], y[N];
    gen_rows(3, N, D, X, y);
    sf_ring *ring = NULL;
    assert_int_equal(be->ops->ring_create(be, D, 64, 2, SF_RING_F64, 0, &ring),
                     SF_ERR_INVALID_ARGUMENT); /* fewer than three slots */
    assert_int_equal(be->ops->ring_create(be, D, 64, 3, SF_RING_F64, 0, &ring), SF_OK);
    sf_ring_slot s;
    assert_int_equal(be->ops->ring_acquire(be, ring, &s), SF_OK);
    memcpy(s.X, X, sizeof X);
    memcpy(s.y, y, sizeof y);
    assert_int_equal(be->ops->ring_submit(be, ring, 65, NULL), SF_ERR_INVALID_ARGUMENT);
    sf_dbatch *kept = NULL;
    assert_int_equal(be->ops->ring_submit(be, ring, N, &kept), SF_OK);
    assert_non_null(kept);
    /* The slot is refilled with other rows; the kept batch keeps its own. */
    assert_int_equal(be->ops->ring_acquire(be, ring, &s), SF_OK);
    memset(s.X, 0, sizeof X);
    assert_int_equal(be->ops->batch_rows(kept), N);
    double mean[D + 1], m2[(D + 1) * (D + 1)], rmean[D + 1], rm2[(D + 1) * (D + 1)];
    assert_int_equal(be->ops->batch_moments(be, kept, mean, m2), SF_OK);
    ref_moments(X, y, N, D, rmean, rm2);
    expect_close("kept batch co-moment", m2, rm2, (D + 1) * (D + 1), TOL_MOMENTS);
    be->ops->batch_free(be, kept);
    be->ops->ring_destroy(be, ring);
    /* Float slots are kept as float64 batches of the float values. */
    assert_int_equal(be->ops->ring_create(be, D, 64, 3, SF_RING_F32, 0, &ring), SF_OK);
    assert_int_equal(be->ops->ring_acquire(be, ring, &s), SF_OK);
    round_to_float(X, N * D);
    for (size_t i = 0; i < N * D; i++)
        ((float *)s.X)[i] = (float)X[i];
    memcpy(s.y, y, sizeof y);
    assert_int_equal(be->ops->ring_submit(be, ring, N, &kept), SF_OK);
    assert_int_equal(be->ops->batch_moments(be, kept, mean, m2), SF_OK);
    ref_moments(X, y, N, D, rmean, rm2);
    expect_close("kept float batch co-moment", m2, rm2, (D + 1) * (D + 1), TOL_MOMENTS);
    be->ops->batch_free(be, kept);
    be->ops->ring_destroy(be, ring);
}

/* ---------------------------------------------------------- the trainer */

static void model_vector(sf_model *m, size_t d, double *out)
{
    memcpy(out, sf_model_coefficients(m, 0), sizeof(double) * d);
    out[d] = sf_model_intercepts(m)[0];
}

typedef enum feed { FEED_ADD, FEED_UPDATE, FEED_STAGE } feed;

/* A least-squares model from rows fed in batches of `batch` rows. */
static sf_model *fit_fed(const sf_fit_params *base, sf_staging_mode staging, size_t slot_rows,
                         feed how, const double *X, const double *y, size_t n, size_t d,
                         size_t batch)
{
    sf_fit_params par = *base;
    par.staging = staging;
    par.staging_rows = slot_rows;
    par.keep_batches = how != FEED_UPDATE;
    sf_trainer *t = NULL;
    assert_int_equal(sf_trainer_create(g_ctx, &par, d, 0, &t), SF_OK);
    for (size_t i = 0; i < n; i += batch) {
        size_t rows = n - i < batch ? n - i : batch;
        if (how == FEED_ADD)
            assert_int_equal(sf_trainer_add_batch(t, X + i * d, y + i, rows), SF_OK);
        else if (how == FEED_UPDATE)
            assert_int_equal(sf_trainer_update(t, X + i * d, y + i, rows), SF_OK);
        else
            for (size_t k = 0; k < rows;) {
                double *sx, *sy;
                size_t cap;
                assert_int_equal(sf_trainer_stage(t, &sx, &sy, &cap), SF_OK);
                size_t r = rows - k < cap ? rows - k : cap;
                memcpy(sx, X + (i + k) * d, sizeof(double) * r * d);
                memcpy(sy, y + i + k, sizeof(double) * r);
                assert_int_equal(sf_trainer_commit(t, r), SF_OK);
                k += r;
            }
    }
    assert_int_equal(sf_trainer_rows(t), n);
    sf_model *m = NULL;
    sf_status st = how == FEED_UPDATE ? sf_trainer_snapshot(t, &m) : sf_trainer_fit(t, &m);
    assert_int_equal(st, SF_OK);
    sf_trainer_destroy(t);
    return m;
}

static void test_trainer_ring_equals_direct(void **state)
{
    (void)state;
    enum { N = 500, D = 4 };
    double *X = malloc(sizeof(double) * N * D), *y = malloc(sizeof(double) * N);
    assert_non_null(X);
    assert_non_null(y);
    gen_rows(11, N, D, X, y);
    struct {
        sf_model_kind model;
        sf_solver_kind solver;
        feed how;
    } cases[] = {
        {SF_MODEL_OLS, SF_SOLVER_AUTO, FEED_ADD},
        {SF_MODEL_OLS, SF_SOLVER_QR, FEED_ADD},
        {SF_MODEL_RIDGE, SF_SOLVER_CHOLESKY, FEED_ADD},
        {SF_MODEL_OLS, SF_SOLVER_CHOLESKY, FEED_UPDATE},
        {SF_MODEL_OLS, SF_SOLVER_AUTO, FEED_STAGE},
        {SF_MODEL_RIDGE, SF_SOLVER_CHOLESKY, FEED_STAGE},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        sf_fit_params par;
        sf_fit_params_init(&par);
        par.model = cases[c].model;
        par.solver = cases[c].solver;
        par.lambda = par.model == SF_MODEL_RIDGE ? 0.5 : 0.0;
        par.standardize = par.model == SF_MODEL_RIDGE;
        /* Slots as large as the batches: the same merges in the same order. */
        sf_model *ring = fit_fed(&par, SF_STAGING_RING, 70, cases[c].how, X, y, N, D, 70);
        sf_model *direct = fit_fed(&par, SF_STAGING_DIRECT, 70, cases[c].how, X, y, N, D, 70);
        /* Smaller slots: the ring splits each batch, so rounding differs. */
        sf_model *split = fit_fed(&par, SF_STAGING_RING, 48, cases[c].how, X, y, N, D, 70);
        double a[D + 1], b[D + 1], s[D + 1], r[D + 1];
        model_vector(ring, D, a);
        model_vector(direct, D, b);
        model_vector(split, D, s);
        assert_true(ref_least_squares(X, y, N, D, par.lambda, true, par.standardize, r, r + D));
        double e_same = ref_rel_err(a, b, D + 1), e_direct = ref_rel_err(b, r, D + 1),
               e_split = ref_rel_err(s, r, D + 1);
        printf("case %zu (%s, %s): ring vs direct %.1e; vs the reference: direct %.1e, "
               "split slots %.1e\n",
               c, sf_model_kind_name(par.model), sf_solver_kind_name(par.solver), e_same, e_direct,
               e_split);
        if (!(e_same == 0) || !(e_split <= TOL_FIT_REF) || !(e_direct <= TOL_FIT_REF))
            fail_msg("case %zu: ring vs direct %.3e (want 0), split slots vs reference %.3e", c,
                     e_same, e_split);
        sf_model_destroy(ring);
        sf_model_destroy(direct);
        sf_model_destroy(split);
    }
    free(X);
    free(y);
}

/* Float32 slots: the fit equals the direct fit of the float-rounded rows,
 * bit for bit when slots hold whole batches (exact fit and streaming). */
static void test_trainer_float32_slots(void **state)
{
    (void)state;
    enum { N = 400, D = 3 };
    double *X = malloc(sizeof(double) * N * D), *y = malloc(sizeof(double) * N);
    double *Xr = malloc(sizeof(double) * N * D);
    assert_true(X && y && Xr);
    gen_rows(17, N, D, X, y);
    memcpy(Xr, X, sizeof(double) * N * D);
    round_to_float(Xr, N * D);
    for (int exact = 0; exact < 2; exact++) {
        sf_fit_params par;
        sf_fit_params_init(&par);
        par.solver = exact ? SF_SOLVER_AUTO : SF_SOLVER_CHOLESKY;
        feed how = exact ? FEED_STAGE : FEED_UPDATE;
        par.staging_float32 = true;
        sf_model *f32 = fit_fed(&par, SF_STAGING_RING, 50, how, X, y, N, D, 50);
        par.staging_float32 = false;
        sf_model *ref = fit_fed(&par, SF_STAGING_DIRECT, 50, how, Xr, y, N, D, 50);
        double a[D + 1], b[D + 1];
        model_vector(f32, D, a);
        model_vector(ref, D, b);
        assert_memory_equal(a, b, sizeof a);
        sf_model_destroy(f32);
        sf_model_destroy(ref);
    }
    free(X);
    free(y);
    free(Xr);
}

static void test_trainer_ring_labels_and_state(void **state)
{
    (void)state;
    enum { N = 120, D = 2 };
    double X[N * D], y[N];
    gen_rows(5, N, D, X, y);
    sf_fit_params par;
    sf_fit_params_init(&par);
    par.solver = SF_SOLVER_CHOLESKY;
    par.keep_batches = false;
    par.staging = SF_STAGING_RING;
    par.staging_rows = 40;
    sf_trainer *t = NULL;
    assert_int_equal(sf_trainer_create(g_ctx, &par, D, 0, &t), SF_OK);
    double *sx, *sy;
    size_t cap;
    assert_int_equal(sf_trainer_stage(t, &sx, &sy, &cap), SF_OK);
    assert_int_equal(cap, 40);
    memcpy(sx, X, sizeof(double) * 40 * D);
    memcpy(sy, y, sizeof(double) * 40);
    sy[3] = NAN;
    assert_int_equal(sf_trainer_commit(t, 40), SF_ERR_BAD_LABEL);
    assert_int_equal(sf_trainer_commit(t, 1), SF_ERR_INVALID_ARGUMENT); /* nothing staged */
    double *sx2, *sy2;
    assert_int_equal(sf_trainer_stage(t, &sx2, &sy2, &cap), SF_OK);
    assert_ptr_equal(sx2, sx); /* the refused slot is handed out again */
    sy2[3] = y[3];
    assert_int_equal(sf_trainer_commit(t, 40), SF_OK);
    assert_int_equal(sf_trainer_update(t, X + 40 * D, y + 40, 40), SF_OK);
    /* State taken while rows are on the "device" side of the ring. */
    unsigned char *buf = NULL;
    size_t len = 0;
    assert_int_equal(sf_trainer_save_state(t, &buf, &len), SF_OK);
    assert_int_equal(sf_trainer_update(t, X + 80 * D, y + 80, 40), SF_OK);
    sf_trainer *u = NULL;
    assert_int_equal(sf_trainer_create(g_ctx, &par, D, 0, &u), SF_OK);
    assert_int_equal(sf_trainer_load_state(u, buf, len), SF_OK);
    assert_int_equal(sf_trainer_update(u, X + 80 * D, y + 80, 40), SF_OK);
    sf_model *a = NULL, *b = NULL;
    assert_int_equal(sf_trainer_snapshot(t, &a), SF_OK);
    assert_int_equal(sf_trainer_snapshot(u, &b), SF_OK);
    double va[D + 1], vb[D + 1];
    model_vector(a, D, va);
    model_vector(b, D, vb);
    assert_true(memcmp(va, vb, sizeof va) == 0); /* bit for bit */
    assert_int_equal(sf_model_rows_seen(a), N);
    sf_model_destroy(a);
    sf_model_destroy(b);
    free(buf);
    sf_trainer_destroy(t);
    sf_trainer_destroy(u);
}

/* Error paths through the fault points: bit-identical to a ring without the
 * failed slot on this (synchronous) backend. */
static void test_ring_submit_copy_fault(void **state)
{
    (void)state;
    check_fault_ring_submit_copy(g_cpu, 0.0);
}

static void test_fetch_results_fault(void **state)
{
    (void)state;
    check_fault_fetch_results(g_cpu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring_statistics),
        cmocka_unit_test(test_ring_keep_and_misuse),
        cmocka_unit_test(test_trainer_ring_equals_direct),
        cmocka_unit_test(test_trainer_ring_labels_and_state),
        cmocka_unit_test(test_trainer_float32_slots),
        cmocka_unit_test(test_ring_submit_copy_fault),
        cmocka_unit_test(test_fetch_results_fault),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
