/*
 * source_kafka.c — records from a Kafka topic (librdkafka consumer).
 *
 * With a consumer group the topic is subscribed and the group balances its
 * partitions; without one every partition is assigned to this process.
 * Spread over ranks (sf_source_options.ranks > 1, one consumer per MPI rank)
 * partition p is assigned to rank p mod ranks, statically, so that a restart
 * with as many ranks reads each partition where the checkpoint says; the
 * group then only receives the commits. In
 * both cases the start offset of a partition comes from the checkpoint's
 * position blob when it names the partition, else from `start` — so the
 * checkpoint, not the group's committed offsets, decides where a restart
 * resumes. Offsets are committed to the group only after a checkpoint is
 * durable (commit()), never automatically.
 *
 * Position blob: "kafka v1\nTOPIC\nPARTITION NEXT_OFFSET\n..." where
 * NEXT_OFFSET is the offset after the last record handed out.
 *
 * Broker loss is reported once through the notice callback and waited out,
 * up to broker_timeout_ms: when no broker has answered for longer (a
 * metadata request is the proof of one answering; messages already fetched
 * are not), the `gone` callback hears which brokers, for how long and the
 * positions reached, and poll returns SF_ERR_UNREACHABLE after the records
 * it handed out. The source never skips records because of it. Memory is
 * bounded by librdkafka's pre-fetch queue (queued.max.messages.kbytes).
 *
 * Records deleted by the broker before they were read (retention, a
 * consumer fallen behind) are never skipped in silence: librdkafka's
 * automatic offset reset is turned off (auto.offset.reset=error), so a
 * partition whose next offset is gone reports it; the source then tells
 * the `lost` callback which offsets are gone and either stops the run
 * (SF_ERR_DATA_LOST) or, with continue_on_loss, goes on from the oldest
 * offset still there.
 *
 * Without a group, partitions are assigned only once the metadata names a
 * leader for each of them (that answer fills librdkafka's metadata cache,
 * which the assignment's partitions start from): an assignment before that
 * waits for librdkafka's next metadata refresh, a stall of up to a second.
 * Even then librdkafka hands each partition to its leader's broker thread
 * asynchronously, and a partition whose fetch starts before that thread took
 * it waits for a 500 ms offset-query timer (seen in about a third of runs on
 * 2 cores). So the topic handle is made first, which hands the partitions
 * over from the cache, and the assignment waits for one more metadata round
 * trip, queued behind those hand-overs.
 */
#ifdef STREAMFIT_HAVE_KAFKA

#include <inttypes.h>
#include <librdkafka/rdkafka.h>

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "kafka_conf.h"
#include "source.h"

sf_status sf_source_kafka_open(const sf_source_options *opt, const char *spec, sf_source **out,
                               char *err, size_t errlen);

#define KAFKA_PROBE_INTERVAL_US 1000000 /* metadata probe while brokers are away */
#define KAFKA_ASSIGN_RETRY_US 500000    /* metadata retry before the first assignment */
#define KAFKA_LEADER_RETRY_US 20000     /* ... while a partition's leader is not known yet */
#define KAFKA_WATERMARK_MS 5000         /* asking for a partition's oldest offset */

typedef struct kpart {
    int64_t next;  /* offset after the last record handed out (or resumed); -1: none */
    bool assigned; /* currently assigned to this consumer */
} kpart;

typedef struct kafka_source {
    sf_source base;
    rd_kafka_t *rk;
    rd_kafka_queue_t *queue; /* the consumer queue */
    rd_kafka_topic_t *rkt;   /* without a group: made before the assignment (above) */
    bool handed_over;        /* ... and made */
    char *topic;
    bool group;           /* subscribed with a consumer group */
    bool commit_group;    /* a group receives the commits (subscribed or spread) */
    int rank, ranks;      /* spread: this consumer takes partitions p, p mod ranks == rank */
    int64_t start_offset; /* for partitions without a resume position */
    kpart *parts;         /* indexed by partition id */
    size_t nparts;
    rd_kafka_message_t **held; /* messages behind the records of the last poll */
    size_t nheld, held_cap;
    bool assigned_all; /* without a group: all partitions assigned */
    int64_t next_assign_us;
    /* health */
    atomic_bool down; /* read by kafka_down on any thread */
    int64_t next_probe_us;
    int64_t unreachable_since_us; /* all brokers down since (0: a broker answers) */
    int64_t broker_timeout_us;    /* 0: wait for ever */
    char *brokers;                /* the bootstrap list, for messages */
    void (*gone)(void *user, const char *msg);
    bool topic_missing;
    bool debug_logs;  /* the user asked for librdkafka debug output (-X debug=...) */
    int last_error;   /* last informational error reported (deduplicated) */
    sf_status failed; /* a non-transient error: poll returns it */
    char failure[512];
    bool failure_reported;
    void (*notice)(void *user, const char *msg);
    void *notice_user;
    void (*lost)(void *user, int32_t partition, int64_t first, int64_t count);
    bool continue_on_loss;
} kafka_source;

