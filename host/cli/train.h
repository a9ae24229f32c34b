/*
 * train.h — what `streamfit train`'s two input paths share: the parsed
 * options, the choice between them, and the fit-report-save ending.
 */
#ifndef STREAMFIT_CLI_TRAIN_H
#define STREAMFIT_CLI_TRAIN_H

#include "cli.h"
#include "parse.h"

typedef struct train_args {
    cli_input in;
    sf_fit_params fit;
    bool model_set;
    sf_device_kind device;
    long batch_rows;
    const char *out;
    bool verbose;
} train_args;

/* Least squares on CSV that goes through a staging ring (asked for, or the
 * default on a GPU) is parsed window by window into the ring's slots.
 * train_may_stream: the model, format and --staging allow it (the input is
 * then opened as a row stream before the backend starts); train_streams:
 * with this backend it does. train_stream consumes the opened stream. */
bool train_may_stream(const train_args *a);
bool train_streams(const train_args *a, const sf_context *ctx);
int train_stream(train_args *a, sf_context *ctx, sf_row_stream *rs, sf_table *info);

/* Under MPI with several ranks: each rank parses its part of the file and
 * the fit spans the ranks (train_mpi.c). */
int train_mpi(train_args *a);

/* Fit, say what the solver did (--verbose), name the features, count the
 * rows, save. info: the input's names and row counts. */
int train_finish(const train_args *a, sf_context *ctx, sf_trainer *tr, const sf_table *info,
                 const double *classes, size_t K);

#endif
