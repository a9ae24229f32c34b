/*
 * test_gpu_resources.c — how the CUDA backend uses the machine, and its error
 * paths. Without a usable GPU it prints "SKIP: no usable GPU: <why>" and
 * exits 77 (ctest: skipped).
 *
 *   - error paths through the backend's fault points, the same checks as the
 *     CPU backend passes in test_staging (backend_faults.h): a ring submit
 *     whose copy fails (with a kept batch: its memory is freed only after
 *     the copies queued into it), a results fetch that fails after its
 *     device-to-host copies were queued (they land before the call returns:
 *     the next op's results are bit-identical to those before the fault);
 *   - the memory pool keeps freed memory: after a 1 GiB batch is freed and
 *     the streams synchronized, the device's free memory stays lower by at
 *     least 0.9 GiB (the next batch is not mapped again); destroying the
 *     backend gives it back (within 64 MiB);
 *   - host waits block instead of spinning: over ~0.1 s of queued device
 *     work (staging-ring folds of d = 1024), the calling thread's CPU time
 *     stays under half of the wall time;
 *   - 64-bit sizes: the QR of a batch whose n (d + 1) passes 2^31 (67 million
 *     rows x 32 columns, about 35 GB of device memory; skipped with a message
 *     where the device has less than 48 GiB free): R^T R equals the batch's
 *     co-moment from the SYRK path, norm-wise relative error <= 1e-10.
 */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <cuda_runtime_api.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "backend_faults.h"
#include "reference.h"
#include "streamfit.h"

static sf_backend *g_gpu;

static void log_stderr(void *user, sf_log_level level, const char *msg)
{
    (void)user;
    if (level <= SF_LOG_WARN) fprintf(stderr, "streamfit: %s\n", msg);
}

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double free_gib(void)
{
    size_t free_b = 0, total_b = 0;
    assert_int_equal(cudaMemGetInfo(&free_b, &total_b), cudaSuccess);
    return (double)free_b / (1024.0 * 1024.0 * 1024.0);
}

static void test_ring_submit_copy_fault(void **state)
{
    (void)state;
    check_fault_ring_submit_copy(g_gpu, 1e-12);
}

static void test_fetch_results_fault(void **state)
{
    (void)state;
    check_fault_fetch_results(g_gpu);
}

static void test_pool_keeps_memory(void **state)
{
    (void)state;
    sf_backend *be = NULL;
    char why[256] = "";
    assert_int_equal(sf_backend_cuda_create(0, &be, why, sizeof why), SF_OK);
    enum { D = 127 };
    size_t rows = ((size_t)1 << 30) / (sizeof(double) * (D + 1));
    double *X = calloc(rows * D, sizeof(double)), *y = calloc(rows, sizeof(double));
    assert_true(X && y);
    for (size_t i = 0; i < rows; i++)
        X[i * D + i % D] = y[i] = (double)(i % 13);
    double mean[D + 1], *m2 = malloc(sizeof(double) * (D + 1) * (D + 1));
    assert_non_null(m2);
    double before = free_gib();
    sf_dbatch *b = NULL;
    assert_int_equal(be->ops->batch_upload(be, X, y, rows, D, &b), SF_OK);
    assert_int_equal(be->ops->batch_moments(be, b, mean, m2), SF_OK);
    be->ops->batch_free(be, b);
    /* A later op that synchronizes: the free has happened by then. */
    sf_dbatch *small = NULL;
    assert_int_equal(be->ops->batch_upload(be, X, y, 10, D, &small), SF_OK);
    assert_int_equal(be->ops->batch_moments(be, small, mean, m2), SF_OK);
    be->ops->batch_free(be, small);
    double kept = free_gib();
    be->ops->destroy(be);
    double after = free_gib();
    printf("device memory free: %.2f GiB before, %.2f GiB with the batch freed, %.2f GiB after "
           "the backend is destroyed\n",
           before, kept, after);
    if (!(before - kept >= 0.9))
        fail_msg("the pool handed the freed batch back (%.2f GiB kept)", before - kept);
    if (!(after >= before - 1.0 / 16))
        fail_msg("destroying the backend left %.2f GiB taken", before - after);
    free(X);
    free(y);
    free(m2);
}

