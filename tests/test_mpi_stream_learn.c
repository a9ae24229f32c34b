/*
 * test_mpi_stream_learn.c — the streaming update across MPI ranks
 * (trainer_ranks.c), run under `mpirun -np 2` (and 3): every rank learns its
 * part of each logical micro-batch (empty parts included); rank 0 also runs
 * one process on the union of the parts, in rank order, as the reference.
 * Checks: the models of all ranks are bit-identical; they equal the one
 * process within 1e-12 relative (least squares, with and without --decay)
 * and 1e-9 (logistic and softmax FTRL); rank 0's predictions of its own rows
 * equal the reference's. Exits 77 without MPI or without a launcher.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "sf_mpi.h"

#define D 4
#define WARM 400
#define BATCHES 40

static unsigned long long g_seed;
static double uniform(void)
{
    g_seed = g_seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(g_seed >> 11) / 9007199254740992.0;
}

/* Rows of a fixed generator: x ~ U(-2, 3), y from a linear rule (+ noise),
 * thresholded to classes for the classifiers. */
static void make_rows(size_t n, size_t K, double *X, double *y)
{
    for (size_t i = 0; i < n; i++) {
        double t = 0.5;
        for (size_t j = 0; j < D; j++) {
            X[i * D + j] = -2 + 5 * uniform() + (double)j;
            t += (0.3 + 0.2 * (double)j) * (X[i * D + j] - (double)j);
        }
        t += uniform() - 0.5;
        if (K == 0)
            y[i] = 10 + t;
        else if (K == 2)
            y[i] = t > 0.8;
        else
            y[i] = t < 0 ? 0 : t < 1.6 ? 1 : 2;
    }
}

/* Rows [lo, hi) of this rank's part of n union rows. */
static void part_of(size_t n, size_t k, int rank, int size, size_t *lo, size_t *hi)
{
    /* uneven cuts that leave some parts empty */
    size_t cut[8];
    cut[0] = 0;
    for (int r = 1; r < size; r++) {
        size_t c = (size_t)((k * 7 + (size_t)r * 13) % (n + 1));
        cut[r] = c < cut[r - 1] ? cut[r - 1] : c;
    }
    cut[size] = n;
    *lo = cut[rank];
    *hi = cut[rank + 1];
}

static int failures;
#define CHECK(c, ...)                                                                              \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "rank %d: ", sf_mpi_rank());                                           \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static double rel_diff(const sf_model *a, const sf_model *b)
{
    double num = 0, den = 0;
    for (size_t o = 0; o < a->outputs; o++) {
        for (size_t j = 0; j < a->d; j++) {
            double u = a->coef[o * a->d + j], v = b->coef[o * a->d + j];
            num = fmax(num, fabs(u - v));
            den = fmax(den, fabs(v));
        }
        num = fmax(num, fabs(a->intercept[o] - b->intercept[o]));
        den = fmax(den, fabs(b->intercept[o]));
    }
    return num / (den > 0 ? den : 1);
}