static void notice(kafka_source *ks, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void notice(kafka_source *ks, const char *fmt, ...)
{
    if (!ks->notice) return;
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ks->notice(ks->notice_user, msg);
}

/* Remember the first non-transient error; poll reports it and returns it. */
static void fail(kafka_source *ks, sf_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(kafka_source *ks, sf_status st, const char *fmt, ...)
{
    if (ks->failed != SF_OK) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ks->failure, sizeof ks->failure, fmt, ap);
    va_end(ap);
    ks->failed = st;
}

static void set_up_again(kafka_source *ks)
{
    if (ks->down) notice(ks, "kafka: brokers reachable again");
    ks->down = false;
    ks->last_error = 0;
}

static kpart *part_get(kafka_source *ks, int32_t p)
{
    if (p < 0) return NULL;
    if ((size_t)p >= ks->nparts) {
        size_t n = ks->nparts ? ks->nparts : 8;
        while (n <= (size_t)p)
            n *= 2;
        kpart *np = realloc(ks->parts, n * sizeof *np);
        if (!np) return NULL;
        for (size_t i = ks->nparts; i < n; i++)
            np[i] = (kpart){.next = -1, .assigned = false};
        ks->parts = np;
        ks->nparts = n;
    }
    return &ks->parts[p];
}

/* ---- callbacks (served from poll, in the caller's thread) ---- */

static void on_error(rd_kafka_t *rk, int code, const char *reason, void *opaque)
{
    kafka_source *ks = opaque;
    switch (code) {
    case RD_KAFKA_RESP_ERR__FATAL: {
        char buf[512];
        rd_kafka_resp_err_t e = rd_kafka_fatal_error(rk, buf, sizeof buf);
        fail(ks, SF_ERR_IO, "kafka: fatal error: %s: %s", rd_kafka_err2str(e), buf);
        break;
    }
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
        if (!ks->down) notice(ks, "kafka: brokers unreachable (%s); waiting", reason);
        ks->down = true;
        if (!ks->unreachable_since_us) ks->unreachable_since_us = sf_clock_mono_us();
        ks->next_probe_us = sf_clock_mono_us() + KAFKA_PROBE_INTERVAL_US;
        break;
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
        fail(ks, SF_ERR_IO, "kafka: %s: %s", rd_kafka_err2str(code), reason);
        break;
    case RD_KAFKA_RESP_ERR__TRANSPORT: /* one connection; all of them: ALL_BROKERS_DOWN */
    case RD_KAFKA_RESP_ERR__RESOLVE: break;
    default:
        if (code != ks->last_error) notice(ks, "kafka: %s", reason);
        ks->last_error = code;
        break;
    }
}

/* Configuration warnings are worth a notice, and everything when the user
 * asked for debug output; connection trouble comes through on_error. Logs
 * are forwarded to the consumer queue, so this runs in the polling thread. */
static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    kafka_source *ks = rd_kafka_opaque(rk);
    if (!ks) return;
    if (ks->debug_logs || (level <= LOG_WARNING && strcmp(fac, "CONFWARN") == 0))
        notice(ks, "kafka: %s: %s", fac, buf);
}

/* "committed": the group's offsets, asked for here so that a committed
 * offset the broker no longer has is reported as a loss (auto.offset.reset
 * is "error"); partitions without one start at the earliest offset. */
static void committed_offsets(kafka_source *ks, rd_kafka_topic_partition_list_t *list)
{
    rd_kafka_topic_partition_list_t *ask = rd_kafka_topic_partition_list_copy(list);
    rd_kafka_resp_err_t e = rd_kafka_committed(ks->rk, ask, KAFKA_WATERMARK_MS);
    for (int i = 0; i < list->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &list->elems[i];
        int64_t off = !e && !ask->elems[i].err ? ask->elems[i].offset : -1;
        if (off >= 0) {
            tp->offset = off;
            ks->parts[tp->partition].next = off;
        } else if (!e && !ask->elems[i].err) {
            tp->offset = RD_KAFKA_OFFSET_BEGINNING; /* nothing committed yet */
        } /* else: librdkafka asks again itself (RD_KAFKA_OFFSET_STORED) */
    }
    rd_kafka_topic_partition_list_destroy(ask);
}

