/*
 * test_gpu_staging.c — the CUDA staging ring against the CPU backend's ring
 * (itself checked against a long-double reference in test_staging.c), and
 * the proof that its stages overlap.
 *
 * Without a usable GPU it prints "SKIP: no usable GPU: <why>" and exits 77
 * (ctest: skipped, never passed).
 *
 *   - statistics (count, mean, co-moment of [x, y]) of rows fed through the
 *     GPU ring and through the CPU ring, float64 and float32 slots, uneven
 *     batch sizes (1 row, partial and full slots, several rounds of the
 *     ring), d from 1 to 300: norm-wise relative error <= 1e-10 (TOL_RING);
 *     float32 slots hold the same float values on both sides, so the bound
 *     is the float64 one;
 *   - kept batches (ring_submit with keep) hold exactly the submitted rows
 *     after their slot is refilled: their batch_moments match the CPU's
 *     within 1e-10;
 *   - fits through the public API on a CUDA context (least squares goes
 *     through the ring by default) against a CPU context: exact fit with
 *     kept batches and streaming cholesky updates, float64 slots and float32
 *     slots (against the CPU on the float-rounded rows), 1e-9;
 *   - overlap: N slots of float32 rows with d = 1024 (copy and compute of
 *     similar length on current GPUs) are timed with both stages, with the
 *     copies alone (SF_RING_SKIP_COMPUTE) and with the compute alone
 *     (SF_RING_SKIP_COPY). Asserted: both-stage time <= copy + compute -
 *     25% of the shorter stage (so at least a quarter of it is hidden), and
 *     the host's time inside ring_submit is under 10% of the total (the host
 *     does not wait for the device there). All times are printed.
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
#include <time.h>

#include "backend.h"
#include "reference.h"
#include "streamfit.h"

#define TOL_RING 1e-10
#define TOL_FIT 1e-9

static sf_backend *g_gpu, *g_cpu;
static sf_context *g_ctx_gpu, *g_ctx_cpu;

static void log_stderr(void *user, sf_log_level level, const char *msg)
{
    (void)user;
    if (level <= SF_LOG_WARN) fprintf(stderr, "streamfit: %s\n", msg);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void gen_rows(uint64_t seed, size_t n, size_t d, double *X, double *y)
{
    ref_rng r;
    ref_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        double t = 0.5;
        for (size_t j = 0; j < d; j++) {
            double x = 10.0 * (double)(j % 7) + ref_rng_normal(&r) * (1.0 + (double)(j % 3));
            X[i * d + j] = x;
            t += (j % 2 ? -0.25 : 1.0) * x;
        }
        y[i] = t + ref_rng_normal(&r);
    }
}

static void expect_close(const char *what, const double *got, const double *ref, size_t n,
                         double tol)
{
    double e = ref_rel_err(got, ref, n);
    if (!(e <= tol)) fail_msg("%s: relative error %.3e > %.0e", what, e, tol);
}

/* Fill the ring's next slot with rows [at, at + rows) and submit them. */
static void feed_slot(sf_backend *be, sf_ring *ring, sf_ring_input input, const double *X,
                      const double *y, size_t at, size_t rows, size_t d, sf_dbatch **keep)
{
    sf_ring_slot s;
    assert_int_equal(be->ops->ring_acquire(be, ring, &s), SF_OK);
    assert_true(s.cap >= rows);
    for (size_t i = 0; i < rows * d; i++) {
        if (input == SF_RING_F32)
            ((float *)s.X)[i] = (float)X[at * d + i];
        else
            ((double *)s.X)[i] = X[at * d + i];
    }
    memcpy(s.y, y + at, sizeof(double) * rows);
    assert_int_equal(be->ops->ring_submit(be, ring, rows, keep), SF_OK);
}

