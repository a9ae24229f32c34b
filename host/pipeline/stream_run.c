/*
 * stream_run.c — opening a streaming run (classes, schema, checkpoint,
 * source, sinks), its progress reports, and closing everything in order.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "class_labels.h"
#include "stream_internal.h"

static bool is_classifier(const sf_stream_options *o)
{
    return o->fit.model == SF_MODEL_LOGISTIC || o->fit.model == SF_MODEL_SOFTMAX;
}

static void notice(void *user, const char *msg) { sf_run_log(user, SF_LOG_INFO, "%s", msg); }

/* Records the source can no longer read: logged at once (as an error, so
 * that even a quiet front end says it), counted with the batch being filled
 * (its metrics line lists them). Called from the source's poll, on the
 * thread that fills. */
static void lost(void *user, int32_t partition, int64_t first, int64_t count)
{
    sf_run *r = user;
    sf_fill *f = r->filling;
    sf_run_log(r, SF_LOG_ERROR,
               "partition %d: offsets %lld..%lld (%lld records) were deleted upstream before they "
               "were read%s",
               (int)partition, (long long)first, (long long)(first + count - 1), (long long)count,
               r->o->continue_on_lag_loss ? "; going on after them"
                                          : "; stopping after this batch");
    f->rows_lost += (uint64_t)count;
    if (!f->lost_first[0])
        snprintf(f->lost_first, sizeof f->lost_first,
                 "partition %d: offsets %lld..%lld (%lld records)", (int)partition,
                 (long long)first, (long long)(first + count - 1), (long long)count);
    if (f->n_lost < sizeof f->lost / sizeof f->lost[0])
        f->lost[f->n_lost++] =
            (sf_lost_range){.partition = partition, .first = first, .count = count};
    if (!r->o->continue_on_lag_loss) f->lost_stop = true;
}

/* The source gave up on its brokers (source.h's `gone`): said at once, and
 * kept as the batch's reason to end the run (on the thread that fills). */
static void gone(void *user, const char *msg)
{
    sf_run *r = user;
    sf_fill *f = r->filling;
    sf_run_log(r, SF_LOG_ERROR, "%s; finishing this batch, then checkpointing and stopping", msg);
    if (f)
        snprintf(f->err, sizeof f->err, "%s; stopped after the last batch read%s", msg,
                 r->o->checkpoint_dir ? " and its checkpoint (a restart resumes there)" : "");
}

sf_status sf_run_lost_error(sf_run *r)
{
    snprintf(r->err, sizeof r->err,
             "%llu records were lost before they were read (%s%s: deleted upstream, the consumer "
             "fell behind the source's retention); stopped after checkpointing",
             (unsigned long long)r->rows_lost, r->lost_first, r->n_lost > 1 ? ", ..." : "");
    return SF_ERR_DATA_LOST;
}

static sf_status parse_classes(sf_run *r)
{
    const sf_stream_options *o = r->o;
    if (!is_classifier(o)) return SF_OK;
    if (!o->classes) return SF_OK; /* found in the warm-up (class_labels.h) */
    size_t n = 1;
    for (const char *p = o->classes; *p; p++)
        n += *p == ',';
    double *v = malloc(sizeof(double) * n);
    if (!v) return SF_ERR_NO_MEMORY;
    const char *p = o->classes;
    for (size_t i = 0; i < n; i++) {
        char *end;
        v[i] = strtod(p, &end);
        if (end == p || (*end && *end != ',')) {
            free(v);
            snprintf(r->err, sizeof r->err, "the class list '%s' is not a list of numbers",
                     o->classes);
            return SF_ERR_INVALID_ARGUMENT;
        }
        p = end + (*end == ',');
    }
    double *sorted = NULL;
    size_t k = sf_class_labels_distinct(v, n, &sorted);
    free(v);
    if (!sorted) return SF_ERR_NO_MEMORY;
    if (k < 2 || (o->fit.model == SF_MODEL_LOGISTIC && k != 2)) {
        free(sorted);
        snprintf(r->err, sizeof r->err, "the class list: %s needs %s distinct classes",
                 sf_model_kind_name(o->fit.model),
                 o->fit.model == SF_MODEL_LOGISTIC ? "exactly 2" : "at least 2");
        return SF_ERR_INVALID_ARGUMENT;
    }
    r->classes = sorted;
    r->K = k;
    r->classes_fixed = true;
    return SF_OK;
}

static sf_status make_dir(const char *dir, char *err, size_t errlen)
{
    if (mkdir(dir, 0755) == 0 || errno == EEXIST) return SF_OK;
    snprintf(err, errlen, "cannot create checkpoint directory '%s': %s", dir, strerror(errno));
    return SF_ERR_IO;
}

