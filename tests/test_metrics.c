/*
 * test_metrics.c — the evaluator (host/eval/metrics.c) on small cases worked
 * out by hand: regression rmse / mae / r2 (including a constant label and no
 * rows), binary AUC (ties counted one half, one class absent), and
 * classification accuracy, log loss (with the 1e-15 clip), per-class
 * precision / recall / F1 (including a class that is never predicted),
 * macro F1 and the binary AUC of the class-1 probabilities. The streaming
 * pieces against exact references: latency-histogram quantiles against the
 * sorted values (within one bucket's resolution) and the sliding-window AUC
 * against sf_binary_auc of the same window after every step; the stream
 * metrics' window AUC, counted afresh after large batches and kept record by
 * record after small ones, equal to the record-by-record window's.
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

#include "auc_count.h"
#include "auc_window.h"
#include "latency_histogram.h"
#include "metrics.h"
#include "stream_metrics.h"

#define TOL 1e-14

static void assert_close(double got, double want)
{
    if (!(fabs(got - want) <= TOL * (1.0 + fabs(want))))
        fail_msg("got %.17g, expected %.17g", got, want);
}

static void test_regression(void **state)
{
    (void)state;
    sf_regression_metrics m;
    const double y[4] = {1, 2, 3, 4}, pred[4] = {1, 2, 3, 5};
    /* errors 0 0 0 -1: sse 1, sae 1; mean 2.5, sst 5 */
    sf_metrics_regression(y, pred, 4, &m);
    assert_int_equal(m.n, 4);
    assert_close(m.rmse, 0.5);
    assert_close(m.mae, 0.25);
    assert_close(m.r2, 0.8);

    const double pred2[4] = {2, 1, 5, 2};
    /* errors -1 1 -2 2: sse 10, sae 6 */
    sf_metrics_regression(y, pred2, 4, &m);
    assert_close(m.rmse, sqrt(10.0 / 4.0));
    assert_close(m.mae, 1.5);
    assert_close(m.r2, 1.0 - 10.0 / 5.0);

    /* Perfect predictions. */
    sf_metrics_regression(y, y, 4, &m);
    assert_close(m.rmse, 0);
    assert_close(m.mae, 0);
    assert_close(m.r2, 1);

    /* A constant label: r2 is 1 for a perfect fit, else 0. */
    const double c[3] = {7, 7, 7}, pc[3] = {7, 8, 6};
    sf_metrics_regression(c, c, 3, &m);
    assert_close(m.r2, 1);
    sf_metrics_regression(c, pc, 3, &m);
    assert_close(m.r2, 0);
    assert_close(m.rmse, sqrt(2.0 / 3.0));
    assert_close(m.mae, 2.0 / 3.0);

    /* No rows. */
    sf_metrics_regression(y, pred, 0, &m);
    assert_int_equal(m.n, 0);
    assert_true(isnan(m.rmse));
    assert_true(isnan(m.mae));
    assert_true(isnan(m.r2));
}

static void test_auc(void **state)
{
    (void)state;
    /* Positives 0.35 0.8 0.4, negatives 0.1 0.4 0.4. Pairs (pos, neg):
     * 0.35: beats 0.1 -> 1; 0.8: beats all -> 3; 0.4: beats 0.1, ties two -> 2.
     * AUC = 6 / 9. */
    const size_t lab[6] = {0, 0, 1, 1, 0, 1};
    const double sc[6] = {0.1, 0.4, 0.35, 0.8, 0.4, 0.4};
    assert_close(sf_binary_auc(lab, sc, 6), 6.0 / 9.0);

    /* Perfect, reversed, all tied. */
    const size_t l4[4] = {0, 1, 0, 1};
    const double up[4] = {0.1, 0.9, 0.2, 0.8}, down[4] = {0.9, 0.1, 0.8, 0.2},
                 flat[4] = {0.5, 0.5, 0.5, 0.5};
    assert_close(sf_binary_auc(l4, up, 4), 1.0);
    assert_close(sf_binary_auc(l4, down, 4), 0.0);
    assert_close(sf_binary_auc(l4, flat, 4), 0.5);

    /* Order of rows does not matter; ties between a positive and a negative
     * only: pos {1, 2}, neg {2, 0}: 1 beats 0 (1), 2 beats 0 (1), 2 ties 2 (1/2). */
    const size_t l5[4] = {1, 0, 1, 0};
    const double s5[4] = {1, 2, 2, 0};
    assert_close(sf_binary_auc(l5, s5, 4), 2.5 / 4.0);

    /* One class absent: undefined. */
    const size_t ones[3] = {1, 1, 1}, zeros[3] = {0, 0, 0};
    const double s3[3] = {0.2, 0.5, 0.9};
    assert_true(isnan(sf_binary_auc(ones, s3, 3)));
    assert_true(isnan(sf_binary_auc(zeros, s3, 3)));
}

