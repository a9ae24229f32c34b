/*
 * stream.h — the streaming run: records arrive from a source, are parsed and
 * grouped into micro-batches; after a warm-up an exact fit gives the first
 * model; from then on every batch is predicted, scored (test-then-train) and
 * learned from. Predictions, metrics, dead letters, the model and
 * checkpoints go out as the run goes.
 */
#ifndef STREAMFIT_STREAM_H
#define STREAMFIT_STREAM_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record.h"
#include "source.h"
#include "streamfit.h"

typedef struct sf_stream_options {
    sf_source_options source;
    sf_record_format format;
    const char *columns; /* "y,x1,..." or NULL */
    const char *label;   /* name or index, NULL: first column */
    bool header;         /* file sources: a line 1 is a header */
    size_t libsvm_features;
    const char *classes; /* "0,1,2" or NULL */

    sf_fit_params fit;
    sf_device_kind device;
    int threads;

    size_t batch_rows;
    int64_t batch_ms;
    size_t warmup_rows;
    int64_t warmup_ms;
    size_t refit_every;  /* batches (0: never) */
    size_t refit_window; /* rows kept for the refit */

    const char *predictions; /* kafka://…/T | file:PATH | stdout | NULL */
    bool predictions_json;
    const char *metrics_out;       /* path or NULL */
    size_t window;                 /* sliding-window metrics size */
    const char *model_out;         /* path or NULL */
    size_t save_every;             /* batches */
    const char *dead_letter;       /* kafka://…/T | file:PATH | NULL */
    const char *checkpoint_dir;    /* NULL: no checkpoints */
    size_t checkpoint_every;       /* batches */
    const char *const *kafka_conf; /* -X pairs for sinks too */
    bool fail_on_error;            /* --on-error fail */

    uint64_t max_rows; /* 0: no limit */
    int64_t max_ms;    /* 0: no limit */
    bool progress_tty; /* live status line (else plain lines) */
    bool quiet;
    volatile sig_atomic_t *stop; /* set by a signal handler: finish cleanly */
} sf_stream_options;

void sf_stream_options_init(sf_stream_options *o);

typedef struct sf_stream_result {
    uint64_t rows_total, rows_skipped, batches;
    bool resumed;
} sf_stream_result;

/* Run until the source ends, a limit is reached or *stop is set. Messages go
 * to stderr through `log`. Returns SF_OK, or the failure (err holds one line). */
sf_status sf_stream_run(const sf_stream_options *o, sf_stream_result *res, char *err,
                        size_t errlen);

#endif
