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

/* One buffer for the batch's predictions, handed to the sink in one call;
 * then the batch's end-to-end latencies (origin to now) and processing time. */
sf_status sf_run_write_predictions(sf_run *r)
{
    sf_batch *b = &r->batch;
    sf_status st = SF_OK;
    if (r->predictions && b->rows) {
        sf_prediction_rows rows = {.rows = b->rows,
                                   .K = r->K,
                                   .pred = r->pred,
                                   .proba = r->K ? r->proba : NULL,
                                   .pos = b->pos,
                                   .json = r->o->predictions_json,
                                   .model_version = r->pred_version};
        size_t per = r->o->predictions_per_message, n = b->rows;
        st = sf_prediction_format(&r->pred_text, &rows);
        if (st == SF_OK)
            st = sf_sink_set_header(r->predictions, "streamfit-model-version", r->pred_version);
        if (st == SF_OK && per > 1) n = sf_prediction_text_group(&r->pred_text, b->rows, per);
        if (st == SF_OK)
            st = sf_sink_write_batch(r->predictions, r->pred_text.text, r->pred_text.len,
                                     r->pred_text.off, r->pred_text.len_of,
                                     per > 1 ? NULL : b->keys, b->key_off, b->key_len, n);
    }
    int64_t now = sf_clock_mono_us();
    sf_latency_histogram_reset(&r->lat_batch);
    memset(r->lat_counts, 0, sizeof r->lat_counts);
    int64_t sum_us = 0;
    for (size_t i = 0; i < b->rows; i++) {
        sum_us += now - b->origin_us[i] > 0 ? now - b->origin_us[i] : 0;
        sf_latency_histogram_add(&r->lat_batch, now - b->origin_us[i]);
        sf_latency_histogram_add(&r->lat_run, now - b->origin_us[i]);
        r->lat_counts[sf_latency_edge_bucket(now - b->origin_us[i])]++;
    }
    r->lat_sum_ms = (double)sum_us / 1000;
    r->last_p50 = b->rows ? (double)sf_latency_histogram_quantile(&r->lat_batch, 0.5) / 1000 : NAN;
    r->last_p99 = b->rows ? (double)sf_latency_histogram_quantile(&r->lat_batch, 0.99) / 1000 : NAN;
    r->last_processing_ms = (double)(now - b->closed_us) / 1000;
    if (st != SF_OK && !r->err[0])
        snprintf(r->err, sizeof r->err, "cannot write predictions: %s",
                 sf_sink_error(r->predictions));
    return st;
}

static void write_latency(FILE *f, const char *name, const sf_latency_histogram *h)
{
    if (h->total == 0) {
        fprintf(f, "\"%s\":null,", name);
        return;
    }
    fprintf(f, "\"%s\":{\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f,\"rows\":%llu},", name,
            (double)sf_latency_histogram_quantile(h, 0.5) / 1000,
            (double)sf_latency_histogram_quantile(h, 0.99) / 1000, (double)h->max_us / 1000,
            (unsigned long long)h->total);
}

/* Records lost since the last line: the total, and where. */
static void write_lost(sf_run *r, FILE *f)
{
    fprintf(f, "\"rows_lost\":%llu,\"lost\":[", (unsigned long long)r->rows_lost);
    for (size_t i = 0; i < r->n_lost; i++)
        fprintf(f, "%s{\"partition\":%d,\"first\":%lld,\"last\":%lld,\"count\":%lld}", i ? "," : "",
                (int)r->lost[i].partition, (long long)r->lost[i].first,
                (long long)(r->lost[i].first + r->lost[i].count - 1), (long long)r->lost[i].count);
    fputs("],", f);
    r->n_lost = 0;
}

/* This batch's latencies per SF_STREAM_LATENCY_EDGES_MS bucket (for
 * histograms of a whole run, e.g. Prometheus', rebuilt from the lines). */
static void write_latency_counts(const sf_run *r, FILE *f)
{
    fputs("\"latency_counts\":[", f);
    for (int i = 0; i < SF_STREAM_LATENCY_BUCKETS; i++)
        fprintf(f, "%s%llu", i ? "," : "",
                (unsigned long long)(r->batch.rows ? r->lat_counts[i] : 0));
    fprintf(f, "],\"latency_sum_ms\":%.3f,", r->batch.rows ? r->lat_sum_ms : 0.0);
}

/* Kafka: each partition's consumer position and high watermark as last
 * fetched (local, no round trip): the consumer lag. */
static void write_partitions(const sf_run *r, FILE *f)
{
    sf_source_partition parts[64];
    if (!r->source || !r->source->ops->partitions) return;
    size_t n = r->source->ops->partitions(r->source, parts, sizeof parts / sizeof parts[0]);
    fputs("\"partitions\":[", f);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s{\"partition\":%d,\"position\":%lld,\"high_watermark\":%lld}", i ? "," : "",
                (int)parts[i].partition, (long long)parts[i].position, (long long)parts[i].high);
    fputs("],", f);
}

/* The exact refit after this batch, if one ran: the online model's and the
 * exact fit's log-loss over the same refit window. */