static void start_offsets(kafka_source *ks, rd_kafka_topic_partition_list_t *list)
{
    bool ask_committed = false;
    for (int i = 0; i < list->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &list->elems[i];
        kpart *kp = part_get(ks, tp->partition);
        if (!kp) {
            fail(ks, SF_ERR_NO_MEMORY, "kafka: out of memory");
            return;
        }
        tp->offset = kp->next >= 0 ? kp->next : ks->start_offset;
        ask_committed |= tp->offset == RD_KAFKA_OFFSET_STORED;
        kp->assigned = true;
    }
    if (ask_committed) committed_offsets(ks, list);
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t code,
                         rd_kafka_topic_partition_list_t *list, void *opaque)
{
    kafka_source *ks = opaque;
    bool coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (code == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        start_offsets(ks, list);
        if (coop)
            error = rd_kafka_incremental_assign(rk, list);
        else
            e = rd_kafka_assign(rk, list);
    } else {
        /* Revoked or lost: keep the positions (a partition that comes back
         * continues where this consumer stopped), stop committing them. */
        for (int i = 0; i < list->cnt; i++) {
            int32_t p = list->elems[i].partition;
            if (p >= 0 && (size_t)p < ks->nparts) ks->parts[p].assigned = false;
        }
        if (coop)
            error = rd_kafka_incremental_unassign(rk, list);
        else
            e = rd_kafka_assign(rk, NULL);
    }
    if (error) {
        fail(ks, SF_ERR_IO, "kafka: partition assignment failed: %s", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    } else if (e) {
        fail(ks, SF_ERR_IO, "kafka: partition assignment failed: %s", rd_kafka_err2str(e));
    }
}

/* ---- assignment without a group ---- */

static bool leaders_known(const struct rd_kafka_metadata_topic *t)
{
    for (int i = 0; i < t->partition_cnt; i++)
        if (t->partitions[i].leader < 0 || t->partitions[i].err) return false;
    return true;
}

/* Fetch the topic's metadata; true when it answered (brokers reachable).
 * All topics are asked for: a request naming the topic could create it
 * where brokers auto-create topics, and a consumer must not do that. */
static bool assign_all(kafka_source *ks, int timeout_ms)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(ks->rk, 1, NULL, &md, timeout_ms);
    if (e) return false; /* timed out or transport: the error callback says why */
    const struct rd_kafka_metadata_topic *t = NULL;
    for (int i = 0; i < md->topic_cnt && !t; i++)
        if (strcmp(md->topics[i].topic, ks->topic) == 0) t = &md->topics[i];
    if (!t || t->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || t->partition_cnt == 0) {
        if (!ks->topic_missing)
            notice(ks, "kafka: topic '%s' does not exist yet; waiting for it", ks->topic);
        ks->topic_missing = true;
    } else if (t->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) {
        fail(ks, SF_ERR_IO, "kafka: topic '%s': %s", ks->topic, rd_kafka_err2str(t->err));
    } else if (t->err == RD_KAFKA_RESP_ERR_NO_ERROR && !leaders_known(t)) {
        ks->next_assign_us = sf_clock_mono_us() + KAFKA_LEADER_RETRY_US;
    } else if (t->err == RD_KAFKA_RESP_ERR_NO_ERROR && !ks->handed_over) {
        ks->rkt = rd_kafka_topic_new(ks->rk, ks->topic, NULL); /* hands partitions over */
        ks->handed_over = true; /* (a NULL handle only loses the head start) */
        ks->next_assign_us = 0; /* the next poll's metadata round trip, then assign */
    } else if (t->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(t->partition_cnt);
        for (int i = 0; i < t->partition_cnt; i++)
            if (ks->ranks <= 1 || t->partitions[i].id % ks->ranks == ks->rank)
                rd_kafka_topic_partition_list_add(list, ks->topic, t->partitions[i].id);
        start_offsets(ks, list);
        if (ks->failed == SF_OK) {
            rd_kafka_resp_err_t ae = rd_kafka_assign(ks->rk, list);
            if (ae)
                fail(ks, SF_ERR_IO, "kafka: cannot assign partitions: %s", rd_kafka_err2str(ae));
            else
                ks->assigned_all = true;
        }
        rd_kafka_topic_partition_list_destroy(list);
        if (ks->topic_missing && ks->assigned_all)
            notice(ks, "kafka: topic '%s' found (%d partitions)", ks->topic, t->partition_cnt);
        ks->topic_missing = false;
    } /* other topic errors (leader not available, ...) are transient: retry */
    rd_kafka_metadata_destroy(md);
    return true;
}

/* Is this error, reported on a message, one to wait out? */
static bool transient(rd_kafka_resp_err_t e)
{
    switch (e) {
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
    case RD_KAFKA_RESP_ERR__IN_PROGRESS: return true;
    default: return false;
    }
}

/* SF_OK, or the stored failure (said once through the notice callback). */
static sf_status report_failure(kafka_source *ks)
{
    if (ks->failed != SF_OK && !ks->failure_reported) notice(ks, "%s", ks->failure);
    ks->failure_reported = true;
    return ks->failed;
}

/* No broker for longer than the limit: say what and where, once, and fail
 * the source with SF_ERR_UNREACHABLE. */
static bool gone_too_long(kafka_source *ks)
{
    if (!ks->broker_timeout_us || !ks->unreachable_since_us || ks->failed != SF_OK) return false;
    int64_t away = sf_clock_mono_us() - ks->unreachable_since_us;
    if (away < ks->broker_timeout_us) return false;
    char at[256] = "";
    size_t len = 0, shown = 0, more = 0;
    for (size_t p = 0; p < ks->nparts; p++) {
        if (!ks->parts[p].assigned && ks->parts[p].next < 0) continue;
        if (shown == 8 || len + 40 >= sizeof at) {
            more++;
            continue;
        }
        len += (size_t)snprintf(at + len, sizeof at - len, "%s%zu@%lld", shown ? ", " : "", p,
                                (long long)ks->parts[p].next);
        shown++;
    }
    if (more) snprintf(at + len, sizeof at - len, ", and %zu more", more);
    fail(ks, SF_ERR_UNREACHABLE,
         "kafka: no broker of %s reachable for %.1f s (limit %.1f s); topic '%s' stopped at "
         "partition@next offset: %s",
         ks->brokers, (double)away / 1e6, (double)ks->broker_timeout_us / 1e6, ks->topic,
         shown ? at : "(nothing read yet)");
    ks->failure_reported = true; /* said through `gone`, not as a notice */
    if (ks->gone) ks->gone(ks->notice_user, ks->failure);
    return true;
}

