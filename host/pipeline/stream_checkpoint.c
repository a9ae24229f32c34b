/*
 * stream_checkpoint.c — a streaming run's checkpoints: the trainer state,
 * the metrics and the source positions of one batch boundary written
 * together (then the upstream commit, or with exactly-once the Kafka
 * transaction of stream_txn.c), and resuming from them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "stream_internal.h"

static char *join_doubles(const double *v, size_t n)
{
    char *s = malloc(n * 32 + 1);
    if (!s) return NULL;
    size_t len = 0;
    s[0] = 0;
    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(s + len, i ? ",%.17g" : "%.17g", v[i]);
    return s;
}

static char *join_columns(const sf_record_schema *s)
{
    size_t len = 1;
    for (size_t i = 0; i < s->ncols; i++)
        len += strlen(s->columns[i]) + 1;
    char *out = malloc(len);
    if (!out) return NULL;
    out[0] = 0;
    for (size_t i = 0; i < s->ncols; i++) {
        if (i) strcat(out, ",");
        strcat(out, s->columns[i]);
    }
    return out;
}

sf_status sf_run_checkpoint(sf_run *r)
{
    sf_checkpoint c;
    memset(&c, 0, sizeof c);
    sf_source_state src = {0};
    /* With the pipeline the source is polled ahead on another thread: the
     * positions of this boundary were taken there, with the batch. */
    const sf_source_state *at = r->boundary.blob ? &r->boundary : &src;
    /* Spread over ranks, rank 0 writes the model once and every rank's
     * positions (gathered here); each rank commits its own partitions once
     * the file is durable. Every step below is taken by every rank. */
    bool root = r->ranks.rank == 0;
    char config[512], *merged = NULL;
    /* The outputs of the batches in this checkpoint must be out first: a crash
     * after it must not lose predictions it will never make again. */
    sf_status st = sf_run_flush(r);
    if (st == SF_OK) st = sf_run_config(r, config, sizeof config);
    c.config = config;
    c.rows_total = r->rows_total;
    c.rows_skipped = r->rows_skipped;
    c.batches = r->batches;
    if (st == SF_OK && at == &src) st = r->source->ops->state(r->source, &src);
    if (r->ranks.size > 1) st = sf_ranks_positions(r, st, at->blob, &merged);
    if (st == SF_OK && root) st = sf_trainer_save_state(r->trainer, &c.trainer, &c.trainer_len);
    if (st == SF_OK && root) st = sf_stream_metrics_save(&r->metrics, &c.metrics, &c.metrics_len);
    c.source = merged ? merged : at->blob;
    c.classes = r->K ? join_doubles(r->classes, r->K) : NULL;
    c.names = r->schema.columns ? join_columns(&r->schema) : NULL;
    c.model_version = r->version;
    /* Exactly-once: the previous generation stays until this one's
     * transaction (its predictions and these offsets) is committed. */
    if (st == SF_OK && root && r->o->exactly_once)
        st = sf_checkpoint_rotate(r->o->checkpoint_dir, r->err, sizeof r->err);
    if (st == SF_OK && root)
        st = sf_checkpoint_write(r->o->checkpoint_dir, &c, r->err, sizeof r->err);
    st = sf_ranks_agree(r, st);
    /* Only now is it safe to tell the broker these records are done. */
    if (st == SF_OK)
        st = r->o->exactly_once ? sf_txn_commit(r, at, &c) : r->source->ops->commit(r->source, at);
    free(c.trainer);
    free(c.metrics);
    free(c.classes);
    free(c.names);
    free(merged);
    sf_source_state_free(&src);
    if (st != SF_OK && !r->err[0])
        snprintf(r->err, sizeof r->err, "checkpoint failed: %s", sf_strerror(st));
    return st;
}

/* The ranks that wrote the checkpoint (its configuration's "ranks=N"; none:
 * one process) must be as many as now: each rank's partitions are p mod N. */
static sf_status same_ranks(sf_run *r, const sf_checkpoint *c)
{
    const char *at = strstr(c->config, " ranks=");
    int then = at ? atoi(at + 7) : 1, now = r->ranks.size;
    if (then == now) return SF_OK;
    snprintf(r->err, sizeof r->err,
             "the checkpoint in '%.200s' was written by %d rank%s and this run has %d: restart "
             "with %s%d, or start over with --reset-checkpoint",
             r->o->checkpoint_dir, then, then == 1 ? "" : "s", now,
             then == 1 ? "one process (no mpirun), or mpirun -np " : "mpirun -np ", then);
    return SF_ERR_INVALID_ARGUMENT;
}