static void run_case(sf_context *ctx, const char *name, sf_model_kind kind, size_t K, double decay,
                     bool standardize, double tol)
{
    int rank = sf_mpi_rank(), size = sf_mpi_size();
    sf_fit_params p;
    sf_fit_params_init(&p);
    p.model = kind;
    p.decay = decay;
    p.standardize = standardize;
    p.lambda = kind == SF_MODEL_RIDGE ? 0.5 : kind == SF_MODEL_OLS ? 0 : 1e-3;
    size_t outs = kind == SF_MODEL_SOFTMAX ? K : 1;
    g_seed = 12345;
    double *X = malloc(sizeof(double) * WARM * D), *y = malloc(sizeof(double) * WARM);
    double *pred = malloc(sizeof(double) * 64), *ref_pred = malloc(sizeof(double) * 64);
    double *proba = malloc(sizeof(double) * 64 * 3);
    make_rows(WARM, K, X, y);
    sf_trainer *t = NULL, *ref = NULL;
    sf_status st = sf_trainer_create(ctx, &p, D, K, &t);
    if (st == SF_OK) st = sf_trainer_span_ranks(t);
    if (st == SF_OK && rank == 0) st = sf_trainer_create(ctx, &p, D, K, &ref);
    CHECK(st == SF_OK, "%s: set-up: %s", name, sf_strerror(st));
    size_t lo, hi;
    part_of(WARM, 1, rank, size, &lo, &hi);
    sf_model *m = NULL;
    if (st == SF_OK) st = sf_trainer_add_batch(t, X + lo * D, y + lo, hi - lo);
    if (st == SF_OK) st = sf_trainer_fit(t, &m);
    sf_model_destroy(m);
    m = NULL;
    if (st == SF_OK && ref) st = sf_trainer_add_batch(ref, X, y, WARM);
    if (st == SF_OK && ref) st = sf_trainer_fit(ref, &m);
    sf_model_destroy(m);
    CHECK(st == SF_OK, "%s: warm-up: %s", name, sf_strerror(st));
    for (size_t k = 0; st == SF_OK && k < BATCHES; k++) {
        size_t n = k % 9 == 4 ? 0 : 8 + (k * 17) % 56; /* some batches empty everywhere */
        make_rows(n, K, X, y);
        part_of(n, k + 2, rank, size, &lo, &hi);
        st = sf_trainer_predict_update(t, X + lo * D, y + lo, hi - lo, pred, K ? proba : NULL);
        if (st == SF_OK && ref && n)
            st = sf_trainer_predict_update(ref, X, y, n, ref_pred, K ? proba : NULL);
        for (size_t i = 0; st == SF_OK && ref && i < hi - lo; i++)
            CHECK(fabs(pred[i] - ref_pred[lo + i]) <= tol * (1 + fabs(ref_pred[lo + i])),
                  "%s: batch %zu row %zu predicted %.17g, one process %.17g", name, k, i, pred[i],
                  ref_pred[lo + i]);
    }
    CHECK(st == SF_OK, "%s: streaming: %s", name, sf_strerror(st));
    sf_model *mine = NULL, *one = NULL;
    if (st == SF_OK) st = sf_trainer_snapshot(t, &mine);
    if (st == SF_OK && ref) st = sf_trainer_snapshot(ref, &one);
    CHECK(st == SF_OK, "%s: snapshot: %s", name, sf_strerror(st));
    if (st == SF_OK) {
        /* every rank's coefficients, bit for bit, at rank 0 */
        size_t n = outs * (D + 1);
        double *v = malloc(sizeof(double) * n), *all = malloc(sizeof(double) * n * (size_t)size);
        memcpy(v, mine->coef, sizeof(double) * outs * D);
        memcpy(v + outs * D, mine->intercept, sizeof(double) * outs);
        sf_mpi_gather_bytes(v, sizeof(double) * n, all, 0);
        for (int r = 1; rank == 0 && r < size; r++)
            CHECK(memcmp(all, all + (size_t)r * n, sizeof(double) * n) == 0,
                  "%s: rank %d's model differs from rank 0's", name, r);
        if (one) {
            double e = rel_diff(mine, one);
            CHECK(e <= tol, "%s: %d ranks against one process: relative difference %.3g > %.0e",
                  name, size, e, tol);
            printf("%s: %d ranks = one process within %.3g (tolerance %.0e); rows %llu\n", name,
                   size, e, tol, (unsigned long long)one->rows_seen);
            CHECK(mine->rows_seen == one->rows_seen, "%s: rows %llu, one process %llu", name,
                  (unsigned long long)mine->rows_seen, (unsigned long long)one->rows_seen);
        }
        free(v);
        free(all);
    }
    sf_model_destroy(mine);
    sf_model_destroy(one);
    sf_trainer_destroy(t);
    sf_trainer_destroy(ref);
    free(X);
    free(y);
    free(pred);
    free(ref_pred);
    free(proba);
}

int main(int argc, char **argv)
{
    if (!sf_mpi_built() || !sf_mpi_launched()) {
        fprintf(stderr, "skipped: needs a build with MPI, run under mpirun\n");
        return 77;
    }
    if (sf_mpi_init(&argc, &argv) != SF_OK) return 1;
    sf_context_options co;
    sf_context_options_init(&co);
    co.device = SF_DEVICE_CPU;
    co.threads = 1;
    sf_context *ctx = NULL;
    if (sf_context_create(&co, &ctx) != SF_OK) return 1;
    run_case(ctx, "ols", SF_MODEL_OLS, 0, 1.0, false, 1e-12);
    run_case(ctx, "ols decay 0.9", SF_MODEL_OLS, 0, 0.9, false, 1e-12);
    run_case(ctx, "ridge standardized", SF_MODEL_RIDGE, 0, 1.0, true, 1e-12);
    run_case(ctx, "logistic", SF_MODEL_LOGISTIC, 2, 1.0, false, 1e-9);
    run_case(ctx, "logistic standardized", SF_MODEL_LOGISTIC, 2, 1.0, true, 1e-9);
    run_case(ctx, "softmax", SF_MODEL_SOFTMAX, 3, 1.0, false, 1e-9);
    sf_context_destroy(ctx);
    uint64_t f = (uint64_t)failures;
    sf_mpi_allreduce_sum_u64(&f, 1);
    sf_mpi_finalize();
    return f ? 1 : 0;
}
