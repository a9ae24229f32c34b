/*
 * stream_state.c — what every part of a streaming run leans on: its log
 * line, whether a stop was asked for, the configuration a checkpoint must
 * match, setting up the trainer and its metrics, and flushing the outputs.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "stream_internal.h"

static bool is_classifier(const sf_run *r)
{
    return r->o->fit.model == SF_MODEL_LOGISTIC || r->o->fit.model == SF_MODEL_SOFTMAX;
}

/* Set on the pipeline's filling thread: its lines wait for the run's thread. */
static _Thread_local bool defer_here;

void sf_run_log_defer_here(void) { defer_here = true; }

static void say(const sf_run *r, sf_log_level level, const char *line)
{
    sf_log_fn log = r->o->log ? r->o->log : r->ctx ? r->ctx->log : NULL;
    void *user = r->o->log ? r->o->log_user : r->ctx ? r->ctx->log_user : NULL;
    if (log) log(user, level, line);
}

/* Queue a line for the run's thread; false when there is no room. */
static bool defer(sf_run *r, sf_log_level level, const char *line)
{
    sf_deferred_log *d = &r->deferred;
    bool ok = true;
    pthread_mutex_lock(d->mu);
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 16;
        struct sf_deferred_line *v = realloc(d->lines, sizeof *v * cap);
        if (v) d->lines = v, d->cap = cap;
        ok = v != NULL;
    }
    char *text = ok ? strdup(line) : NULL;
    if (text) {
        d->lines[d->n++] = (struct sf_deferred_line){.level = level, .text = text};
        pthread_cond_broadcast(d->cv);
    }
    pthread_mutex_unlock(d->mu);
    return text != NULL;
}

void sf_run_log(const sf_run *r, sf_log_level level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* The run is const to its readers; the queue is the one thing a filling
     * thread's line changes, under its own lock. */
    if (defer_here && r->deferred.mu && defer((sf_run *)r, level, line)) return;
    say(r, level, line);
}

void sf_run_log_drain(sf_run *r)
{
    sf_deferred_log *d = &r->deferred;
    if (!d->mu) return;
    pthread_mutex_lock(d->mu);
    struct sf_deferred_line *lines = d->lines;
    size_t n = d->n;
    d->lines = NULL;
    d->n = d->cap = 0;
    pthread_mutex_unlock(d->mu);
    for (size_t i = 0; i < n; i++) {
        say(r, lines[i].level, lines[i].text);
        free(lines[i].text);
    }
    free(lines);
}

bool sf_run_stop_requested(const sf_run *r)
{
    sf_run *w = (sf_run *)r; /* atomics are read through a non-const pointer */
    return atomic_load_explicit(&w->stop, memory_order_relaxed) != 0 ||
           atomic_load_explicit(&w->halt, memory_order_relaxed) != 0;
}

/* What must not change between a checkpoint and a resumed run. */
sf_status sf_run_config(const sf_run *r, char *buf, size_t len)
{
    const sf_stream_options *o = r->o;
    snprintf(buf, len,
             "v1 model=%s format=%d d=%zu K=%zu label_col=%zu lambda=%.17g l1=%.17g "
             "standardize=%d intercept=%d decay=%.17g solver=%d window=%zu",
             sf_model_kind_name(o->fit.model), (int)o->format, r->schema.d, r->K,
             r->schema.label_col, o->fit.lambda, o->fit.l1, o->fit.standardize,
             o->fit.fit_intercept, o->fit.decay, (int)o->fit.solver, o->window);
    /* Spread over ranks, the positions are each rank's partitions': a
     * checkpoint resumes as many ranks as wrote it (sf_run_restore). */
    size_t used = strlen(buf);
    if (r->ranks.size > 1 && used < len)
        snprintf(buf + used, len - used, " ranks=%d", r->ranks.size);
    return SF_OK;
}

sf_status sf_run_start_trainer(sf_run *r)
{
    sf_fit_params p = r->o->fit;
    p.keep_batches = true;
    sf_status st = sf_trainer_create(r->ctx, &p, r->schema.d, r->K, &r->trainer);
    if (st == SF_OK && r->ranks.size > 1) st = sf_trainer_span_ranks(r->trainer);
    if (st == SF_OK && r->ranks.size == 1) /* it streams after (exact sums: one process) */
        st = sf_trainer_stream_after_warmup(r->trainer);
    if (st == SF_OK && !r->metrics.ring_y)
        st = sf_stream_metrics_init(&r->metrics, r->K, r->o->window);
    if (st == SF_OK && is_classifier(r) && r->o->refit_every && r->o->refit_window) {
        r->ring_X = malloc(sizeof(double) * r->o->refit_window * r->schema.d);
        r->ring_y = malloc(sizeof(double) * r->o->refit_window);
        if (!r->ring_X || !r->ring_y) st = SF_ERR_NO_MEMORY;
    }
    return st;
}

sf_status sf_run_flush(sf_run *r)
{
    sf_status st = SF_OK, s2;
    const sf_sink *bad = NULL; /* the sink whose error is reported */
    /* Deliveries wait as long as the source waits for its brokers. */
    int wait_ms = r->o->broker_timeout_ms > 0 && r->o->broker_timeout_ms < INT32_MAX
                      ? (int)r->o->broker_timeout_ms
                      : INT32_MAX;
    if (r->predictions && (s2 = sf_sink_flush(r->predictions, wait_ms)) != SF_OK)
        st = s2, bad = r->predictions;
    pthread_mutex_lock(&r->dead_letter_lock); /* the filling thread may write to it */
    if (r->dead_letter && (s2 = sf_sink_flush(r->dead_letter, wait_ms)) != SF_OK)
        st = s2, bad = bad ? bad : r->dead_letter;
    if (r->metrics_file) fflush(r->metrics_file);
    if (st != SF_OK && !r->err[0]) {
        const char *why = bad ? sf_sink_error(bad) : "";
        snprintf(r->err, sizeof r->err, "cannot flush the outputs%s%s", why[0] ? ": " : "", why);
    }
    pthread_mutex_unlock(&r->dead_letter_lock);
    return st;
}
