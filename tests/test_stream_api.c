/*
 * test_stream_api.c — the streaming pipeline through its public API
 * (streamfit_stream.h) on a file: source: the batch callback's count and
 * figures, the metrics file, and the model read from another thread while
 * the run goes (compared with an exact fit of the same rows); and the
 * pipeline (the next batch filled on a second thread) against one thread on
 * the same batches: bit-identical models, the same metrics lines and dead
 * letters, with bad records and with a max_rows stop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
// cmocka needs the includes above first
#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "streamfit.h"
#include "streamfit_stream.h"

#define ROWS 20000
#define WARMUP 2000
#define BATCH 1000
#define D 3

static const double TRUE_W[D] = {2.0, -1.0, 0.5};
static const double TRUE_B = 1.0;

/* A deterministic least-squares stream: y = b + w.x + small noise. */
static uint64_t rng_next(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 11;
}
static double uniform(uint64_t *s) { return (double)rng_next(s) * 0x1.0p-53 * 2.0 - 1.0; }

static char csv_path[256], metrics_path[256];
static double *all_X, *all_y;

static void write_csv(void)
{
    snprintf(csv_path, sizeof csv_path, "/tmp/sf_test_stream_api_%d.csv", (int)getpid());
    snprintf(metrics_path, sizeof metrics_path, "/tmp/sf_test_stream_api_%d.jsonl", (int)getpid());
    FILE *f = fopen(csv_path, "w");
    assert_non_null(f);
    all_X = malloc(sizeof(double) * ROWS * D);
    all_y = malloc(sizeof(double) * ROWS);
    fprintf(f, "y,a,b,c\n");
    uint64_t s = 7;
    for (size_t i = 0; i < ROWS; i++) {
        double y = TRUE_B;
        for (size_t j = 0; j < D; j++) {
            /* values that print and read back exactly: multiples of 1/1024 */
            all_X[i * D + j] = round(uniform(&s) * 4096.0) / 1024.0;
            y += TRUE_W[j] * all_X[i * D + j];
        }
        all_y[i] = round((y + 0.05 * uniform(&s)) * 1024.0) / 1024.0;
        fprintf(f, "%.17g,%.17g,%.17g,%.17g\n", all_y[i], all_X[i * D], all_X[i * D + 1],
                all_X[i * D + 2]);
    }
    fclose(f);
}

typedef struct observed {
    size_t batches, progress_final;
    uint64_t last_batch, last_rows_total;
    bool batches_in_order, json_ok;
    /* the reader thread */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool reader_saw_model; /* set by the reader after a snapshot succeeded */
    sf_stream *stream;
} observed;

/* The rmse the metrics line gives for one scope ("batch", "window",
 * "cumulative"), or NaN. */
static double json_rmse(const char *json, const char *scope)
{
    char key[32];
    snprintf(key, sizeof key, "\"%s\":{", scope);
    const char *p = strstr(json, key);
    if (!p) return NAN;
    p = strstr(p, "\"rmse\":");
    return p ? strtod(p + 7, NULL) : NAN;
}

/* The struct's figures agree with the line's (written with 10 digits). */
static bool figures_match(const sf_stream_batch_metrics *m)
{
    double want[3] = {json_rmse(m->json, "batch"), json_rmse(m->json, "window"),
                      json_rmse(m->json, "cumulative")};
    double got[3] = {m->batch_headline, m->window_headline, m->cumulative_headline};
    for (int i = 0; i < 3; i++)
        if (!(fabs(got[i] - want[i]) <= 1e-9 * fabs(want[i]) + 1e-15)) return false;
    return got[0] < 0.1 && got[2] < 0.1; /* noise sd 0.05/sqrt(3): rmse about 0.029 */
}

