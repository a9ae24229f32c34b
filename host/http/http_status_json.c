/*
 * http_status_json.c — /api/status: a board snapshot as the JSON the page
 * reads (schema in host/http/README.md). Runs on the server's threads, on
 * their own copy of the snapshot.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_board.h"

/* NaN and infinities become null (cJSON prints them so too; said here). */
static cJSON *number(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

static void add_num(cJSON *o, const char *key, double v)
{
    cJSON_AddItemToObject(o, key, number(v));
}

static void add_str(cJSON *o, const char *key, const char *v)
{
    if (v && v[0])
        cJSON_AddStringToObject(o, key, v);
    else
        cJSON_AddNullToObject(o, key);
}

static cJSON *numbers(const double *v, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(a, number(v[i]));
    return a;
}

static cJSON *counts(const uint64_t *v, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber((double)v[i]));
    return a;
}

static cJSON *quality(const sf_board_snapshot *s, const double *q)
{
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; i < SF_BOARD_Q; i++) {
        const char *name = sf_board_quality_name(s->n_classes, i);
        if (name) add_num(o, name, q[i]);
    }
    return o;
}

static cJSON *point(const sf_board_snapshot *s, const sf_board_point *p)
{
    cJSON *o = cJSON_CreateObject();
    add_num(o, "time", p->time);
    add_num(o, "batch", p->batch);
    add_num(o, "rows_total", p->rows_total);
    add_num(o, "throughput_rps", p->rps);
    add_num(o, "lag", p->lag);
    add_num(o, "latency_p50_ms", p->latency_p50_ms);
    add_num(o, "latency_p99_ms", p->latency_p99_ms);
    add_num(o, "batch_ms", p->batch_ms);
    for (int sc = 0; sc < SF_SCOPES; sc++)
        cJSON_AddItemToObject(o, sf_board_scope_name(sc), quality(s, p->q[sc]));
    add_num(o, "online_log_loss", p->online_loss);
    add_num(o, "exact_log_loss", p->exact_loss);
    return o;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Batch latency p50/p99 over the history's batches (exact, nearest rank). */
static void batch_quantiles(const sf_board_snapshot *s, double *p50, double *p99)
{
    double v[SF_BOARD_HISTORY];
    size_t n = 0;
    for (size_t i = 0; i < s->n_hist; i++)
        if (isfinite(s->hist[i].batch_ms)) v[n++] = s->hist[i].batch_ms;
    *p50 = *p99 = NAN;
    if (!n) return;
    qsort(v, n, sizeof v[0], cmp_double);
    *p50 = v[(size_t)ceil(0.5 * (double)n) - 1];
    *p99 = v[(size_t)ceil(0.99 * (double)n) - 1];
}

static cJSON *run_part(const sf_board_snapshot *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "state", sf_board_state_name(s->state));
    add_str(o, "reason", s->reason);
    add_num(o, "started", s->started);
    add_num(o, "updated", s->updated);
    cJSON_AddBoolToObject(o, "live", s->live);
    return o;
}

static cJSON *build_part(const sf_board_snapshot *s)
{
    cJSON *o = cJSON_CreateObject();
    add_str(o, "version", s->version);
    add_str(o, "backend", s->backend);
    add_str(o, "device", s->device);
    return o;
}

static cJSON *io_part(const sf_board_snapshot *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *src = cJSON_AddObjectToObject(o, "source");
    add_str(src, "uri", s->source);
    add_str(src, "topic", s->topic);
    if (s->live)
        cJSON_AddBoolToObject(src, "reachable", !s->source_down);
    else
        cJSON_AddNullToObject(src, "reachable");
    cJSON *sinks = cJSON_AddObjectToObject(o, "sinks");
    add_str(sinks, "predictions", s->predictions);
    add_str(sinks, "dead_letter", s->dead_letter);
    add_str(sinks, "metrics", s->metrics_out);
    add_str(sinks, "model", s->model_out);
    cJSON *cp = cJSON_AddObjectToObject(o, "checkpoint");
    add_str(cp, "dir", s->checkpoint_dir);
    add_num(cp, "every", s->checkpoint_dir[0] ? (double)s->checkpoint_every : NAN);
    add_num(cp, "last_batch", s->last_checkpoint_batch ? (double)s->last_checkpoint_batch : NAN);
    add_num(cp, "last_time", s->last_checkpoint_time);
    return o;
}

