/*
 * stream_txn.c — exactly-once predictions (sf_stream_options.exactly_once).
 *
 * The predictions sink is a transactional Kafka producer. A transaction
 * opens before the first prediction after a checkpoint and ends with the
 * next one: the checkpoint is written (the one before it kept as the
 * previous generation, checkpoint.h), then the consumer offsets of that
 * boundary are sent to the transaction with the group's metadata and the
 * transaction is committed. Predictions and offsets become visible to a
 * read_committed consumer together, or not at all.
 *
 * A crash before the commit leaves a transaction the broker aborts when the
 * restarted process initialises the same transactional.id (which also fences
 * a zombie still running); the restart loads the checkpoint generation whose
 * positions equal the group's committed offsets: the newest when the commit
 * happened, the previous one when it did not. The transactional.id is made
 * from the group and the two topics, so the same run always gets the same.
 *
 * Kafka dead letters on the predictions' brokers share the producer, so a
 * batch's dead letters are in its transaction too (stream_run.c).
 *
 * In the run: an error inside a transaction (a delivery, the commit, the
 * checkpoint) aborts it, and the run goes back to the last committed
 * generation, kept in memory: model, metrics, counters, and the consumer
 * rewound to its positions; the records are read and predicted again. A
 * fatal error (the producer fenced by another process with the same id)
 * ends the run.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "kafka_conf.h"
#include "stream_internal.h"

#define TXN_TIMEOUT_MS 60000   /* a transactional call, when broker_timeout_ms is 0 */
#define TXN_MAX_RECOVERIES 5   /* aborted transactions in a row before the run gives up */
#define TXN_COMMIT_RETRIES 3   /* a commit that timed out is tried again */
#define TXN_MAX_PARTITIONS 256 /* partitions compared on resume */

static bool is_kafka(const char *uri) { return uri && strncmp(uri, "kafka://", 8) == 0; }

static const char *topic_of(const char *uri)
{
    const char *s = strrchr(uri, '/');
    return s ? s + 1 : uri;
}

sf_status sf_txn_check(sf_run *r)
{
    const sf_stream_options *o = r->o;
    const char *missing = !is_kafka(o->source)        ? "a Kafka source"
                          : !o->group || !o->group[0] ? "a Kafka consumer group"
                          : !is_kafka(o->predictions) ? "Kafka predictions"
                          : !o->checkpoint_dir        ? "a checkpoint directory"
                                                      : NULL;
    if (!missing) return SF_OK;
    snprintf(r->err, sizeof r->err, "exactly-once predictions need %s", missing);
    return SF_ERR_INVALID_ARGUMENT;
}

static uint32_t fnv32(const char *s, uint32_t h)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return (h ^ '\n') * 16777619u;
}

void sf_txn_id(const sf_stream_options *o, char *buf, size_t len)
{
    /* Readable parts cut short, the hash over all of them: the same group and
     * topics give the same id whatever the broker addresses. */
    const char *in = topic_of(o->source), *out = topic_of(o->predictions);
    uint32_t h = fnv32(out, fnv32(in, fnv32(o->group, 2166136261u)));
    snprintf(buf, len, "streamfit-%.64s-%.64s-%08x", o->group, in, h);
}

#ifdef STREAMFIT_HAVE_KAFKA

#include <librdkafka/rdkafka.h>

/* The positions of a checkpoint's Kafka blob ("kafka v1\nTOPIC\nP NEXT\n..."):
 * how many were read into parts/next (at most max). */
static size_t blob_positions(const char *blob, int32_t *parts, int64_t *next, size_t max)
{
    if (!blob || strncmp(blob, "kafka v1\n", 9) != 0) return 0;
    const char *p = strchr(blob + 9, '\n');
    size_t n = 0;
    while (p && *++p && n < max) {
        long long part, off;
        if (sscanf(p, "%lld %lld", &part, &off) != 2) break;
        parts[n] = (int32_t)part;
        next[n++] = off;
        p = strchr(p, '\n');
    }
    return n;
}

struct sf_txn {
    rd_kafka_t *producer; /* the predictions sink's */
    rd_kafka_t *consumer; /* the source's */
    char id[256];
    int timeout_ms;
    bool open;          /* begun, not yet committed or aborted */
    bool fatal;         /* fenced or otherwise unusable */
    sf_checkpoint last; /* the committed generation */
    bool have_last;
    int recoveries; /* aborted transactions since the last commit */
};

static struct sf_txn *txn_of(sf_run *r)
{
    if (!r->txn) {
        r->txn = calloc(1, sizeof *r->txn);
        int64_t ms = r->o->broker_timeout_ms;
        if (r->txn)
            r->txn->timeout_ms = ms <= 0 ? TXN_TIMEOUT_MS : ms > INT_MAX ? INT_MAX : (int)ms;
    }
    return r->txn;
}

