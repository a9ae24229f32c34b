/*
 * stream_batch.c — filling a micro-batch from the source (parsing each
 * record, mapping class labels, handing bad records on), the warm-up and its
 * exact fit, prediction, and the optional exact refit on a sliding window.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "class_labels.h"
#include "stream_internal.h"

#define SF_POLL_MAX 4096

static bool is_classifier(const sf_run *r)
{
    return r->o->fit.model == SF_MODEL_LOGISTIC || r->o->fit.model == SF_MODEL_SOFTMAX;
}

static sf_status batch_reserve(sf_batch *b, size_t d, size_t cap)
{
    if (b->cap >= cap && b->d == d) return SF_OK;
    b->d = d;
    b->cap = cap;
    b->X = realloc(b->X, sizeof(double) * (cap * d + 1));
    b->y = realloc(b->y, sizeof(double) * (cap + 1));
    b->origin_us = realloc(b->origin_us, sizeof(int64_t) * (cap + 1));
    b->pos = realloc(b->pos, sizeof(sf_record_pos) * (cap + 1));
    b->key_off = realloc(b->key_off, sizeof(size_t) * (cap + 1));
    b->key_len = realloc(b->key_len, sizeof(size_t) * (cap + 1));
    bool ok = b->X && b->y && b->origin_us && b->pos && b->key_off && b->key_len;
    return ok ? SF_OK : SF_ERR_NO_MEMORY;
}

void sf_batch_free(sf_batch *b)
{
    free(b->X);
    free(b->y);
    free(b->origin_us);
    free(b->pos);
    free(b->keys);
    free(b->key_off);
    free(b->key_len);
    memset(b, 0, sizeof *b);
}

static sf_status keep_key(sf_batch *b, size_t row, const sf_record *rec)
{
    if (!rec->key) {
        b->key_off[row] = SIZE_MAX;
        b->key_len[row] = 0;
        return SF_OK;
    }
    if (b->keys_len + rec->key_len > b->keys_cap) {
        size_t cap = b->keys_cap ? b->keys_cap : 1 << 16;
        while (cap < b->keys_len + rec->key_len)
            cap *= 2;
        char *k = realloc(b->keys, cap);
        if (!k) return SF_ERR_NO_MEMORY;
        b->keys = k;
        b->keys_cap = cap;
    }
    memcpy(b->keys + b->keys_len, rec->key, rec->key_len);
    b->key_off[row] = b->keys_len;
    b->key_len[row] = rec->key_len;
    b->keys_len += rec->key_len;
    return SF_OK;
}

/* The schema comes from --columns, a header line, or the first record. */
static sf_status ensure_schema(sf_run *r, const sf_record *rec, bool *was_header, char *err)
{
    const sf_stream_options *o = r->o;
    *was_header = false;
    bool header_line =
        o->header && rec->pos.partition < 0 && rec->pos.line == 1 && o->format == SF_RECORD_CSV;
    if (r->have_schema) {
        *was_header = header_line; /* every file's header is skipped */
        return SF_OK;
    }
    sf_status st = sf_schema_from_record(o->format, rec->data, rec->len, header_line, o->label,
                                         &r->schema, err, sizeof r->err);
    if (st != SF_OK) return st;
    r->have_schema = true;
    *was_header = header_line;
    return SF_OK;
}

/* Map a raw label to what the trainer takes; false: not a class. */
static bool map_label(const sf_run *r, double *y, char *why, size_t whylen)
{
    if (!is_classifier(r)) return true;
    if (r->classes) {
        long k = sf_class_index(r->classes, r->K, *y);
        if (k < 0) {
            snprintf(why, whylen, "unknown class label %.17g", *y);
            return false;
        }
        *y = (double)k;
        return true;
    }
    /* The classes are found in the warm-up; only what can be no class at all
     * (softmax: not an integer) is turned away now. */
    if (!sf_class_label_valid(r->o->fit.model, *y)) {
        snprintf(why, whylen, "class label %.17g is not an integer", *y);
        return false;
    }
    return true;
}

/* When the record entered the pipeline, on CLOCK_MONOTONIC: its Kafka
 * timestamp where it has one (never after its arrival: clocks of other
 * hosts), else its arrival. */
static int64_t origin_of(const sf_run *r, const sf_record *rec)
{
    if (rec->timestamp_ms < 0) return rec->arrival_us;
    int64_t t = rec->timestamp_ms * 1000 - r->clock_delta_us;
    return t < rec->arrival_us ? t : rec->arrival_us;
}

