/*
 * http_board.c — keeping the board (http_board.h) up to date: from metrics
 * lines (live or replayed), from the batch's rows (the window charts), and
 * events. Runs on the run's thread (or a replay's), never per record
 * beyond copying the batch's values into a ring.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_board.h"

static const char *const state_names[] = {"starting", "warming", "running", "finished", "failed"};
static const char *const reg_names[] = {"rmse", "mae", "r2"};
static const char *const cls_names[] = {"accuracy", "log_loss", "auc", "f1"};
static const char *const scope_names[] = {"batch", "window", "cumulative"};

const char *sf_board_state_name(sf_board_state s) { return state_names[s]; }
const char *sf_board_scope_name(int scope) { return scope_names[scope]; }

const char *sf_board_quality_name(size_t n_classes, int i)
{
    if (n_classes) return i < 4 ? cls_names[i] : NULL;
    return i < 3 ? reg_names[i] : NULL;
}

void sf_board_init(sf_board *b)
{
    memset(b, 0, sizeof *b);
    b->s.last_checkpoint_time = NAN;
    b->s.rps = b->s.rps_now = NAN;
    b->s.latency_p50_ms = b->s.latency_p99_ms = NAN;
    b->s.run_p50_ms = b->s.run_p99_ms = b->s.run_max_ms = NAN;
    b->s.resid_lo = b->s.resid_hi = NAN;
    b->prev_time = NAN;
}

void sf_board_free(sf_board *b)
{
    free(b->win_y);
    free(b->win_p);
    b->win_y = b->win_p = NULL;
}

void sf_board_event_add(sf_board *b, double time, const char *kind, const char *text)
{
    sf_board_snapshot *s = &b->s;
    size_t i;
    if (s->n_events < SF_BOARD_EVENTS) {
        i = s->n_events++;
    } else {
        i = s->events_head;
        s->events_head = (s->events_head + 1) % SF_BOARD_EVENTS;
    }
    s->events[i].time = time;
    snprintf(s->events[i].kind, sizeof s->events[i].kind, "%s", kind);
    snprintf(s->events[i].text, sizeof s->events[i].text, "%s", text);
}

/* ---- metrics lines ---- */

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static void read_quality(const cJSON *metrics, size_t K, sf_board_point *p)
{
    for (int sc = 0; sc < SF_SCOPES; sc++) {
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(metrics, scope_names[sc]);
        for (int i = 0; i < SF_BOARD_Q; i++) {
            const char *name = sf_board_quality_name(K, i);
            p->q[sc][i] = name && cJSON_IsObject(o) ? num(o, name) : NAN;
        }
    }
}

void sf_board_add_point(sf_board *b, const sf_board_point *p)
{
    sf_board_snapshot *s = &b->s;
    size_t i;
    if (s->n_hist < SF_BOARD_HISTORY) {
        i = s->n_hist++;
    } else {
        i = s->hist_head;
        s->hist_head = (s->hist_head + 1) % SF_BOARD_HISTORY;
    }
    s->hist[i] = *p;
}

static void read_partitions(sf_board *b, const cJSON *parts, sf_board_point *p)
{
    sf_board_snapshot *s = &b->s;
    if (!cJSON_IsArray(parts)) {
        p->lag = NAN;
        return;
    }
    s->n_parts = 0;
    double lag = 0;
    bool known = false;
    const cJSON *e;
    cJSON_ArrayForEach(e, parts)
    {
        if (s->n_parts == SF_BOARD_PARTS) break;
        sf_stream_partition *q = &s->parts[s->n_parts++];
        q->partition = (int32_t)num(e, "partition");
        q->position = (int64_t)num(e, "position");
        q->high_watermark = (int64_t)num(e, "high_watermark");
        if (q->position >= 0 && q->high_watermark >= 0) {
            lag += (double)(q->high_watermark > q->position ? q->high_watermark - q->position : 0);
            known = true;
        }
    }
    p->lag = known ? lag : NAN;
}

static int edge_bucket_ms(double ms)
{
    static const double edges[] = SF_STREAM_LATENCY_EDGES_MS;
    int i = 0;
    while (i < (int)(sizeof edges / sizeof edges[0]) && ms > edges[i])
        i++;
    return i;
}

static void read_latency_counts(sf_board *b, const cJSON *line, double processing_ms)
{
    sf_board_snapshot *s = &b->s;
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(line, "latency_counts");
    if (cJSON_IsArray(c) && cJSON_GetArraySize(c) == SF_STREAM_LATENCY_BUCKETS) {
        for (int i = 0; i < SF_STREAM_LATENCY_BUCKETS; i++) {
            const cJSON *v = cJSON_GetArrayItem(c, i);
            if (cJSON_IsNumber(v) && v->valuedouble > 0)
                s->e2e_counts[i] += (uint64_t)v->valuedouble;
        }
        double sum = num(line, "latency_sum_ms");
        if (isfinite(sum)) {
            s->e2e_sum_s += sum / 1000;
            s->have_latency_sum = true;
        }
    }
    if (isfinite(processing_ms)) {
        s->batch_counts[edge_bucket_ms(processing_ms)]++;
        s->batch_sum_s += processing_ms / 1000;
        s->batch_count++;
    }
}

