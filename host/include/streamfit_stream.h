/*
 * streamfit_stream.h — the streaming pipeline as a library call.
 *
 * Records arrive from a source (Kafka topic, file, watched directory,
 * stdin), are parsed and grouped into micro-batches; after a warm-up an
 * exact fit gives the first model; from then on every batch is predicted,
 * scored (test-then-train) and learned from. Predictions, metrics (JSON
 * lines), dead letters, the model file and checkpoints go out as the run
 * goes. A front end (the command line, a dashboard, a binding) fills
 * sf_stream_options, creates an sf_stream on its context and calls
 * sf_stream_run; it hears about the run through callbacks and may read the
 * current model and counters from another thread while it runs.
 *
 * In a process that is one of several MPI ranks (MPI initialized by the
 * command line under mpirun), sf_stream_run is collective: every rank runs
 * it with the same options; the ranks share a Kafka topic's partitions
 * (partition p to rank p mod N), learn one model in lockstep, and rank 0
 * writes the metrics, the model file and the checkpoint (README, "Streaming
 * under mpirun").
 *
 * Like the rest of the library this never prints and never exits: lines go
 * to the log callback, failures are sf_status codes with a one-line message
 * from sf_stream_error().
 *
 * Thread safety, per object:
 *  - sf_stream_options: plain data, owned by the caller. sf_stream_create
 *    copies the struct; the strings and arrays it points to are borrowed and
 *    must stay valid until sf_stream_destroy.
 *  - sf_stream: sf_stream_run blocks on the calling thread and may be called
 *    once per stream. After the warm-up it reads and parses the next batch on
 *    a second thread of its own while the calling thread learns the current
 *    one (sf_stream_options.pipeline; the results are those of one thread on
 *    the same batches). While it runs, any other thread may call
 *    sf_stream_model_snapshot, sf_stream_get_counters and
 *    sf_stream_request_stop; sf_stream_request_stop is also safe inside a
 *    signal handler. sf_stream_error and sf_stream_destroy must not race
 *    with sf_stream_run.
 *  - The context given to sf_stream_create is used by the run's thread only
 *    (and, under the stream's lock, by sf_stream_model_snapshot); do not use
 *    it elsewhere while the stream runs. It must outlive the stream.
 *  - Callbacks run on the thread that called sf_stream_run; the structs and
 *    strings they receive are valid only during the call. on_batch and
 *    on_progress run with no lock held and may call
 *    sf_stream_model_snapshot; the log callback may run while the stream
 *    holds its lock and must not call sf_stream_model_snapshot or
 *    sf_stream_get_counters.
 */
#ifndef STREAMFIT_STREAM_PUBLIC_H
#define STREAMFIT_STREAM_PUBLIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "streamfit.h"