static void release_held(kafka_source *ks)
{
    for (size_t i = 0; i < ks->nheld; i++)
        rd_kafka_message_destroy(ks->held[i]);
    ks->nheld = 0;
}

/* Restart a partition's fetching at `offset`. After an offset error its
 * fetcher has stopped and a seek is refused: the partition is assigned
 * again instead (incrementally where the protocol allows: the other
 * partitions fetch on; else the whole assignment, from their positions). */
static bool seek_to(kafka_source *ks, int32_t partition, int64_t offset)
{
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_topic_partition_list_t *list = NULL;
    if (ks->group && strcmp(rd_kafka_rebalance_protocol(ks->rk), "EAGER") == 0) {
        e = rd_kafka_assignment(ks->rk, &list);
        for (int i = 0; !e && i < list->cnt; i++) {
            rd_kafka_topic_partition_t *tp = &list->elems[i];
            const kpart *kp = part_get(ks, tp->partition);
            tp->offset = tp->partition == partition ? offset
                         : kp && kp->next >= 0      ? kp->next
                                                    : ks->start_offset;
        }
        if (!e) e = rd_kafka_assign(ks->rk, list);
    } else {
        list = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(list, ks->topic, partition)->offset = offset;
        error = rd_kafka_incremental_unassign(ks->rk, list);
        if (!error) error = rd_kafka_incremental_assign(ks->rk, list);
    }
    if (list) rd_kafka_topic_partition_list_destroy(list);
    if (!error && !e) return true;
    fail(ks, SF_ERR_IO, "kafka: partition %d: cannot restart at offset %lld: %s", partition,
         (long long)offset, error ? rd_kafka_error_string(error) : rd_kafka_err2str(e));
    if (error) rd_kafka_error_destroy(error);
    return false;
}

/* A position the broker cannot serve, with no count of what is missing: said
 * through `gone`, so that the run's final message is this one. */
static void gone_uncounted(kafka_source *ks)
{
    ks->failure_reported = ks->gone != NULL;
    if (ks->gone) ks->gone(ks->notice_user, ks->failure);
}

/* The partition's next offset is not on the broker (auto.offset.reset=error
 * reports it instead of jumping): find which records are gone and say so. */
static void offset_gone(kafka_source *ks, const rd_kafka_message_t *m)
{
    int32_t p = m->partition;
    kpart *kp = part_get(ks, p);
    if (!kp) {
        fail(ks, SF_ERR_NO_MEMORY, "kafka: out of memory");
        return;
    }
    if (kp->next < 0) { /* "committed" start without a committed offset: the earliest */
        seek_to(ks, p, RD_KAFKA_OFFSET_BEGINNING);
        return;
    }
    int64_t lo = -1, hi = -1, first = kp->next;
    rd_kafka_resp_err_t e =
        rd_kafka_query_watermark_offsets(ks->rk, ks->topic, p, &lo, &hi, KAFKA_WATERMARK_MS);
    if (e) {
        fail(ks, SF_ERR_DATA_LOST,
             "kafka: partition %d: offset %lld is no longer on the broker and its oldest offset "
             "is unknown (%s)",
             p, (long long)first, rd_kafka_err2str(e));
        gone_uncounted(ks);
        return;
    }
    if (first > hi) {
        fail(ks, SF_ERR_DATA_LOST,
             "kafka: partition %d: the broker's log ends at offset %lld, before this consumer's "
             "position %lld (was the topic deleted and created again?)",
             p, (long long)hi, (long long)first);
        gone_uncounted(ks);
        return;
    }
    if (lo <= first) { /* back in range (a reset seen late): read on from there */
        seek_to(ks, p, first);
        return;
    }
    if (ks->lost) ks->lost(ks->notice_user, p, first, lo - first);
    if (ks->continue_on_loss) {
        kp->next = lo;
        seek_to(ks, p, lo);
        return;
    }
    fail(ks, SF_ERR_DATA_LOST,
         "kafka: partition %d: offsets %lld..%lld (%lld records) were deleted by the broker "
         "before they were read (the consumer fell behind the topic's retention); stopped",
         p, (long long)first, (long long)lo - 1, (long long)(lo - first));
    ks->failure_reported = ks->lost != NULL; /* the callback said it already */
}