/* Start over on purpose: the checkpoint goes, and the run starts from the
 * beginning of its source. */
static sf_status reset_checkpoint(sf_run *r)
{
    static const char *const names[] = {"checkpoint.bin", "checkpoint.prev.bin"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", r->o->checkpoint_dir, names[i]);
        if (unlink(path) != 0 && errno != ENOENT) {
            snprintf(r->err, sizeof r->err, "cannot delete '%.400s': %s", path, strerror(errno));
            return SF_ERR_IO;
        }
    }
    sf_run_log(r, SF_LOG_INFO, "starting over: no checkpoint in '%s'", r->o->checkpoint_dir);
    return SF_OK;
}

static sf_status open_schema(sf_run *r)
{
    const sf_stream_options *o = r->o;
    sf_status st = SF_OK;
    if (o->format == SF_RECORD_LIBSVM) {
        if (!o->libsvm_features) {
            snprintf(r->err, sizeof r->err, "LIBSVM records need the number of features");
            return SF_ERR_INVALID_ARGUMENT;
        }
        st = sf_schema_libsvm(o->libsvm_features, &r->schema);
    } else if (o->columns) {
        st =
            sf_schema_from_list(o->format, o->columns, o->label, &r->schema, r->err, sizeof r->err);
    } else {
        return SF_OK; /* from the header or the first record */
    }
    r->have_schema = st == SF_OK;
    return st;
}

sf_status sf_run_open(sf_run *r)
{
    const sf_stream_options *o = r->o;
    r->start_us = sf_clock_mono_us();
    sf_status st = sf_ranks_open(r);
    bool root = r->ranks.rank == 0; /* writes what is written once */
    if (st == SF_OK && o->exactly_once && r->ranks.size > 1) {
        snprintf(r->err, sizeof r->err, "exactly-once is not supported across MPI ranks");
        st = SF_ERR_UNSUPPORTED;
    } else if (st == SF_OK && o->exactly_once) {
        st = sf_txn_check(r);
    }
    if (st == SF_OK) st = parse_classes(r);
    if (st == SF_OK) st = open_schema(r);
    if (st == SF_OK && o->checkpoint_dir) st = make_dir(o->checkpoint_dir, r->err, sizeof r->err);
    if (st == SF_OK && o->checkpoint_dir && o->reset_checkpoint && root) st = reset_checkpoint(r);
    st = sf_ranks_agree(r, st); /* spread: the reset is done before any rank reads */
    if (st == SF_OK && o->checkpoint_dir) st = sf_run_restore(r, &r->resumed);
    st = sf_ranks_agree(r, st);
    if (st == SF_OK && r->resumed)
        sf_run_log(r, SF_LOG_INFO, "resumed from '%s' at %llu rows, batch %llu", o->checkpoint_dir,
                   (unsigned long long)r->rows_total, (unsigned long long)r->batches);
    r->rows_at_start = r->rows_total;
    sf_source_options so;
    memset(&so, 0, sizeof so);
    so.uri = o->source;
    so.group = o->group;
    so.start = o->start;
    so.kafka_conf = o->kafka_conf;
    so.follow = o->follow;
    so.resume = r->source_resume;
    so.notice = notice;
    so.notice_user = r;
    so.kafka_conf_own = o->consumer_conf;
    so.lost = lost;
    so.continue_on_loss = o->continue_on_lag_loss;
    so.broker_timeout_ms = o->broker_timeout_ms;
    so.gone = gone;
    so.rank = r->ranks.rank;
    so.ranks = r->ranks.size;
    /* an empty fetch waits a fraction of the batch budget */
    so.fetch_wait_ms = o->batch_ms >= 400 ? 100 : o->batch_ms >= 8 ? (int)(o->batch_ms / 4) : 1;
    if (st == SF_OK && !o->source) {
        snprintf(r->err, sizeof r->err, "no source given");
        st = SF_ERR_INVALID_ARGUMENT;
    }
    if (st == SF_OK) st = sf_source_open(&so, &r->source, r->err, sizeof r->err);
    /* Exactly-once: the predictions' producer is transactional; Kafka dead
     * letters on the same brokers use it too (in the same transactions),
     * others keep their own, outside the transactions. */
    char txn_id[256] = "";
    if (st == SF_OK && o->exactly_once) sf_txn_id(o, txn_id, sizeof txn_id);
    sf_kafka_settings producer = {.shared = o->kafka_conf, .own = o->producer_conf};
    char uri[4096]; /* spread over ranks: a file per rank */
    sf_kafka_settings txn_producer = producer;
    txn_producer.transactional_id = o->exactly_once ? txn_id : NULL;
    if (st == SF_OK && o->predictions) {
        sf_ranks_output_uri(r, o->predictions, uri, sizeof uri);
        st = sf_sink_open(uri, &txn_producer, &r->predictions, r->err, sizeof r->err);
    }
    if (st == SF_OK && o->dead_letter && o->exactly_once) {
        st =
            sf_sink_open_on(o->dead_letter, r->predictions, &r->dead_letter, r->err, sizeof r->err);
        r->dead_letter_in_txn = st == SF_OK;
        if (st == SF_ERR_UNSUPPORTED) {
            sf_run_log(r, SF_LOG_WARN, "exactly-once: dead letters outside the transactions (%s)",
                       r->err);
            r->err[0] = 0;
            st = SF_OK;
        }
    }
    if (st == SF_OK && o->dead_letter && !r->dead_letter) {
        sf_ranks_output_uri(r, o->dead_letter, uri, sizeof uri);
        st = sf_sink_open(uri, &producer, &r->dead_letter, r->err, sizeof r->err);
    }
    if (st == SF_OK && o->exactly_once) st = sf_txn_open(r);
    if (st == SF_OK && o->metrics_out && root) {
        r->metrics_file = fopen(o->metrics_out, r->resumed ? "a" : "w");
        if (!r->metrics_file) {
            snprintf(r->err, sizeof r->err, "cannot write '%s': %s", o->metrics_out,
                     strerror(errno));
            st = SF_ERR_IO;
        }
    }
    if (st == SF_OK) r->recs = malloc(sizeof(sf_record) * 4096);
    if (st == SF_OK && !r->recs) st = SF_ERR_NO_MEMORY;
    r->last_p50 = r->last_p99 = r->last_processing_ms = NAN;
    sf_latency_histogram_reset(&r->lat_batch);
    sf_latency_histogram_reset(&r->lat_run);
    return sf_ranks_agree(r, st);
}

