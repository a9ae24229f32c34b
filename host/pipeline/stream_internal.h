/*
 * stream_internal.h — the state of one streaming run (sf_stream of
 * streamfit_stream.h), shared by the pipeline's files. They call down this
 * list, never up:
 *   stream_engine.c      the loop and the public calls
 *   stream_prefetch.c    the pipeline: the next batch filled on a second thread
 *   stream_run.c         opening, progress, closing
 *   stream_batch.c       batches, warm-up, learning
 *   stream_checkpoint.c  checkpoints and resuming
 *   stream_output.c      predictions, metrics, the model file
 *   stream_dead_letter.c bad records
 *   stream_txn.c         exactly-once: the Kafka transaction of each checkpoint
 *   stream_state.c       log, stop flag, configuration, trainer set-up, flush
 *   stream_ranks.c       a run spread over MPI ranks: agreements, gathers
 */
#ifndef STREAMFIT_STREAM_INTERNAL_H
#define STREAMFIT_STREAM_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "checkpoint.h"
#include "clock.h"
#include "latency_histogram.h"
#include "prediction_format.h"
#include "record.h"
#include "sink.h"
#include "source.h"
#include "stream_metrics.h"
#include "streamfit_stream.h"

/* One micro-batch in host memory, plus what each record needs for output. */
typedef struct sf_batch {
    size_t rows, cap, d;
    double *X, *y;
    int64_t *origin_us; /* CLOCK_MONOTONIC: the record's Kafka timestamp, else its arrival */
    sf_record_pos *pos;
    char *keys; /* arena of the records' keys */
    size_t keys_len, keys_cap;
    size_t *key_off; /* per row: offset in keys, or SIZE_MAX for none */
    size_t *key_len;
    int64_t first_us;  /* when the first record of the batch arrived */
    int64_t closed_us; /* when the batch was complete */
} sf_batch;

/* Records the source could no longer read (source.h's `lost`). */
typedef struct sf_lost_range {
    int32_t partition;
    int64_t first, count;
} sf_lost_range;

/* What filling one batch found besides its rows. With the pipeline the
 * filling thread hands it over with the batch, so that the run's counters
 * change on the run's thread only, in batch order. */
typedef struct sf_fill {
    sf_batch *batch;          /* where the rows go */
    uint64_t rows_before;     /* rows read before this batch (toward max_rows) */
    uint64_t skipped;         /* bad records met while filling */
    bool eof;                 /* a finite source ended */
    bool last;                /* pipeline: no batch follows this one */
    sf_status status;         /* the filling's, with err */
    sf_source_state boundary; /* pipeline with checkpoints: the positions after it */
    char err[512];
    /* records lost upstream while filling, as the run keeps them */
    uint64_t rows_lost;
    sf_lost_range lost[8];
    size_t n_lost;
    char lost_first[160];
    bool lost_stop;
    /* the source cannot go on (SF_ERR_UNREACHABLE): this batch is the last,
     * the run ends with this status after its checkpoint; err says why */
    sf_status stop_status;
} sf_fill;

/* Log lines said on the filling thread, waiting for the run's thread (the
 * callbacks run on the thread that called sf_stream_run). Under *mu. */
typedef struct sf_deferred_log {
    pthread_mutex_t *mu; /* NULL: no filling thread */
    pthread_cond_t *cv;  /* signalled when a line comes */
    struct sf_deferred_line {
        sf_log_level level;
        char *text;
    } * lines;
    size_t n, cap;
} sf_deferred_log;

struct sf_prefetch;
struct sf_txn;

/* A run spread over MPI ranks (stream_ranks.c); size 1: one process. */
typedef struct sf_run_ranks {
    int rank, size;
    uint64_t warm_rows_all; /* warm-up rows of every rank */
    bool warm_enough;       /* agreed this tick: the warm-up ends now */
    uint64_t tick_rows;     /* this tick's rows over every rank */
    uint64_t rows_read;     /* this rank's rows since the run started */
    /* rank 0: this tick's rows of every rank (labels, predictions,
     * probabilities), for the metrics */
    double *y, *pred, *proba;
    size_t rows;
    /* rank 0: every rank's rows read since the start and rows per second */
    double *rank_rows, *rank_rps;
} sf_run_ranks;

/* The handle: what the run's thread owns, plus what other threads may touch
 * (lock, stop, published). */
