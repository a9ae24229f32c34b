/*
 * train_mpi.c — `mpirun -np N streamfit train`: each rank parses its own
 * part of the input file (cut at line boundaries), keeps its rows, and the
 * trainer spans the ranks (sf_trainer_span_ranks): least squares merges the
 * ranks' statistics, logistic and softmax sum each iteration's loss,
 * gradient and Hessian. Rows never move. Bad records are reported once, by
 * rank 0, with the file's line numbers; --on-error fail stops every rank
 * with status 1; rank 0 writes the model.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "class_labels.h"
#include "cli.h"
#include "mpi_classes.h"
#include "sf_mpi.h"
#include "train.h"

/* The first bad records of one rank, as sent to rank 0. */
#define BAD_KEPT 10
typedef struct bad_report {
    uint64_t bad;
    uint64_t kept;
    sf_parse_error e[BAD_KEPT];
} bad_report;

/* Whether every rank is ok; the lowest failing rank says why (its message). */
static bool all_ok(bool ok, const char *msg)
{
    uint64_t first_failed = ok ? 0 : (uint64_t)(sf_mpi_size() - sf_mpi_rank());
    if (sf_mpi_allreduce_max_u64(&first_failed) != SF_OK) {
        cli_error("MPI: a collective call failed");
        return false;
    }
    if (!ok && first_failed == (uint64_t)(sf_mpi_size() - sf_mpi_rank()) && msg)
        cli_error("%s", msg);
    return first_failed == 0;
}

/* Every rank's bad records to rank 0, which prints the first few in line
 * order and the total (or, with --on-error fail, the first one). Returns
 * SF_EXIT_OK or the status every rank leaves with. */
static int report_bad(const train_args *a, const sf_parse_error *errs, size_t n_errs, uint64_t bad,
                      uint64_t rows_total, const char *what)
{
    uint64_t total = bad;
    if (sf_mpi_allreduce_sum_u64(&total, 1) != SF_OK) return SF_EXIT_FAILURE;
    if (total == 0) return SF_EXIT_OK;
    bad_report mine;
    memset(&mine, 0, sizeof mine);
    mine.bad = bad;
    mine.kept = n_errs < BAD_KEPT ? n_errs : BAD_KEPT;
    if (mine.kept) memcpy(mine.e, errs, sizeof(sf_parse_error) * mine.kept);
    size_t ranks = (size_t)sf_mpi_size();
    bad_report *all = sf_mpi_rank() == 0 ? calloc(ranks, sizeof *all) : NULL;
    bad_report scratch;
    bool ok = all_ok(sf_mpi_rank() != 0 || all, "out of memory");
    if (ok && sf_mpi_gather_bytes(&mine, sizeof mine, all ? all : &scratch, 0) != SF_OK) ok = false;
    if (ok && sf_mpi_rank() == 0) {
        size_t shown = 0;
        for (size_t r = 0; r < ranks; r++)
            for (size_t k = 0; k < all[r].kept; k++) {
                if (a->in.on_error == CLI_ON_ERROR_FAIL) {
                    if (shown++ == 0)
                        cli_error("line %llu: %s (--on-error fail)",
                                  (unsigned long long)all[r].e[k].line, all[r].e[k].reason);
                } else {
                    cli_report_bad_row(all[r].e[k].line, all[r].e[k].reason, &shown);
                }
            }
        if (a->in.on_error != CLI_ON_ERROR_FAIL) {
            if (what) fprintf(stderr, "streamfit: %s\n", what);
            cli_report_bad_total(total, shown, (size_t)rows_total);
        }
    }
    free(all);
    if (!ok) return SF_EXIT_FAILURE;
    return a->in.on_error == CLI_ON_ERROR_FAIL ? SF_EXIT_FAILURE : SF_EXIT_OK;
}