static void test_classification_multiclass(void **state)
{
    (void)state;
    /* Class 2 is never predicted. Predictions (argmax): 0 1 1 0 0 1. */
    const size_t lab[6] = {0, 0, 1, 1, 2, 2};
    const double p[6 * 3] = {
        0.7, 0.2,  0.1,  /* true 0, pred 0 */
        0.4, 0.5,  0.1,  /* true 0, pred 1 */
        0.1, 0.8,  0.1,  /* true 1, pred 1 */
        0.6, 0.3,  0.1,  /* true 1, pred 0 */
        0.5, 0.2,  0.3,  /* true 2, pred 0 */
        0.2, 0.45, 0.35, /* true 2, pred 1 */
    };
    sf_classification_metrics m;
    assert_int_equal(sf_metrics_classification(lab, p, 6, 3, &m), SF_OK);
    assert_int_equal(m.n, 6);
    assert_int_equal(m.K, 3);
    assert_close(m.accuracy, 2.0 / 6.0);
    double ll = -(log(0.7) + log(0.4) + log(0.8) + log(0.3) + log(0.3) + log(0.35)) / 6.0;
    assert_close(m.log_loss, ll);
    assert_true(isnan(m.auc));
    /* class 0: predicted 3 times, 1 right; 2 true -> P 1/3, R 1/2, F1 2/5 */
    assert_close(m.per_class[0].precision, 1.0 / 3.0);
    assert_close(m.per_class[0].recall, 0.5);
    assert_close(m.per_class[0].f1, 0.4);
    assert_int_equal(m.per_class[0].support, 2);
    /* class 1: the same counts */
    assert_close(m.per_class[1].precision, 1.0 / 3.0);
    assert_close(m.per_class[1].recall, 0.5);
    assert_close(m.per_class[1].f1, 0.4);
    assert_int_equal(m.per_class[1].support, 2);
    /* class 2: never predicted -> precision 0 (not NaN), recall 0, F1 0 */
    assert_close(m.per_class[2].precision, 0);
    assert_close(m.per_class[2].recall, 0);
    assert_close(m.per_class[2].f1, 0);
    assert_int_equal(m.per_class[2].support, 2);
    assert_close(m.macro_f1, 0.8 / 3.0);
    sf_classification_metrics_free(&m);
    assert_null(m.per_class);
}

static void test_classification_binary(void **state)
{
    (void)state;
    /* p1 = 0.2 0.9 0.4 0.6 for labels 0 1 1 0: predictions 0 1 0 1. */
    const size_t lab[4] = {0, 1, 1, 0};
    const double p[8] = {0.8, 0.2, 0.1, 0.9, 0.6, 0.4, 0.4, 0.6};
    sf_classification_metrics m;
    assert_int_equal(sf_metrics_classification(lab, p, 4, 2, &m), SF_OK);
    assert_close(m.accuracy, 0.5);
    assert_close(m.log_loss, -(log(0.8) + log(0.9) + log(0.4) + log(0.4)) / 4.0);
    /* pos {0.9, 0.4} vs neg {0.2, 0.6}: 0.9 beats both, 0.4 beats 0.2 -> 3/4 */
    assert_close(m.auc, 0.75);
    const double p1[4] = {0.2, 0.9, 0.4, 0.6};
    assert_close(m.auc, sf_binary_auc(lab, p1, 4));
    for (int k = 0; k < 2; k++) {
        assert_close(m.per_class[k].precision, 0.5);
        assert_close(m.per_class[k].recall, 0.5);
        assert_close(m.per_class[k].f1, 0.5);
        assert_int_equal(m.per_class[k].support, 2);
    }
    assert_close(m.macro_f1, 0.5);
    sf_classification_metrics_free(&m);

    /* A zero probability on the true class is clipped at 1e-15; an exact tie
     * goes to the lower class index. One class absent: AUC undefined. */
    const size_t lab2[2] = {1, 1};
    const double p2[4] = {1.0, 0.0, 0.5, 0.5};
    assert_int_equal(sf_metrics_classification(lab2, p2, 2, 2, &m), SF_OK);
    assert_close(m.accuracy, 0.0);
    assert_close(m.log_loss, (-log(1e-15) - log(0.5)) / 2.0);
    assert_true(isnan(m.auc));
    assert_close(m.per_class[0].precision, 0);
    assert_close(m.per_class[0].recall, 0); /* no true class-0 rows */
    assert_int_equal(m.per_class[0].support, 0);
    assert_close(m.per_class[1].precision, 0); /* never predicted */
    assert_close(m.per_class[1].recall, 0);
    assert_int_equal(m.per_class[1].support, 2);
    assert_close(m.macro_f1, 0);
    sf_classification_metrics_free(&m);
}

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static double uniform(void) { return (double)(rng() >> 11) / 9007199254740992.0; }

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Quantiles of 100,000 latencies spread log-uniformly over 1 us .. 100 s
 * (plus a run of equal values) against the exact nearest-rank quantiles of
 * the sorted values: off by at most half the bucket that holds the exact one. */