struct sf_stream {
    sf_stream_options opts;     /* the caller's, copied */
    const sf_stream_options *o; /* &opts */
    /* Held by the run's thread while it creates, changes or destroys the
     * trainer and the counters; sf_stream_model_snapshot takes it. Once per
     * batch, never per record. */
    pthread_mutex_t lock;
    atomic_int stop;
    atomic_int halt; /* the run's thread wants no more batches (an error) */
    bool ran;
    sf_stream_counters published; /* under lock */
    char err[512];
    sf_source *source;
    sf_sink *predictions, *dead_letter;
    /* exactly-once: dead letters share the predictions' producer and go into
     * the same transactions */
    bool dead_letter_in_txn;
    /* The dead-letter sink: written where batches are filled, flushed by the
     * run's thread. Once per bad record, never on the good path. */
    pthread_mutex_t dead_letter_lock;
    /* The pipeline (stream_prefetch.c), while its thread runs; it owns the
     * source's polling, recs, bad_shown and the fill counters until joined. */
    struct sf_prefetch *prefetch;
    bool pipeline_ended;      /* the last batch the filling thread made is taken */
    sf_source_state boundary; /* pipeline: positions after the batch in `batch` */
    sf_deferred_log deferred;
    /* The batch being filled, for the source's callbacks during its polls:
     * touched only by the thread that fills. */
    sf_fill *filling;
    sf_fill fill_here; /* one thread: the fill of the batch in `batch` */
    FILE *metrics_file;
    sf_record_schema schema;
    bool have_schema;
    sf_context *ctx;
    sf_trainer *trainer;
    size_t K; /* classes (0: regression) */
    double *classes;
    bool classes_fixed; /* given by --classes or restored */
    sf_stream_metrics metrics;
    sf_batch batch;
    sf_record *recs;
    /* warm-up rows (raw labels) */
    double *warm_X, *warm_y;
    sf_record_pos *warm_pos;
    size_t warm_rows, warm_cap;
    int64_t warm_start_us;
    /* refit window ring (class indices) */
    double *ring_X, *ring_y;
    size_t ring_head, ring_count;
    /* the current model's version (sf_model_version), and that of the model
     * that made the current batch's predictions */
    char version[SF_MODEL_VERSION_LEN], pred_version[SF_MODEL_VERSION_LEN];
    /* predictions of the current batch */
    double *pred, *proba;
    sf_prediction_text pred_text;
    /* end-to-end latency (origin to predictions handed out), per batch and run */
    sf_latency_histogram lat_batch, lat_run;
    double last_processing_ms;
    int64_t clock_delta_us; /* CLOCK_REALTIME - CLOCK_MONOTONIC, for Kafka timestamps */
    /* records lost upstream (source.h's `lost`) */
    uint64_t rows_lost;
    sf_lost_range lost[8]; /* since the last metrics line (the first 8) */
    size_t n_lost;
    char lost_first[160];  /* the first loss, for the final message */
    bool lost_stop;        /* stop after this batch: records were lost */
    sf_status stop_status; /* the source gave up (sf_fill): the run's final status */
    char stop_err[512];    /* ... and why */
    /* counters */
    uint64_t rows_total, rows_skipped, batches, bad_shown;
    int64_t start_us, last_progress_us;
    uint64_t rows_at_start;
    double last_p50, last_p99;
    bool eof, resumed;
    char *source_resume; /* position blob from the checkpoint */
    /* the last batch's metrics, for on_batch after the lock is released */
    sf_stream_batch_metrics pending;
    char *pending_json;
    /* this batch's end-to-end latencies per SF_STREAM_LATENCY_EDGES_MS bucket */
    uint64_t lat_counts[SF_STREAM_LATENCY_BUCKETS];
    double lat_sum_ms; /* and their sum */
    /* the refit after this batch, if any: window rows and the log-loss of the
     * online model before it and of the exact fit (for the metrics line) */
    size_t refit_rows;
    double refit_online_loss, refit_exact_loss;
    sf_run_ranks ranks;
    struct sf_txn *txn; /* exactly-once: the transactional producer's state */
};
typedef struct sf_stream sf_run;

/* stream_state.c: one line to the stream's log (or the context's); on the
 * filling thread it waits in r->deferred for sf_run_log_drain. */