/* Rows whose label is no class are bad records: kept aside with their line. */
static int drop_unknown_classes(train_args *a, sf_table *t, const double *classes, size_t K,
                                uint64_t rows_total)
{
    sf_parse_error errs[BAD_KEPT];
    size_t n_errs = 0, w = 0;
    uint64_t bad = 0;
    for (size_t i = 0; i < t->rows; i++) {
        bool keep =
            sf_class_label_valid(a->fit.model, t->y[i]) && sf_class_index(classes, K, t->y[i]) >= 0;
        if (!keep) {
            if (n_errs < BAD_KEPT) {
                errs[n_errs].line = t->line[i];
                snprintf(errs[n_errs].reason, sizeof errs[n_errs].reason,
                         "unknown class label %.17g%s", t->y[i],
                         a->fit.model == SF_MODEL_SOFTMAX ? " (classes are integers)"
                                                          : " (logistic classes are 0 and 1)");
                n_errs++;
            }
            bad++;
            continue;
        }
        if (w != i) {
            memmove(t->X + w * t->d, t->X + i * t->d, sizeof(double) * t->d);
            t->line[w] = t->line[i];
        }
        t->y[w] = (double)sf_class_index(classes, K, t->y[i]);
        w++;
    }
    t->rows = w;
    t->bad_rows += bad;
    return report_bad(a, errs, n_errs, bad, rows_total, "rows with unknown class labels");
}

/* This rank's part, with the file's line numbers and the common width. */
static int read_part(train_args *a, sf_table *t)
{
    char err[512] = "";
    uint64_t part_lines = 0, before = 0, width = 0;
    sf_status st = sf_parse_file_part(a->in.path, &a->in.parse, (unsigned)sf_mpi_rank(),
                                      (unsigned)sf_mpi_size(), t, &part_lines, err, sizeof err);
    if (!all_ok(st == SF_OK, err[0] ? err : sf_strerror(st))) return SF_EXIT_FAILURE;
    if (sf_mpi_exscan_sum_u64(part_lines, &before) != SF_OK) return SF_EXIT_FAILURE;
    for (size_t i = 0; i < t->rows; i++)
        t->line[i] += before;
    for (size_t k = 0; k < t->n_errors; k++)
        t->errors[k].line += before;
    width = t->d;
    if (sf_mpi_allreduce_max_u64(&width) != SF_OK) return SF_EXIT_FAILURE;
    st = sf_table_widen(t, (size_t)width); /* LIBSVM parts see different largest indices */
    if (!all_ok(st == SF_OK, "out of memory")) return SF_EXIT_FAILURE;
    return SF_EXIT_OK;
}

/* Ranks other than 0 say only what went wrong, with their rank: the
 * notices (the device chosen, say) are rank 0's to give. */
static void other_rank_log(void *user, sf_log_level level, const char *msg)
{
    (void)user;
    if (level == SF_LOG_ERROR) fprintf(stderr, "streamfit: rank %d: %s\n", sf_mpi_rank(), msg);
}

