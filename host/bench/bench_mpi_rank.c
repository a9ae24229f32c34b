/*
 * bench_mpi_rank.c — one rank of the mpi:NxT platform of `streamfit bench`
 * (started by bench_mpi.c as `mpirun -np N streamfit bench --mpi-worker
 * FILE ...`). As `mpirun streamfit train` does, each rank parses its own
 * part of the CSV (cut at line boundaries) and the trainer spans the ranks:
 * least squares merges the ranks' statistics, logistic and softmax sum each
 * iteration's gradient and Hessian. The holdout is the file's last rows,
 * wherever they fall; each rank predicts its own and the scores are summed.
 *
 * Each repeat starts at a barrier; every phase is reported as the slowest
 * rank's, wall as the slowest rank's parse + transfer + solve. Rank 0 writes
 * the result (bench_send_result) to FILE with the ranks' hosts and the MPI
 * traffic counted by sf_mpi.c's wrappers. On a failure no result is written:
 * the failing rank says why on stderr and every rank exits 1.
 */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "bench_platform.h"
#include "class_labels.h"
#include "cli.h"
#include "clock.h"
#include "metrics.h"
#include "mpi_classes.h"
#include "parse.h"
#include "sf_mpi.h"

#define HOST_LEN 64

/* This rank's rows: the training ones first, then its held-out ones. */
typedef struct rank_rows {
    sf_table t;
    size_t n_train; /* of t.rows */
    size_t K;
} rank_rows;

/* Whether every rank is ok; a failing rank says why first. */
static bool agree(bool ok, const char *why)
{
    if (!ok && why)
        fprintf(stderr, "streamfit bench: rank %d: %s\n", sf_mpi_rank(), why[0] ? why : "failed");
    uint64_t failed = ok ? 0 : 1;
    if (sf_mpi_allreduce_max_u64(&failed) != SF_OK) return false;
    return failed == 0;
}

/* Labels to class indices under the policy of the union of every rank's. */
static bool map_classes(const bench_config *c, rank_rows *rr)
{
    char why[200] = "";
    double *classes = NULL;
    sf_status st =
        sf_mpi_class_labels(c->model, rr->t.y, rr->t.rows, &classes, &rr->K, why, sizeof why);
    for (size_t i = 0; st == SF_OK && i < rr->t.rows; i++) {
        long k = sf_class_index(classes, rr->K, rr->t.y[i]);
        if (k < 0) {
            snprintf(why, sizeof why, "line %llu: label %.17g is no %s class",
                     (unsigned long long)rr->t.line[i], rr->t.y[i], sf_model_kind_name(c->model));
            st = SF_ERR_BAD_LABEL;
        } else {
            rr->t.y[i] = (double)k;
        }
    }
    free(classes);
    if (st != SF_OK && !why[0]) snprintf(why, sizeof why, "%s", sf_strerror(st));
    return agree(st == SF_OK, why);
}

/* Parse this rank's part; count the rows before it to place the holdout. */
static bool read_rows(const bench_config *c, int threads, rank_rows *rr)
{
    memset(rr, 0, sizeof *rr);
    sf_parse_options opt;
    sf_parse_options_init(&opt);
    opt.has_header = c->has_header;
    opt.threads = threads;
    char err[400] = "";
    uint64_t part_lines = 0, before = 0;
    sf_status st =
        sf_parse_file_part(c->input, &opt, (unsigned)sf_mpi_rank(), (unsigned)sf_mpi_size(), &rr->t,
                           &part_lines, err, sizeof err);
    if (st != SF_OK && !err[0]) snprintf(err, sizeof err, "%s: %s", c->input, sf_strerror(st));
    if (!agree(st == SF_OK, err)) return false;
    uint64_t width = rr->t.d, all = rr->t.rows;
    if (sf_mpi_allreduce_max_u64(&width) != SF_OK || sf_mpi_allreduce_sum_u64(&all, 1) != SF_OK ||
        sf_mpi_exscan_sum_u64(rr->t.rows, &before) != SF_OK)
        return agree(false, "MPI: a collective call failed");
    st = sf_table_widen(&rr->t, (size_t)width);
    if (!agree(st == SF_OK, "out of memory")) return false;
    uint64_t n_train = all - bench_holdout_rows((size_t)all, c->holdout);
    if (!agree(n_train > 0 || sf_mpi_rank() != 0, "no rows left to train on")) return false;
    uint64_t mine = before >= n_train ? 0 : n_train - before;
    rr->n_train = mine < rr->t.rows ? (size_t)mine : rr->t.rows;
    if (c->model == SF_MODEL_LOGISTIC || c->model == SF_MODEL_SOFTMAX) return map_classes(c, rr);
    return true;
}

/* Regression scores as sf_metrics_regression computes them, on the union
 * of the ranks' held-out rows: sums of counts, labels, squared errors. */
