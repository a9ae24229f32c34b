/*
 * stream_ranks.c — a streaming run spread over MPI ranks (mpirun -np N
 * streamfit stream). The ranks share the Kafka topic's partitions
 * (partition p is rank p mod N's, statically, so that a restart reads each
 * where the checkpoint says) and learn in lockstep:
 *
 *  - a tick: each rank fills its batch (batch_rows / batch_ms), then every
 *    rank agrees (sf_ranks_tick) whether one failed, whether the run stops
 *    after this tick, and the rows of all; then the collective update of the
 *    trainer (trainer_ranks.c), even with an empty part, so that every rank
 *    holds the model one process learning the union of the batches holds;
 *  - the warm-up's exact fit uses every rank's rows and ends at the same tick;
 *  - rank 0 writes the metrics (every rank's rows scored, every rank's
 *    throughput), the model file and the checkpoint: the model once and every
 *    rank's partitions' positions, gathered at the same tick;
 *  - a checkpoint of N ranks resumes N ranks only (sf_run_restore).
 *
 * Every call but sf_ranks_open, sf_ranks_output_uri and sf_ranks_free is
 * collective; each leaves every rank with the same status.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sf_mpi.h"
#include "stream_internal.h"

static bool is_classifier(const sf_stream_options *o)
{
    return o->fit.model == SF_MODEL_LOGISTIC || o->fit.model == SF_MODEL_SOFTMAX;
}

/* What a spread run cannot do (yet), said before anything opens; the same
 * options on every rank give the same answer. */
static sf_status refuse(sf_run *r)
{
    const sf_stream_options *o = r->o;
    const char *why = NULL;
    if (!o->source || strncmp(o->source, "kafka://", 8) != 0)
        why = "the source must be kafka:// (each rank reads its share of the partitions)";
    else if (o->format != SF_RECORD_LIBSVM && !o->columns)
        why = "the columns must be named (--columns): a rank may see no record before the "
              "warm-up fit";
    else if (is_classifier(o) && !o->classes)
        why = "a classifier needs its classes named (--classes): a rank may see only some";
    else if (o->refit_every)
        why = "--refit-every is not supported (the refit window is one rank's rows)";
    else if (o->fit.solver == SF_SOLVER_QR)
        why = "--solver qr is not supported (the ranks merge co-moments, not R factors)";
    if (!why) return SF_OK;
    snprintf(r->err, sizeof r->err, "under mpirun with %d ranks: %s", r->ranks.size, why);
    return SF_ERR_INVALID_ARGUMENT;
}

sf_status sf_ranks_open(sf_run *r)
{
    sf_run_ranks *k = &r->ranks;
    k->rank = sf_mpi_rank();
    k->size = sf_mpi_active() ? sf_mpi_size() : 1;
    if (k->size == 1) return SF_OK;
    sf_status st = refuse(r);
    size_t n = (size_t)k->size;
    if (st == SF_OK && k->rank == 0) {
        k->rank_rows = calloc(n, sizeof(double));
        k->rank_rps = calloc(n, sizeof(double));
        if (!k->rank_rows || !k->rank_rps) st = SF_ERR_NO_MEMORY;
    }
    return st;
}

void sf_ranks_output_uri(const sf_run *r, const char *uri, char *buf, size_t len)
{
    if (r->ranks.size == 1 || strncmp(uri, "file:", 5) != 0) {
        snprintf(buf, len, "%s", uri);
        return;
    }
    const char *base = strrchr(uri, '/');
    base = base ? base + 1 : uri + 5;
    const char *dot = strrchr(base, '.');
    size_t stem = dot && dot != base ? (size_t)(dot - uri) : strlen(uri);
    snprintf(buf, len, "%.*s.rank%d%s", (int)stem, uri, r->ranks.rank, uri + stem);
}

/* A failure as one number whose maximum over the ranks is the highest
 * status, of the lowest rank that had it: the status, then the rank
 * counted down. */
static uint64_t failure_code(const sf_run *r, sf_status st)
{
    return st == SF_OK ? 0 : ((uint64_t)st << 32) | (uint64_t)(r->ranks.size - 1 - r->ranks.rank);
}