/* Turn fetched messages into records; error messages are reported and freed. */
static size_t take_messages(kafka_source *ks, rd_kafka_message_t **msgs, size_t cnt, sf_record *out,
                            size_t n)
{
    int64_t arrival = sf_clock_mono_us();
    for (size_t i = 0; i < cnt; i++) {
        rd_kafka_message_t *m = msgs[i];
        if (m->err) {
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                /* not a record */
            } else if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
                       m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) {
                offset_gone(ks, m);
            } else if (transient(m->err)) {
                if (m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
                    m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC) {
                    if (!ks->topic_missing)
                        notice(ks, "kafka: topic '%s' does not exist yet; waiting for it",
                               ks->topic);
                    ks->topic_missing = true;
                } else if ((int)m->err != ks->last_error) {
                    notice(ks, "kafka: %s; waiting", rd_kafka_message_errstr(m));
                    ks->last_error = m->err;
                }
            } else {
                fail(ks, SF_ERR_IO, "kafka: %s", rd_kafka_message_errstr(m));
            }
            rd_kafka_message_destroy(m);
            continue;
        }
        kpart *kp = part_get(ks, m->partition);
        if (!kp) {
            fail(ks, SF_ERR_NO_MEMORY, "kafka: out of memory");
            rd_kafka_message_destroy(m);
            continue;
        }
        kp->next = m->offset + 1;
        sf_record *r = &out[n++];
        r->data = m->payload ? m->payload : "";
        r->len = m->payload ? m->len : 0;
        r->key = m->key;
        r->key_len = m->key ? m->key_len : 0;
        r->pos =
            (sf_record_pos){.partition = m->partition, .offset = m->offset, .line = 0, .file = 0};
        r->arrival_us = arrival;
        rd_kafka_timestamp_type_t tstype;
        int64_t ts = rd_kafka_message_timestamp(m, &tstype);
        r->timestamp_ms = tstype == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? -1 : ts;
        ks->held[ks->nheld++] = m;
    }
    return n;
}

static sf_status kafka_poll(sf_source *s, sf_record *out, size_t max, int timeout_ms, size_t *n,
                            bool *eof)
{
    kafka_source *ks = (kafka_source *)s;
    *n = 0;
    *eof = false;
    release_held(ks);
    if (ks->failed != SF_OK) return report_failure(ks);
    if (max == 0) return SF_OK;
    if (max > ks->held_cap) {
        rd_kafka_message_t **h = realloc(ks->held, max * sizeof *h);
        if (!h) return SF_ERR_NO_MEMORY;
        ks->held = h;
        ks->held_cap = max;
    }
    if (timeout_ms < 0) timeout_ms = 0;
    int64_t t0 = sf_clock_mono_us();
    if (!ks->group && !ks->assigned_all && ks->failed == SF_OK && t0 >= ks->next_assign_us) {
        int tmo = timeout_ms < 100 ? 100 : timeout_ms > 5000 ? 5000 : timeout_ms;
        ks->next_assign_us = sf_clock_mono_us() + KAFKA_ASSIGN_RETRY_US;
        if (assign_all(ks, tmo)) set_up_again(ks);
    } else if ((ks->down || ks->unreachable_since_us) && t0 >= ks->next_probe_us) {
        const struct rd_kafka_metadata *md = NULL;
        if (rd_kafka_metadata(ks->rk, 0, NULL, &md, 200) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            rd_kafka_metadata_destroy(md);
            set_up_again(ks);
            ks->unreachable_since_us = 0;
        }
        ks->next_probe_us = sf_clock_mono_us() + KAFKA_PROBE_INTERVAL_US;
    }
    if (gone_too_long(ks)) return report_failure(ks);
    int left = timeout_ms - (int)((sf_clock_mono_us() - t0) / 1000);
    if (!ks->group && !ks->assigned_all) { /* not assigned yet: back in time to retry */
        int64_t until = (ks->next_assign_us - sf_clock_mono_us() + 999) / 1000;
        if (until < left) left = (int)until;
    }
    if (left < 0) left = 0;

    /* The first message may wait; the rest only takes what is already queued. */
    rd_kafka_message_t *first = rd_kafka_consumer_poll(ks->rk, left);
    size_t got = 0;
    if (first) {
        size_t cnt = 1;
        ks->held[ks->nheld] = first; /* temporarily, take_messages re-places it */
        rd_kafka_message_t **batch = ks->held + ks->nheld;
        if (max > 1) {
            ssize_t r = rd_kafka_consume_batch_queue(ks->queue, 0, batch + 1, max - 1);
            if (r > 0) cnt += (size_t)r;
        }
        /* take_messages writes kept messages back into held[] from the start,
         * never past the one it is reading: safe in place. */
        got = take_messages(ks, batch, cnt, out, 0);
    }
    if (got > 0) {
        set_up_again(ks);
        ks->topic_missing = false;
        *n = got; /* handed out: a failure met on the way is reported next time */
        return SF_OK;
    }
    return report_failure(ks);
}

/* ---- positions ---- */

static sf_status kafka_state(sf_source *s, sf_source_state *out)
{
    kafka_source *ks = (kafka_source *)s;
    out->blob = NULL;
    out->commit = NULL;
    out->n_commit = 0;
    size_t cap = strlen(ks->topic) + 32, len = 0, count = 0;
    for (size_t p = 0; p < ks->nparts; p++)
        if (ks->parts[p].next >= 0) count++;
    cap += count * 48;
    char *blob = malloc(cap);
    sf_source_offset *commit = malloc(sizeof *commit * (count + 1));
    if (!blob || !commit) {
        free(blob);
        free(commit);
        return SF_ERR_NO_MEMORY;
    }
    len += (size_t)snprintf(blob + len, cap - len, "kafka v1\n%s\n", ks->topic);
    for (size_t p = 0; p < ks->nparts; p++) {
        const kpart *kp = &ks->parts[p];
        if (kp->next < 0) continue;
        len += (size_t)snprintf(blob + len, cap - len, "%zu %" PRId64 "\n", p, kp->next);
        if (kp->assigned)
            commit[out->n_commit++] = (sf_source_offset){.partition = (int32_t)p, .next = kp->next};
    }
    out->blob = blob;
    out->commit = commit;
    return SF_OK;
}