static cJSON *latency_part(const sf_board_snapshot *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(o, "end_to_end_ms");
    add_num(e, "p50", s->latency_p50_ms);
    add_num(e, "p99", s->latency_p99_ms);
    add_num(e, "run_p50", s->run_p50_ms);
    add_num(e, "run_p99", s->run_p99_ms);
    add_num(e, "run_max", s->run_max_ms);
    double p50, p99;
    batch_quantiles(s, &p50, &p99);
    cJSON *b = cJSON_AddObjectToObject(o, "batch_ms");
    add_num(b, "p50", p50);
    add_num(b, "p99", p99);
    add_num(b, "last", s->have_last ? s->last.batch_ms : NAN);
    const double edges[] = SF_STREAM_LATENCY_EDGES_MS;
    cJSON_AddItemToObject(o, "bucket_edges_ms", numbers(edges, sizeof edges / sizeof edges[0]));
    cJSON_AddItemToObject(o, "end_to_end_counts", counts(s->e2e_counts, SF_STREAM_LATENCY_BUCKETS));
    cJSON_AddItemToObject(o, "batch_counts", counts(s->batch_counts, SF_STREAM_LATENCY_BUCKETS));
    return o;
}

static cJSON *partitions_part(const sf_board_snapshot *s, double *total)
{
    cJSON *a = cJSON_CreateArray();
    *total = s->n_parts ? 0 : NAN;
    for (size_t i = 0; i < s->n_parts; i++) {
        const sf_stream_partition *p = &s->parts[i];
        cJSON *o = cJSON_CreateObject();
        add_str(o, "topic", s->topic);
        cJSON_AddNumberToObject(o, "partition", p->partition);
        add_num(o, "position", p->position >= 0 ? (double)p->position : NAN);
        add_num(o, "high_watermark", p->high_watermark >= 0 ? (double)p->high_watermark : NAN);
        double lag = NAN;
        if (p->position >= 0 && p->high_watermark >= 0)
            lag = (double)(p->high_watermark > p->position ? p->high_watermark - p->position : 0);
        add_num(o, "lag", lag);
        if (isfinite(lag)) *total += lag;
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

static cJSON *events_part(const sf_board_snapshot *s)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < s->n_events; i++) {
        const sf_board_event *e = &s->events[(s->events_head + i) % SF_BOARD_EVENTS];
        cJSON *o = cJSON_CreateObject();
        add_num(o, "time", e->time);
        cJSON_AddStringToObject(o, "kind", e->kind);
        cJSON_AddStringToObject(o, "text", e->text);
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

static cJSON *history_part(const sf_board_snapshot *s)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < s->n_hist; i++)
        cJSON_AddItemToArray(a, point(s, &s->hist[(s->hist_head + i) % SF_BOARD_HISTORY]));
    return a;
}

static cJSON *bad_part(const sf_board_bad *bad, size_t n_bad, uint64_t total)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "count", (double)total);
    cJSON *a = cJSON_AddArrayToObject(o, "last");
    for (size_t i = 0; i < n_bad; i++) {
        cJSON *e = cJSON_CreateObject();
        add_num(e, "time", bad[i].time);
        cJSON_AddStringToObject(e, "where", bad[i].where);
        cJSON_AddStringToObject(e, "reason", bad[i].why);
        cJSON_AddItemToArray(a, e);
    }
    return o;
}

/* A replay (streamfit dashboard --metrics): what was read and what is shown. */
static cJSON *replay_part(const sf_board_snapshot *s)
{
    if (s->live) return cJSON_CreateNull();
    cJSON *o = cJSON_CreateObject();
    add_str(o, "file", s->replay_file);
    cJSON_AddNumberToObject(o, "lines", (double)s->replay_lines);
    cJSON_AddNumberToObject(o, "malformed", (double)s->replay_malformed);
    cJSON *a = cJSON_AddArrayToObject(o, "malformed_lines");
    for (size_t i = 0; i < s->n_replay_bad; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber((double)s->replay_bad_lines[i]));
    cJSON_AddNumberToObject(o, "points", (double)s->n_hist);
    cJSON_AddBoolToObject(o, "downsampled", s->replay_downsampled);
    return o;
}