static void on_batch(void *user, const sf_stream_batch_metrics *m)
{
    observed *o = user;
    o->batches++;
    if (m->batch != o->last_batch + 1) o->batches_in_order = false;
    o->last_batch = m->batch;
    o->last_rows_total = m->rows_total;
    if (!m->json || strncmp(m->json, "{\"time\":", 8) != 0 || m->batch_rows != BATCH ||
        !figures_match(m))
        o->json_ok = false;
    /* Hold the run at its third batch until the reader has read a model:
     * the snapshot must work while sf_stream_run is in progress. */
    if (m->batch == 3) {
        pthread_mutex_lock(&o->mu);
        while (!o->reader_saw_model)
            pthread_cond_wait(&o->cv, &o->mu);
        pthread_mutex_unlock(&o->mu);
    }
}

static void on_progress(void *user, const sf_stream_progress *p)
{
    observed *o = user;
    if (p->final) o->progress_final++;
}

static sf_model *reader_model;
static sf_stream_counters reader_counters;

static void *reader_main(void *arg)
{
    observed *o = arg;
    for (;;) {
        sf_model *m = NULL;
        sf_status st = sf_stream_model_snapshot(o->stream, &m);
        if (st == SF_OK) {
            sf_stream_get_counters(o->stream, &reader_counters);
            reader_model = m;
            pthread_mutex_lock(&o->mu);
            o->reader_saw_model = true;
            pthread_cond_signal(&o->cv);
            pthread_mutex_unlock(&o->mu);
            return NULL;
        }
        if (st != SF_ERR_EMPTY) {
            fprintf(stderr, "snapshot failed: %s\n", sf_strerror(st));
            abort();
        }
        struct timespec pause = {0, 200000};
        nanosleep(&pause, NULL);
    }
}

