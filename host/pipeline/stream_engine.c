/*
 * stream_engine.c — the streaming loop (see streamfit_stream.h): assemble a
 * batch, warm up or predict-score-update, write outputs, checkpoint, repeat;
 * and the calls other threads make while it runs (stop, model, counters).
 *
 * Bookkeeping: a checkpoint holds the trainer state, the metrics and the
 * source positions of the same batch boundary; upstream offsets are
 * committed only after it is durable, so the model learns each record once.
 * Predictions are written before the checkpoint, so after a crash the
 * records since the last checkpoint are predicted again (at-least-once for
 * predictions) — unless exactly_once puts them and the offsets in one Kafka
 * transaction per checkpoint (stream_txn.c).
 *
 * After the warm-up the next batch is filled on a second thread while this
 * one is learned (stream_prefetch.c) unless the options say pipeline =
 * false; the warm-up itself is sequential, since the classes are known only
 * at its end.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "sink.h"
#include "stream_internal.h"

void sf_stream_options_init(sf_stream_options *o)
{
    memset(o, 0, sizeof *o);
    sf_fit_params_init(&o->fit);
    o->fit.keep_batches = true;
    o->format = SF_RECORD_CSV;
    o->header = true;
    o->batch_rows = 65536;
    o->batch_ms = 10; /* real time: a record waits at most this long for its batch */
    o->warmup_rows = 10000;
    o->window = 10000;
    o->save_every = 100;
    o->checkpoint_every = 1;
    o->broker_timeout_ms = 60000;
    o->progress_every_ms = 1000;
    o->pipeline = true;
}

/* ---- the run ---- */

static bool out_of_time(const sf_run *r)
{
    return r->o->max_ms > 0 && sf_clock_mono_us() - r->start_us >= r->o->max_ms * 1000;
}

static bool should_stop(const sf_run *r)
{
    /* The pipeline's filling thread decides, and marks the last batch. */
    if (r->prefetch) return r->pipeline_ended;
    if (sf_run_stop_requested(r)) return true;
    if (r->o->max_rows && r->rows_total >= r->o->max_rows) return true;
    return out_of_time(r) || r->eof || r->lost_stop || r->stop_status != SF_OK;
}

static sf_status warmup_step(sf_run *r)
{
    bool enough = r->warm_rows >= r->o->warmup_rows ||
                  (r->o->warmup_ms > 0 && r->warm_rows > 0 &&
                   sf_clock_mono_us() - r->warm_start_us >= r->o->warmup_ms * 1000);
    if (!enough && !should_stop(r)) return SF_OK;
    if (r->warm_rows == 0) return SF_OK;
    sf_status st = sf_run_fit_warmup(r);
    if (st == SF_OK) st = sf_run_update_version(r);
    /* The first model is in a checkpoint before the first batch is scored. */
    if (st == SF_OK && r->o->checkpoint_dir) st = sf_run_checkpoint(r);
    return st;
}

static sf_status stream_step(sf_run *r)
{
    sf_batch *b = &r->batch;
    sf_status st = sf_run_predict_learn(r);
    if (st == SF_OK && r->o->exactly_once) st = sf_txn_begin(r);
    if (st == SF_OK) st = sf_run_write_predictions(r);
    if (st == SF_OK) sf_stream_metrics_add(&r->metrics, b->y, r->pred, r->proba, b->rows);
    if (st == SF_OK) st = sf_run_refit_maybe(r);
    return st;
}

static sf_status process_batch(sf_run *r)
{
    sf_batch *b = &r->batch;
    sf_status st = SF_OK;
    if (!r->trainer) { /* warm-up: collect */
        st = sf_run_collect_warmup(r);
        r->rows_total += b->rows; /* before the warm-up fit writes its checkpoint */
        if (st == SF_OK) st = warmup_step(r);
        return st;
    }
    if (b->rows == 0) return SF_OK;
    /* The model about to predict this batch: its version goes with them. */
    memcpy(r->pred_version, r->version, sizeof r->version);
    st = stream_step(r);
    if (st != SF_OK) return st;
    r->rows_total += b->rows;
    r->batches++;
    st = sf_run_update_version(r);
    if (st != SF_OK) return st;
    sf_run_write_metrics(r);
    if (r->o->model_out && r->o->save_every && r->batches % r->o->save_every == 0)
        st = sf_run_save_model(r);
    if (st == SF_OK && r->o->checkpoint_dir && r->batches % r->o->checkpoint_every == 0)
        st = sf_run_checkpoint(r);
    return st;
}

/* What other threads may read: copied under the lock once per batch, in the
 * same hold as the trainer's change, so that counters and model agree. */
static void publish_locked(sf_run *r, bool running)
{
    r->published.rows_total = r->rows_total;
    r->published.rows_skipped = r->rows_skipped;
    r->published.batches = r->batches;
    r->published.rows_lost = r->rows_lost;
    r->published.warming_up = r->trainer == NULL;
    r->published.resumed = r->resumed;
    r->published.running = running;
}