#ifdef __cplusplus
extern "C" {
#endif

/* End-to-end latency bucket edges (milliseconds) of
 * sf_stream_batch_metrics.latency_counts: bucket i counts latencies above
 * edge i-1 and up to edge i; the last bucket counts those above 5000 ms. */
#define SF_STREAM_LATENCY_EDGES_MS                                                                 \
    {                                                                                              \
        1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000                                       \
    }
#define SF_STREAM_LATENCY_BUCKETS 13

typedef enum sf_record_format {
    SF_RECORD_CSV = 0,
    SF_RECORD_JSON = 1,
    SF_RECORD_LIBSVM = 2,
} sf_record_format;

/* After each learned batch: what the metrics file gets as one JSON line, and
 * the figures a live display wants without parsing it. */
typedef struct sf_stream_batch_metrics {
    uint64_t batch;        /* batches learned so far, a resumed run's included */
    size_t batch_rows;     /* rows in this batch */
    uint64_t rows_total;   /* rows read (warm-up included), a resumed run's included */
    uint64_t rows_skipped; /* bad records so far */
    double latency_p50_ms; /* end to end: the record's Kafka timestamp (other sources: */
    double latency_p99_ms; /* its arrival) -> prediction handed out, this batch (NaN: no rows) */
    double processing_ms;  /* this batch: complete -> predictions handed out */
    uint64_t rows_lost;    /* records deleted upstream before they were read, so far */
    double throughput_rps; /* rows per second since this run started */
    double time_s;         /* wall clock, seconds since the epoch */
    size_t n_classes;      /* 0 for least squares */
    /* accuracy (classifiers) or rmse (least squares) of this batch, of the
     * sliding window and since the start; the JSON line has the rest */
    double batch_headline, window_headline, cumulative_headline;
    const char *json; /* the metrics line: batch, window and cumulative
                       * figures ({"time":..,"metrics":{"batch":{..},
                       * "window":{..},"cumulative":{..}}}), no newline */
    /* this batch's end-to-end latencies per bucket of SF_STREAM_LATENCY_EDGES_MS */
    uint64_t latency_counts[SF_STREAM_LATENCY_BUCKETS];
    /* this batch's rows, valid during the call: labels (class indices for
     * classifiers), predictions (labels), probabilities (rows x n_classes;
     * NULL for least squares) */
    const double *y, *pred, *proba;
    /* an exact refit after this batch (refit_rows > 0): the log-loss over
     * the refit window of the online model before it and of the exact fit */
    size_t refit_rows;
    double refit_online_loss, refit_exact_loss;
} sf_stream_batch_metrics;

/* For a status line: called every progress_every_ms and once at the end. */
typedef struct sf_stream_progress {
    uint64_t rows_total, rows_skipped;
    double rows_per_s;     /* since this run started */
    size_t n_classes;      /* 0 for least squares */
    double headline;       /* cumulative accuracy or rmse; NaN during the warm-up */
    double latency_p99_ms; /* of the last batch, or NaN */
    bool final;            /* the last call of the run */
} sf_stream_progress;

/* Counters that another thread may read while the run goes. */
typedef struct sf_stream_counters {
    uint64_t rows_total, rows_skipped, batches;
    uint64_t rows_lost; /* deleted upstream before they were read (continue_on_lag_loss) */
    bool warming_up;    /* no model yet */
    bool resumed;       /* this run continued from a checkpoint */
    bool running;       /* sf_stream_run has not returned yet */
} sf_stream_counters;

typedef struct sf_stream_options {
    /* source */
    const char *source;               /* kafka://H:P[,H:P]/TOPIC | file:PATH | dir:PATH | stdin */
    const char *group;                /* Kafka consumer group (NULL: assign all partitions) */
    const char *start;                /* earliest | latest | committed (NULL: earliest) */
    const char *const *kafka_conf;    /* NULL-terminated key, value, ...: every Kafka client
                                       * the key applies to (librdkafka's property table) */
    const char *const *consumer_conf; /* the same for the consumer only */
    const char *const *producer_conf; /* the same for the output producers only */
    /* Records deleted upstream before they were read (a consumer behind the
     * topic's retention) are always logged at once and counted; false (the
     * default): the run then stops after checkpointing with SF_ERR_DATA_LOST;
     * true: it goes on after them. */
    bool continue_on_lag_loss;
    /* Kafka: when no broker of the source has answered for longer than this
     * (default 60000; 0: wait for ever), the run finishes the batch it has,
     * writes the checkpoint and returns SF_ERR_UNREACHABLE, sf_stream_error
     * naming the brokers, how long, and the offsets it stopped at. The
     * outputs wait as long for their deliveries before a checkpoint
     * (undelivered: SF_ERR_UNREACHABLE, the previous checkpoint kept). */
    int64_t broker_timeout_ms;
    bool follow; /* file:/stdin: wait for more data at the end */

    /* records */
    sf_record_format format;
    const char *columns;    /* "y,x1,..." or NULL: a header line or the first record */
    const char *label;      /* name or index, NULL: first column */
    bool header;            /* file sources: line 1 is a header (default true) */
    size_t libsvm_features; /* LIBSVM: number of features (required) */
    const char *classes;    /* "0,1,2" or NULL (logistic: 0,1; softmax: the warm-up's) */
    bool fail_on_error;     /* stop at the first bad record (default: skip and count) */

    /* learning */
    sf_fit_params fit;
    size_t batch_rows;   /* most rows per micro-batch (default 65536) */
    int64_t batch_ms;    /* a batch closes this long after its first record (default 10) */
    size_t warmup_rows;  /* rows of the exact warm-up fit (default 10000) */
    int64_t warmup_ms;   /* or the warm-up ends this long after its first row (0: no) */
    size_t refit_every;  /* classifiers: exact refit every N batches (0: never) */
    size_t refit_window; /* rows kept for the refit */
    /* Read and parse the next batch on a second thread while this one is
     * predicted and learned from (default true; false: one thread). That
     * thread wants a core of its own: on the CPU backend give the context
     * one thread fewer than the cores (sf_context_options.threads). */
    bool pipeline;

    /* outputs (NULL: none) */
    const char *predictions;        /* kafka://…/T | file:PATH | stdout */
    bool predictions_json;          /* JSON objects instead of CSV lines */
    size_t predictions_per_message; /* Kafka: lines per message, keyless when > 1 (0, 1: one) */
    const char *metrics_out;        /* path: one JSON line per batch (appended on resume) */
    size_t window;                  /* sliding-window metrics size (default 10000) */
    const char *model_out;          /* path of the model file */
    size_t save_every;              /* write the model file every N batches (default 100) */
    const char *dead_letter;        /* kafka://…/T | file:PATH: bad records with reason */
    const char *checkpoint_dir;     /* checkpoints (and resume from them) */
    size_t checkpoint_every;        /* batches (default 1) */
    bool reset_checkpoint;          /* delete the checkpoint in checkpoint_dir first: start over */
    /* Exactly-once predictions (a Kafka source with a group, Kafka
     * predictions, a checkpoint_dir): the predictions of the batches since
     * the last checkpoint and the source offsets after them are committed in
     * one Kafka transaction (transactional.id from the group and the topics),
     * the checkpoint written just before it and the previous one kept, so
     * that a read_committed consumer sees each record's prediction once
     * across crashes; Kafka dead letters on the same brokers go into the same
     * transactions. Batches are read on the run's thread (no pipeline).
     * Without it predictions are at-least-once: after a crash those of the
     * batches since the last checkpoint are written again. */
    bool exactly_once;

    /* limits: 0 means none */
    uint64_t max_rows;
    int64_t max_ms;

    /* what the front end hears (any may be NULL) */
    sf_log_fn log; /* NULL: the context's log */
    void *log_user;
    void (*on_batch)(void *user, const sf_stream_batch_metrics *m);
    void (*on_progress)(void *user, const sf_stream_progress *p);
    void *user;                /* given to on_batch and on_progress */
    int64_t progress_every_ms; /* default 1000 */
    /* Each bad record: where ("partition 0 offset 12", "line 5") and why.
     * Unlike the other callbacks it may run on the pipeline's reading thread,
     * with a lock of the stream held: keep it short, and call nothing of the
     * stream from it. */
    void (*on_bad_record)(void *user, const char *where, const char *why);
} sf_stream_options;

SF_API void sf_stream_options_init(sf_stream_options *o);

typedef struct sf_stream sf_stream;

/* A stream on ctx with a copy of *o. Nothing is opened yet. */
SF_API sf_status sf_stream_create(sf_context *ctx, const sf_stream_options *o, sf_stream **out);
SF_API void sf_stream_destroy(sf_stream *s); /* NULL: nothing */

/* Open the source and outputs (resuming from the checkpoint if one is
 * there), then learn until the source ends, a limit is reached or a stop is
 * requested; finish the batch, write the outputs, the model and the
 * checkpoint, and commit upstream. Returns SF_OK or the failure;
 * sf_stream_error() then says what failed. */
SF_API sf_status sf_stream_run(sf_stream *s);

/* Ask the run to finish cleanly at the next batch boundary. Async-signal-safe. */
SF_API void sf_stream_request_stop(sf_stream *s);

/* The current model (with classes, feature names and counts), owned by the
 * caller (sf_model_destroy). SF_ERR_EMPTY while the warm-up has no model. */
SF_API sf_status sf_stream_model_snapshot(sf_stream *s, sf_model **out);
SF_API void sf_stream_get_counters(sf_stream *s, sf_stream_counters *out);

/* The source's partitions (Kafka; 0 for other sources): the consumer's
 * position (next offset it reads, -1 unknown) and the broker's high
 * watermark (-1 unknown) as last fetched; no network round trip. Up to max
 * entries; returns how many. Call it from on_batch or on_progress. */
typedef struct sf_stream_partition {
    int32_t partition;
    int64_t position, high_watermark;
} sf_stream_partition;
SF_API size_t sf_stream_partitions(sf_stream *s, sf_stream_partition *out, size_t max);
/* The source cannot reach its brokers at the moment (Kafka; false for other
 * sources). Call it from on_batch or on_progress. */
SF_API bool sf_stream_source_down(sf_stream *s);

/* The message of the last failure ("" if none); owned by the stream. */
SF_API const char *sf_stream_error(const sf_stream *s);

#ifdef __cplusplus
}
#endif

#endif