static sf_status parse_doubles(const char *s, double **out, size_t *n)
{
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    *out = malloc(sizeof(double) * cap);
    if (!*out) return SF_ERR_NO_MEMORY;
    *n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        (*out)[(*n)++] = strtod(p, &end);
        p = *end == ',' ? end + 1 : end;
        if (end == p && *p) return SF_ERR_BAD_MODEL_FILE;
    }
    return SF_OK;
}

sf_status sf_run_restore(sf_run *r, bool *resumed)
{
    *resumed = false;
    sf_checkpoint c;
    sf_status st = r->o->exactly_once
                       ? sf_txn_pick(r, &c)
                       : sf_checkpoint_read(r->o->checkpoint_dir, &c, r->err, sizeof r->err);
    /* Spread over ranks: the same file on every rank, before the model it
     * holds is rebuilt (collective). */
    sf_status ast = sf_ranks_agree_checkpoint(r, st, st == SF_OK ? c.batches : 0);
    if (st == SF_OK && ast != SF_OK) sf_checkpoint_free(&c);
    st = ast;
    if (st == SF_ERR_EMPTY) {
        r->err[0] = 0;
        return SF_OK;
    }
    if (st != SF_OK) return st;
    st = same_ranks(r, &c);
    if (st != SF_OK) {
        sf_checkpoint_free(&c);
        return st;
    }
    /* The schema and classes of the checkpointed run take precedence. */
    char label_idx[32];
    size_t lc = 0;
    const char *lcp = strstr(c.config, " label_col=");
    if (lcp) lc = (size_t)strtoul(lcp + 11, NULL, 10);
    snprintf(label_idx, sizeof label_idx, "%zu", lc);
    /* Columns named now (--columns) must be the checkpoint's: a run that read
     * other columns is not this one. */
    if (r->have_schema && r->schema.columns && c.names) {
        char *now = join_columns(&r->schema);
        bool same = now && strcmp(now, c.names) == 0;
        if (!same)
            snprintf(r->err, sizeof r->err,
                     "the checkpoint in '%.100s' was written for the columns %.150s, not %.150s",
                     r->o->checkpoint_dir, c.names, now ? now : "(out of memory)");
        free(now);
        if (!same) {
            sf_checkpoint_free(&c);
            return SF_ERR_INVALID_ARGUMENT;
        }
    }
    if (r->have_schema) sf_schema_free(&r->schema);
    if (r->o->format == SF_RECORD_LIBSVM)
        st = sf_schema_libsvm(r->o->libsvm_features, &r->schema);
    else
        st = sf_schema_from_list(r->o->format, c.names, label_idx, &r->schema, r->err,
                                 sizeof r->err);
    r->have_schema = st == SF_OK;
    if (st == SF_OK && c.classes[0]) {
        free(r->classes);
        st = parse_doubles(c.classes, &r->classes, &r->K);
        r->classes_fixed = true;
    }
    char config[512];
    if (st == SF_OK) st = sf_run_config(r, config, sizeof config);
    if (st == SF_OK && strcmp(config, c.config) != 0) {
        snprintf(r->err, sizeof r->err,
                 "the checkpoint in '%.100s' differs in configuration (%.150s; now "
                 "%.150s)",
                 r->o->checkpoint_dir, c.config, config);
        st = SF_ERR_INVALID_ARGUMENT;
    }
    if (st == SF_OK) st = sf_run_start_trainer(r);
    if (st == SF_OK) st = sf_trainer_load_state(r->trainer, c.trainer, c.trainer_len);
    if (st == SF_OK) st = sf_stream_metrics_load(&r->metrics, c.metrics, c.metrics_len);
    if (st == SF_OK) {
        r->rows_total = c.rows_total;
        r->rows_skipped = c.rows_skipped;
        r->batches = c.batches;
        st = sf_run_update_version(r);
    }
    /* The same state gives the same model: a different version means a
     * different machine or backend (the run goes on with the model it has). */
    if (st == SF_OK && c.model_version[0] && strcmp(c.model_version, r->version) != 0)
        sf_run_log(r, SF_LOG_WARN,
                   "the checkpoint's model version %s differs from the restored model's %s",
                   c.model_version, r->version);
    if (st == SF_OK) {
        r->source_resume = c.source;
        c.source = NULL;
        *resumed = true;
    } else if (!r->err[0]) {
        snprintf(r->err, sizeof r->err, "cannot resume from the checkpoint in '%s': %s",
                 r->o->checkpoint_dir, sf_strerror(st));
    }
    sf_checkpoint_free(&c);
    return st;
}