static void test_stream_run_file_source(void **state)
{
    (void)state;
    write_csv();
    sf_context_options co;
    sf_context_options_init(&co);
    co.device = SF_DEVICE_CPU;
    sf_context *ctx = NULL;
    assert_int_equal(sf_context_create(&co, &ctx), SF_OK);

    char source[300];
    snprintf(source, sizeof source, "file:%s", csv_path);
    sf_stream_options so;
    sf_stream_options_init(&so);
    so.source = source;
    so.fit.model = SF_MODEL_OLS;
    so.warmup_rows = WARMUP;
    so.batch_rows = BATCH;
    so.batch_ms = 600000; /* batches close by size only */
    so.metrics_out = metrics_path;
    observed o;
    memset(&o, 0, sizeof o);
    o.batches_in_order = o.json_ok = true;
    pthread_mutex_init(&o.mu, NULL);
    pthread_cond_init(&o.cv, NULL);
    so.on_batch = on_batch;
    so.on_progress = on_progress;
    so.user = &o;

    sf_stream *s = NULL;
    assert_int_equal(sf_stream_create(ctx, &so, &s), SF_OK);
    o.stream = s;
    sf_model *none = NULL;
    assert_int_equal(sf_stream_model_snapshot(s, &none), SF_ERR_EMPTY);
    assert_null(none);
    pthread_t reader;
    assert_int_equal(pthread_create(&reader, NULL, reader_main, &o), 0);
    sf_status st = sf_stream_run(s);
    pthread_join(reader, NULL);
    if (st != SF_OK) fprintf(stderr, "run: %s\n", sf_stream_error(s));
    assert_int_equal(st, SF_OK);

    /* Every row after the warm-up is in exactly one learned batch. */
    assert_int_equal(o.batches, (ROWS - WARMUP) / BATCH);
    assert_true(o.batches_in_order);
    assert_true(o.json_ok);
    assert_int_equal(o.last_rows_total, ROWS);
    assert_int_equal(o.progress_final, 1);
    sf_stream_counters c;
    sf_stream_get_counters(s, &c);
    assert_int_equal(c.rows_total, ROWS);
    assert_int_equal(c.batches, (ROWS - WARMUP) / BATCH);
    assert_int_equal(c.rows_skipped, 0);
    assert_false(c.running);
    assert_false(c.warming_up);

    /* The reader's model came while the run was held at batch 3: after the
     * warm-up and two or three batches. It is a least-squares fit of the rows
     * seen by then, so it must be close to the generating weights (noise
     * 0.05/sqrt(3) per row over >= 4000 rows: coefficient error < 5e-3). */
    assert_non_null(reader_model);
    assert_true(reader_counters.running);
    assert_true(reader_counters.rows_total >= WARMUP && reader_counters.rows_total < ROWS);
    const double *w = sf_model_coefficients(reader_model, 0);
    for (size_t j = 0; j < D; j++)
        assert_true(fabs(w[j] - TRUE_W[j]) < 5e-3);
    assert_true(fabs(sf_model_intercepts(reader_model)[0] - TRUE_B) < 5e-3);
    sf_model_destroy(reader_model);

    /* After the run the model stays readable until sf_stream_destroy; least
     * squares streaming is exact, so it equals one fit of all rows with the
     * library's batch trainer (relative difference 1e-9). */
    sf_model *final = NULL;
    assert_int_equal(sf_stream_model_snapshot(s, &final), SF_OK);
    sf_fit_params fp;
    sf_fit_params_init(&fp);
    fp.model = SF_MODEL_OLS;
    sf_trainer *t = NULL;
    sf_model *ref = NULL;
    assert_int_equal(sf_trainer_create(ctx, &fp, D, 0, &t), SF_OK);
    assert_int_equal(sf_trainer_add_batch(t, all_X, all_y, ROWS), SF_OK);
    assert_int_equal(sf_trainer_fit(t, &ref), SF_OK);
    for (size_t j = 0; j < D; j++) {
        double a = sf_model_coefficients(final, 0)[j], b = sf_model_coefficients(ref, 0)[j];
        assert_true(fabs(a - b) <= 1e-9 * fabs(b));
    }
    double ia = sf_model_intercepts(final)[0], ib = sf_model_intercepts(ref)[0];
    assert_true(fabs(ia - ib) <= 1e-9 * fabs(ib));
    sf_model_destroy(ref);
    sf_model_destroy(final);
    sf_trainer_destroy(t);

    /* The metrics file has one JSON line per learned batch. */
    FILE *f = fopen(metrics_path, "r");
    assert_non_null(f);
    size_t lines = 0;
    char buf[4096];
    while (fgets(buf, sizeof buf, f))
        lines += buf[0] == '{';
    fclose(f);
    assert_int_equal(lines, o.batches);

    /* A second run of the same stream is refused. */
    assert_int_equal(sf_stream_run(s), SF_ERR_INVALID_ARGUMENT);
    sf_stream_destroy(s);
    sf_stream_destroy(NULL);
    sf_context_destroy(ctx);
    remove(csv_path);
    remove(metrics_path);
    free(all_X);
    free(all_y);
}

/* A stop requested before the run: it opens, reads nothing, returns SF_OK. */
static void test_stream_request_stop(void **state)
{
    (void)state;
    sf_context_options co;
    sf_context_options_init(&co);
    co.device = SF_DEVICE_CPU;
    sf_context *ctx = NULL;
    assert_int_equal(sf_context_create(&co, &ctx), SF_OK);
    sf_stream_options so;
    sf_stream_options_init(&so);
    so.source = "file:/dev/null";
    so.fit.model = SF_MODEL_OLS;
    sf_stream *s = NULL;
    assert_int_equal(sf_stream_create(ctx, &so, &s), SF_OK);
    sf_stream_request_stop(s);
    assert_int_equal(sf_stream_run(s), SF_OK);
    sf_stream_counters c;
    sf_stream_get_counters(s, &c);
    assert_int_equal(c.rows_total, 0);
    sf_stream_destroy(s);
    sf_context_destroy(ctx);
}