/* The state's positions of the partitions assigned now: one revoked since the
 * state was taken (the next batch may be polled meanwhile) is another
 * consumer's to commit. */
static rd_kafka_topic_partition_list_t *still_assigned(kafka_source *ks, const sf_source_state *st)
{
    rd_kafka_topic_partition_list_t *now = NULL;
    if (rd_kafka_assignment(ks->rk, &now) != RD_KAFKA_RESP_ERR_NO_ERROR) now = NULL;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)st->n_commit);
    for (size_t i = 0; i < st->n_commit; i++) {
        const sf_source_offset *o = &st->commit[i];
        if (now && !rd_kafka_topic_partition_list_find(now, ks->topic, o->partition)) continue;
        rd_kafka_topic_partition_list_add(list, ks->topic, o->partition)->offset = o->next;
    }
    if (now) rd_kafka_topic_partition_list_destroy(now);
    return list;
}

/* Only immutable fields and thread-safe librdkafka calls: commit may run on
 * the run's thread while another thread polls. */
static sf_status kafka_commit(sf_source *s, const sf_source_state *st)
{
    kafka_source *ks = (kafka_source *)s;
    if (!ks->commit_group || !st || st->n_commit == 0) return SF_OK;
    rd_kafka_topic_partition_list_t *list = still_assigned(ks, st);
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (list->cnt > 0) e = rd_kafka_commit(ks->rk, list, 0);
    rd_kafka_topic_partition_list_destroy(list);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR || e == RD_KAFKA_RESP_ERR__NO_OFFSET) return SF_OK;
    if (transient(e)) {
        /* The checkpoint already holds the position; the group catches up at
         * the next commit. */
        notice(ks, "kafka: offset commit deferred (%s)", rd_kafka_err2str(e));
        return SF_OK;
    }
    notice(ks, "kafka: offset commit failed: %s", rd_kafka_err2str(e));
    return SF_ERR_IO;
}

static sf_status parse_resume(kafka_source *ks, const char *blob, char *err, size_t errlen);

/* Back to the positions of `blob` (an aborted transaction's records are read
 * again): every assigned partition restarts there, or at the start offset
 * when the blob does not name it; what was fetched beyond is dropped. */
static sf_status kafka_rewind(sf_source *s, const char *blob, char *err, size_t errlen)
{
    kafka_source *ks = (kafka_source *)s;
    release_held(ks);
    for (size_t p = 0; p < ks->nparts; p++)
        ks->parts[p].next = -1;
    sf_status st = parse_resume(ks, blob, err, errlen);
    if (st != SF_OK) return st;
    rd_kafka_topic_partition_list_t *list = NULL;
    rd_kafka_resp_err_t e = rd_kafka_assignment(ks->rk, &list);
    rd_kafka_error_t *error = NULL;
    for (int i = 0; !e && i < list->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &list->elems[i];
        const kpart *kp = part_get(ks, tp->partition);
        tp->offset = kp && kp->next >= 0 ? kp->next : ks->start_offset;
    }
    if (!e && list->cnt > 0) {
        if (ks->group && strcmp(rd_kafka_rebalance_protocol(ks->rk), "COOPERATIVE") == 0) {
            error = rd_kafka_incremental_unassign(ks->rk, list);
            if (!error) error = rd_kafka_incremental_assign(ks->rk, list);
        } else {
            e = rd_kafka_assign(ks->rk, list);
        }
    }
    if (list) rd_kafka_topic_partition_list_destroy(list);
    if (!error && !e) return SF_OK;
    snprintf(err, errlen, "kafka: cannot go back to the committed positions: %s",
             error ? rd_kafka_error_string(error) : rd_kafka_err2str(e));
    if (error) rd_kafka_error_destroy(error);
    return SF_ERR_IO;
}

static void *kafka_consumer(sf_source *s) { return ((kafka_source *)s)->rk; }

static void kafka_destroy(sf_source *s)
{
    kafka_source *ks = (kafka_source *)s;
    if (!ks) return;
    release_held(ks);
    if (ks->queue) rd_kafka_queue_destroy(ks->queue);
    if (ks->rkt) rd_kafka_topic_destroy(ks->rkt);
    if (ks->rk) {
        rd_kafka_resp_err_t e = rd_kafka_consumer_close(ks->rk);
        if (e) notice(ks, "kafka: consumer close: %s", rd_kafka_err2str(e));
        rd_kafka_destroy(ks->rk);
    }
    free(ks->held);
    free(ks->parts);
    free(ks->topic);
    free(ks->brokers);
    free(ks);
}

/* For a status display, on any thread: librdkafka's assignment, the
 * positions of the records handed out and the watermarks of the last
 * fetches are all local and thread-safe. */
