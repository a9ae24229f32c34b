/*
 * stream_prefetch.c — the pipeline: while the run's thread predicts, learns
 * and writes one batch, a second thread polls the source and parses the next
 * (labels mapped with the classes the warm-up fixed, bad records counted and
 * dead-lettered). Two sf_batch buffers change hands at each batch boundary:
 * one mutex and condition variable per batch, nothing per record.
 *
 * What the filling found goes with its batch (sf_fill: bad records, end of
 * source, an error and its message, and with checkpoints the source
 * positions right after the batch), and the run's thread applies it when it
 * takes the batch. So the counters, metrics lines, checkpoints and the model
 * are those of the sequential loop on the same batch boundaries, and a
 * checkpoint's positions are exactly its batch's end although the source has
 * been polled further since.
 *
 * The filling thread decides where the stream ends (a stop request,
 * max_rows, max_ms, the end of a finite source, an error) and marks that
 * batch the last; the run's thread learns every batch it is handed, so no
 * record read is left out of the outputs or the final checkpoint. When the
 * run's thread fails it halts the filling thread, which stops at its next
 * poll. Log lines of the filling thread are said on the run's thread
 * (stream_state.c), where the callbacks run.
 */
#include <stdlib.h>
#include <string.h>

#include "stream_internal.h"

typedef struct sf_prefetch {
    sf_run *r;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;    /* a batch is ready or taken, a log line came, or halt */
    sf_batch buf;         /* the filling thread's buffer; r->batch is the run's */
    sf_fill fill;         /* what filling buf found */
    uint64_t rows_filled; /* rows read so far (a resumed run's included), for max_rows */
    bool ready;           /* under mu: buf and fill wait for the run's thread */
    bool halted;          /* under mu: the run's thread takes no more batches */
} sf_prefetch;

/* Is the batch just filled the last one? The sequential loop's test, with
 * the rows read in place of the rows learned (every batch read is learned). */
static bool filled_last(const sf_prefetch *p)
{
    const sf_run *r = p->r;
    const sf_stream_options *o = r->o;
    const sf_fill *f = &p->fill;
    if (f->status != SF_OK || f->eof || f->lost_stop || f->stop_status != SF_OK ||
        sf_run_stop_requested(r))
        return true;
    if (o->max_rows && p->rows_filled >= o->max_rows) return true;
    return o->max_ms > 0 && sf_clock_mono_us() - r->start_us >= o->max_ms * 1000;
}

static void fill_one(sf_prefetch *p)
{
    sf_run *r = p->r;
    sf_fill *f = &p->fill;
    sf_source_state_free(&f->boundary);
    f->batch = &p->buf;
    f->rows_before = p->rows_filled;
    f->skipped = 0;
    f->eof = false;
    f->err[0] = '\0';
    f->rows_lost = 0;
    f->n_lost = 0;
    f->lost_first[0] = '\0';
    f->lost_stop = false;
    f->stop_status = SF_OK;
    f->status = sf_run_fill_batch(r, f);
    p->rows_filled += p->buf.rows;
    /* The positions right after this batch, before the next poll moves them. */
    if (f->status == SF_OK && r->o->checkpoint_dir) {
        f->status = r->source->ops->state(r->source, &f->boundary);
        if (f->status != SF_OK)
            snprintf(f->err, sizeof f->err, "source positions: %s", sf_strerror(f->status));
    }
    f->last = filled_last(p);
}

static void *filler_main(void *arg)
{
    sf_prefetch *p = arg;
    sf_run_log_defer_here();
    bool last = false;
    while (!last) {
        fill_one(p);
        last = p->fill.last;
        pthread_mutex_lock(&p->mu);
        p->ready = true;
        pthread_cond_broadcast(&p->cv);
        while (p->ready && !p->halted)
            pthread_cond_wait(&p->cv, &p->mu);
        last = last || p->halted;
        pthread_mutex_unlock(&p->mu);
    }
    return NULL;
}

sf_status sf_prefetch_start(sf_run *r)
{
    sf_prefetch *p = calloc(1, sizeof *p);
    if (!p) return SF_ERR_NO_MEMORY;
    p->r = r;
    p->rows_filled = r->rows_total;
    bool mu = pthread_mutex_init(&p->mu, NULL) == 0;
    bool cv = mu && pthread_cond_init(&p->cv, NULL) == 0;
    r->deferred.mu = &p->mu;
    r->deferred.cv = &p->cv;
    r->prefetch = p;
    if (cv && pthread_create(&p->thread, NULL, filler_main, p) == 0) {
        sf_run_log(r, SF_LOG_INFO,
                   "pipeline: each batch is read and parsed on a second thread while the one "
                   "before it is learned");
        return SF_OK;
    }
    r->prefetch = NULL;
    r->deferred.mu = NULL;
    r->deferred.cv = NULL;
    if (cv) pthread_cond_destroy(&p->cv);
    if (mu) pthread_mutex_destroy(&p->mu);
    free(p);
    snprintf(r->err, sizeof r->err, "cannot start the pipeline's thread");
    return SF_ERR_NO_MEMORY;
}

void sf_prefetch_take(sf_run *r, sf_fill *f)
{
    sf_prefetch *p = r->prefetch;
    pthread_mutex_lock(&p->mu);
    while (!p->ready) {
        if (r->deferred.n > 0) { /* say them now, not after the batch */
            pthread_mutex_unlock(&p->mu);
            sf_run_log_drain(r);
            pthread_mutex_lock(&p->mu);
            continue;
        }
        pthread_cond_wait(&p->cv, &p->mu);
    }
    sf_batch mine = r->batch;
    r->batch = p->buf;
    p->buf = mine;
    *f = p->fill;
    f->batch = &r->batch;
    memset(&p->fill.boundary, 0, sizeof p->fill.boundary); /* moved to *f */
    p->ready = false;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    sf_run_log_drain(r); /* what the filling of this batch said */
}

void sf_prefetch_stop(sf_run *r)
{
    sf_prefetch *p = r->prefetch;
    if (!p) return;
    /* halt cuts a batch being filled short at its next poll; halted ends a
     * wait for the run's thread. A thread that made its last batch is gone. */
    atomic_store_explicit(&r->halt, 1, memory_order_relaxed);
    pthread_mutex_lock(&p->mu);
    p->halted = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    atomic_store_explicit(&r->halt, 0, memory_order_relaxed);
    sf_run_log_drain(r);
    r->deferred.mu = NULL;
    r->deferred.cv = NULL;
    r->prefetch = NULL;
    r->filling = NULL; /* it pointed into p */
    sf_batch_free(&p->buf);
    sf_source_state_free(&p->fill.boundary);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