void sf_run_log(const sf_run *r, sf_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void sf_run_log_defer_here(void);            /* the calling thread's lines are deferred */
void sf_run_log_drain(sf_run *r);            /* the run's thread: say the deferred lines */
bool sf_run_stop_requested(const sf_run *r); /* a stop, or the run's halt */

/* stream_state.c */
sf_status sf_run_config(const sf_run *r, char *buf, size_t len);
sf_status sf_run_start_trainer(sf_run *r);
sf_status sf_run_flush(sf_run *r);

/* stream_run.c */
sf_status sf_run_open(sf_run *r);
void sf_run_close(sf_run *r);
void sf_run_progress(sf_run *r, bool final);
sf_status sf_run_lost_error(sf_run *r);

/* stream_prefetch.c: the pipeline. start: from the next batch on, batches
 * are filled on a second thread; take: the next one into r->batch with what
 * its filling found (*f); stop: end and join that thread (any time). */
sf_status sf_prefetch_start(sf_run *r);
void sf_prefetch_take(sf_run *r, sf_fill *f);
void sf_prefetch_stop(sf_run *r);

/* stream_batch.c: fill f->batch from the source (any thread: what it
 * changes is in *f, r->recs and r->bad_shown) */
sf_status sf_run_fill_batch(sf_run *r, sf_fill *f);
void sf_batch_free(sf_batch *b); /* its arrays; zeroed after */
sf_status sf_run_collect_warmup(sf_run *r);
sf_status sf_run_fit_warmup(sf_run *r);
sf_status sf_run_predict_learn(sf_run *r);
sf_status sf_run_refit_maybe(sf_run *r);

/* stream_output.c */
sf_status sf_run_write_predictions(sf_run *r);
void sf_run_write_metrics(sf_run *r);
void sf_run_emit_batch(sf_run *r); /* on_batch for the batch sf_run_write_metrics saw */
sf_status sf_run_save_model(sf_run *r);
/* r->version from the trainer's current model and r->batches. */
sf_status sf_run_update_version(sf_run *r);
/* The trainer's model with classes, feature names and counts (caller owns).
 * rows_skipped: the run's own count on its thread, the published one on
 * another (the live count changes outside the lock). */
sf_status sf_run_model(const sf_run *r, uint64_t rows_skipped, sf_model **out);

/* stream_checkpoint.c */
sf_status sf_run_checkpoint(sf_run *r);
sf_status sf_run_restore(sf_run *r, bool *resumed);

/* stream_ranks.c: a run spread over MPI ranks. Every call but the first
 * two and the last is collective: every rank makes it, in the same order,
 * and leaves it with the same status. */
sf_status sf_ranks_open(sf_run *r); /* rank, size; options a spread run refuses */
/* A file sink's path with the rank before its extension (preds.jsonl ->
 * preds.rank1.jsonl); other URIs unchanged. */
void sf_ranks_output_uri(const sf_run *r, const char *uri, char *buf, size_t len);
/* Every rank's st: one failure (the highest status, of the lowest rank) on
 * every rank, r->err naming the rank that failed on the others. */
sf_status sf_ranks_agree(sf_run *r, sf_status st);
/* After reading the checkpoint (st: SF_OK, SF_ERR_EMPTY for none, or the
 * failure; batches: its count): every rank found the same one, or none did. */
sf_status sf_ranks_agree_checkpoint(sf_run *r, sf_status st, uint64_t batches);
/* After filling a batch: whether any rank failed (the status, as agree),
 * the rows of every rank counted (rows_total, rows_skipped, the warm-up's),
 * whether the warm-up ends, and *stop: whether this is the last tick. */
sf_status sf_ranks_tick(sf_run *r, sf_status st, bool *stop);
/* This tick's rows of every rank to rank 0's metrics. */
sf_status sf_ranks_gather_batch(sf_run *r);
/* Every rank's throughput to rank 0 (for the metrics line). */
sf_status sf_ranks_gather_throughput(sf_run *r);
/* The checkpoint's source positions: every rank's blob to rank 0, merged
 * there (*merged, owned by the caller; NULL elsewhere). */
sf_status sf_ranks_positions(sf_run *r, sf_status st, const char *blob, char **merged);
/* Whether every rank holds the same model (r->version), said once. */
sf_status sf_ranks_same_model(sf_run *r);
void sf_ranks_write_metrics(const sf_run *r, FILE *f); /* rank 0's "ranks":[...], */
void sf_ranks_free(sf_run *r);
/* stream_txn.c: exactly-once runs (o->exactly_once).
 * check: the options allow it (a message in r->err otherwise);
 * id: the transactional.id (group, topics) into buf;
 * open: after the sinks: init_transactions on the predictions' producer;
 * begin: a transaction is open (opened now if none);
 * pick: on resume, the checkpoint generation whose positions the group's
 *   committed offsets name (the newest when the broker keeps none);
 * commit: send the offsets of `at` and commit the transaction; c (the
 *   checkpoint written just before) is then the committed generation;
 * recover: after a failure `why` in a transaction: abort it, go back to the
 *   committed generation (model, metrics, counters, source positions) and
 *   return SF_OK to go on; `why` (or the fatal error) when it cannot;
 * close: abort a transaction left open, free. */
sf_status sf_txn_check(sf_run *r);
void sf_txn_id(const sf_stream_options *o, char *buf, size_t len);
sf_status sf_txn_open(sf_run *r);
sf_status sf_txn_begin(sf_run *r);
sf_status sf_txn_pick(sf_run *r, sf_checkpoint *c);
sf_status sf_txn_commit(sf_run *r, const sf_source_state *at, const sf_checkpoint *c);
sf_status sf_txn_recover(sf_run *r, sf_status why);
void sf_txn_close(sf_run *r);

/* stream_dead_letter.c: a bad record met while filling f (counted in f). */
void sf_run_bad_record(sf_run *r, sf_fill *f, const sf_record *rec, const char *why);
/* A bad row found after parsing (its raw record is gone): counted, reported,
 * dead-lettered with position and reason. */
void sf_run_bad_row(sf_run *r, const sf_record_pos *pos, const char *why);

#endif