bool sf_board_add_line(sf_board *b, const char *json)
{
    cJSON *line = cJSON_Parse(json);
    if (!cJSON_IsObject(line)) {
        cJSON_Delete(line);
        return false;
    }
    sf_board_snapshot *s = &b->s;
    sf_board_point p;
    memset(&p, 0, sizeof p);
    p.time = num(line, "time");
    p.batch = num(line, "batch");
    p.rows_total = num(line, "rows_total");
    p.rps = num(line, "throughput_rps");
    const cJSON *lat = cJSON_GetObjectItemCaseSensitive(line, "latency_ms");
    p.latency_p50_ms = cJSON_IsObject(lat) ? num(lat, "p50") : NAN;
    p.latency_p99_ms = cJSON_IsObject(lat) ? num(lat, "p99") : NAN;
    p.batch_ms = num(line, "processing_ms");
    read_quality(cJSON_GetObjectItemCaseSensitive(line, "metrics"), s->n_classes, &p);
    read_partitions(b, cJSON_GetObjectItemCaseSensitive(line, "partitions"), &p);
    const cJSON *refit = cJSON_GetObjectItemCaseSensitive(line, "refit");
    p.online_loss = cJSON_IsObject(refit) ? num(refit, "online_log_loss") : NAN;
    p.exact_loss = cJSON_IsObject(refit) ? num(refit, "exact_log_loss") : NAN;

    double batch_rows = num(line, "batch_rows");
    if (isfinite(batch_rows)) s->rows_predicted += (uint64_t)batch_rows;
    if (isfinite(p.batch)) s->batches = (uint64_t)p.batch;
    if (isfinite(p.rows_total)) s->rows_total = (uint64_t)p.rows_total;
    double skipped = num(line, "rows_skipped"), lost = num(line, "rows_lost");
    if (isfinite(skipped)) s->rows_skipped = (uint64_t)skipped;
    if (isfinite(lost)) s->rows_lost = (uint64_t)lost;
    s->rps = p.rps;
    if (isfinite(p.time) && isfinite(b->prev_time) && p.time > b->prev_time)
        s->rps_now = (p.rows_total - b->prev_rows) / (p.time - b->prev_time);
    b->prev_time = p.time;
    b->prev_rows = p.rows_total;
    if (isfinite(p.latency_p50_ms)) {
        s->latency_p50_ms = p.latency_p50_ms;
        s->latency_p99_ms = p.latency_p99_ms;
    }
    const cJSON *run = cJSON_GetObjectItemCaseSensitive(line, "latency_run_ms");
    if (cJSON_IsObject(run)) {
        s->run_p50_ms = num(run, "p50");
        s->run_p99_ms = num(run, "p99");
        s->run_max_ms = num(run, "max");
    }
    read_latency_counts(b, line, p.batch_ms);
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(line, "model_version");
    if (cJSON_IsString(version))
        snprintf(s->model_version, sizeof s->model_version, "%s", version->valuestring);
    if (isfinite(p.time)) s->updated = p.time;
    if (s->state == SF_BOARD_STARTING || s->state == SF_BOARD_WARMING) s->state = SF_BOARD_RUNNING;

    /* events the run's settings imply at this batch */
    char text[200];
    if (cJSON_IsObject(refit)) {
        snprintf(text, sizeof text,
                 "exact refit on %.0f rows after batch %.0f: log-loss %.4g -> %.4g",
                 num(refit, "rows"), p.batch, p.online_loss, p.exact_loss);
        sf_board_event_add(b, p.time, "refit", text);
    }
    uint64_t nb = s->batches;
    if (s->checkpoint_dir[0] && s->checkpoint_every && nb && nb % s->checkpoint_every == 0) {
        s->last_checkpoint_batch = nb;
        s->last_checkpoint_time = p.time;
    }
    if (s->model_out[0] && s->save_every && nb && nb % s->save_every == 0) {
        snprintf(text, sizeof text, "model file written after batch %llu", (unsigned long long)nb);
        sf_board_event_add(b, p.time, "model_saved", text);
    }

    /* the history keeps a point at most every 250 ms, and every refit */
    s->last = p;
    s->have_last = true;
    if (!b->own_history && (!(p.time - b->last_point_time < 0.25) || cJSON_IsObject(refit))) {
        sf_board_add_point(b, &p);
        b->last_point_time = p.time;
    }
    cJSON_Delete(line);
    return true;
}

/* ---- the window's rows ---- */

void sf_board_add_rows(sf_board *b, size_t K, const double *y, const double *pred,
                       const double *proba, size_t rows)
{
    size_t w = K ? K : 1;
    if (!b->win_y || b->win_K != w) {
        free(b->win_y);
        free(b->win_p);
        b->win_y = malloc(sizeof(double) * SF_BOARD_WINDOW);
        b->win_p = malloc(sizeof(double) * SF_BOARD_WINDOW * w);
        b->win_K = w;
        b->win_head = b->win_count = 0;
        if (!b->win_y || !b->win_p) {
            free(b->win_y);
            free(b->win_p);
            b->win_y = b->win_p = NULL;
            return;
        }
    }
    size_t cap = b->s.window && b->s.window < SF_BOARD_WINDOW ? b->s.window : SF_BOARD_WINDOW;
    size_t from = rows > cap ? rows - cap : 0;
    for (size_t i = from; i < rows; i++) {
        size_t h = b->win_head;
        b->win_y[h] = y[i];
        if (K)
            memcpy(b->win_p + h * K, proba + i * K, sizeof(double) * K);
        else
            b->win_p[h] = pred[i];
        b->win_head = (h + 1) % cap;
        if (b->win_count < cap) b->win_count++;
    }
}
