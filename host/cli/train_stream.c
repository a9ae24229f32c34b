/*
 * train_stream.c — `streamfit train` for least squares on CSV through a
 * staging ring: each window of the input is parsed, by all cores, straight
 * into the ring slot that sf_trainer_stage hands out, and committed; while
 * the next window is parsed the GPU copies the previous slot and folds it
 * into its statistics. Bad records are reported as they are met (the first
 * few with their line) and skipped, or stop the run with --on-error fail.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "parse.h"
#include "train.h"

bool train_may_stream(const train_args *a)
{
    bool lsq = a->fit.model == SF_MODEL_OLS || a->fit.model == SF_MODEL_RIDGE;
    return lsq && a->in.parse.format == SF_FORMAT_CSV && a->fit.staging != SF_STAGING_DIRECT;
}

bool train_streams(const train_args *a, const sf_context *ctx)
{
    if (!train_may_stream(a)) return false;
    return a->fit.staging == SF_STAGING_RING || strcmp(sf_context_backend_name(ctx), "cuda") == 0;
}

/* Report the bad records this window added; false when they end the run. */
static bool report_bad(const train_args *a, const sf_table *info, size_t added, size_t *shown)
{
    if (!added) return true;
    const sf_parse_error *e = &info->errors[info->n_errors - added];
    if (a->in.on_error == CLI_ON_ERROR_FAIL) {
        cli_error("line %llu: %s (--on-error fail)", (unsigned long long)e->line, e->reason);
        return false;
    }
    for (size_t k = 0; k < added; k++)
        cli_report_bad_row(e[k].line, e[k].reason, shown);
    return true;
}

int train_stream(train_args *a, sf_context *ctx, sf_row_stream *rs, sf_table *info)
{
    double t0 = sf_clock_mono_s();
    sf_trainer *tr = NULL;
    a->fit.borrow_rows = false; /* the slots are filled again */
    sf_status st = sf_trainer_create(ctx, &a->fit, info->d, 0, &tr);
    int rc = SF_EXIT_OK;
    size_t shown = 0, rows = 0;
    do {
        double *X = NULL, *y = NULL;
        size_t cap = 0, added = 0;
        if (st == SF_OK) st = sf_trainer_stage(tr, &X, &y, &cap);
        if (st == SF_OK) st = sf_row_stream_next(rs, info, X, y, NULL, cap, &rows, &added);
        if (st == SF_OK && !report_bad(a, info, added, &shown)) rc = SF_EXIT_FAILURE;
        if (st == SF_OK && rc == SF_EXIT_OK && rows) st = sf_trainer_commit(tr, rows);
    } while (st == SF_OK && rc == SF_EXIT_OK && rows);
    if (st != SF_OK) {
        cli_error("training failed: %s", sf_strerror(st));
        rc = SF_EXIT_FAILURE;
    }
    if (rc == SF_EXIT_OK) cli_report_bad_total(info->bad_rows, shown, info->rows);
    if (rc == SF_EXIT_OK && a->verbose)
        fprintf(stderr,
                "streamfit: parsed %zu rows x %zu features (%.1f MB) into %s staging slots in "
                "%.1f ms\n",
                info->rows, info->d, (double)info->bytes / 1e6, sf_context_backend_name(ctx),
                (sf_clock_mono_s() - t0) * 1e3);
    if (rc == SF_EXIT_OK) rc = train_finish(a, ctx, tr, info, NULL, 0);
    sf_trainer_destroy(tr);
    return rc;
}