/* Failures are statuses with a message, never a print or an exit. */
static void test_stream_bad_source(void **state)
{
    (void)state;
    sf_context_options co;
    sf_context_options_init(&co);
    co.device = SF_DEVICE_CPU;
    sf_context *ctx = NULL;
    assert_int_equal(sf_context_create(&co, &ctx), SF_OK);
    sf_stream_options so;
    sf_stream_options_init(&so);
    so.source = "file:/nonexistent/streamfit-test";
    so.fit.model = SF_MODEL_OLS;
    sf_stream *s = NULL;
    assert_int_equal(sf_stream_create(ctx, &so, &s), SF_OK);
    assert_int_not_equal(sf_stream_run(s), SF_OK);
    assert_true(strlen(sf_stream_error(s)) > 0);
    sf_stream_destroy(s);
    assert_int_equal(sf_stream_create(NULL, &so, &s), SF_ERR_INVALID_ARGUMENT);
    assert_null(s);
    sf_context_destroy(ctx);
}

/* ---- the pipeline against one thread ---- */

#define P_ROWS 12000

/* A logistic stream with bad records: every 701st line does not parse, every
 * 907th has the unknown class 2 (in the warm-up and after it). */
static void write_classified_csv(const char *path)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "y,a,b,c\n");
    uint64_t s = 11;
    for (size_t i = 1; i <= P_ROWS; i++) {
        double x[3], z = 0.3;
        for (size_t j = 0; j < 3; j++) {
            x[j] = round(uniform(&s) * 4096.0) / 1024.0;
            z += TRUE_W[j] * x[j];
        }
        int y = uniform(&s) < tanh(z / 2) ? 1 : 0;
        if (i % 701 == 0)
            fprintf(f, "%d,%.17g,not-a-number,%.17g\n", y, x[0], x[2]);
        else
            fprintf(f, "%d,%.17g,%.17g,%.17g\n", i % 907 == 0 ? 2 : y, x[0], x[1], x[2]);
    }
    fclose(f);
}

/* The whole file, or NULL. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *t = malloc((size_t)n + 1);
    size_t got = t ? fread(t, 1, (size_t)n, f) : 0;
    fclose(f);
    if (t) t[got] = '\0';
    return t;
}

/* Cut [from, to) out of every line, where from and to are the first matches
 * of the two strings in the line. */
static void cut_between(char *text, const char *from, const char *to)
{
    for (char *line = text; line && *line;) {
        char *end = strchr(line, '\n');
        char *a = strstr(line, from), *b = a ? strstr(a, to) : NULL;
        if (a && b && (!end || b < end)) {
            memmove(a, b, strlen(b) + 1);
            end = strchr(line, '\n');
        }
        line = end ? end + 1 : NULL;
    }
}

typedef struct piped_run {
    sf_status st;
    sf_stream_counters c;
    sf_model *model;
    char *metrics, *dead;
} piped_run;

static piped_run run_piped(sf_context *ctx, const char *csv, bool pipeline, uint64_t max_rows)
{
    char source[300], metrics[300], dead[300], dead_uri[310];
    snprintf(source, sizeof source, "file:%s", csv);
    snprintf(metrics, sizeof metrics, "%s.%d.metrics", csv, (int)pipeline);
    snprintf(dead, sizeof dead, "%s.%d.dead", csv, (int)pipeline);
    snprintf(dead_uri, sizeof dead_uri, "file:%s", dead);
    remove(metrics);
    remove(dead);
    sf_stream_options so;
    sf_stream_options_init(&so);
    so.source = source;
    so.fit.model = SF_MODEL_LOGISTIC;
    so.warmup_rows = 1500;
    so.batch_rows = 700;
    so.batch_ms = 600000; /* batches close by size only: the same boundaries */
    so.metrics_out = metrics;
    so.dead_letter = dead_uri;
    so.max_rows = max_rows;
    so.pipeline = pipeline;
    piped_run out;
    memset(&out, 0, sizeof out);
    sf_stream *s = NULL;
    assert_int_equal(sf_stream_create(ctx, &so, &s), SF_OK);
    out.st = sf_stream_run(s);
    if (out.st != SF_OK) fprintf(stderr, "run: %s\n", sf_stream_error(s));
    sf_stream_get_counters(s, &out.c);
    assert_int_equal(sf_stream_model_snapshot(s, &out.model), SF_OK);
    sf_stream_destroy(s);
    out.metrics = slurp(metrics);
    out.dead = slurp(dead);
    assert_non_null(out.metrics);
    assert_non_null(out.dead);
    /* What depends on the clock: the time, latencies and throughput. */
    cut_between(out.metrics, "\"time\":", "\"batch\":");
    cut_between(out.metrics, "\"latency_ms\":", "\"metrics\":");
    remove(metrics);
    remove(dead);
    return out;
}