static void publish(sf_run *r, bool running)
{
    pthread_mutex_lock(&r->lock);
    publish_locked(r, running);
    pthread_mutex_unlock(&r->lock);
}

sf_status sf_stream_create(sf_context *ctx, const sf_stream_options *o, sf_stream **out)
{
    if (!out) return SF_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (!ctx || !o) return SF_ERR_INVALID_ARGUMENT;
    sf_stream *s = calloc(1, sizeof *s);
    if (!s) return SF_ERR_NO_MEMORY;
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s);
        return SF_ERR_NO_MEMORY;
    }
    if (pthread_mutex_init(&s->dead_letter_lock, NULL) != 0) {
        pthread_mutex_destroy(&s->lock);
        free(s);
        return SF_ERR_NO_MEMORY;
    }
    s->opts = *o;
    s->o = &s->opts;
    s->ctx = ctx;
    atomic_init(&s->stop, 0);
    atomic_init(&s->halt, 0);
    s->published.warming_up = true;
    *out = s;
    return SF_OK;
}

void sf_stream_destroy(sf_stream *s)
{
    if (!s) return;
    sf_prefetch_stop(s); /* sf_stream_run stopped it already */
    sf_run_close(s);
    sf_source_state_free(&s->boundary);
    pthread_mutex_destroy(&s->dead_letter_lock);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

void sf_stream_request_stop(sf_stream *s)
{
    if (s) atomic_store_explicit(&s->stop, 1, memory_order_relaxed);
}

const char *sf_stream_error(const sf_stream *s) { return s ? s->err : ""; }

void sf_stream_get_counters(sf_stream *s, sf_stream_counters *out)
{
    pthread_mutex_lock(&s->lock);
    *out = s->published;
    pthread_mutex_unlock(&s->lock);
}

sf_status sf_stream_model_snapshot(sf_stream *s, sf_model **out)
{
    if (!s || !out) return SF_ERR_INVALID_ARGUMENT;
    *out = NULL;
    pthread_mutex_lock(&s->lock);
    sf_status st = s->trainer ? sf_run_model(s, s->published.rows_skipped, out) : SF_ERR_EMPTY;
    pthread_mutex_unlock(&s->lock);
    return st;
}

/* The next batch into r->batch, filled here or taken from the pipeline, and
 * what its filling found applied to the run's counters. */
static sf_status next_batch(sf_run *r)
{
    sf_fill *f = &r->fill_here;
    memset(f, 0, sizeof *f);
    if (r->prefetch) {
        sf_prefetch_take(r, f);
        r->pipeline_ended = f->last;
        sf_source_state_free(&r->boundary);
        r->boundary = f->boundary; /* for this batch's checkpoint */
        memset(&f->boundary, 0, sizeof f->boundary);
    } else {
        f->batch = &r->batch;
        f->rows_before = r->rows_total;
        f->status = sf_run_fill_batch(r, f);
    }
    r->rows_skipped += f->skipped;
    if (f->eof) r->eof = true;
    r->rows_lost += f->rows_lost;
    for (size_t i = 0; i < f->n_lost && r->n_lost < sizeof r->lost / sizeof r->lost[0]; i++)
        r->lost[r->n_lost++] = f->lost[i];
    _Static_assert(sizeof f->lost_first == sizeof r->lost_first, "one description size");
    if (!r->lost_first[0]) memcpy(r->lost_first, f->lost_first, sizeof r->lost_first);
    if (f->lost_stop) r->lost_stop = true;
    _Static_assert(sizeof f->err == sizeof r->err, "one message size");
    if (f->status != SF_OK && !r->err[0]) memcpy(r->err, f->err, sizeof r->err);
    if (f->stop_status != SF_OK && r->stop_status == SF_OK) {
        r->stop_status = f->stop_status;
        _Static_assert(sizeof f->err == sizeof r->stop_err, "one message size");
        memcpy(r->stop_err, f->err, sizeof r->stop_err);
    }
    return f->status;
}

/* One pass of the loop; the trainer changes only under the lock. */
static sf_status run_batch(sf_run *r)
{
    sf_status st = next_batch(r);
    if (st == SF_OK) {
        pthread_mutex_lock(&r->lock);
        st = process_batch(r);
        /* Exactly-once: a failed transaction is aborted and its batches
         * read again from the committed state. */
        if (st != SF_OK && r->o->exactly_once) st = sf_txn_recover(r, st);
        publish_locked(r, true);
        pthread_mutex_unlock(&r->lock);
        if (st == SF_OK) sf_run_emit_batch(r);
    }
    return st;
}

/* ---- spread over MPI ranks (stream_ranks.c) ----
 * One tick: every rank fills its batch, the ranks agree (a failure, the end,
 * the rows of all), then learn together. Every step ends with the same
 * status on every rank; the pipeline's second thread is not used. */

static sf_status warmup_ranks(sf_run *r)
{
    sf_status st = sf_ranks_agree(r, sf_run_collect_warmup(r));
    if (st != SF_OK || !r->ranks.warm_enough || r->ranks.warm_rows_all == 0) return st;
    st = sf_ranks_agree(r, sf_run_fit_warmup(r)); /* the fit spans the ranks */
    if (st == SF_OK) st = sf_ranks_agree(r, sf_run_update_version(r));
    if (st == SF_OK && r->o->checkpoint_dir) st = sf_run_checkpoint(r);
    return st;
}

static sf_status stream_ranks(sf_run *r)
{
    if (r->ranks.tick_rows == 0) return SF_OK; /* empty everywhere: not a batch */
    memcpy(r->pred_version, r->version, sizeof r->version);
    sf_status st = sf_run_predict_learn(r); /* collective, an empty part too */
    if (st == SF_OK) st = sf_run_write_predictions(r);
    st = sf_ranks_agree(r, st);
    if (st == SF_OK) st = sf_ranks_gather_batch(r);
    if (st != SF_OK) return st;
    r->batches++;
    st = sf_ranks_agree(r, sf_run_update_version(r));
    if (st == SF_OK) st = sf_ranks_gather_throughput(r);
    if (st != SF_OK) return st;
    sf_run_write_metrics(r);
    if (r->o->model_out && r->o->save_every && r->batches % r->o->save_every == 0)
        st = sf_run_save_model(r);
    if (st == SF_OK && r->o->checkpoint_dir && r->batches % r->o->checkpoint_every == 0)
        st = sf_run_checkpoint(r);
    return st;
}

static sf_status run_ranks(sf_run *r)
{
    sf_status st = SF_OK;
    for (;;) {
        bool stop = false;
        st = sf_ranks_tick(r, next_batch(r), &stop);
        if (st != SF_OK) break;
        pthread_mutex_lock(&r->lock);
        st = r->trainer ? stream_ranks(r) : warmup_ranks(r);
        publish_locked(r, true);
        pthread_mutex_unlock(&r->lock);
        if (st == SF_OK) sf_run_emit_batch(r);
        sf_run_progress(r, false);
        if (st != SF_OK || stop) break;
    }
    return st;
}

static sf_status run_finish(sf_run *r)
{
    sf_status st = SF_OK;
    pthread_mutex_lock(&r->lock);
    /* A run that ends inside its warm-up still fits what it has. */
    if (!r->trainer && r->warm_rows > 0) st = sf_run_fit_warmup(r);
    if (st == SF_OK && r->trainer && !r->version[0]) st = sf_run_update_version(r);
    if (st == SF_OK && r->trainer && r->o->checkpoint_dir) st = sf_run_checkpoint(r);
    if (st == SF_OK && r->trainer && r->o->model_out) st = sf_run_save_model(r);
    if (st == SF_OK && r->trainer) st = sf_ranks_same_model(r);
    pthread_mutex_unlock(&r->lock);
    return st;
}

sf_status sf_stream_run(sf_stream *r)
{
    if (!r) return SF_ERR_INVALID_ARGUMENT;
    if (r->ran) {
        snprintf(r->err, sizeof r->err, "a stream runs once");
        return SF_ERR_INVALID_ARGUMENT;
    }
    r->ran = true;
    pthread_mutex_lock(&r->lock);
    sf_status st = sf_run_open(r);
    publish_locked(r, st == SF_OK);
    pthread_mutex_unlock(&r->lock);
    if (st != SF_OK) {
        if (!r->err[0]) snprintf(r->err, sizeof r->err, "%s", sf_strerror(st));
        publish(r, false);
        return st;
    }
    if (r->ranks.size > 1) st = run_ranks(r);
    while (r->ranks.size == 1 && st == SF_OK && !should_stop(r)) {
        /* Exactly-once reads on this thread: a rewind must find no batch ahead. */
        if (!r->prefetch && r->trainer && r->o->pipeline && !r->o->exactly_once)
            st = sf_prefetch_start(r);
        if (st == SF_OK) st = run_batch(r);
        sf_run_progress(r, false);
    }
    sf_prefetch_stop(r); /* every batch it made is learned, or the run failed */
    if (st == SF_OK) st = run_finish(r);
    if (r->n_lost && r->trainer) { /* losses not in a metrics line yet */
        r->batch.rows = 0;
        r->ranks.rows = 0;
        sf_run_write_metrics(r);
    }
    sf_status fst = sf_run_flush(r);
    if (st == SF_OK) st = fst;
    if (st == SF_OK && r->lost_stop) st = sf_run_lost_error(r); /* after the checkpoint */
    if (r->stop_status != SF_OK) { /* the source gave up: why, and what ending did */
        if (st == SF_OK) {
            memcpy(r->err, r->stop_err, sizeof r->err);
        } else {
            char then[sizeof r->err];
            memcpy(then, r->err, sizeof then);
            snprintf(r->err, sizeof r->err, "%.250s; then: %.250s", r->stop_err, then);
        }
        st = r->stop_status;
    }
    sf_run_progress(r, true);
    if (st != SF_OK && !r->err[0]) snprintf(r->err, sizeof r->err, "%s", sf_strerror(st));
    publish(r, false);
    return st;
}