static void test_host_waits_block(void **state)
{
    (void)state;
    const size_t d = 1024, rows = 32768, slots = 32;
    sf_ring *ring = NULL;
    assert_int_equal(g_gpu->ops->ring_create(g_gpu, d, rows, 3, SF_RING_F32, 0, &ring), SF_OK);
    sf_ring_slot s;
    /* Contents do not matter for timing; define them once. */
    for (size_t k = 0; k < 3; k++) {
        assert_int_equal(g_gpu->ops->ring_acquire(g_gpu, ring, &s), SF_OK);
        memset(s.X, 0, rows * d * sizeof(float));
        memset(s.y, 0, rows * sizeof(double));
        assert_int_equal(g_gpu->ops->ring_submit(g_gpu, ring, rows, NULL), SF_OK);
    }
    double n, *mean = malloc(sizeof(double) * (d + 1)),
              *m2 = malloc(sizeof(double) * (d + 1) * (d + 1));
    assert_true(mean && m2);
    assert_int_equal(g_gpu->ops->ring_read(g_gpu, ring, &n, mean, m2), SF_OK);
    double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
    for (size_t k = 0; k < slots; k++) {
        assert_int_equal(g_gpu->ops->ring_acquire(g_gpu, ring, &s), SF_OK);
        assert_int_equal(g_gpu->ops->ring_submit(g_gpu, ring, rows, NULL), SF_OK);
    }
    assert_int_equal(g_gpu->ops->ring_read(g_gpu, ring, &n, mean, m2), SF_OK);
    double wall = clock_s(CLOCK_MONOTONIC) - w0, cpu = clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
    printf("host waits: %zu slots of %zu x %zu float32 rows in %.1f ms of wall time, %.1f ms of "
           "the calling thread's CPU time\n",
           slots, rows, d, 1e3 * wall, 1e3 * cpu);
    if (wall > 0.02 && !(cpu < 0.5 * wall))
        fail_msg("the host spun while waiting: %.1f ms CPU over %.1f ms", 1e3 * cpu, 1e3 * wall);
    g_gpu->ops->ring_destroy(g_gpu, ring);
    free(mean);
    free(m2);
}

static void test_qr_past_2_31_values(void **state)
{
    (void)state;
    enum { D = 31, P = D + 1 };
    size_t rows = ((size_t)1 << 26) + 1000; /* rows * P > 2^31 */
    if (free_gib() < 48 || getenv("SF_GPU_SKIP_LARGE")) {
        printf("qr past 2^31 values: skipped (%.0f GiB free, or SF_GPU_SKIP_LARGE set)\n",
               free_gib());
        skip();
    }
    double *X = malloc(sizeof(double) * rows * D), *y = malloc(sizeof(double) * rows);
    assert_true(X && y);
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < rows; i++) {
        double t = 0;
        for (size_t j = 0; j < D; j++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            double x = (double)(s >> 11) * 0x1.0p-53 + (double)j;
            X[i * D + j] = x;
            t += x;
        }
        y[i] = t + (double)(s & 0xff) * 0x1.0p-8;
    }
    sf_dbatch *b = NULL;
    assert_int_equal(g_gpu->ops->batch_upload(g_gpu, X, y, rows, D, &b), SF_OK);
    free(X);
    free(y);
    double mean[P], m2[P * P], R[P * P], scale[P], rtr[P * P];
    assert_int_equal(g_gpu->ops->batch_moments(g_gpu, b, mean, m2), SF_OK);
    for (size_t j = 0; j < P; j++)
        scale[j] = 1.0;
    assert_int_equal(g_gpu->ops->batch_qr(g_gpu, b, mean, scale, R), SF_OK);
    g_gpu->ops->batch_free(g_gpu, b);
    for (size_t c = 0; c < P; c++)
        for (size_t r = 0; r < P; r++) {
            double acc = 0;
            for (size_t k = 0; k <= (r < c ? r : c); k++)
                acc += R[r * P + k] * R[c * P + k];
            rtr[c * P + r] = acc;
        }
    double e = ref_rel_err(rtr, m2, P * P);
    printf("qr past 2^31 values: %zu x %d, |R^T R - M2| / |M2| = %.3e\n", rows, P, e);
    if (!(e <= 1e-10)) fail_msg("R^T R differs from the co-moment: %.3e > 1e-10", e);
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
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring_submit_copy_fault), cmocka_unit_test(test_fetch_results_fault),
        cmocka_unit_test(test_pool_keeps_memory),      cmocka_unit_test(test_host_waits_block),
        cmocka_unit_test(test_qr_past_2_31_values),
    };
    int failed = cmocka_run_group_tests_name("gpu_resources", tests, NULL, NULL);
    g_gpu->ops->destroy(g_gpu);
    return failed ? 1 : 0;
}