static sf_status regression_quality(const double *y, const double *pred, size_t h, double *q)
{
    double s[2] = {(double)h, 0};
    for (size_t i = 0; i < h; i++)
        s[1] += y[i];
    sf_status st = sf_mpi_allreduce_sum(s, 2);
    if (st != SF_OK) return st;
    double mean = s[0] > 0 ? s[1] / s[0] : 0, e[2] = {0, 0};
    for (size_t i = 0; i < h; i++) {
        double err = y[i] - pred[i], dev = y[i] - mean;
        e[0] += err * err;
        e[1] += dev * dev;
    }
    st = sf_mpi_allreduce_sum(e, 2);
    q[0] = s[0] > 0 ? sqrt(e[0] / s[0]) : NAN;
    q[1] = e[1] > 0 ? 1.0 - e[0] / e[1] : (e[0] == 0 ? 1.0 : 0.0);
    return st;
}

/* Accuracy and log loss are means over rows: each rank's, weighted by its
 * rows. */
static sf_status classification_quality(const double *y, const double *proba, size_t h, size_t K,
                                        double *q)
{
    double s[3] = {(double)h, 0, 0};
    sf_status st = SF_OK;
    size_t *label = h ? malloc(sizeof(size_t) * h) : NULL;
    if (h && !label) st = SF_ERR_NO_MEMORY;
    for (size_t i = 0; st == SF_OK && i < h; i++)
        label[i] = (size_t)y[i];
    sf_classification_metrics m;
    if (st == SF_OK && h) {
        st = sf_metrics_classification(label, proba, h, K, &m);
        if (st == SF_OK) {
            s[1] = m.accuracy * (double)h;
            s[2] = m.log_loss * (double)h;
            sf_classification_metrics_free(&m);
        }
    }
    free(label);
    if (!agree(st == SF_OK, sf_strerror(st))) return SF_ERR_IO;
    st = sf_mpi_allreduce_sum(s, 3);
    q[0] = s[0] > 0 ? s[1] / s[0] : NAN;
    q[1] = s[0] > 0 ? s[2] / s[0] : NAN;
    return st;
}

static bool quality(sf_context *ctx, const sf_model *m, const rank_rows *rr, bench_result *r,
                    double *predict_s)
{
    const sf_table *t = &rr->t;
    size_t h = t->rows - rr->n_train, K = rr->K;
    const double *X = t->X + rr->n_train * t->d, *y = t->y + rr->n_train;
    double *value = malloc(sizeof(double) * (h + 1));
    double *proba = K ? malloc(sizeof(double) * (h * K + 1)) : NULL;
    sf_status st = value && (!K || proba) ? SF_OK : SF_ERR_NO_MEMORY;
    double t0 = sf_clock_mono_s();
    if (st == SF_OK && h) st = sf_predict(ctx, m, X, h, value, proba);
    *predict_s = sf_clock_mono_s() - t0;
    bool ok = agree(st == SF_OK, sf_strerror(st));
    if (ok) {
        st = K ? classification_quality(y, proba, h, K, r->q)
               : regression_quality(y, value, h, r->q);
        ok = st == SF_OK;
        r->has_quality = ok && isfinite(r->q[0]);
    }
    free(value);
    free(proba);
    return ok;
}

/* What this rank's MPI calls did between two snapshots, summed (bytes) and
 * maximized (seconds) over the ranks; the bound is train_mpi's. */
static void record_traffic(const sf_mpi_traffic *a, const sf_mpi_traffic *b, const sf_trainer *tr,
                           size_t d, size_t K, bench_result *r)
{
    uint64_t bytes = b->bytes_sent - a->bytes_sent;
    double seconds = b->seconds - a->seconds;
    sf_mpi_allreduce_sum_u64(&bytes, 1);
    sf_mpi_allreduce_max(&seconds, 1);
    sf_fit_report rep;
    sf_trainer_report(tr, &rep);
    size_t P = (K > 2 ? K : 1) * (d + 1);
    r->has_mpi = true;
    r->mpi_bytes = bytes;
    r->mpi_calls = b->calls - a->calls;
    r->mpi_seconds = seconds;
    r->mpi_iterations = rep.iterations;
    r->mpi_bound_bytes = (double)(sizeof(double) * (P * P + P + 2));
}

