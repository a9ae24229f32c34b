/*
 * stream_engine.c — the streaming loop (see stream.h): assemble a batch,
 * warm up or predict-score-update, write outputs, checkpoint, repeat.
 *
 * Exactly-once bookkeeping: a checkpoint holds the trainer state, the
 * metrics and the source positions of the same batch boundary; upstream
 * offsets are committed only after it is durable. Predictions are written
 * before the checkpoint, so after a crash the records since the last
 * checkpoint are predicted again (at-least-once for predictions).
 *
 * This file is part of the command line (it reports on stderr).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "checkpoint.h"
#include "sink.h"
#include "stream.h"
#include "stream_internal.h"

void sf_stream_options_init(sf_stream_options *o)
{
    memset(o, 0, sizeof *o);
    sf_fit_params_init(&o->fit);
    o->fit.keep_batches = true;
    o->format = SF_RECORD_CSV;
    o->header = true;
    o->batch_rows = 65536;
    o->batch_ms = 1000;
    o->warmup_rows = 10000;
    o->window = 10000;
    o->save_every = 100;
    o->checkpoint_every = 1;
}

int64_t sf_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- the run ---- */

static bool out_of_time(const sf_run *r)
{
    return r->o->max_ms > 0 && sf_now_us() - r->start_us >= r->o->max_ms * 1000;
}

static bool should_stop(const sf_run *r)
{
    if (r->o->stop && *r->o->stop) return true;
    if (r->o->max_rows && r->rows_total >= r->o->max_rows) return true;
    return out_of_time(r) || r->eof;
}

static sf_status warmup_step(sf_run *r)
{
    bool enough = r->warm_rows >= r->o->warmup_rows ||
                  (r->o->warmup_ms > 0 && r->warm_rows > 0 &&
                   sf_now_us() - r->warm_start_us >= r->o->warmup_ms * 1000);
    if (!enough && !should_stop(r)) return SF_OK;
    if (r->warm_rows == 0) return SF_OK;
    return sf_run_fit_warmup(r);
}

static sf_status stream_step(sf_run *r)
{
    sf_batch *b = &r->batch;
    sf_status st = sf_run_predict(r);
    if (st == SF_OK) st = sf_run_write_predictions(r);
    if (st == SF_OK) sf_stream_metrics_add(&r->metrics, b->y, r->pred, r->proba, b->rows);
    if (st == SF_OK) st = sf_trainer_update(r->trainer, b->X, b->y, b->rows);
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
    st = stream_step(r);
    if (st != SF_OK) return st;
    r->rows_total += b->rows;
    r->batches++;
    sf_run_write_metrics(r);
    if (r->o->model_out && r->o->save_every && r->batches % r->o->save_every == 0)
        st = sf_run_save_model(r);
    if (st == SF_OK && r->o->checkpoint_dir && r->batches % r->o->checkpoint_every == 0)
        st = sf_run_checkpoint(r);
    return st;
}

sf_status sf_stream_run(const sf_stream_options *o, sf_stream_result *res, char *err, size_t errlen)
{
    sf_run r;
    sf_status st = sf_run_open(&r, o, err, errlen);
    if (st != SF_OK) {
        sf_run_close(&r);
        return st;
    }
    while (st == SF_OK && !should_stop(&r)) {
        st = sf_run_fill_batch(&r);
        if (st == SF_OK) st = process_batch(&r);
        sf_run_progress(&r, false);
    }
    /* A run that ends inside its warm-up still fits what it has. */
    if (st == SF_OK && !r.trainer && r.warm_rows > 0) st = sf_run_fit_warmup(&r);
    if (st == SF_OK && r.trainer && o->checkpoint_dir) st = sf_run_checkpoint(&r);
    if (st == SF_OK && r.trainer && o->model_out) st = sf_run_save_model(&r);
    sf_status fst = sf_run_flush(&r);
    if (st == SF_OK) st = fst;
    sf_run_progress(&r, true);
    if (st != SF_OK && !r.err[0]) snprintf(r.err, sizeof r.err, "%s", sf_strerror(st));
    if (st != SF_OK) snprintf(err, errlen, "%s", r.err);
    if (res) {
        res->rows_total = r.rows_total;
        res->rows_skipped = r.rows_skipped;
        res->batches = r.batches;
        res->resumed = r.resumed;
    }
    sf_run_close(&r);
    return st;
}