static void assert_same_run(piped_run *a, piped_run *b)
{
    assert_int_equal(a->st, SF_OK);
    assert_int_equal(b->st, SF_OK);
    assert_int_equal(a->c.rows_total, b->c.rows_total);
    assert_int_equal(a->c.rows_skipped, b->c.rows_skipped);
    assert_int_equal(a->c.batches, b->c.batches);
    size_t d = sf_model_n_features(a->model), k = sf_model_n_outputs(a->model);
    assert_int_equal(d, sf_model_n_features(b->model));
    assert_int_equal(k, sf_model_n_outputs(b->model));
    for (size_t i = 0; i < k; i++) /* bit for bit */
        assert_memory_equal(sf_model_coefficients(a->model, i), sf_model_coefficients(b->model, i),
                            sizeof(double) * d);
    assert_memory_equal(sf_model_intercepts(a->model), sf_model_intercepts(b->model),
                        sizeof(double) * k);
    assert_string_equal(a->metrics, b->metrics);
    assert_string_equal(a->dead, b->dead);
    for (int i = 0; i < 2; i++) {
        piped_run *r = i ? b : a;
        sf_model_destroy(r->model);
        free(r->metrics);
        free(r->dead);
    }
}

static void test_stream_pipeline_matches_one_thread(void **state)
{
    (void)state;
    char csv[256];
    snprintf(csv, sizeof csv, "/tmp/sf_test_stream_pipe_%d.csv", (int)getpid());
    write_classified_csv(csv);
    sf_context_options co;
    sf_context_options_init(&co);
    co.device = SF_DEVICE_CPU;
    co.threads = 1;
    sf_context *ctx = NULL;
    assert_int_equal(sf_context_create(&co, &ctx), SF_OK);

    /* To the end of the file. */
    piped_run on = run_piped(ctx, csv, true, 0), off = run_piped(ctx, csv, false, 0);
    size_t bad = P_ROWS / 701 + P_ROWS / 907;
    assert_int_equal(on.c.rows_skipped, bad);
    assert_int_equal(on.c.rows_total, P_ROWS - bad);
    assert_true(on.c.batches > 10);
    size_t dead_lines = 0;
    for (const char *p = on.dead; *p; p++)
        dead_lines += *p == '\n';
    assert_int_equal(dead_lines, bad);
    assert_same_run(&on, &off);

    /* Stopped by max_rows in the middle of a batch. */
    on = run_piped(ctx, csv, true, 5000);
    off = run_piped(ctx, csv, false, 5000);
    assert_int_equal(on.c.rows_total, 5000);
    assert_true(on.c.rows_skipped > 0 && on.c.rows_skipped < bad);
    assert_same_run(&on, &off);

    sf_context_destroy(ctx);
    remove(csv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_run_file_source),
        cmocka_unit_test(test_stream_request_stop),
        cmocka_unit_test(test_stream_bad_source),
        cmocka_unit_test(test_stream_pipeline_matches_one_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