static sf_status decode_failure(sf_run *r, sf_status st, uint64_t code)
{
    if (code == 0) return st;
    sf_status first = (sf_status)(code >> 32);
    int rank = r->ranks.size - 1 - (int)(code & 0xffffffffu);
    if (st == SF_OK) {
        snprintf(r->err, sizeof r->err, "rank %d failed (%s); every rank stops", rank,
                 sf_strerror(first));
        return first;
    }
    return st;
}

sf_status sf_ranks_agree(sf_run *r, sf_status st)
{
    if (r->ranks.size == 1) return st;
    uint64_t code = failure_code(r, st);
    sf_status ast = sf_mpi_allreduce_max_u64(&code);
    if (ast != SF_OK) return st != SF_OK ? st : ast;
    return decode_failure(r, st, code);
}

sf_status sf_ranks_agree_checkpoint(sf_run *r, sf_status st, uint64_t batches)
{
    if (r->ranks.size == 1) return st;
    bool found = st == SF_OK;
    sf_status ast = sf_ranks_agree(r, st == SF_ERR_EMPTY ? SF_OK : st);
    if (ast != SF_OK) return ast;
    uint64_t v[2] = {found, found ? batches : 0};
    ast = sf_mpi_allreduce_sum_u64(v, 2);
    if (ast != SF_OK) return ast;
    uint64_t n = (uint64_t)r->ranks.size;
    if (v[0] == 0 || (v[0] == n && v[1] == batches * n)) return st;
    snprintf(r->err, sizeof r->err,
             "the ranks found different checkpoints in '%.300s': the directory must be the same "
             "one for every rank (a shared filesystem)",
             r->o->checkpoint_dir);
    return SF_ERR_INVALID_ARGUMENT;
}

enum { TICK_STOP, TICK_ROWS, TICK_SKIPPED, TICK_WARM, TICK_WARM_TIME, TICK_LOST, TICK_N };

sf_status sf_ranks_tick(sf_run *r, sf_status st, bool *stop)
{
    sf_run_ranks *k = &r->ranks;
    const sf_stream_options *o = r->o;
    const sf_fill *f = &r->fill_here;
    int64_t now = sf_clock_mono_us();
    bool out_of_time = o->max_ms > 0 && now - r->start_us >= o->max_ms * 1000;
    uint64_t v[TICK_N] = {0};
    v[TICK_STOP] = sf_run_stop_requested(r) || out_of_time || r->lost_stop ||
                   r->stop_status != SF_OK || r->eof;
    v[TICK_ROWS] = r->batch.rows;
    v[TICK_SKIPPED] = f->skipped;
    v[TICK_WARM] = r->trainer ? 0 : r->warm_rows + r->batch.rows;
    v[TICK_WARM_TIME] =
        !r->trainer && o->warmup_ms > 0 && r->warm_rows + r->batch.rows > 0 &&
        now - (r->warm_rows ? r->warm_start_us : r->batch.first_us) >= o->warmup_ms * 1000;
    v[TICK_LOST] = f->rows_lost;
    uint64_t code = failure_code(r, st);
    sf_status ast = sf_mpi_allreduce_sum_u64(v, TICK_N);
    if (ast == SF_OK) ast = sf_mpi_allreduce_max_u64(&code);
    if (ast != SF_OK) return st != SF_OK ? st : ast;
    st = decode_failure(r, st, code);
    /* The counters are every rank's: the same on all, as in the checkpoint. */
    k->tick_rows = v[TICK_ROWS];
    k->rows_read += r->batch.rows;
    r->rows_total += v[TICK_ROWS];
    r->rows_skipped += v[TICK_SKIPPED] - f->skipped; /* next_batch added this rank's */
    r->rows_lost += v[TICK_LOST] - f->rows_lost;
    if (!r->trainer) k->warm_rows_all = v[TICK_WARM];
    bool limit = o->max_rows && r->rows_total >= o->max_rows;
    *stop = v[TICK_STOP] > 0 || limit;
    k->warm_enough =
        !r->trainer && (k->warm_rows_all >= o->warmup_rows || v[TICK_WARM_TIME] > 0 || *stop);
    return st;
}

