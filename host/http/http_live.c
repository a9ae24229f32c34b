/*
 * http_live.c — the run's side of the server: the callbacks hooked into the
 * stream's options keep the board (http_board.h) up to date and publish it,
 * at most five times a second (and at the end), by one copy under the
 * server's lock; the model is published at most once a second. Nothing here
 * waits for the server's threads beyond that copy.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "http_internal.h"
#include "internal.h"

#define PUBLISH_EVERY_S 0.2
#define MODEL_EVERY_S 1.0
#define COEFFICIENTS_SHOWN 50

/* src cut to fit dst (len bytes with the NUL); NULL: "". */
static void copy(char *dst, size_t len, const char *src)
{
    size_t n = src ? strnlen(src, len - 1) : 0;
    if (n) memcpy(dst, src, n);
    dst[n] = 0;
}

void sf_http_live_init(sf_http *h)
{
    sf_board_init(&h->board);
    sf_board_snapshot *s = &h->board.s;
    s->live = true;
    s->started = s->updated = sf_clock_wall_s();
    copy(s->version, sizeof s->version, sf_version_string());
    copy(s->command_line, sizeof s->command_line, h->command_line);
    h->last_publish = h->last_model_publish = -INFINITY;
    *h->pub = *s;
}

void sf_http_live_free(sf_http *h) { sf_board_free(&h->board); }

/* ---- the model ---- */

typedef struct ranked {
    size_t j;
    double size;
} ranked;

static int by_size_desc(const void *a, const void *b)
{
    double x = ((const ranked *)a)->size, y = ((const ranked *)b)->size;
    return (x < y) - (x > y);
}

/* The model part of /api/status: version, intercepts, the largest
 * coefficients by |value| (the largest over the outputs), classes. */