static void ring_statistics(sf_backend *be, sf_ring_input input, const double *X, const double *y,
                            const size_t *sizes, size_t n_sizes, size_t cap, size_t d, double *n,
                            double *mean, double *m2)
{
    sf_ring *ring = NULL;
    assert_int_equal(be->ops->ring_create(be, d, cap, 3, input, 0, &ring), SF_OK);
    size_t at = 0;
    for (size_t k = 0; k < n_sizes; k++) {
        feed_slot(be, ring, input, X, y, at, sizes[k], d, NULL);
        at += sizes[k];
    }
    assert_int_equal(be->ops->ring_read(be, ring, n, mean, m2), SF_OK);
    be->ops->ring_destroy(be, ring);
}

static void test_ring_vs_cpu(void **state)
{
    (void)state;
    const size_t ds[] = {1, 7, 40, 65, 300};
    for (size_t di = 0; di < sizeof ds / sizeof *ds; di++) {
        size_t d = ds[di], p = d + 1, cap = 4096;
        const size_t sizes[] = {1, 4096, 1000, 4095, 7, 4096, 3000, 2};
        size_t n_sizes = sizeof sizes / sizeof *sizes, total = 0;
        for (size_t k = 0; k < n_sizes; k++)
            total += sizes[k];
        double *X = malloc(sizeof(double) * total * d), *y = malloc(sizeof(double) * total);
        double *g = malloc(sizeof(double) * (p + p * p)), *c = malloc(sizeof(double) * (p + p * p));
        assert_true(X && y && g && c);
        gen_rows(100 + d, total, d, X, y);
        for (int f32 = 0; f32 < 2; f32++) {
            sf_ring_input in = f32 ? SF_RING_F32 : SF_RING_F64;
            double ng = 0, nc = 0;
            ring_statistics(g_gpu, in, X, y, sizes, n_sizes, cap, d, &ng, g, g + p);
            ring_statistics(g_cpu, in, X, y, sizes, n_sizes, cap, d, &nc, c, c + p);
            assert_true(ng == (double)total && nc == (double)total);
            char what[80];
            snprintf(what, sizeof what, "ring mean, d = %zu, %s", d, f32 ? "float32" : "float64");
            expect_close(what, g, c, p, TOL_RING);
            snprintf(what, sizeof what, "ring co-moment, d = %zu, %s", d,
                     f32 ? "float32" : "float64");
            expect_close(what, g + p, c + p, p * p, TOL_RING);
        }
        free(X);
        free(y);
        free(g);
        free(c);
    }
}

static void test_ring_keep(void **state)
{
    (void)state;
    enum { D = 9, N = 3000, CAP = 1024 };
    size_t p = D + 1;
    double *X = malloc(sizeof(double) * N * D), *y = malloc(sizeof(double) * N);
    assert_true(X && y);
    gen_rows(77, N, D, X, y);
    sf_ring *ring = NULL;
    assert_int_equal(g_gpu->ops->ring_create(g_gpu, D, CAP, 3, SF_RING_F64, 0, &ring), SF_OK);
    sf_dbatch *kept[3] = {0};
    size_t rows[3] = {1024, 1000, 976};
    for (size_t k = 0, at = 0; k < 3; at += rows[k], k++)
        feed_slot(g_gpu, ring, SF_RING_F64, X, y, at, rows[k], D, &kept[k]);
    /* Every slot refilled with other rows before the kept batches are read. */
    for (size_t k = 0; k < 3; k++)
        feed_slot(g_gpu, ring, SF_RING_F64, X, y, 0, 5, D, NULL);
    for (size_t k = 0, at = 0; k < 3; at += rows[k], k++) {
        assert_int_equal(g_gpu->ops->batch_rows(kept[k]), rows[k]);
        double mg[10 + 100], mc[10 + 100];
        assert_int_equal(g_gpu->ops->batch_moments(g_gpu, kept[k], mg, mg + p), SF_OK);
        sf_dbatch *bc = NULL;
        assert_int_equal(g_cpu->ops->batch_upload(g_cpu, X + at * D, y + at, rows[k], D, &bc),
                         SF_OK);
        assert_int_equal(g_cpu->ops->batch_moments(g_cpu, bc, mc, mc + p), SF_OK);
        expect_close("kept batch", mg, mc, p + p * p, TOL_RING);
        g_cpu->ops->batch_free(g_cpu, bc);
        g_gpu->ops->batch_free(g_gpu, kept[k]);
    }
    double n, mean[10], m2[100];
    assert_int_equal(g_gpu->ops->ring_read(g_gpu, ring, &n, mean, m2), SF_OK);
    assert_true(n == 3000 + 15);
    g_gpu->ops->ring_destroy(g_gpu, ring);
    free(X);
    free(y);
}