static sf_status take_record(sf_run *r, sf_fill *f, const sf_record *rec)
{
    sf_batch *b = f->batch;
    bool header = false;
    sf_status st = ensure_schema(r, rec, &header, f->err);
    if (st != SF_OK) return st;
    if (header) return SF_OK;
    st = batch_reserve(b, r->schema.d, r->o->batch_rows);
    if (st != SF_OK) return st;
    char why[160];
    double *x = b->X + b->rows * b->d, y = 0;
    if (!sf_record_parse(&r->schema, rec->data, rec->len, x, &y, why, sizeof why) ||
        !map_label(r, &y, why, sizeof why)) {
        sf_run_bad_record(r, f, rec, why);
        return r->o->fail_on_error ? SF_ERR_PARSE : SF_OK;
    }
    b->y[b->rows] = y;
    b->origin_us[b->rows] = origin_of(r, rec);
    b->pos[b->rows] = rec->pos;
    if (b->rows == 0) b->first_us = rec->arrival_us;
    st = keep_key(b, b->rows, rec);
    if (st == SF_OK) b->rows++;
    return st;
}

sf_status sf_run_fill_batch(sf_run *r, sf_fill *f)
{
    const sf_stream_options *o = r->o;
    sf_batch *b = f->batch;
    r->filling = f;
    b->rows = 0;
    b->keys_len = 0;
    r->clock_delta_us = sf_clock_wall_us() - sf_clock_mono_us();
    size_t cap = o->batch_rows;
    /* Spread over N ranks the counts are every rank's (to the last tick) and
     * each rank takes at most its share of what is left, rounded up: the
     * warm-up and max_rows end at most N - 1 rows late, and no rank waits for
     * a share it has no records for. */
    uint64_t ranks = (uint64_t)r->ranks.size;
    size_t warm = ranks > 1 ? (size_t)r->ranks.warm_rows_all : r->warm_rows;
    if (!r->trainer && o->warmup_rows > warm) {
        uint64_t left = (o->warmup_rows - warm + ranks - 1) / ranks;
        if (left < cap) cap = (size_t)left; /* the warm-up ends where it says */
    }
    if (o->max_rows) {
        uint64_t left = o->max_rows > f->rows_before ? o->max_rows - f->rows_before : 0;
        left = (left + ranks - 1) / ranks;
        if (left < cap) cap = (size_t)left;
    }
    while (b->rows < cap) {
        if (sf_run_stop_requested(r) ||
            (o->max_ms > 0 && sf_clock_mono_us() - r->start_us >= o->max_ms * 1000))
            break;
        /* Spread over ranks a rank with nothing to read keeps the others
         * waiting at the tick: it waits no longer than a batch does. */
        int timeout =
            ranks > 1 && o->batch_ms < 100 ? (o->batch_ms > 0 ? (int)o->batch_ms : 1) : 100;
        if (b->rows > 0) {
            int64_t left_us = b->first_us + o->batch_ms * 1000 - sf_clock_mono_us();
            if (left_us <= 0) break;
            /* rounded up: a wait of 0 with time left would spin */
            if ((left_us + 999) / 1000 < timeout) timeout = (int)((left_us + 999) / 1000);
        }
        size_t want = cap - b->rows < SF_POLL_MAX ? cap - b->rows : SF_POLL_MAX, n = 0;
        bool eof = false;
        sf_status st = r->source->ops->poll(r->source, r->recs, want, timeout, &n, &eof);
        if (st == SF_ERR_DATA_LOST && f->n_lost == 0 && f->err[0]) {
            f->stop_status = st; /* uncounted, said by `gone`: this batch, then stop */
            break;
        }
        if (st == SF_ERR_DATA_LOST) { /* reported by `lost`: finish this batch, then stop */
            f->lost_stop = true;
            break;
        }
        if (st == SF_ERR_UNREACHABLE) { /* said by `gone`: finish this batch, then stop */
            f->stop_status = st;
            if (!f->err[0]) snprintf(f->err, sizeof f->err, "source: %s", sf_strerror(st));
            break;
        }
        if (st != SF_OK) {
            if (!f->err[0]) snprintf(f->err, sizeof f->err, "source: %s", sf_strerror(st));
            return st;
        }
        for (size_t i = 0; i < n; i++) {
            st = take_record(r, f, &r->recs[i]);
            if (st != SF_OK) return st;
        }
        if (eof) {
            f->eof = true;
            break;
        }
        if (n == 0 && b->rows == 0) break; /* nothing arrived: let the loop look around */
    }
    b->closed_us = sf_clock_mono_us();
    return SF_OK;
}