/* r->err from a failed transactional call; the error is destroyed. */
static sf_status txn_error(sf_run *r, rd_kafka_error_t *e, const char *what)
{
    struct sf_txn *t = r->txn;
    bool fatal = rd_kafka_error_is_fatal(e);
    if (fatal) t->fatal = true;
    snprintf(r->err, sizeof r->err, "kafka transaction: %s failed: %s%s%.256s%s", what,
             rd_kafka_error_string(e),
             fatal ? " (fatal: another process may be using transactional.id '" : "",
             fatal ? t->id : "", fatal ? "'; stopping)" : "");
    sf_status st = !fatal && rd_kafka_error_is_retriable(e) ? SF_ERR_UNREACHABLE : SF_ERR_IO;
    rd_kafka_error_destroy(e);
    return st;
}

sf_status sf_txn_open(sf_run *r)
{
    struct sf_txn *t = txn_of(r);
    if (!t) return SF_ERR_NO_MEMORY;
    sf_txn_id(r->o, t->id, sizeof t->id);
    t->producer = sf_sink_producer(r->predictions);
    t->consumer = r->source->ops->kafka_consumer ? r->source->ops->kafka_consumer(r->source) : NULL;
    if (!t->producer || !t->consumer) {
        snprintf(r->err, sizeof r->err, "exactly-once predictions need a Kafka source and sink");
        return SF_ERR_INVALID_ARGUMENT;
    }
    /* Fences an older producer with this id and ends what it left open. */
    rd_kafka_error_t *e = rd_kafka_init_transactions(t->producer, t->timeout_ms);
    if (e) return txn_error(r, e, "init_transactions");
    sf_run_log(r, SF_LOG_INFO,
               "exactly-once: predictions and offsets in Kafka transactions, "
               "transactional.id '%s'",
               t->id);
    return SF_OK;
}

sf_status sf_txn_begin(sf_run *r)
{
    struct sf_txn *t = r->txn;
    if (t->open) return SF_OK;
    rd_kafka_error_t *e = rd_kafka_begin_transaction(t->producer);
    if (e) return txn_error(r, e, "begin_transaction");
    t->open = true;
    return SF_OK;
}

static sf_status send_offsets(sf_run *r, const sf_source_state *at)
{
    struct sf_txn *t = r->txn;
    if (at->n_commit == 0) return SF_OK;
    const char *topic = topic_of(r->o->source);
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)at->n_commit);
    for (size_t i = 0; i < at->n_commit; i++)
        rd_kafka_topic_partition_list_add(list, topic, at->commit[i].partition)->offset =
            at->commit[i].next;
    rd_kafka_consumer_group_metadata_t *gm = rd_kafka_consumer_group_metadata(t->consumer);
    rd_kafka_error_t *e =
        gm ? rd_kafka_send_offsets_to_transaction(t->producer, list, gm, t->timeout_ms)
           : rd_kafka_error_new(RD_KAFKA_RESP_ERR__STATE, "the consumer has no group metadata");
    if (gm) rd_kafka_consumer_group_metadata_destroy(gm);
    rd_kafka_topic_partition_list_destroy(list);
    return e ? txn_error(r, e, "send_offsets_to_transaction") : SF_OK;
}

sf_status sf_txn_commit(sf_run *r, const sf_source_state *at, const sf_checkpoint *c)
{
    struct sf_txn *t = r->txn;
    sf_status st = sf_txn_begin(r);
    if (st == SF_OK) st = send_offsets(r, at);
    for (int tries = 0; st == SF_OK; tries++) {
        rd_kafka_error_t *e = rd_kafka_commit_transaction(t->producer, t->timeout_ms);
        if (!e) break;
        if (!rd_kafka_error_is_retriable(e) || tries + 1 >= TXN_COMMIT_RETRIES)
            st = txn_error(r, e, "commit_transaction");
        else
            rd_kafka_error_destroy(e);
    }
    if (st != SF_OK) return st;
    t->open = false;
    t->recoveries = 0;
    sf_checkpoint_free(&t->last);
    t->have_last = sf_checkpoint_copy(c, &t->last) == SF_OK;
    return t->have_last ? SF_OK : SF_ERR_NO_MEMORY;
}

