/*
 * stream_output.c — what a streaming run writes: predictions (with the
 * input record's key), one metrics line per batch, dead letters, the model
 * file, and checkpoints (then the upstream commit).
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "stream_internal.h"

#define SF_BAD_SHOWN 5

/* ---- bad records ---- */

static void describe_pos(const sf_record_pos *p, char *buf, size_t len)
{
    if (p->partition >= 0)
        snprintf(buf, len, "partition %d offset %lld", (int)p->partition, (long long)p->offset);
    else if (p->file > 0)
        snprintf(buf, len, "file %u line %llu", (unsigned)p->file, (unsigned long long)p->line);
    else
        snprintf(buf, len, "line %llu", (unsigned long long)p->line);
}

/* Count, report (the first few) and dead-letter one bad row; rec may be
 * NULL when the raw record is gone. */
static void bad(sf_run *r, const sf_record_pos *pos, const sf_record *rec, const char *why)
{
    char where[96];
    describe_pos(pos, where, sizeof where);
    r->rows_skipped++;
    if (r->o->fail_on_error) {
        snprintf(r->err, sizeof r->err, "%s: %s", where, why);
    } else if (r->bad_shown < SF_BAD_SHOWN) {
        sf_run_log(r, SF_LOG_WARN, "%s: %s (skipped)", where, why);
        r->bad_shown++;
    }
    if (!r->dead_letter) return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "reason", why);
    if (pos->partition >= 0) {
        cJSON_AddNumberToObject(o, "partition", pos->partition);
        cJSON_AddNumberToObject(o, "offset", (double)pos->offset);
    } else {
        cJSON_AddNumberToObject(o, "file", pos->file);
        cJSON_AddNumberToObject(o, "line", (double)pos->line);
        cJSON_AddNumberToObject(o, "byte_offset", (double)pos->offset);
    }
    char *raw = rec ? malloc(rec->len + 1) : NULL;
    if (raw) {
        memcpy(raw, rec->data, rec->len);
        raw[rec->len] = 0;
        cJSON_AddStringToObject(o, "record", raw);
        free(raw);
    }
    char *text = cJSON_PrintUnformatted(o);
    if (text)
        sf_sink_write(r->dead_letter, rec ? rec->key : NULL, rec ? rec->key_len : 0, text,
                      strlen(text));
    cJSON_free(text);
    cJSON_Delete(o);
}

void sf_run_bad_record(sf_run *r, const sf_record *rec, const char *why)
{
    bad(r, &rec->pos, rec, why);
}

void sf_run_bad_row(sf_run *r, const sf_record_pos *pos, const char *why)
{
    bad(r, pos, NULL, why);
}

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
        .headline = sf_stream_metrics_headline(&r->metrics),
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

sf_status sf_run_model(const sf_run *r, sf_model **out)
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
    sf_model_set_counts(m, sf_trainer_rows(r->trainer), r->rows_skipped);
    *out = m;
    return SF_OK;
}

sf_status sf_run_save_model(sf_run *r)
{
    sf_model *m = NULL;
    sf_status st = sf_run_model(r, &m);
    if (st != SF_OK) {
        snprintf(r->err, sizeof r->err, "model snapshot failed: %s", sf_strerror(st));
        return st;
    }
    st = sf_model_save(m, r->o->model_out, r->err, sizeof r->err);
    sf_model_destroy(m);
    return st;
}

/* ---- checkpoints ---- */

static char *join_doubles(const double *v, size_t n)
{
    char *s = malloc(n * 32 + 1);
    if (!s) return NULL;
    size_t len = 0;
    s[0] = 0;
    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(s + len, i ? ",%.17g" : "%.17g", v[i]);
    return s;
}

static char *join_columns(const sf_record_schema *s)
{
    size_t len = 1;
    for (size_t i = 0; i < s->ncols; i++)
        len += strlen(s->columns[i]) + 1;
    char *out = malloc(len);
    if (!out) return NULL;
    out[0] = 0;
    for (size_t i = 0; i < s->ncols; i++) {
        if (i) strcat(out, ",");
        strcat(out, s->columns[i]);
    }
    return out;
}