void sf_run_progress(sf_run *r, bool final)
{
    if (!r->o->on_progress) return;
    int64_t now = sf_clock_mono_us();
    int64_t every = r->o->progress_every_ms > 0 ? r->o->progress_every_ms * 1000 : 1000000;
    if (!final && now - r->last_progress_us < every) return;
    r->last_progress_us = now;
    double secs = (double)(now - r->start_us) / 1e6;
    sf_stream_progress p = {
        .rows_total = r->rows_total,
        .rows_skipped = r->rows_skipped,
        .rows_per_s = secs > 0 ? (double)(r->rows_total - r->rows_at_start) / secs : 0,
        .n_classes = r->K,
        .headline = r->trainer ? sf_stream_metrics_headline(&r->metrics) : NAN,
        .latency_p99_ms = r->last_p99,
        .final = final,
    };
    r->o->on_progress(r->o->user, &p);
}

/* Frees what the run opened; the handle (options, lock, stop flag, the
 * error message) stays for sf_stream_destroy. */
void sf_run_close(sf_run *r)
{
    sf_txn_close(r); /* before the producer goes */
    if (r->source) r->source->ops->destroy(r->source);
    sf_sink_destroy(r->dead_letter); /* first: it may use the predictions' producer */
    sf_sink_destroy(r->predictions);
    if (r->metrics_file) fclose(r->metrics_file);
    if (r->have_schema) sf_schema_free(&r->schema);
    pthread_mutex_lock(&r->lock);
    sf_trainer_destroy(r->trainer);
    r->trainer = NULL;
    pthread_mutex_unlock(&r->lock);
    sf_stream_metrics_free(&r->metrics);
    free(r->classes);
    sf_batch *b = &r->batch;
    sf_batch_free(b);
    free(r->recs);
    free(r->warm_X);
    free(r->warm_y);
    free(r->warm_pos);
    r->warm_pos = NULL;
    free(r->ring_X);
    free(r->ring_y);
    free(r->pred);
    free(r->proba);
    sf_prediction_text_free(&r->pred_text);
    free(r->source_resume);
    free(r->pending_json);
    r->pending_json = NULL;
    sf_ranks_free(r);
    r->source = NULL;
    r->predictions = r->dead_letter = NULL;
    r->metrics_file = NULL;
    r->have_schema = false;
    r->classes = NULL;
    memset(b, 0, sizeof *b);
    r->recs = NULL;
    r->warm_X = r->warm_y = r->ring_X = r->ring_y = NULL;
    r->pred = r->proba = NULL;
    r->source_resume = NULL;
}