static cJSON *window_part(const sf_board_snapshot *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "rows", (double)s->window_rows);
    if (!s->n_classes) {
        cJSON *r = cJSON_AddObjectToObject(o, "regression");
        cJSON_AddItemToObject(r, "actual", numbers(s->recent_actual, s->n_recent));
        cJSON_AddItemToObject(r, "predicted", numbers(s->recent_pred, s->n_recent));
        cJSON *h = cJSON_AddObjectToObject(r, "residual_histogram");
        add_num(h, "lo", s->resid_lo);
        add_num(h, "hi", s->resid_hi);
        cJSON_AddItemToObject(h, "counts",
                              counts(s->resid, isfinite(s->resid_lo) ? SF_BOARD_RESID_BINS : 0));
        cJSON_AddNullToObject(o, "classification");
        return o;
    }
    cJSON_AddNullToObject(o, "regression");
    cJSON *c = cJSON_AddObjectToObject(o, "classification");
    size_t K = s->cm_classes;
    cJSON_AddItemToObject(c, "classes", numbers(s->classes, K));
    cJSON *m = cJSON_AddArrayToObject(c, "confusion"); /* rows: true class; columns: predicted */
    for (size_t t = 0; t < K; t++)
        cJSON_AddItemToArray(m, counts(s->cm + t * SF_BOARD_CM_CLASSES, K));
    cJSON *roc = cJSON_AddObjectToObject(c, "roc");
    cJSON_AddItemToObject(roc, "fpr", numbers(s->roc_fpr, s->n_roc));
    cJSON_AddItemToObject(roc, "tpr", numbers(s->roc_tpr, s->n_roc));
    return o;
}

char *sf_board_status_json(const sf_board_snapshot *s, const char *model_summary,
                           const sf_board_bad *bad, size_t n_bad, uint64_t bad_total)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "schema", 1);
    cJSON_AddItemToObject(o, "run", run_part(s));
    cJSON_AddItemToObject(o, "build", build_part(s));
    add_str(o, "command_line", s->command_line);
    cJSON_AddItemToObject(o, "io", io_part(s));
    add_str(o, "model_kind", s->model_kind);
    add_str(o, "model_version", s->model_version);
    cJSON_AddNumberToObject(o, "n_classes", (double)s->n_classes);
    cJSON *c = cJSON_AddObjectToObject(o, "counters");
    cJSON_AddNumberToObject(c, "rows_total", (double)s->rows_total);
    cJSON_AddNumberToObject(c, "rows_predicted", (double)s->rows_predicted);
    cJSON_AddNumberToObject(c, "rows_skipped", (double)s->rows_skipped);
    cJSON_AddNumberToObject(c, "rows_lost", (double)s->rows_lost);
    cJSON_AddNumberToObject(c, "rows_dead_lettered",
                            s->dead_letter[0] ? (double)s->rows_skipped : 0);
    cJSON_AddNumberToObject(c, "batches", (double)s->batches);
    cJSON *t = cJSON_AddObjectToObject(o, "throughput");
    add_num(t, "run_rps", s->rps);
    add_num(t, "now_rps", s->rps_now);
    double lag_total;
    cJSON_AddItemToObject(o, "partitions", partitions_part(s, &lag_total));
    add_num(o, "lag_total", lag_total);
    cJSON_AddItemToObject(o, "latency", latency_part(s));
    cJSON_AddItemToObject(
        o, "bad_records",
        bad_part(bad, n_bad, s->rows_skipped > bad_total ? s->rows_skipped : bad_total));
    cJSON *w = cJSON_AddObjectToObject(o, "warmup");
    cJSON_AddNumberToObject(w, "target_rows", (double)s->warmup_rows);
    cJSON_AddNumberToObject(
        w, "rows", (double)(s->rows_total < s->warmup_rows ? s->rows_total : s->warmup_rows));
    cJSON_AddBoolToObject(w, "done", s->state >= SF_BOARD_RUNNING || s->batches > 0);
    cJSON *model = model_summary ? cJSON_Parse(model_summary) : NULL;
    cJSON_AddItemToObject(o, "model", model ? model : cJSON_CreateNull());
    cJSON *q = cJSON_AddObjectToObject(o, "quality");
    for (int sc = 0; sc < SF_SCOPES; sc++)
        cJSON_AddItemToObject(q, sf_board_scope_name(sc),
                              s->have_last ? quality(s, s->last.q[sc]) : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "events", events_part(s));
    cJSON_AddItemToObject(o, "history", history_part(s));
    cJSON_AddItemToObject(o, "window", window_part(s));
    cJSON_AddItemToObject(o, "replay", replay_part(s));
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}