/* One rank's rows as the gather sends them: labels, predictions, then the
 * probabilities. */
static sf_status gather_rows(sf_run *r, void **all, size_t *lens)
{
    size_t n = r->batch.rows, K = r->K, per = 2 + K;
    double *mine = malloc(sizeof(double) * (n * per + 1));
    sf_status st = mine ? SF_OK : SF_ERR_NO_MEMORY;
    for (size_t i = 0; st == SF_OK && i < n; i++) {
        mine[i] = r->batch.y[i];
        mine[n + i] = r->pred[i];
    }
    if (st == SF_OK && K && n) memcpy(mine + 2 * n, r->proba, sizeof(double) * n * K);
    /* a rank without its buffer takes part with no rows */
    sf_status gst = sf_mpi_gatherv_bytes(mine, mine ? sizeof(double) * n * per : 0, all, lens, 0);
    free(mine);
    return st != SF_OK ? st : gst;
}

sf_status sf_ranks_gather_batch(sf_run *r)
{
    sf_run_ranks *k = &r->ranks;
    size_t *lens = k->rank == 0 ? calloc((size_t)k->size, sizeof(size_t)) : NULL;
    void *all = NULL;
    sf_status st = k->rank == 0 && !lens ? SF_ERR_NO_MEMORY : SF_OK;
    sf_status gst = gather_rows(r, &all, lens);
    if (st == SF_OK) st = gst;
    size_t K = r->K, per = 2 + K, total = 0;
    for (int q = 0; st == SF_OK && k->rank == 0 && q < k->size; q++)
        total += lens[q] / sizeof(double) / per;
    if (st == SF_OK && k->rank == 0) {
        free(k->y);
        free(k->pred);
        free(k->proba);
        k->y = malloc(sizeof(double) * (total + 1));
        k->pred = malloc(sizeof(double) * (total + 1));
        k->proba = K ? malloc(sizeof(double) * (total * K + 1)) : NULL;
        if (!k->y || !k->pred || (K && !k->proba)) st = SF_ERR_NO_MEMORY;
    }
    const double *p = all;
    size_t at = 0;
    for (int q = 0; st == SF_OK && k->rank == 0 && q < k->size; q++) {
        size_t n = lens[q] / sizeof(double) / per;
        memcpy(k->y + at, p, sizeof(double) * n);
        memcpy(k->pred + at, p + n, sizeof(double) * n);
        if (K) memcpy(k->proba + at * K, p + 2 * n, sizeof(double) * n * K);
        p += n * per;
        at += n;
    }
    k->rows = st == SF_OK ? at : 0;
    if (st == SF_OK && k->rank == 0)
        sf_stream_metrics_add(&r->metrics, k->y, k->pred, k->proba, k->rows);
    free(all);
    free(lens);
    return sf_ranks_agree(r, st);
}

sf_status sf_ranks_gather_throughput(sf_run *r)
{
    sf_run_ranks *k = &r->ranks;
    double secs = (double)(sf_clock_mono_us() - r->start_us) / 1e6;
    double mine[2] = {(double)k->rows_read, secs > 0 ? (double)k->rows_read / secs : 0};
    double *all = k->rank == 0 ? malloc(sizeof mine * (size_t)k->size) : NULL;
    double dummy[2];
    sf_status st = sf_mpi_gather_bytes(mine, sizeof mine, all ? (void *)all : dummy, 0);
    for (int q = 0; st == SF_OK && all && q < k->size; q++) {
        k->rank_rows[q] = all[2 * q];
        k->rank_rps[q] = all[2 * q + 1];
    }
    free(all);
    return st;
}

void sf_ranks_write_metrics(const sf_run *r, FILE *f)
{
    const sf_run_ranks *k = &r->ranks;
    if (k->size == 1 || !k->rank_rows) return;
    fputs("\"ranks\":[", f);
    for (int q = 0; q < k->size; q++)
        fprintf(f, "%s{\"rank\":%d,\"rows\":%.0f,\"throughput_rps\":%.1f}", q ? "," : "", q,
                k->rank_rows[q], k->rank_rps[q]);
    fputs("],", f);
}