sf_status sf_txn_recover(sf_run *r, sf_status why)
{
    struct sf_txn *t = r->txn;
    char reason[sizeof r->err];
    memcpy(reason, r->err, sizeof reason);
    if (!t || !t->producer || t->fatal || !t->have_last || !r->trainer) return why;
    if (++t->recoveries > TXN_MAX_RECOVERIES) {
        snprintf(r->err, sizeof r->err, "%.400s (%d transactions aborted in a row; stopping)",
                 reason, TXN_MAX_RECOVERIES);
        return why;
    }
    if (t->open) {
        rd_kafka_error_t *e = rd_kafka_abort_transaction(t->producer, t->timeout_ms);
        if (e) return txn_error(r, e, "abort_transaction");
        t->open = false;
    }
    /* The aborted messages' delivery reports (purged) are served now, then
     * forgotten with the rest of the transaction. */
    rd_kafka_poll(t->producer, 0);
    sf_sink_forget_failures(r->predictions);
    if (r->dead_letter_in_txn) sf_sink_forget_failures(r->dead_letter);
    const sf_checkpoint *c = &t->last;
    sf_status st = sf_trainer_load_state(r->trainer, c->trainer, c->trainer_len);
    if (st == SF_OK) st = sf_stream_metrics_load(&r->metrics, c->metrics, c->metrics_len);
    if (st == SF_OK) {
        r->rows_total = c->rows_total;
        r->rows_skipped = c->rows_skipped;
        r->batches = c->batches;
        r->err[0] = 0;
        st = sf_run_update_version(r);
    }
    if (st == SF_OK) st = r->source->ops->rewind(r->source, c->source, r->err, sizeof r->err);
    /* The current generation on disk is the committed one again. */
    if (st == SF_OK) st = sf_checkpoint_write(r->o->checkpoint_dir, c, r->err, sizeof r->err);
    if (st != SF_OK) {
        if (!r->err[0])
            snprintf(r->err, sizeof r->err, "cannot go back to the committed state: %s",
                     sf_strerror(st));
        return st;
    }
    r->batch.rows = 0;
    sf_run_log(r, SF_LOG_WARN,
               "transaction aborted (%.300s); back to the committed batch %llu, its records are "
               "read again",
               reason, (unsigned long long)c->batches);
    return SF_OK;
}

/* The group's committed offsets of the partitions the blobs name, into
 * committed[] (-1: none). */
static sf_status ask_committed(sf_run *r, const int32_t *parts, size_t n, int64_t *committed)
{
    const char *src = r->o->source + 8, *slash = strchr(src, '/');
    if (!slash || slash == src) {
        snprintf(r->err, sizeof r->err,
                 "source '%.300s' needs brokers and a topic (kafka://HOST:PORT/TOPIC)",
                 r->o->source);
        return SF_ERR_INVALID_ARGUMENT;
    }
    char *brokers = strndup(src, (size_t)(slash - src));
    if (!brokers) return SF_ERR_NO_MEMORY;
    const char *fixed[] = {"bootstrap.servers",  brokers, "group.id", r->o->group,
                           "enable.auto.commit", "false", NULL};
    sf_kafka_settings user = {.shared = r->o->kafka_conf, .own = r->o->consumer_conf};
    rd_kafka_conf_t *conf =
        sf_kafka_conf_build(SF_KAFKA_CONSUMER, NULL, &user, fixed, r->err, sizeof r->err);
    free(brokers);
    if (!conf) return SF_ERR_INVALID_ARGUMENT;
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(r->err, sizeof r->err, "kafka: cannot create a consumer: %.400s", errstr);
        return SF_ERR_IO;
    }
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(list, topic_of(r->o->source), parts[i]);
    rd_kafka_resp_err_t e = rd_kafka_committed(rk, list, r->txn->timeout_ms);
    for (size_t i = 0; i < n; i++)
        committed[i] =
            !e && !list->elems[i].err && list->elems[i].offset >= 0 ? list->elems[i].offset : -1;
    rd_kafka_topic_partition_list_destroy(list);
    rd_kafka_destroy(rk);
    if (!e) return SF_OK;
    snprintf(r->err, sizeof r->err, "kafka: cannot read the committed offsets of group '%s': %s",
             r->o->group, rd_kafka_err2str(e));
    return SF_ERR_UNREACHABLE;
}

/* Does the blob name exactly these positions for these partitions? */
static bool same_positions(const char *blob, const int32_t *parts, const int64_t *committed,
                           size_t n)
{
    int32_t bp[TXN_MAX_PARTITIONS];
    int64_t bn[TXN_MAX_PARTITIONS];
    size_t m = blob_positions(blob, bp, bn, TXN_MAX_PARTITIONS);
    for (size_t i = 0; i < n; i++) {
        int64_t want = -1;
        for (size_t j = 0; j < m; j++)
            if (bp[j] == parts[i]) want = bn[j];
        if (want != committed[i]) return false;
    }
    return true;
}