static void test_latency_histogram_quantiles(void **state)
{
    (void)state;
    static sf_latency_histogram h;
    sf_latency_histogram_reset(&h);
    assert_int_equal(sf_latency_histogram_quantile(&h, 0.5), -1);
    enum { N = 100000 };
    int64_t *v = malloc(sizeof(int64_t) * N);
    assert_non_null(v);
    for (size_t i = 0; i < N; i++) {
        v[i] = i % 10 == 0 ? 12345 : (int64_t)exp(uniform() * log(1e8));
        sf_latency_histogram_add(&h, v[i]);
    }
    qsort(v, N, sizeof(int64_t), cmp_i64);
    assert_int_equal(h.total, N);
    assert_int_equal(h.max_us, v[N - 1]);
    const double qs[] = {0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0};
    for (size_t k = 0; k < sizeof qs / sizeof qs[0]; k++) {
        size_t rank = (size_t)ceil(qs[k] * N);
        int64_t exact = v[rank - 1], got = sf_latency_histogram_quantile(&h, qs[k]);
        int64_t tol = sf_latency_histogram_resolution(exact) / 2;
        if (llabs(got - exact) > tol)
            fail_msg("q %.3f: got %lld us, exact %lld us, resolution %lld", qs[k], (long long)got,
                     (long long)exact, (long long)sf_latency_histogram_resolution(exact));
        assert_true(sf_latency_histogram_resolution(exact) <= 1 + exact / 64);
    }
    /* small values are exact; negative ones count as 0; huge ones stay counted */
    sf_latency_histogram_reset(&h);
    for (int64_t x = -3; x < 60; x++)
        sf_latency_histogram_add(&h, x);
    sf_latency_histogram_add(&h, (int64_t)1 << 50);
    assert_int_equal(sf_latency_histogram_quantile(&h, 0.01), 0);
    assert_int_equal(sf_latency_histogram_quantile(&h, 0.5), 28);
    assert_int_equal(sf_latency_histogram_quantile(&h, 1.0), (int64_t)1 << 50);
    free(v);
}

/* The incremental window AUC equals the sort-based AUC of the same window
 * after every record, through ties, one-class stretches and a full slide. */
static void test_auc_window_matches_sort(void **state)
{
    (void)state;
    enum { W = 300, N = 4000 };
    sf_auc_window w;
    assert_int_equal(sf_auc_window_init(&w, W), SF_OK);
    double score[N];
    size_t label[N];
    for (size_t i = 0; i < N; i++) {
        /* few distinct scores (ties) for a while, then many; one class only at times */
        double u = uniform();
        score[i] = i < N / 2 ? floor(u * 20) / 20 : u;
        bool one_class = i >= 1000 && i < 1000 + 2 * W;
        label[i] = one_class ? 1 : (uniform() < 0.3 + 0.5 * score[i]) ? 1 : 0;
    }
    assert_true(isnan(sf_auc_window_value(&w)));
    for (size_t i = 0; i < N; i++) {
        if (i >= W) sf_auc_window_remove(&w, score[i - W], label[i - W] == 1);
        sf_auc_window_add(&w, score[i], label[i] == 1);
        size_t from = i + 1 > W ? i + 1 - W : 0;
        double want = sf_binary_auc(label + from, score + from, i + 1 - from);
        double got = sf_auc_window_value(&w);
        if (isnan(want)) {
            if (!isnan(got)) fail_msg("record %zu: got %.17g, expected NaN", i, got);
        } else if (!(fabs(got - want) <= 1e-12)) {
            fail_msg("record %zu: got %.17g, expected %.17g", i, got, want);
        }
    }
    sf_auc_window_clear(&w);
    assert_true(isnan(sf_auc_window_value(&w)));
    sf_auc_window_free(&w);
}

/* Batches of every size around the recount threshold (a fifth of the
 * window), in an order that switches between recounting and record-by-record
 * updates both ways: after every batch the window's AUC is bit-for-bit the
 * one a window fed record by record has, and sf_binary_auc's within 1e-12.
 * Ties (few distinct scores) and one-class stretches included. */