static int fit_across_ranks(train_args *a, sf_table *t, const double *classes, size_t K,
                            const sf_table *info)
{
    sf_context *ctx = cli_context(a->device, a->in.parse.threads,
                                  sf_mpi_rank() == 0 ? cli_log : other_rank_log, &a->verbose);
    if (!all_ok(ctx != NULL, NULL)) {
        sf_context_destroy(ctx);
        return SF_EXIT_FAILURE;
    }
    sf_trainer *tr = NULL;
    a->fit.borrow_rows = true;
    sf_status st = sf_trainer_create(ctx, &a->fit, t->d, K, &tr);
    if (st == SF_OK) st = sf_trainer_span_ranks(tr);
    size_t step = (size_t)a->batch_rows;
    for (size_t r = 0; st == SF_OK && r < t->rows; r += step) {
        size_t n = t->rows - r < step ? t->rows - r : step;
        st = sf_trainer_add_batch(tr, t->X + r * t->d, t->y + r, n);
    }
    char msg[256];
    snprintf(msg, sizeof msg, "training failed: %s", sf_strerror(st));
    int rc =
        all_ok(st == SF_OK, msg) ? train_finish(a, ctx, tr, info, classes, K) : SF_EXIT_FAILURE;
    if (a->verbose) { /* what this rank spent on MPI; the bound is O(d^2) per iteration */
        sf_mpi_traffic tf;
        sf_mpi_traffic_get(&tf);
        sf_fit_report rep;
        sf_trainer_report(tr, &rep);
        size_t P = (K > 2 ? K : 1) * (t->d + 1);
        fprintf(stderr,
                "streamfit: MPI: rank %d sent %llu bytes in %llu calls, %.3f s in MPI calls "
                "(%d iterations; d^2 bound per iteration %zu bytes)\n",
                sf_mpi_rank(), (unsigned long long)tf.bytes_sent, (unsigned long long)tf.calls,
                tf.seconds, rep.iterations, sizeof(double) * (P * P + P + 2));
    }
    sf_trainer_destroy(tr);
    sf_context_destroy(ctx);
    return rc;
}

int train_mpi(train_args *a)
{
    if (strcmp(a->in.path, "-") == 0) {
        if (sf_mpi_rank() == 0)
            cli_error("under MPI, --input must be a file (each rank reads its part)");
        return SF_EXIT_USAGE;
    }
    /* Without --threads, the ranks on a host share its cores. */
    if (a->in.parse.threads <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        long per = cores > 0 ? cores / sf_mpi_local_size() : 1;
        a->in.parse.threads = per > 0 ? (int)per : 1;
    }
    double t0 = sf_clock_mono_s();
    sf_table t;
    memset(&t, 0, sizeof t);
    int rc = read_part(a, &t);
    uint64_t counts[2] = {t.rows, t.bad_rows};
    if (rc == SF_EXIT_OK && sf_mpi_allreduce_sum_u64(counts, 2) != SF_OK) rc = SF_EXIT_FAILURE;
    if (rc == SF_EXIT_OK) rc = report_bad(a, t.errors, t.n_errors, t.bad_rows, counts[0], NULL);
    if (rc == SF_EXIT_OK && counts[0] == 0) {
        if (sf_mpi_rank() == 0) cli_error("no data rows in input");
        rc = SF_EXIT_FAILURE;
    }
    if (rc == SF_EXIT_OK && a->verbose && sf_mpi_rank() == 0)
        fprintf(stderr, "streamfit: %d ranks parsed %llu rows x %zu features in %.1f ms\n",
                sf_mpi_size(), (unsigned long long)counts[0], t.d, (sf_clock_mono_s() - t0) * 1e3);
    double *classes = NULL;
    size_t K = 0;
    if (rc == SF_EXIT_OK &&
        (a->fit.model == SF_MODEL_LOGISTIC || a->fit.model == SF_MODEL_SOFTMAX)) {
        char why[160] = "";
        sf_status st =
            sf_mpi_class_labels(a->fit.model, t.y, t.rows, &classes, &K, why, sizeof why);
        if (st == SF_OK) {
            rc = drop_unknown_classes(a, &t, classes, K, counts[0]);
        } else {
            if (sf_mpi_rank() == 0) cli_error("%s", why[0] ? why : sf_strerror(st));
            rc = SF_EXIT_FAILURE;
        }
    }
    uint64_t kept[2] = {t.rows, t.bad_rows};
    if (rc == SF_EXIT_OK && sf_mpi_allreduce_sum_u64(kept, 2) != SF_OK) rc = SF_EXIT_FAILURE;
    if (rc == SF_EXIT_OK) {
        sf_table info = t; /* names from this rank, counts of all */
        info.rows = (size_t)kept[0];
        info.bad_rows = kept[1];
        rc = fit_across_ranks(a, &t, classes, K, &info);
    }
    free(classes);
    sf_table_free(&t);
    return rc;
}