/* ---- warm-up ---- */

sf_status sf_run_collect_warmup(sf_run *r)
{
    sf_batch *b = &r->batch;
    if (b->rows == 0) return SF_OK;
    if (r->warm_rows == 0) r->warm_start_us = b->first_us;
    size_t need = r->warm_rows + b->rows, d = b->d;
    if (need > r->warm_cap) {
        size_t cap = r->warm_cap ? r->warm_cap : 4096;
        while (cap < need)
            cap *= 2;
        double *X = realloc(r->warm_X, sizeof(double) * cap * d);
        if (!X) return SF_ERR_NO_MEMORY;
        r->warm_X = X;
        double *y = realloc(r->warm_y, sizeof(double) * cap);
        if (!y) return SF_ERR_NO_MEMORY;
        r->warm_y = y;
        sf_record_pos *pos = realloc(r->warm_pos, sizeof(sf_record_pos) * cap);
        if (!pos) return SF_ERR_NO_MEMORY;
        r->warm_pos = pos;
        r->warm_cap = cap;
    }
    memcpy(r->warm_X + r->warm_rows * d, b->X, sizeof(double) * b->rows * d);
    memcpy(r->warm_y + r->warm_rows, b->y, sizeof(double) * b->rows);
    memcpy(r->warm_pos + r->warm_rows, b->pos, sizeof(sf_record_pos) * b->rows);
    r->warm_rows += b->rows;
    return SF_OK;
}

/* Without a class list the classes come from the labels the warm-up saw,
 * under the policy of class_labels.h (as train and bench). Warm-up rows
 * whose label is then no class are bad records. */
static sf_status classes_from_warmup(sf_run *r)
{
    if (r->classes || !is_classifier(r)) return SF_OK;
    char why[160];
    size_t k = 0;
    sf_status st = sf_class_labels_choose(r->o->fit.model, r->warm_y, r->warm_rows, &r->classes, &k,
                                          why, sizeof why);
    if (st == SF_ERR_BAD_LABEL) {
        snprintf(r->err, sizeof r->err, "the warm-up saw fewer than two classes; %s", why);
        return st;
    }
    if (st != SF_OK) return st;
    r->K = k;
    size_t w = 0, d = r->schema.d;
    for (size_t i = 0; i < r->warm_rows; i++) {
        long c = sf_class_index(r->classes, k, r->warm_y[i]);
        if (c < 0) {
            snprintf(why, sizeof why, "unknown class label %.17g (logistic classes are 0 and 1)",
                     r->warm_y[i]);
            sf_run_bad_row(r, &r->warm_pos[i], why);
            if (r->o->fail_on_error) return SF_ERR_PARSE;
            continue;
        }
        if (w != i) memmove(r->warm_X + w * d, r->warm_X + i * d, sizeof(double) * d);
        r->warm_y[w++] = (double)c;
    }
    r->rows_total -= r->warm_rows - w; /* counted as read when they came in */
    r->warm_rows = w;
    return SF_OK;
}

static void ring_push(sf_run *r, const double *X, const double *y, size_t rows)
{
    size_t n = r->o->refit_window, d = r->schema.d;
    if (!r->ring_X || n == 0) return;
    for (size_t i = 0; i < rows; i++) {
        memcpy(r->ring_X + r->ring_head * d, X + i * d, sizeof(double) * d);
        r->ring_y[r->ring_head] = y[i];
        r->ring_head = (r->ring_head + 1) % n;
        if (r->ring_count < n) r->ring_count++;
    }
}