static size_t kafka_partitions(sf_source *s, sf_source_partition *out, size_t max)
{
    kafka_source *ks = (kafka_source *)s;
    rd_kafka_topic_partition_list_t *list = NULL;
    if (rd_kafka_assignment(ks->rk, &list) != RD_KAFKA_RESP_ERR_NO_ERROR || !list) return 0;
    rd_kafka_position(ks->rk, list);
    size_t n = 0;
    for (int i = 0; i < list->cnt && n < max; i++) {
        const rd_kafka_topic_partition_t *tp = &list->elems[i];
        int64_t lo = -1, hi = -1;
        if (rd_kafka_get_watermark_offsets(ks->rk, tp->topic, tp->partition, &lo, &hi) !=
                RD_KAFKA_RESP_ERR_NO_ERROR ||
            hi < 0)
            hi = -1;
        out[n++] = (sf_source_partition){
            .partition = tp->partition, .position = tp->offset >= 0 ? tp->offset : -1, .high = hi};
    }
    rd_kafka_topic_partition_list_destroy(list);
    return n;
}

static bool kafka_down(sf_source *s) { return atomic_load(&((kafka_source *)s)->down); }

static const sf_source_ops kafka_ops = {
    .poll = kafka_poll,
    .state = kafka_state,
    .commit = kafka_commit,
    .destroy = kafka_destroy,
    .partitions = kafka_partitions,
    .down = kafka_down,
    .rewind = kafka_rewind,
    .kafka_consumer = kafka_consumer,
};

/* ---- opening ---- */

static bool valid_topic(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > 249) return false;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* "kafka v1\nTOPIC\nP OFFSET\n..." into ks->parts (when the topic matches). */
static sf_status parse_resume(kafka_source *ks, const char *blob, char *err, size_t errlen)
{
    if (strncmp(blob, "kafka v1\n", 9) != 0) {
        snprintf(err, errlen,
                 "the saved position is not a Kafka position (was the source changed?)");
        return SF_ERR_INVALID_ARGUMENT;
    }
    const char *p = blob + 9;
    const char *nl = strchr(p, '\n');
    size_t tlen = nl ? (size_t)(nl - p) : strlen(p);
    if (tlen != strlen(ks->topic) || strncmp(p, ks->topic, tlen) != 0) {
        notice(ks,
               "kafka: the saved position is for topic '%.*s', not '%s'; starting at the start "
               "offset",
               (int)(tlen > 200 ? 200 : tlen), p, ks->topic);
        return SF_OK;
    }
    p = nl ? nl + 1 : p + tlen;
    while (*p) {
        long long part, off;
        int used = 0;
        if (sscanf(p, "%lld %lld%n", &part, &off, &used) != 2 || part < 0 || part > INT32_MAX ||
            off < 0 || (p[used] != '\n' && p[used] != '\0')) {
            snprintf(err, errlen, "the saved Kafka position is damaged near '%.40s'", p);
            return SF_ERR_INVALID_ARGUMENT;
        }
        kpart *kp = part_get(ks, (int32_t)part);
        if (!kp) return SF_ERR_NO_MEMORY;
        kp->next = off;
        p += used;
        if (*p == '\n') p++;
    }
    return SF_OK;
}

static rd_kafka_conf_t *build_conf(kafka_source *ks, const sf_source_options *opt,
                                   const char *brokers, char *err, size_t errlen)
{
    char group[128], fetch_wait[32];
    /* Without a group a private, never-committed group id lets the consumer
     * take a manual assignment. An empty fetch waits at most the caller's
     * budget: the broker holds it that long when nothing is there. */
    snprintf(group, sizeof group, "streamfit-%ld-%lld", (long)getpid(),
             (long long)sf_clock_mono_us());
    snprintf(fetch_wait, sizeof fetch_wait, "%d",
             opt->fetch_wait_ms > 0 ? opt->fetch_wait_ms : 100);
    const char *defaults[] = {"enable.partition.eof",
                              "false",
                              "fetch.wait.max.ms",
                              fetch_wait,
                              "topic.metadata.refresh.fast.interval.ms",
                              "50",
                              opt->group ? NULL : "group.id",
                              group,
                              NULL};
    /* What the source's guarantees rest on: not overridable. Offsets out of
     * range are reported, never reset past records in silence. */
    const char *fixed[] = {"bootstrap.servers",
                           brokers,
                           "enable.auto.commit",
                           "false",
                           "enable.auto.offset.store",
                           "false",
                           "auto.offset.reset",
                           "error",
                           "log.queue",
                           "true",
                           opt->group ? "group.id" : NULL,
                           opt->group,
                           NULL};
    sf_kafka_settings user = {.shared = opt->kafka_conf, .own = opt->kafka_conf_own};
    rd_kafka_conf_t *conf =
        sf_kafka_conf_build(SF_KAFKA_CONSUMER, defaults, &user, fixed, err, errlen);
    if (!conf) return NULL;
    ks->debug_logs = sf_kafka_settings_has(opt->kafka_conf, "debug") ||
                     sf_kafka_settings_has(opt->kafka_conf_own, "debug");
    rd_kafka_conf_set_opaque(conf, ks);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_log_cb(conf, on_log);
    if (opt->group && opt->ranks <= 1) rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    return conf;
}