static void write_refit(const sf_run *r, FILE *f)
{
    if (!r->refit_rows) return;
    fprintf(f, "\"refit\":{\"rows\":%zu", r->refit_rows);
    const char *names[2] = {"online_log_loss", "exact_log_loss"};
    double values[2] = {r->refit_online_loss, r->refit_exact_loss};
    for (int i = 0; i < 2; i++) {
        if (isfinite(values[i]))
            fprintf(f, ",\"%s\":%.6g", names[i], values[i]);
        else
            fprintf(f, ",\"%s\":null", names[i]);
    }
    fputs("},", f);
}

/* ---- metrics ---- */

/* The metrics line of the batch just learned, built once in memory: it goes
 * to the metrics file and (later, outside the lock) to on_batch. */
void sf_run_write_metrics(sf_run *r)
{
    if (!r->metrics_file && !r->o->on_batch) return;
    /* Spread over ranks, rank 0 says it once, for every rank's rows; the
     * latencies are rank 0's own. */
    const sf_run_ranks *k = &r->ranks;
    if (k->rank != 0) return;
    bool spread = k->size > 1;
    size_t batch_rows = spread ? k->rows : r->batch.rows;
    const double *y = spread ? k->y : r->batch.y, *pred = spread ? k->pred : r->pred;
    const double *proba = spread ? k->proba : r->proba;
    char *line = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&line, &len);
    if (!f) return;
    double secs = (double)(sf_clock_mono_us() - r->start_us) / 1e6;
    uint64_t rows_run = r->rows_total - r->rows_at_start;
    double now = sf_clock_wall_s();
    double rps = secs > 0 ? (double)rows_run / secs : 0.0;
    /* latency_ms: end to end (the record's Kafka timestamp, or its arrival,
     * to its prediction handed to the sink), this batch; latency_run_ms: the
     * same since the run started; processing_ms: batch complete to handed out. */
    fprintf(f,
            "{\"time\":%.3f,\"batch\":%llu,\"batch_rows\":%zu,\"rows_total\":%llu,"
            "\"rows_skipped\":%llu,",
            now, (unsigned long long)r->batches, batch_rows, (unsigned long long)r->rows_total,
            (unsigned long long)r->rows_skipped);
    bool rows = r->batch.rows > 0;
    if (rows)
        write_latency(f, "latency_ms", &r->lat_batch);
    else
        fputs("\"latency_ms\":null,", f);
    write_latency(f, "latency_run_ms", &r->lat_run);
    if (rows && isfinite(r->last_processing_ms))
        fprintf(f, "\"processing_ms\":%.3f,", r->last_processing_ms);
    else
        fputs("\"processing_ms\":null,", f);
    write_lost(r, f);
    /* model_version: the model after this batch (the checkpoint's and the
     * model file's at this batch); predictions_model_version: the one that
     * made this batch's predictions (their Kafka header and JSON field). */
    fprintf(f, "\"model_version\":\"%s\",\"predictions_model_version\":\"%s\",", r->version,
            batch_rows ? r->pred_version : "");
    write_latency_counts(r, f);
    write_refit(r, f);
    write_partitions(r, f);
    sf_ranks_write_metrics(r, f);
    fprintf(f, "\"throughput_rps\":%.1f,\"metrics\":{\"batch\":", rps);
    sf_stream_metrics_write_batch(r->K, y, pred, proba, batch_rows, f);
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
        .batch_rows = batch_rows,
        .rows_total = r->rows_total,
        .rows_skipped = r->rows_skipped,
        .latency_p50_ms = r->last_p50,
        .latency_p99_ms = r->last_p99,
        .processing_ms = rows ? r->last_processing_ms : NAN,
        .rows_lost = r->rows_lost,
        .throughput_rps = rps,
        .time_s = now,
        .n_classes = r->K,
        .batch_headline = sf_stream_metrics_batch_headline(r->K, y, pred, proba, batch_rows),
        .window_headline = sf_stream_metrics_window_headline(&r->metrics),
        .cumulative_headline = sf_stream_metrics_headline(&r->metrics),
        .json = line,
        .y = y,
        .pred = pred,
        .proba = r->K ? proba : NULL,
        .refit_rows = r->refit_rows,
        .refit_online_loss = r->refit_online_loss,
        .refit_exact_loss = r->refit_exact_loss,
    };
    if (rows) memcpy(r->pending.latency_counts, r->lat_counts, sizeof r->lat_counts);
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
    sf_model_set_batches(m, r->batches);
    *out = m;
    return SF_OK;
}

sf_status sf_run_update_version(sf_run *r)
{
    sf_model *m = NULL;
    sf_status st = sf_run_model(r, r->rows_skipped, &m);
    if (st != SF_OK) {
        snprintf(r->err, sizeof r->err, "model snapshot failed: %s", sf_strerror(st));
        return st;
    }
    sf_model_version(m, r->version, sizeof r->version);
    sf_model_destroy(m);
    return SF_OK;
}

sf_status sf_run_save_model(sf_run *r)
{
    sf_model *m = NULL;
    sf_status st = sf_run_model(r, r->rows_skipped, &m);
    if (st != SF_OK) {
        snprintf(r->err, sizeof r->err, "model snapshot failed: %s", sf_strerror(st));
        return sf_ranks_agree(r, st);
    }
    /* Spread over ranks every rank took the snapshot (collective), rank 0
     * writes the one file. */
    if (r->ranks.rank == 0) st = sf_model_save(m, r->o->model_out, r->err, sizeof r->err);
    sf_model_destroy(m);
    return sf_ranks_agree(r, st);
}