sf_status sf_run_checkpoint(sf_run *r)
{
    sf_checkpoint c;
    memset(&c, 0, sizeof c);
    sf_source_state src = {0};
    char config[512];
    /* The outputs of the batches in this checkpoint must be out first: a crash
     * after it must not lose predictions it will never make again. */
    sf_status st = sf_run_flush(r);
    if (st == SF_OK) st = sf_run_config(r, config, sizeof config);
    c.config = config;
    c.rows_total = r->rows_total;
    c.rows_skipped = r->rows_skipped;
    c.batches = r->batches;
    if (st == SF_OK) st = sf_trainer_save_state(r->trainer, &c.trainer, &c.trainer_len);
    if (st == SF_OK) st = sf_stream_metrics_save(&r->metrics, &c.metrics, &c.metrics_len);
    if (st == SF_OK) st = r->source->ops->state(r->source, &src);
    c.source = src.blob;
    c.classes = r->K ? join_doubles(r->classes, r->K) : NULL;
    c.names = r->schema.columns ? join_columns(&r->schema) : NULL;
    if (st == SF_OK) st = sf_checkpoint_write(r->o->checkpoint_dir, &c, r->err, sizeof r->err);
    /* Only now is it safe to tell the broker these records are done. */
    if (st == SF_OK) st = r->source->ops->commit(r->source);
    free(c.trainer);
    free(c.metrics);
    free(c.classes);
    free(c.names);
    sf_source_state_free(&src);
    if (st != SF_OK && !r->err[0])
        snprintf(r->err, sizeof r->err, "checkpoint failed: %s", sf_strerror(st));
    return st;
}

static sf_status parse_doubles(const char *s, double **out, size_t *n)
{
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    *out = malloc(sizeof(double) * cap);
    if (!*out) return SF_ERR_NO_MEMORY;
    *n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        (*out)[(*n)++] = strtod(p, &end);
        p = *end == ',' ? end + 1 : end;
        if (end == p && *p) return SF_ERR_BAD_MODEL_FILE;
    }
    return SF_OK;
}

sf_status sf_run_restore(sf_run *r, bool *resumed)
{
    *resumed = false;
    sf_checkpoint c;
    sf_status st = sf_checkpoint_read(r->o->checkpoint_dir, &c, r->err, sizeof r->err);
    if (st == SF_ERR_EMPTY) {
        r->err[0] = 0;
        return SF_OK;
    }
    if (st != SF_OK) return st;
    /* The schema and classes of the checkpointed run take precedence. */
    char label_idx[32];
    size_t lc = 0;
    const char *lcp = strstr(c.config, " label_col=");
    if (lcp) lc = (size_t)strtoul(lcp + 11, NULL, 10);
    snprintf(label_idx, sizeof label_idx, "%zu", lc);
    if (r->have_schema) sf_schema_free(&r->schema);
    if (r->o->format == SF_RECORD_LIBSVM)
        st = sf_schema_libsvm(r->o->libsvm_features, &r->schema);
    else
        st = sf_schema_from_list(r->o->format, c.names, label_idx, &r->schema, r->err,
                                 sizeof r->err);
    r->have_schema = st == SF_OK;
    if (st == SF_OK && c.classes[0]) {
        free(r->classes);
        st = parse_doubles(c.classes, &r->classes, &r->K);
        r->classes_fixed = true;
    }
    char config[512];
    if (st == SF_OK) st = sf_run_config(r, config, sizeof config);
    if (st == SF_OK && strcmp(config, c.config) != 0) {
        snprintf(r->err, sizeof r->err,
                 "the checkpoint in '%.100s' differs in configuration (%.150s; now "
                 "%.150s)",
                 r->o->checkpoint_dir, c.config, config);
        st = SF_ERR_INVALID_ARGUMENT;
    }
    if (st == SF_OK) st = sf_run_start_trainer(r);
    if (st == SF_OK) st = sf_trainer_load_state(r->trainer, c.trainer, c.trainer_len);
    if (st == SF_OK) st = sf_stream_metrics_load(&r->metrics, c.metrics, c.metrics_len);
    if (st == SF_OK) {
        r->rows_total = c.rows_total;
        r->rows_skipped = c.rows_skipped;
        r->batches = c.batches;
        r->source_resume = c.source;
        c.source = NULL;
        *resumed = true;
    } else if (!r->err[0]) {
        snprintf(r->err, sizeof r->err, "cannot resume from the checkpoint in '%s': %s",
                 r->o->checkpoint_dir, sf_strerror(st));
    }
    sf_checkpoint_free(&c);
    return st;
}