sf_status sf_source_kafka_open(const sf_source_options *opt, const char *spec, sf_source **out,
                               char *err, size_t errlen)
{
    const char *slash = strchr(spec, '/');
    if (!slash || slash == spec || !slash[1]) {
        snprintf(err, errlen,
                 "source 'kafka://%s' needs brokers and a topic (kafka://HOST:PORT/TOPIC)", spec);
        return SF_ERR_INVALID_ARGUMENT;
    }
    if (!valid_topic(slash + 1)) {
        snprintf(err, errlen, "invalid Kafka topic '%s' (letters, digits, '.', '_' and '-')",
                 slash + 1);
        return SF_ERR_INVALID_ARGUMENT;
    }
    if (opt->group && !opt->group[0]) {
        snprintf(err, errlen, "the Kafka consumer group name is empty");
        return SF_ERR_INVALID_ARGUMENT;
    }
    const char *start = opt->start ? opt->start : "earliest";
    kafka_source *ks = calloc(1, sizeof *ks);
    char *brokers = strndup(spec, (size_t)(slash - spec));
    if (!ks || !brokers || !(ks->topic = strdup(slash + 1))) {
        free(brokers);
        if (ks) free(ks->topic);
        free(ks);
        return SF_ERR_NO_MEMORY;
    }
    ks->base.ops = &kafka_ops;
    ks->ranks = opt->ranks > 1 ? opt->ranks : 1;
    ks->rank = opt->ranks > 1 ? opt->rank : 0;
    ks->commit_group = opt->group != NULL;
    ks->group = ks->commit_group && ks->ranks == 1;
    ks->notice = opt->notice;
    ks->notice_user = opt->notice_user;
    ks->lost = opt->lost;
    ks->continue_on_loss = opt->continue_on_loss;
    ks->broker_timeout_us = opt->broker_timeout_ms > 0 ? opt->broker_timeout_ms * 1000 : 0;
    ks->gone = opt->gone;
    ks->brokers = strdup(brokers);
    if (!ks->brokers) {
        free(brokers);
        kafka_destroy(&ks->base);
        return SF_ERR_NO_MEMORY;
    }
    ks->start_offset = strcmp(start, "latest") == 0      ? RD_KAFKA_OFFSET_END
                       : strcmp(start, "committed") == 0 ? RD_KAFKA_OFFSET_STORED
                                                         : RD_KAFKA_OFFSET_BEGINNING;
    sf_status st = opt->resume ? parse_resume(ks, opt->resume, err, errlen) : SF_OK;
    rd_kafka_conf_t *conf = st == SF_OK ? build_conf(ks, opt, brokers, err, errlen) : NULL;
    free(brokers);
    if (st != SF_OK || !conf) {
        kafka_destroy(&ks->base);
        return st != SF_OK ? st : SF_ERR_INVALID_ARGUMENT;
    }
    char errstr[512];
    ks->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!ks->rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "kafka: cannot create the consumer: %s", errstr);
        kafka_destroy(&ks->base);
        return SF_ERR_IO;
    }
    rd_kafka_resp_err_t e = rd_kafka_set_log_queue(ks->rk, NULL);
    if (!e) e = rd_kafka_poll_set_consumer(ks->rk);
    if (!e && !(ks->queue = rd_kafka_queue_get_consumer(ks->rk)))
        e = RD_KAFKA_RESP_ERR__INVALID_ARG;
    if (!e && ks->group) {
        rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(sub, ks->topic, RD_KAFKA_PARTITION_UA);
        e = rd_kafka_subscribe(ks->rk, sub);
        rd_kafka_topic_partition_list_destroy(sub);
    }
    if (e) {
        snprintf(err, errlen, "kafka: cannot start consuming '%s': %s", ks->topic,
                 rd_kafka_err2str(e));
        kafka_destroy(&ks->base);
        return SF_ERR_IO;
    }
    *out = &ks->base;
    return SF_OK;
}

/* One blob from the per-rank blobs of a spread source: each partition's
 * position from the rank it belongs to (p mod ranks); the others' copies of
 * it (resumed, never read there) are stale. */
char *sf_source_merge_spread(const char *const *blobs, int ranks)
{
    size_t cap = 64;
    for (int r = 0; r < ranks; r++) {
        if (!blobs[r] || strncmp(blobs[r], "kafka v1\n", 9) != 0) return NULL;
        cap += strlen(blobs[r]);
    }
    const char *topic = blobs[0] + 9;
    size_t tlen = strcspn(topic, "\n"), len = 0;
    char *out = malloc(cap);
    if (!out) return NULL;
    len += (size_t)snprintf(out, cap, "kafka v1\n%.*s\n", (int)tlen, topic);
    for (int r = 0; r < ranks; r++) {
        const char *p = strchr(blobs[r] + 9, '\n');
        for (p = p ? p + 1 : ""; *p;) {
            size_t n = strcspn(p, "\n");
            long long part = -1, off = -1;
            if (sscanf(p, "%lld %lld", &part, &off) == 2 && part >= 0 && part % ranks == r)
                len += (size_t)snprintf(out + len, cap - len, "%.*s\n", (int)n, p);
            p += n + (p[n] == '\n');
        }
    }
    return out;
}

#else
#include "source.h"

char *sf_source_merge_spread(const char *const *blobs, int ranks)
{
    (void)blobs;
    (void)ranks;
    return NULL; /* a spread source is a Kafka one */
}
#endif /* STREAMFIT_HAVE_KAFKA */