sf_status sf_run_fit_warmup(sf_run *r)
{
    sf_status st = classes_from_warmup(r);
    if (st == SF_OK) st = sf_run_start_trainer(r);
    size_t step = r->o->batch_rows, d = r->schema.d;
    for (size_t i = 0; st == SF_OK && i < r->warm_rows; i += step) {
        size_t n = r->warm_rows - i < step ? r->warm_rows - i : step;
        st = sf_trainer_add_batch(r->trainer, r->warm_X + i * d, r->warm_y + i, n);
    }
    sf_model *m = NULL;
    if (st == SF_OK) st = sf_trainer_fit(r->trainer, &m);
    sf_model_destroy(m);
    if (st == SF_OK) st = sf_trainer_end_warmup(r->trainer);
    if (st == SF_OK) ring_push(r, r->warm_X, r->warm_y, r->warm_rows);
    if (st != SF_OK && !r->err[0])
        snprintf(r->err, sizeof r->err, "warm-up fit on %zu rows failed: %s", r->warm_rows,
                 sf_strerror(st));
    if (st == SF_OK && r->ranks.size > 1 && r->ranks.rank == 0)
        sf_run_log(r, SF_LOG_INFO,
                   "warm-up fit on %llu rows of %d ranks done; predicting and learning",
                   (unsigned long long)r->ranks.warm_rows_all, r->ranks.size);
    else if (st == SF_OK && r->ranks.size == 1)
        sf_run_log(r, SF_LOG_INFO, "warm-up fit on %zu rows done; predicting and learning",
                   r->warm_rows);
    free(r->warm_X);
    free(r->warm_y);
    free(r->warm_pos);
    r->warm_X = r->warm_y = NULL;
    r->warm_pos = NULL;
    r->warm_rows = r->warm_cap = 0;
    return st;
}

/* ---- learning ---- */

/* Test-then-train: the batch is predicted with the model of before it and
 * learned from, in one trainer call (one upload). */
sf_status sf_run_predict_learn(sf_run *r)
{
    sf_batch *b = &r->batch;
    size_t K = r->K;
    double *pred = realloc(r->pred, sizeof(double) * (b->cap + 1));
    if (!pred) return SF_ERR_NO_MEMORY;
    r->pred = pred;
    if (K) {
        double *proba = realloc(r->proba, sizeof(double) * (b->cap * K + 1));
        if (!proba) return SF_ERR_NO_MEMORY;
        r->proba = proba;
    }
    sf_status st =
        sf_trainer_predict_update(r->trainer, b->X, b->y, b->rows, r->pred, K ? r->proba : NULL);
    for (size_t i = 0; st == SF_OK && K && i < b->rows; i++) /* class index -> label */
        r->pred[i] = r->classes[(size_t)r->pred[i]];
    return st;
}

/* Log-loss of the trainer's current model over rows X, y (class indices):
 * how close the online model is to the exact fit on the same window. */
static double window_log_loss(sf_run *r, const double *X, const double *y, size_t n)
{
    sf_model *m = NULL;
    size_t K = r->K;
    double *value = malloc(sizeof(double) * (n + 1)), *proba = malloc(sizeof(double) * (n * K + 1));
    double loss = NAN;
    if (value && proba && sf_trainer_snapshot(r->trainer, &m) == SF_OK &&
        sf_predict(r->ctx, m, X, n, value, proba) == SF_OK && n > 0) {
        double sum = 0.0;
        for (size_t i = 0; i < n; i++) {
            double p = proba[i * K + (size_t)y[i]];
            sum -= log(p > 1e-15 ? p : 1e-15);
        }
        loss = sum / (double)n;
    }
    sf_model_destroy(m);
    free(value);
    free(proba);
    return loss;
}

sf_status sf_run_refit_maybe(sf_run *r)
{
    r->refit_rows = 0;
    if (!r->ring_X) return SF_OK;
    ring_push(r, r->batch.X, r->batch.y, r->batch.rows);
    if ((r->batches + 1) % r->o->refit_every != 0) return SF_OK;
    size_t n = r->ring_count, d = r->schema.d, N = r->o->refit_window;
    double *X = malloc(sizeof(double) * (n * d + 1)), *y = malloc(sizeof(double) * (n + 1));
    sf_status st = (X && y) ? SF_OK : SF_ERR_NO_MEMORY;
    size_t start = (r->ring_head + N - n) % N;
    for (size_t i = 0; st == SF_OK && i < n; i++) { /* oldest first */
        size_t k = (start + i) % N;
        memcpy(X + i * d, r->ring_X + k * d, sizeof(double) * d);
        y[i] = r->ring_y[k];
    }
    if (st == SF_OK) r->refit_online_loss = window_log_loss(r, X, y, n);
    if (st == SF_OK) st = sf_trainer_refit(r->trainer, X, y, n);
    if (st == SF_OK) {
        r->refit_exact_loss = window_log_loss(r, X, y, n);
        r->refit_rows = n;
    }
    free(X);
    free(y);
    return st;
}