/* One repeat; t gets the slowest rank's phases. */
static bool one_repeat(const bench_config *c, sf_context *ctx, int threads, bool last,
                       bench_result *r, double *t)
{
    rank_rows rr;
    if (!agree(sf_mpi_barrier() == SF_OK, "MPI: barrier failed")) return false;
    double t0 = sf_clock_mono_s();
    bool ok = read_rows(c, threads, &rr);
    double t1 = sf_clock_mono_s();
    sf_fit_params fp;
    bench_fit_params(c, &fp);
    sf_trainer *tr = NULL;
    sf_model *m = NULL;
    sf_mpi_traffic before, after;
    sf_mpi_traffic_get(&before);
    sf_status st = ok ? sf_trainer_create(ctx, &fp, rr.t.d, rr.K, &tr) : SF_ERR_IO;
    if (st == SF_OK) st = sf_trainer_span_ranks(tr);
    for (size_t i = 0; st == SF_OK && i < rr.n_train; i += c->batch_rows) {
        size_t rows = rr.n_train - i < c->batch_rows ? rr.n_train - i : c->batch_rows;
        st = sf_trainer_add_batch(tr, rr.t.X + i * rr.t.d, rr.t.y + i, rows);
    }
    double t2 = sf_clock_mono_s();
    ok = ok && agree(st == SF_OK, sf_strerror(st));
    if (ok) {
        st = sf_trainer_fit(tr, &m);
        ok = agree(st == SF_OK, sf_strerror(st));
    }
    double t3 = sf_clock_mono_s();
    sf_mpi_traffic_get(&after);
    double ph[BENCH_PHASES] = {0};
    ph[BENCH_PARSE] = t1 - t0;
    ph[BENCH_TRANSFER] = t2 - t1;
    ph[BENCH_SOLVE] = t3 - t2;
    ph[BENCH_WALL] = t3 - t0;
    if (ok) ok = quality(ctx, m, &rr, r, &ph[BENCH_PREDICT]);
    if (ok && last) {
        record_traffic(&before, &after, tr, rr.t.d, rr.K, r);
        bench_describe_fit(tr, r);
        ok = agree(bench_keep_coefficients(m, r), "out of memory");
    }
    if (ok) ok = agree(sf_mpi_allreduce_max(ph, BENCH_PHASES) == SF_OK, "MPI: allreduce failed");
    memcpy(t, ph, sizeof ph);
    sf_model_destroy(m);
    sf_trainer_destroy(tr);
    sf_table_free(&rr.t);
    return ok;
}

/* "host (N ranks), other (M ranks)" in rank order, on rank 0. */
static bool name_hosts(bench_result *r)
{
    size_t n = (size_t)sf_mpi_size();
    char mine[HOST_LEN];
    sf_mpi_host(mine, sizeof mine);
    char *all = sf_mpi_rank() == 0 ? calloc(n, HOST_LEN) : NULL;
    char scratch[HOST_LEN];
    if (!agree(sf_mpi_rank() != 0 || all, "out of memory")) return false;
    if (sf_mpi_gather_bytes(mine, HOST_LEN, all ? all : scratch, 0) != SF_OK) {
        free(all);
        return false;
    }
    for (size_t i = 0; all && i < n; i++) {
        const char *h = all + i * HOST_LEN;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strncmp(all + j * HOST_LEN, h, HOST_LEN) == 0;
        if (seen) continue;
        size_t count = 0;
        for (size_t j = i; j < n; j++)
            count += strncmp(all + j * HOST_LEN, h, HOST_LEN) == 0;
        size_t used = strlen(r->hosts);
        snprintf(r->hosts + used, sizeof r->hosts - used, "%s%.*s (%zu rank%s)", used ? ", " : "",
                 HOST_LEN, h, count, count == 1 ? "" : "s");
    }
    free(all);
    return true;
}

static bool write_result(const char *path, const bench_result *r)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return false;
    bool ok = bench_send_result(fd, r);
    return close(fd) == 0 && ok;
}

static int rank_threads(const bench_platform *p)
{
    if (p->threads > 0) return p->threads;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    long per = cores > 0 ? cores / sf_mpi_local_size() : 1;
    return per > 0 ? (int)per : 1;
}

int bench_mpi_rank_main(const bench_config *c)
{
    const bench_platform *p = &c->platforms[0];
    int threads = rank_threads(p);
    bench_result r;
    memset(&r, 0, sizeof r);
    snprintf(r.name, sizeof r.name, "%s", p->name);
    snprintf(r.status, sizeof r.status, "ok");
    snprintf(r.backend, sizeof r.backend, "cpu");
    r.procs = sf_mpi_size();
    r.threads = threads * sf_mpi_size();
    for (int k = 0; k < BENCH_PHASES; k++)
        r.has_phase[k] = true;
    char log_msg[256] = "";
    sf_context *ctx = NULL;
    sf_status st = bench_new_context(threads, SF_DEVICE_CPU, log_msg, &ctx);
    bool ok = agree(st == SF_OK, log_msg[0] ? log_msg : sf_strerror(st));
    for (int rep = 0; ok && rep < c->repeat; rep++) {
        ok = one_repeat(c, ctx, threads, rep == c->repeat - 1, &r, r.t[rep]);
        if (ok) r.n_rep = rep + 1;
    }
    if (ok) ok = name_hosts(&r);
    if (ok) {
        size_t used = strlen(r.detail);
        snprintf(r.detail + used, sizeof r.detail - used,
                 "; %d ranks x %d threads, each parsing its part", sf_mpi_size(), threads);
    }
    if (ok && sf_mpi_rank() == 0 && !write_result(c->mpi_worker, &r)) {
        fprintf(stderr, "streamfit bench: cannot write %s\n", c->mpi_worker);
        ok = false;
    }
    bench_result_free(&r);
    sf_context_destroy(ctx);
    return ok ? SF_EXIT_OK : SF_EXIT_FAILURE;
}