static void model_vector(sf_model *m, size_t d, double *out)
{
    memcpy(out, sf_model_coefficients(m, 0), sizeof(double) * d);
    out[d] = sf_model_intercepts(m)[0];
}

static sf_model *fit_stream(sf_context *ctx, bool exact, bool f32, const double *X, const double *y,
                            size_t n, size_t d)
{
    sf_fit_params par;
    sf_fit_params_init(&par);
    par.staging_float32 = f32;
    if (f32) par.staging = SF_STAGING_RING;
    par.solver = exact ? SF_SOLVER_AUTO : SF_SOLVER_CHOLESKY;
    par.keep_batches = exact;
    par.staging_rows = 5000; /* batches of 7000 rows are split */
    sf_trainer *t = NULL;
    assert_int_equal(sf_trainer_create(ctx, &par, d, 0, &t), SF_OK);
    for (size_t i = 0; i < n; i += 7000) {
        size_t r = n - i < 7000 ? n - i : 7000;
        assert_int_equal(exact ? sf_trainer_add_batch(t, X + i * d, y + i, r)
                               : sf_trainer_update(t, X + i * d, y + i, r),
                         SF_OK);
    }
    sf_model *m = NULL;
    assert_int_equal(exact ? sf_trainer_fit(t, &m) : sf_trainer_snapshot(t, &m), SF_OK);
    sf_trainer_destroy(t);
    return m;
}

static void test_fits_through_ring(void **state)
{
    (void)state;
    enum { N = 50000, D = 12 };
    double *X = malloc(sizeof(double) * N * D), *y = malloc(sizeof(double) * N);
    assert_true(X && y);
    gen_rows(5, N, D, X, y);
    double *Xr = malloc(sizeof(double) * N * D);
    assert_non_null(Xr);
    for (size_t i = 0; i < (size_t)N * D; i++)
        Xr[i] = (double)(float)X[i];
    for (int exact = 0; exact < 2; exact++)
        for (int f32 = 0; f32 < 2; f32++) {
            /* float32 slots on the GPU against the CPU on the rounded rows */
            sf_model *g = fit_stream(g_ctx_gpu, exact, f32, X, y, N, D);
            sf_model *c = fit_stream(g_ctx_cpu, exact, false, f32 ? Xr : X, y, N, D);
            double a[D + 1], b[D + 1];
            model_vector(g, D, a);
            model_vector(c, D, b);
            char what[80];
            snprintf(what, sizeof what, "%s fit through the ring%s", exact ? "exact" : "streaming",
                     f32 ? ", float32 slots" : "");
            expect_close(what, a, b, D + 1, TOL_FIT);
            sf_model_destroy(g);
            sf_model_destroy(c);
        }
    free(Xr);
    free(X);
    free(y);
}

/* Seconds for n_batches slots through a ring with `flags`, and the host's
 * seconds inside ring_submit. The slots are filled once, before the clock. */