sf_status sf_ranks_positions(sf_run *r, sf_status st, const char *blob, char **merged)
{
    sf_run_ranks *k = &r->ranks;
    *merged = NULL;
    size_t *lens = k->rank == 0 ? calloc((size_t)k->size, sizeof(size_t)) : NULL;
    if (k->rank == 0 && !lens && st == SF_OK) st = SF_ERR_NO_MEMORY;
    const char *mine = st == SF_OK && blob ? blob : "";
    void *all = NULL;
    sf_status gst = sf_mpi_gatherv_bytes(mine, strlen(mine) + 1, &all, lens, 0);
    if (st == SF_OK) st = gst;
    st = sf_ranks_agree(r, st);
    if (st == SF_OK && k->rank == 0) {
        const char **blobs = malloc(sizeof(char *) * (size_t)k->size);
        size_t at = 0;
        for (int q = 0; blobs && q < k->size; q++) {
            blobs[q] = (const char *)all + at;
            at += lens[q];
        }
        *merged = blobs ? sf_source_merge_spread(blobs, k->size) : NULL;
        free(blobs);
        if (!*merged) {
            snprintf(r->err, sizeof r->err, "the ranks' source positions cannot be merged");
            st = SF_ERR_NO_MEMORY;
        }
    }
    free(all);
    free(lens);
    return st; /* rank 0's merge failure is agreed on by the checkpoint's write */
}

/* The model's coefficients and intercepts, packed (n values). */
static double *pack_model(sf_model *m, size_t *n)
{
    size_t outs = sf_model_n_outputs(m), d = sf_model_n_features(m);
    *n = outs * (d + 1);
    double *v = malloc(sizeof(double) * (*n + 1));
    for (size_t o = 0; v && o < outs; o++)
        memcpy(v + o * d, sf_model_coefficients(m, o), sizeof(double) * d);
    if (v) memcpy(v + outs * d, sf_model_intercepts(m), sizeof(double) * outs);
    return v;
}

sf_status sf_ranks_same_model(sf_run *r)
{
    sf_run_ranks *k = &r->ranks;
    if (k->size == 1) return SF_OK;
    sf_model *m = NULL;
    size_t n = 0;
    sf_status st = sf_run_model(r, r->rows_skipped, &m);
    double *mine = st == SF_OK ? pack_model(m, &n) : NULL;
    sf_model_destroy(m);
    if (st == SF_OK && !mine) st = SF_ERR_NO_MEMORY;
    st = sf_ranks_agree(r, st); /* then n is the same on every rank */
    size_t bytes = sizeof(double) * n;
    char *all = st == SF_OK && k->rank == 0 ? malloc(bytes * (size_t)k->size + 1) : NULL;
    char dummy[1];
    if (st == SF_OK) st = sf_mpi_gather_bytes(mine, bytes, all ? all : dummy, 0);
    int differs = 0;
    for (int q = 1; st == SF_OK && all && q < k->size && !differs; q++)
        if (memcmp(all, all + bytes * (size_t)q, bytes) != 0) differs = q;
    if (st == SF_OK && k->rank == 0 && !all) st = SF_ERR_NO_MEMORY;
    if (st == SF_OK && differs) {
        snprintf(r->err, sizeof r->err, "rank %d's model differs from rank 0's", differs);
        st = SF_ERR_IO;
    }
    if (st == SF_OK && k->rank == 0)
        sf_run_log(r, SF_LOG_INFO,
                   "the %d ranks hold the same model, bit for bit (version %s, %zu values)",
                   k->size, r->version, n);
    free(all);
    free(mine);
    return sf_ranks_agree(r, st);
}

void sf_ranks_free(sf_run *r)
{
    sf_run_ranks *k = &r->ranks;
    free(k->y);
    free(k->pred);
    free(k->proba);
    free(k->rank_rows);
    free(k->rank_rps);
    k->y = k->pred = k->proba = k->rank_rows = k->rank_rps = NULL;
}