static char *model_summary(const sf_model *m, uint64_t batches)
{
    size_t d = sf_model_n_features(m), k = sf_model_n_outputs(m), K = sf_model_n_classes(m);
    cJSON *o = cJSON_CreateObject();
    cJSON *v = cJSON_AddObjectToObject(o, "version");
    cJSON_AddNumberToObject(v, "batches", (double)batches);
    cJSON_AddNumberToObject(v, "rows_seen", (double)sf_model_rows_seen(m));
    cJSON_AddStringToObject(o, "kind", sf_model_kind_name(sf_model_kind_of(m)));
    cJSON_AddNumberToObject(o, "n_features", (double)d);
    const char *label = sf_model_label_name(m);
    if (label) cJSON_AddStringToObject(o, "label", label);
    if (K)
        cJSON_AddItemToObject(o, "classes",
                              cJSON_CreateDoubleArray(sf_model_classes_const(m), (int)K));
    cJSON_AddItemToObject(o, "intercept",
                          cJSON_CreateDoubleArray(sf_model_intercepts((sf_model *)m), (int)k));
    ranked *r = malloc(sizeof *r * (d + 1));
    cJSON *coef = cJSON_AddArrayToObject(o, "coefficients");
    for (size_t j = 0; r && j < d; j++) {
        r[j].j = j;
        r[j].size = 0;
        for (size_t c = 0; c < k; c++) {
            double a = fabs(sf_model_coefficients((sf_model *)m, c)[j]);
            if (a > r[j].size || isnan(a)) r[j].size = a;
        }
    }
    if (r) qsort(r, d, sizeof *r, by_size_desc);
    for (size_t i = 0; r && i < d && i < COEFFICIENTS_SHOWN; i++) {
        cJSON *e = cJSON_CreateObject();
        const char *name = sf_model_feature_name(m, r[i].j);
        char fallback[32];
        snprintf(fallback, sizeof fallback, "x%zu", r[i].j + 1);
        cJSON_AddStringToObject(e, "feature", name ? name : fallback);
        cJSON *vals = cJSON_AddArrayToObject(e, "values");
        for (size_t c = 0; c < k; c++)
            cJSON_AddItemToArray(
                vals, cJSON_CreateNumber(sf_model_coefficients((sf_model *)m, c)[r[i].j]));
        cJSON_AddItemToArray(coef, e);
    }
    free(r);
    cJSON_AddNumberToObject(o, "coefficients_shown",
                            (double)(d < COEFFICIENTS_SHOWN ? d : COEFFICIENTS_SHOWN));
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

/* ---- publishing ---- */

static void take_warnings(sf_http *h)
{
    char w[SF_HTTP_PENDING_WARNINGS][240];
    pthread_mutex_lock(&h->lock);
    size_t n = h->n_warnings;
    memcpy(w, h->warnings, sizeof w[0] * n);
    h->n_warnings = 0;
    pthread_mutex_unlock(&h->lock);
    for (size_t i = 0; i < n; i++)
        sf_board_event_add(&h->board, sf_clock_wall_s(), "warning", w[i]);
}

static void publish(sf_http *h, bool force)
{
    double now = sf_clock_wall_s();
    if (!force && now - h->last_publish < PUBLISH_EVERY_S) return;
    h->last_publish = now;
    take_warnings(h);
    sf_board_snapshot *s = &h->board.s;
    s->updated = now;
    sf_board_summarize_window(&h->board);
    char *file = NULL, *summary = NULL;
    uint64_t seen = 0;
    sf_model *m = NULL;
    if (h->stream && (force || now - h->last_model_publish >= MODEL_EVERY_S) &&
        sf_stream_model_snapshot(h->stream, &m) == SF_OK) {
        h->last_model_publish = now;
        file = sf_model_json_text(m);
        summary = model_summary(m, s->batches);
        seen = sf_model_rows_seen(m);
        size_t K = sf_model_n_classes(m);
        for (size_t c = 0; c < K && c < SF_BOARD_CM_CLASSES; c++)
            s->classes[c] = sf_model_classes_const(m)[c];
        sf_model_destroy(m);
    }
    pthread_mutex_lock(&h->lock);
    *h->pub = *s;
    if (file && summary) {
        char *old_file = h->model_file, *old_summary = h->model_summary;
        h->model_file = file;
        h->model_summary = summary;
        h->model_rows_seen = seen;
        file = old_file;
        summary = old_summary;
    }
    pthread_mutex_unlock(&h->lock);
    cJSON_free(file);
    cJSON_free(summary);
}

/* ---- the stream's callbacks ---- */

static void check_source(sf_http *h)
{
    bool down = sf_stream_source_down(h->stream);
    sf_board_snapshot *s = &h->board.s;
    if (down != s->source_down)
        sf_board_event_add(&h->board, sf_clock_wall_s(), down ? "error" : "warning",
                           down ? "source unreachable" : "source reachable again");
    s->source_down = down;
}

static void on_batch(void *user, const sf_stream_batch_metrics *m)
{
    sf_http *h = user;
    h->board.s.n_classes = m->n_classes;
    sf_board_add_line(&h->board, m->json);
    if (m->y && m->batch_rows)
        sf_board_add_rows(&h->board, m->n_classes, m->y, m->pred, m->proba, m->batch_rows);
    check_source(h);
    publish(h, false);
    if (h->prev_on_batch) h->prev_on_batch(h->prev_user, m);
}

static void on_progress(void *user, const sf_stream_progress *p)
{
    sf_http *h = user;
    sf_board_snapshot *s = &h->board.s;
    sf_stream_counters c;
    sf_stream_get_counters(h->stream, &c);
    s->rows_total = p->rows_total;
    s->rows_skipped = p->rows_skipped;
    if (c.warming_up) {
        s->state = SF_BOARD_WARMING;
        s->rps = p->rows_per_s;
    } else if (s->state < SF_BOARD_RUNNING) {
        s->state = SF_BOARD_RUNNING;
    }
    check_source(h);
    publish(h, p->final);
    double now = sf_clock_wall_s();
    if (h->prev_on_progress &&
        (p->final || (now - h->prev_progress_at) * 1000 >= (double)h->prev_progress_every_ms)) {
        h->prev_progress_at = now;
        h->prev_on_progress(h->prev_user, p);
    }
}

static void on_bad_record(void *user, const char *where, const char *why)
{
    sf_http *h = user;
    pthread_mutex_lock(&h->lock);
    size_t i = h->n_bad < SF_BOARD_BAD ? h->n_bad++ : h->bad_head;
    if (h->n_bad == SF_BOARD_BAD && i == h->bad_head)
        h->bad_head = (h->bad_head + 1) % SF_BOARD_BAD;
    h->bad[i].time = sf_clock_wall_s();
    copy(h->bad[i].where, sizeof h->bad[i].where, where);
    copy(h->bad[i].why, sizeof h->bad[i].why, why);
    h->bad_total++;
    pthread_mutex_unlock(&h->lock);
    if (h->prev_on_bad_record) h->prev_on_bad_record(h->prev_user, where, why);
}

/* Warnings and errors become events (the log may run on any thread). */
static void on_log(void *user, sf_log_level level, const char *msg)
{
    sf_http *h = user;
    if (level <= SF_LOG_WARN) {
        pthread_mutex_lock(&h->lock);
        if (h->n_warnings < SF_HTTP_PENDING_WARNINGS) copy(h->warnings[h->n_warnings++], 240, msg);
        pthread_mutex_unlock(&h->lock);
    }
    if (h->prev_log) h->prev_log(h->prev_log_user, level, msg);
}

/* ---- attaching ---- */

static void describe_build(sf_http *h, sf_context *ctx)
{
    sf_board_snapshot *s = &h->board.s;
    const char *backend = ctx ? sf_context_backend_name(ctx) : "cpu";
    copy(s->backend, sizeof s->backend, backend);
    if (strcmp(backend, "cpu") == 0) {
        sf_build_info bi;
        sf_get_build_info(&bi);
        snprintf(s->device, sizeof s->device, "CPU, %d threads (%s)", bi.blas_threads,
                 bi.blas ? bi.blas : "BLAS");
    } else {
        char devices[2048];
        sf_describe_devices(devices, sizeof devices);
        devices[strcspn(devices, "\n")] = 0;
        copy(s->device, sizeof s->device, devices);
    }
}

void sf_http_attach(sf_http *h, sf_stream_options *o, sf_context *ctx)
{
    if (!h || !o) return;
    h->ctx = ctx;
    sf_board_snapshot *s = &h->board.s;
    describe_build(h, ctx);
    copy(s->source, sizeof s->source, o->source);
    const char *slash =
        o->source && strncmp(o->source, "kafka://", 8) == 0 ? strrchr(o->source + 8, '/') : NULL;
    copy(s->topic, sizeof s->topic, slash ? slash + 1 : "");
    copy(s->predictions, sizeof s->predictions, o->predictions);
    copy(s->dead_letter, sizeof s->dead_letter, o->dead_letter);
    copy(s->metrics_out, sizeof s->metrics_out, o->metrics_out);
    copy(s->model_out, sizeof s->model_out, o->model_out);
    copy(s->checkpoint_dir, sizeof s->checkpoint_dir, o->checkpoint_dir);
    copy(s->model_kind, sizeof s->model_kind, sf_model_kind_name(o->fit.model));
    s->checkpoint_every = o->checkpoint_every;
    s->save_every = o->save_every;
    s->refit_every = o->refit_every;
    s->window = o->window;
    s->warmup_rows = o->warmup_rows;
    s->state = SF_BOARD_WARMING;
    h->prev_on_batch = o->on_batch;
    h->prev_on_progress = o->on_progress;
    h->prev_on_bad_record = o->on_bad_record;
    h->prev_user = o->user;
    h->prev_log = o->log;
    h->prev_log_user = o->log_user;
    h->prev_progress_every_ms = o->progress_every_ms > 0 ? o->progress_every_ms : 1000;
    h->prev_progress_at = sf_clock_wall_s();
    o->on_batch = on_batch;
    o->on_progress = on_progress;
    o->on_bad_record = on_bad_record;
    o->user = h;
    if (o->log) { /* a stream without its own log uses the context's: left alone */
        o->log = on_log;
        o->log_user = h;
    }
    if (o->progress_every_ms <= 0 || o->progress_every_ms > 500) o->progress_every_ms = 500;
    publish(h, true);
}

void sf_http_set_stream(sf_http *h, sf_stream *s)
{
    if (h) h->stream = s;
}

void sf_http_run_ended(sf_http *h, sf_status st, const char *message)
{
    if (!h) return;
    sf_board_snapshot *s = &h->board.s;
    s->state = st == SF_OK ? SF_BOARD_FINISHED : SF_BOARD_FAILED;
    copy(s->reason, sizeof s->reason,
         st == SF_OK ? "" : (message && message[0] ? message : sf_strerror(st)));
    if (st != SF_OK) sf_board_event_add(&h->board, sf_clock_wall_s(), "error", s->reason);
    s->source_down = false; /* the source is closed, not unreachable */
    publish(h, true);
    h->stream = NULL;
}