static double time_ring(unsigned flags, size_t d, size_t rows, size_t n_batches, double *submit_s)
{
    sf_ring *ring = NULL;
    assert_int_equal(g_gpu->ops->ring_create(g_gpu, d, rows, 3, SF_RING_F32, flags, &ring), SF_OK);
    for (size_t s = 0; s < 3; s++) {
        sf_ring_slot slot;
        assert_int_equal(g_gpu->ops->ring_acquire(g_gpu, ring, &slot), SF_OK);
        assert_true(slot.cap == rows);
        float *xf = slot.X;
        for (size_t i = 0; i < rows * d; i++)
            xf[i] = (float)((i * 2654435761u) % 1000) * 1e-3f;
        for (size_t i = 0; i < rows; i++)
            slot.y[i] = (double)(i % 10);
        assert_int_equal(g_gpu->ops->ring_submit(g_gpu, ring, rows, NULL), SF_OK);
    }
    double n, *mean = malloc(sizeof(double) * (d + 1)),
              *m2 = malloc(sizeof(double) * (d + 1) * (d + 1));
    assert_true(mean && m2);
    assert_int_equal(g_gpu->ops->ring_read(g_gpu, ring, &n, mean, m2), SF_OK); /* warm-up */
    *submit_s = 0;
    double t0 = now_s();
    for (size_t k = 0; k < n_batches; k++) {
        sf_ring_slot slot;
        assert_int_equal(g_gpu->ops->ring_acquire(g_gpu, ring, &slot), SF_OK);
        double s0 = now_s();
        assert_int_equal(g_gpu->ops->ring_submit(g_gpu, ring, rows, NULL), SF_OK);
        *submit_s += now_s() - s0;
    }
    assert_int_equal(g_gpu->ops->ring_read(g_gpu, ring, &n, mean, m2), SF_OK);
    double t = now_s() - t0;
    g_gpu->ops->ring_destroy(g_gpu, ring);
    free(mean);
    free(m2);
    return t;
}

static void test_ring_overlap(void **state)
{
    (void)state;
    const size_t d = 1024, rows = 32768, batches = 48;
    double sub_c, sub_f, sub_b;
    double t_copy = time_ring(SF_RING_SKIP_COMPUTE, d, rows, batches, &sub_c);
    double t_comp = time_ring(SF_RING_SKIP_COPY, d, rows, batches, &sub_f);
    double t_both = time_ring(0, d, rows, batches, &sub_b);
    double shorter = t_copy < t_comp ? t_copy : t_comp;
    double gb = (double)batches * (double)rows * ((double)d * 4 + 8) / 1e9;
    printf("overlap: %zu batches of %zu rows x %zu float32 features (%.2f GB): copy alone %.1f ms "
           "(%.1f GB/s), compute alone %.1f ms, both %.1f ms = %.0f%% of copy + compute "
           "(%.0f%% of the shorter stage hidden); host inside ring_submit %.2f ms\n",
           batches, rows, d, gb, 1e3 * t_copy, gb / t_copy, 1e3 * t_comp, 1e3 * t_both,
           100.0 * t_both / (t_copy + t_comp), 100.0 * (t_copy + t_comp - t_both) / shorter,
           1e3 * sub_b);
    if (!(t_both <= t_copy + t_comp - 0.25 * shorter))
        fail_msg("the stages do not overlap: both %.1f ms, copy %.1f ms + compute %.1f ms",
                 1e3 * t_both, 1e3 * t_copy, 1e3 * t_comp);
    if (!(sub_b <= 0.1 * t_both))
        fail_msg("the host spent %.1f ms of %.1f ms inside ring_submit", 1e3 * sub_b, 1e3 * t_both);
}

int main(void)
{
    char why[256] = "";
    sf_status st = sf_backend_cuda_create(0, &g_gpu, why, sizeof why);
    if (st != SF_OK) {
        printf("SKIP: no usable GPU: %s\n", why[0] ? why : sf_strerror(st));
        return 77;
    }
    g_gpu->log = log_stderr;
    if (sf_backend_cpu_create(0, &g_cpu) != SF_OK) return 1;
    sf_context_options co;
    sf_context_options_init(&co);
    co.log = log_stderr;
    co.device = SF_DEVICE_CUDA;
    if (sf_context_create(&co, &g_ctx_gpu) != SF_OK) return 1;
    co.device = SF_DEVICE_CPU;
    if (sf_context_create(&co, &g_ctx_cpu) != SF_OK) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring_vs_cpu),
        cmocka_unit_test(test_ring_keep),
        cmocka_unit_test(test_fits_through_ring),
        cmocka_unit_test(test_ring_overlap),
    };
    int failed = cmocka_run_group_tests_name("gpu_staging", tests, NULL, NULL);
    sf_context_destroy(g_ctx_gpu);
    sf_context_destroy(g_ctx_cpu);
    g_cpu->ops->destroy(g_cpu);
    g_gpu->ops->destroy(g_gpu);
    return failed ? 1 : 0;
}
