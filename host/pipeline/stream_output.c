/*
 * stream_output.c — what a streaming run writes as it goes: predictions
 * (with the input record's key), one metrics line per batch (to the file and
 * on_batch), and the model file.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream_internal.h"

/* ---- predictions ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static size_t format_prediction(const sf_run *r, size_t i, char *buf, size_t len)
{
    const sf_batch *b = &r->batch;
    size_t K = r->K, n = 0;
    if (!r->o->predictions_json) {
        n = (size_t)snprintf(buf, len, "%.10g", r->pred[i]);
        for (size_t k = 0; K && k < K && n < len; k++)
            n += (size_t)snprintf(buf + n, len - n, ",%.6g", r->proba[i * K + k]);
        return n < len ? n : len - 1;
    }
    n = (size_t)snprintf(buf, len, "{\"prediction\":%.10g", r->pred[i]);
    if (K && n < len) {
        n += (size_t)snprintf(buf + n, len - n, ",\"proba\":[");
        for (size_t k = 0; k < K && n < len; k++)
            n += (size_t)snprintf(buf + n, len - n, k ? ",%.6g" : "%.6g", r->proba[i * K + k]);
        if (n < len) n += (size_t)snprintf(buf + n, len - n, "]");
    }
    const sf_record_pos *p = &b->pos[i];
    if (n < len && p->partition >= 0)
        n += (size_t)snprintf(buf + n, len - n, ",\"partition\":%d,\"offset\":%lld}",
                              (int)p->partition, (long long)p->offset);
    else if (n < len)
        n += (size_t)snprintf(buf + n, len - n, ",\"line\":%llu}", (unsigned long long)p->line);
    return n < len ? n : len - 1;
}

sf_status sf_run_write_predictions(sf_run *r)
{
    sf_batch *b = &r->batch;
    char line[4096];
    sf_status st = SF_OK;
    for (size_t i = 0; r->predictions && st == SF_OK && i < b->rows; i++) {
        size_t n = format_prediction(r, i, line, sizeof line);
        const char *key = b->key_off[i] == SIZE_MAX ? NULL : b->keys + b->key_off[i];
        st = sf_sink_write(r->predictions, key, b->key_len[i], line, n);
    }
    /* Latency: from the record's arrival to its prediction being handed out. */
    double *lat = realloc(r->lat_ms, sizeof(double) * (b->rows + 1));
    if (!lat) return SF_ERR_NO_MEMORY;
    r->lat_ms = lat;
    int64_t now = sf_clock_mono_us();
    for (size_t i = 0; i < b->rows; i++)
        lat[i] = (double)(now - b->arrival_us[i]) / 1000.0;
    qsort(lat, b->rows, sizeof(double), cmp_double);
    r->last_p50 = b->rows ? lat[(b->rows - 1) / 2] : NAN;
    r->last_p99 = b->rows ? lat[(size_t)((double)(b->rows - 1) * 0.99)] : NAN;
    if (st != SF_OK && !r->err[0])
        snprintf(r->err, sizeof r->err, "cannot write predictions: %s",
                 sf_sink_error(r->predictions));
    return st;
}

/* ---- metrics ---- */

/* The metrics line of the batch just learned, built once in memory: it goes
 * to the metrics file and (later, outside the lock) to on_batch. */
void sf_run_write_metrics(sf_run *r)
{
    if (!r->metrics_file && !r->o->on_batch) return;
    char *line = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&line, &len);
    if (!f) return;
    double secs = (double)(sf_clock_mono_us() - r->start_us) / 1e6;
    uint64_t rows_run = r->rows_total - r->rows_at_start;
    double now = sf_clock_wall_s();
    double rps = secs > 0 ? (double)rows_run / secs : 0.0;
    fprintf(f,
            "{\"time\":%.3f,\"batch\":%llu,\"batch_rows\":%zu,\"rows_total\":%llu,"
            "\"rows_skipped\":%llu,\"latency_ms\":{\"p50\":%.3f,\"p99\":%.3f},"
            "\"throughput_rps\":%.1f,\"metrics\":{\"batch\":",
            now, (unsigned long long)r->batches, r->batch.rows, (unsigned long long)r->rows_total,
            (unsigned long long)r->rows_skipped, r->last_p50, r->last_p99, rps);
    sf_stream_metrics_write_batch(r->K, r->batch.y, r->pred, r->proba, r->batch.rows, f);
    fputs(",\"window\":", f);
    sf_stream_metrics_write_window(&r->metrics, f);
    fputs(",\"cumulative\":", f);
    sf_stream_metrics_write_cumulative(&r->metrics, f);
    fputs("}}", f);
    if (fclose(f) != 0 || !line) {
        free(line);
        return;
    }
    if (r->metrics_file) {
        fputs(line, r->metrics_file);
        fputc('\n', r->metrics_file);
        fflush(r->metrics_file);
    }
    if (!r->o->on_batch) {
        free(line);
        return;
    }
    /* Handed to on_batch by sf_run_emit_batch once the lock is released. */
    free(r->pending_json);
    r->pending_json = line;
    r->pending = (sf_stream_batch_metrics){
        .batch = r->batches,
        .batch_rows = r->batch.rows,
        .rows_total = r->rows_total,
        .rows_skipped = r->rows_skipped,
        .latency_p50_ms = r->last_p50,
        .latency_p99_ms = r->last_p99,
        .throughput_rps = rps,
        .time_s = now,
        .n_classes = r->K,
        .batch_headline =
            sf_stream_metrics_batch_headline(r->K, r->batch.y, r->pred, r->proba, r->batch.rows),
        .window_headline = sf_stream_metrics_window_headline(&r->metrics),
        .cumulative_headline = sf_stream_metrics_headline(&r->metrics),
        .json = line,
    };
}

void sf_run_emit_batch(sf_run *r)
{
    if (!r->pending_json) return;
    r->o->on_batch(r->o->user, &r->pending);
    free(r->pending_json);
    r->pending_json = NULL;
}

/* ---- model file ---- */

sf_status sf_run_model(const sf_run *r, uint64_t rows_skipped, sf_model **out)
{
    sf_model *m = NULL;
    *out = NULL;
    sf_status st = sf_trainer_snapshot(r->trainer, &m);
    if (st != SF_OK) return st;
    if (r->K) memcpy(sf_model_classes(m), r->classes, sizeof(double) * r->K);
    size_t d = r->schema.d;
    const char **names = calloc(d + 1, sizeof(char *));
    if (names) {
        for (size_t j = 0; j < d; j++)
            names[j] = sf_schema_feature_name(&r->schema, j);
        sf_model_set_feature_names(m, names, sf_schema_label_name(&r->schema));
        free(names);
    }
    sf_model_set_counts(m, sf_trainer_rows(r->trainer), rows_skipped);
    *out = m;
    return SF_OK;
}

sf_status sf_run_save_model(sf_run *r)
{
    sf_model *m = NULL;
    sf_status st = sf_run_model(r, r->rows_skipped, &m);
    if (st != SF_OK) {
        snprintf(r->err, sizeof r->err, "model snapshot failed: %s", sf_strerror(st));
        return st;
    }
    st = sf_model_save(m, r->o->model_out, r->err, sizeof r->err);
    sf_model_destroy(m);
    return st;
}