sf_status sf_txn_pick(sf_run *r, sf_checkpoint *c)
{
    struct sf_txn *t = txn_of(r);
    if (!t) return SF_ERR_NO_MEMORY;
    const char *dir = r->o->checkpoint_dir;
    sf_checkpoint cur, prev;
    sf_status st = sf_checkpoint_read(dir, &cur, r->err, sizeof r->err);
    bool have_cur = st == SF_OK;
    if (st != SF_OK && st != SF_ERR_EMPTY) return st;
    st = sf_checkpoint_read_previous(dir, &prev, r->err, sizeof r->err);
    bool have_prev = st == SF_OK;
    if (st != SF_OK && st != SF_ERR_EMPTY) {
        if (have_cur) sf_checkpoint_free(&cur);
        return st;
    }
    if (!have_cur && !have_prev) return SF_ERR_EMPTY;
    /* The partitions either generation names, and the group's offsets of them. */
    int32_t parts[2 * TXN_MAX_PARTITIONS];
    int64_t next[2 * TXN_MAX_PARTITIONS], committed[2 * TXN_MAX_PARTITIONS];
    size_t n = have_cur ? blob_positions(cur.source, parts, next, TXN_MAX_PARTITIONS) : 0;
    if (have_prev) n += blob_positions(prev.source, parts + n, next + n, TXN_MAX_PARTITIONS);
    st = n ? ask_committed(r, parts, n, committed) : SF_OK;
    bool any = false;
    for (size_t i = 0; st == SF_OK && i < n; i++)
        any |= committed[i] >= 0;
    int pick = 0; /* 1: current, 2: previous */
    if (st == SF_OK && !any) {
        /* No transaction of this group ever committed offsets here, or the
         * broker does not keep them (the development broker): the newest. */
        pick = have_cur ? 1 : 2;
        if (n)
            sf_run_log(r, SF_LOG_WARN,
                       "exactly-once: the broker has no committed offsets for group '%s'; "
                       "resuming from the newest checkpoint",
                       r->o->group);
    } else if (st == SF_OK && have_cur && same_positions(cur.source, parts, committed, n)) {
        pick = 1;
    } else if (st == SF_OK && have_prev && same_positions(prev.source, parts, committed, n)) {
        pick = 2;
        sf_run_log(r, SF_LOG_INFO,
                   "exactly-once: the last checkpoint's transaction was not committed; resuming "
                   "from the one before (batch %llu)",
                   (unsigned long long)prev.batches);
    } else if (st == SF_OK) {
        snprintf(r->err, sizeof r->err,
                 "the committed offsets of group '%.100s' match neither checkpoint in '%.200s' "
                 "(were they moved by another consumer?)",
                 r->o->group, dir);
        st = SF_ERR_INVALID_ARGUMENT;
    }
    /* The picked generation is the committed one, on disk and in memory. */
    if (st == SF_OK && pick == 2) st = sf_checkpoint_write(dir, &prev, r->err, sizeof r->err);
    if (st == SF_OK) {
        sf_checkpoint *got = pick == 1 ? &cur : &prev;
        st = sf_checkpoint_copy(got, &t->last);
        t->have_last = st == SF_OK;
        *c = *got;
        memset(got, 0, sizeof *got);
    }
    if (have_cur) sf_checkpoint_free(&cur);
    if (have_prev) sf_checkpoint_free(&prev);
    return st;
}

void sf_txn_close(sf_run *r)
{
    struct sf_txn *t = r->txn;
    if (!t) return;
    /* A run that stops inside a transaction ends it: read_committed readers
     * would otherwise wait for the broker's transaction timeout. */
    if (t->open && t->producer && !t->fatal) {
        rd_kafka_error_t *e = rd_kafka_abort_transaction(t->producer, 5000);
        if (e) rd_kafka_error_destroy(e);
    }
    sf_checkpoint_free(&t->last);
    free(t);
    r->txn = NULL;
}

#else /* no Kafka: exactly-once is refused by sf_txn_check */

struct sf_txn {
    int unused;
};

sf_status sf_txn_open(sf_run *r)
{
    snprintf(r->err, sizeof r->err, "this build has no Kafka support");
    return SF_ERR_UNSUPPORTED;
}
sf_status sf_txn_begin(sf_run *r) { return sf_txn_open(r); }
sf_status sf_txn_pick(sf_run *r, sf_checkpoint *c)
{
    (void)c;
    return sf_txn_open(r);
}
sf_status sf_txn_commit(sf_run *r, const sf_source_state *at, const sf_checkpoint *c)
{
    (void)at;
    (void)c;
    return sf_txn_open(r);
}
sf_status sf_txn_recover(sf_run *r, sf_status why)
{
    (void)r;
    return why;
}
void sf_txn_close(sf_run *r) { (void)r; }

#endif /* STREAMFIT_HAVE_KAFKA */