static void test_stream_metrics_window_auc_recount(void **state)
{
    (void)state;
    enum { W = 500, N = 20000 };
    static const size_t sizes[] = {7, 99, 100, 101, 250, 1, 3000, 40, 500, 600, 2, 100, 1200, 13};
    double *y = malloc(sizeof(double) * N), *proba = malloc(sizeof(double) * 2 * N);
    double *pred = malloc(sizeof(double) * N), *score = malloc(sizeof(double) * N);
    size_t *label = malloc(sizeof(size_t) * N);
    assert_non_null(y);
    assert_non_null(proba);
    assert_non_null(pred);
    assert_non_null(score);
    assert_non_null(label);
    for (size_t i = 0; i < N; i++) {
        double u = uniform();
        score[i] = i < N / 3 ? floor(u * 10) / 10 : u;
        bool one_class = i >= 4000 && i < 4000 + 3 * W;
        label[i] = one_class ? 0 : (uniform() < 0.2 + 0.6 * score[i]) ? 1 : 0;
        y[i] = (double)label[i];
        proba[2 * i] = 1 - score[i];
        proba[2 * i + 1] = score[i];
        pred[i] = score[i] > 0.5;
    }
    sf_stream_metrics m;
    sf_auc_window ref;
    assert_int_equal(sf_stream_metrics_init(&m, 2, W), SF_OK);
    assert_int_equal(sf_auc_window_init(&ref, W), SF_OK);
    size_t done = 0, recounts = 0, steps = 0;
    for (size_t k = 0; done < N; k++) {
        size_t n = sizes[k % (sizeof sizes / sizeof *sizes)];
        if (n > N - done) n = N - done;
        sf_stream_metrics_add(&m, y + done, pred + done, proba + 2 * done, n);
        for (size_t i = done; i < done + n; i++) {
            if (i >= W) sf_auc_window_remove(&ref, score[i - W], label[i - W] == 1);
            sf_auc_window_add(&ref, score[i], label[i] == 1);
        }
        done += n;
        recounts += m.auc_window.counted_only;
        steps += !m.auc_window.counted_only;
        double got = sf_auc_window_value(&m.auc_window), want = sf_auc_window_value(&ref);
        size_t from = done > W ? done - W : 0;
        double sorted = sf_binary_auc(label + from, score + from, done - from);
        if (isnan(want)) {
            if (!isnan(got) || !isnan(sorted)) fail_msg("after %zu rows: expected NaN", done);
            continue;
        }
        if (memcmp(&got, &want, sizeof got) != 0)
            fail_msg("after %zu rows (batch of %zu): got %.17g, record by record %.17g", done, n,
                     got, want);
        if (!(fabs(got - sorted) <= 1e-12))
            fail_msg("after %zu rows: got %.17g, sorted %.17g", done, got, sorted);
    }
    assert_true(recounts > 0 && steps > 0); /* both paths ran */
    sf_auc_window_free(&ref);
    sf_stream_metrics_free(&m);
    free(y);
    free(proba);
    free(pred);
    free(score);
    free(label);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The radix sort behind the exact AUCs orders every kind of double as a
 * comparison sort does: negatives, zeros of both signs, infinities,
 * subnormals, repeats. */
static void test_sort_doubles(void **state)
{
    (void)state;
    enum { N = 3001 };
    double *v = malloc(sizeof(double) * N), *want = malloc(sizeof(double) * N);
    uint64_t *scratch = malloc(sizeof(uint64_t) * 2 * N);
    assert_non_null(v);
    assert_non_null(want);
    assert_non_null(scratch);
    const double special[] = {0.0, -0.0, INFINITY, -INFINITY, 4.9e-324, -4.9e-324, 1.0, -1.0};
    for (size_t i = 0; i < N; i++) {
        double u = uniform();
        v[i] = i % 7 == 0 ? special[i / 7 % 8] : (u - 0.5) * pow(10.0, floor(uniform() * 40 - 20));
        if (i % 11 == 0) v[i] = floor(u * 5); /* repeats */
    }
    memcpy(want, v, sizeof(double) * N);
    qsort(want, N, sizeof(double), cmp_double);
    sf_sort_doubles(v, N, scratch);
    for (size_t i = 0; i < N; i++)
        if (!(v[i] == want[i])) fail_msg("position %zu: %.17g, expected %.17g", i, v[i], want[i]);
    free(v);
    free(want);
    free(scratch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regression),
        cmocka_unit_test(test_auc),
        cmocka_unit_test(test_classification_multiclass),
        cmocka_unit_test(test_classification_binary),
        cmocka_unit_test(test_latency_histogram_quantiles),
        cmocka_unit_test(test_auc_window_matches_sort),
        cmocka_unit_test(test_stream_metrics_window_auc_recount),
        cmocka_unit_test(test_sort_doubles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
