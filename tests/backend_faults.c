/*
 * backend_faults.c — see backend_faults.h.
 */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <stdlib.h>
#include <string.h>

#include "backend_faults.h"
#include "reference.h"

enum { FD = 6, FP = FD + 1, FCAP = 512 };

static void fault_rows(size_t n, double *X, double *y)
{
    ref_rng r;
    ref_rng_seed(&r, 4242);
    for (size_t i = 0; i < n; i++) {
        double t = 1.0;
        for (size_t j = 0; j < FD; j++) {
            /* float32-exact values, so both slot types hold the same rows */
            double x = (double)(float)(3.0 * (double)j + ref_rng_normal(&r));
            X[i * FD + j] = x;
            t += (j % 2 ? 0.5 : -1.5) * x;
        }
        y[i] = t + ref_rng_normal(&r);
    }
}

/* Fill the next slot with rows [at, at + rows) and submit; the status. */
static sf_status submit(sf_backend *be, sf_ring *ring, sf_ring_input in, const double *X,
                        const double *y, size_t at, size_t rows, sf_dbatch **keep)
{
    sf_ring_slot s;
    assert_int_equal(be->ops->ring_acquire(be, ring, &s), SF_OK);
    for (size_t i = 0; i < rows * FD; i++) {
        if (in == SF_RING_F32)
            ((float *)s.X)[i] = (float)X[at * FD + i];
        else
            ((double *)s.X)[i] = X[at * FD + i];
    }
    memcpy(s.y, y + at, sizeof(double) * rows);
    return be->ops->ring_submit(be, ring, rows, keep);
}

static void expect_within(const double *got, const double *want, size_t n, double tol)
{
    if (tol == 0) {
        assert_memory_equal(got, want, sizeof(double) * n);
        return;
    }
    double e = ref_rel_err(got, want, n);
    if (!(e <= tol))
        fail_msg("statistics after a failed submit: relative error %.3e > %.0e", e, tol);
}

void check_fault_ring_submit_copy(sf_backend *be, double tol)
{
    enum { SLOTS = 5 };
    const size_t rows[SLOTS] = {FCAP, 100, FCAP, 1, 300}; /* slot 2 fails */
    size_t total = 0;
    for (size_t k = 0; k < SLOTS; k++)
        total += rows[k];
    double *X = malloc(sizeof(double) * total * FD), *y = malloc(sizeof(double) * total);
    assert_true(X && y);
    fault_rows(total, X, y);
    for (int f32 = 0; f32 < 2; f32++)
        for (int with_keep = 0; with_keep < 2; with_keep++) {
            sf_ring_input in = f32 ? SF_RING_F32 : SF_RING_F64;
            sf_ring *faulty = NULL, *clean = NULL;
            assert_int_equal(be->ops->ring_create(be, FD, FCAP, 3, in, 0, &faulty), SF_OK);
            assert_int_equal(be->ops->ring_create(be, FD, FCAP, 3, in, 0, &clean), SF_OK);
            for (size_t k = 0, at = 0; k < SLOTS; at += rows[k], k++) {
                sf_dbatch *kept = NULL;
                if (k == 2) {
                    be->fault = (sf_fault){SF_FAULT_RING_SUBMIT_COPY, 0, 0};
                    assert_int_equal(
                        submit(be, faulty, in, X, y, at, rows[k], with_keep ? &kept : NULL),
                        SF_ERR_DEVICE);
                    assert_int_equal(be->fault.fired, 1);
                    assert_null(kept);
                    continue;
                }
                assert_int_equal(
                    submit(be, faulty, in, X, y, at, rows[k], with_keep ? &kept : NULL), SF_OK);
                assert_int_equal(submit(be, clean, in, X, y, at, rows[k], NULL), SF_OK);
                if (kept) {
                    assert_int_equal(be->ops->batch_rows(kept), rows[k]);
                    be->ops->batch_free(be, kept);
                }
            }
            double nf = 0, nc = 0, sf[FP + FP * FP], sc[FP + FP * FP];
            assert_int_equal(be->ops->ring_read(be, faulty, &nf, sf, sf + FP), SF_OK);
            assert_int_equal(be->ops->ring_read(be, clean, &nc, sc, sc + FP), SF_OK);
            assert_true(nf == (double)(total - rows[2]) && nc == nf);
            expect_within(sf, sc, FP + FP * FP, tol);
            be->ops->ring_destroy(be, faulty);
            be->ops->ring_destroy(be, clean);
        }
    be->fault = (sf_fault){SF_FAULT_NONE, 0, 0};
    free(X);
    free(y);
}

void check_fault_fetch_results(sf_backend *be)
{
    enum { N = 2000 };
    double *X = malloc(sizeof(double) * N * FD), *y = malloc(sizeof(double) * N);
    assert_true(X && y);
    fault_rows(N, X, y);
    sf_dbatch *b = NULL;
    assert_int_equal(be->ops->batch_upload(be, X, y, N, FD, &b), SF_OK);
    double before[FP + FP * FP], after[FP + FP * FP], failed[FP + FP * FP];
    assert_int_equal(be->ops->batch_moments(be, b, before, before + FP), SF_OK);
    for (int round = 0; round < 3; round++) {
        be->fault = (sf_fault){SF_FAULT_FETCH_RESULTS, 0, 0};
        assert_int_equal(be->ops->batch_moments(be, b, failed, failed + FP), SF_ERR_DEVICE);
        assert_int_equal(be->fault.fired, 1);
        memset(after, 0, sizeof after);
        assert_int_equal(be->ops->batch_moments(be, b, after, after + FP), SF_OK);
        assert_memory_equal(after, before, sizeof before);
    }
    /* Other ops on the same backend still work after the failed fetches. */
    double theta[FP] = {0}, loss = 0, grad[FP];
    for (size_t i = 0; i < N; i++)
        y[i] = y[i] > 0 ? 1.0 : 0.0;
    sf_dbatch *c = NULL;
    assert_int_equal(be->ops->batch_upload(be, X, y, N, FD, &c), SF_OK);
    assert_int_equal(be->ops->logistic_terms(be, c, theta, &loss, grad, NULL), SF_OK);
    /* At theta = 0 every probability is 1/2: loss = N log 2. */
    assert_true(loss > 0.999999 * N * 0.6931471805599453 &&
                loss < 1.000001 * N * 0.6931471805599453);
    be->ops->batch_free(be, c);
    be->ops->batch_free(be, b);
    be->fault = (sf_fault){SF_FAULT_NONE, 0, 0};
    free(X);
    free(y);
}
