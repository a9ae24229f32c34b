/*
 * sink_kafka.c — outputs to a Kafka topic (librdkafka producer): one message
 * per record, the value copied, the key passed through; a batch of records
 * goes in with one rd_kafka_produce_batch call. Nothing is dropped:
 * when librdkafka's local queue is full, write() serves delivery reports and
 * retries; messages that cannot be delivered (after message.timeout.ms) are
 * counted and turn the next write() or flush() into SF_ERR_IO.
 */
#ifdef STREAMFIT_HAVE_KAFKA

#include <librdkafka/rdkafka.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink_kafka.h"

#define SINK_POLL_EVERY 64         /* writes between serving delivery reports */
#define SINK_DESTROY_FLUSH_MS 5000 /* last chance for unflushed messages */

struct sink_kafka {
    rd_kafka_t *rk;
    bool borrowed; /* rk is another sink's (sf_sink_kafka_open_on) */
    rd_kafka_topic_t *rkt;
    char *topic, *brokers;
    unsigned writes;
    rd_kafka_message_t *msgs; /* a batch for rd_kafka_produce_batch */
    size_t msgs_cap;
    /* A header every message carries (sf_sink_set_header), or none. With one
     * a batch goes message by message (rd_kafka_produce_batch takes no
     * headers). */
    char *header_name, *header_value;
    uint64_t failed;      /* delivery failures */
    char last_issue[256]; /* the latest broker trouble, to explain a failure */
    char error[768];
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    /* Each message names its sink: sinks may share a producer. */
    sink_kafka *s = m->_private ? m->_private : opaque;
    if (!m->err) return;
    if (s->failed++ == 0)
        snprintf(s->error, sizeof s->error, "kafka: delivery to '%s' failed: %s%s%s", s->topic,
                 rd_kafka_err2str(m->err), s->last_issue[0] ? "; " : "", s->last_issue);
}

static void on_error(rd_kafka_t *rk, int code, const char *reason, void *opaque)
{
    sink_kafka *s = opaque;
    if (code == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[512];
        rd_kafka_resp_err_t e = rd_kafka_fatal_error(rk, buf, sizeof buf);
        if (s->failed++ == 0)
            snprintf(s->error, sizeof s->error, "kafka: fatal producer error: %s: %s",
                     rd_kafka_err2str(e), buf);
        return;
    }
    snprintf(s->last_issue, sizeof s->last_issue, "%s", reason);
}

/* librdkafka must not print: its logs are dropped, errors come through on_error. */
static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    (void)level;
    (void)fac;
    (void)buf;
}

sf_status sf_sink_kafka_open(const char *spec, const sf_kafka_settings *kafka, sink_kafka **out,
                             char *err, size_t errlen)
{
    const char *slash = strchr(spec, '/');
    if (!slash || slash == spec || !slash[1] || strchr(slash + 1, '/')) {
        snprintf(err, errlen,
                 "output 'kafka://%s' needs brokers and a topic (kafka://HOST:PORT/TOPIC)", spec);
        return SF_ERR_INVALID_ARGUMENT;
    }
    sink_kafka *s = calloc(1, sizeof *s);
    char *brokers = strndup(spec, (size_t)(slash - spec));
    if (!s || !brokers || !(s->topic = strdup(slash + 1))) {
        free(brokers);
        free(s);
        return SF_ERR_NO_MEMORY;
    }
    s->brokers = strdup(brokers);
    if (!s->brokers) {
        free(brokers);
        sf_sink_kafka_destroy(s);
        return SF_ERR_NO_MEMORY;
    }
    const char *txn_id = kafka ? kafka->transactional_id : NULL;
    const char *fixed[] = {"bootstrap.servers", brokers, txn_id ? "transactional.id" : NULL, txn_id,
                           NULL};
    rd_kafka_conf_t *conf = sf_kafka_conf_build(SF_KAFKA_PRODUCER, NULL, kafka, fixed, err, errlen);
    free(brokers);
    if (!conf) {
        sf_sink_kafka_destroy(s);
        return SF_ERR_INVALID_ARGUMENT;
    }
    rd_kafka_conf_set_opaque(conf, s);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_log_cb(conf, on_log);
    char errstr[512];
    s->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!s->rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "kafka: cannot create the producer: %s", errstr);
        sf_sink_kafka_destroy(s);
        return SF_ERR_IO;
    }
    s->rkt = rd_kafka_topic_new(s->rk, s->topic, NULL);
    if (!s->rkt) {
        snprintf(err, errlen, "kafka: topic '%s': %s", s->topic,
                 rd_kafka_err2str(rd_kafka_last_error()));
        sf_sink_kafka_destroy(s);
        return SF_ERR_INVALID_ARGUMENT;
    }
    *out = s;
    return SF_OK;
}

sf_status sf_sink_kafka_open_on(sink_kafka *owner, const char *spec, sink_kafka **out, char *err,
                                size_t errlen)
{
    const char *slash = strchr(spec, '/');
    if (!slash || slash == spec || !slash[1] || strchr(slash + 1, '/')) {
        snprintf(err, errlen,
                 "output 'kafka://%s' needs brokers and a topic (kafka://HOST:PORT/TOPIC)", spec);
        return SF_ERR_INVALID_ARGUMENT;
    }
    if (strlen(owner->brokers) != (size_t)(slash - spec) ||
        strncmp(owner->brokers, spec, (size_t)(slash - spec)) != 0) {
        snprintf(err, errlen, "output 'kafka://%s' is on other brokers than '%s'", spec,
                 owner->brokers);
        return SF_ERR_UNSUPPORTED;
    }
    sink_kafka *s = calloc(1, sizeof *s);
    if (!s || !(s->topic = strdup(slash + 1)) || !(s->brokers = strdup(owner->brokers))) {
        sf_sink_kafka_destroy(s);
        return SF_ERR_NO_MEMORY;
    }
    s->rk = owner->rk;
    s->borrowed = true;
    s->rkt = rd_kafka_topic_new(s->rk, s->topic, NULL);
    if (!s->rkt) {
        snprintf(err, errlen, "kafka: topic '%s': %s", s->topic,
                 rd_kafka_err2str(rd_kafka_last_error()));
        sf_sink_kafka_destroy(s);
        return SF_ERR_INVALID_ARGUMENT;
    }
    *out = s;
    return SF_OK;
}

sf_status sf_sink_kafka_write(sink_kafka *s, const char *key, size_t key_len, const char *value,
                              size_t value_len)
{
    if (s->failed) return SF_ERR_IO;
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            s->rk, RD_KAFKA_V_RKT(s->rkt), RD_KAFKA_V_KEY(key, key ? key_len : 0),
            RD_KAFKA_V_VALUE((void *)value, value_len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_OPAQUE(s), RD_KAFKA_V_END);
        if (!e) break;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            snprintf(s->error, sizeof s->error, "kafka: cannot produce to '%s': %s", s->topic,
                     rd_kafka_err2str(e));
            return SF_ERR_IO;
        }
        rd_kafka_poll(s->rk, 10); /* full: let deliveries drain, then retry */
        if (s->failed) return SF_ERR_IO;
    }
    if (++s->writes % SINK_POLL_EVERY == 0) rd_kafka_poll(s->rk, 0);
    return s->failed ? SF_ERR_IO : SF_OK;
}

/* One message with the sink's header; waits for room when the local queue is full. */
static sf_status produce_with_header(sink_kafka *s, const char *key, size_t key_len,
                                     const char *value, size_t value_len)
{
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            s->rk, RD_KAFKA_V_RKT(s->rkt), RD_KAFKA_V_KEY(key, key ? key_len : 0),
            RD_KAFKA_V_VALUE((void *)value, value_len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_OPAQUE(s),
            RD_KAFKA_V_HEADER(s->header_name, s->header_value, (ssize_t)strlen(s->header_value)),
            RD_KAFKA_V_END);
        if (!e) return SF_OK;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            snprintf(s->error, sizeof s->error, "kafka: cannot produce to '%s': %s", s->topic,
                     rd_kafka_err2str(e));
            return SF_ERR_IO;
        }
        rd_kafka_poll(s->rk, 10); /* full: let deliveries drain, then retry */
        if (s->failed) return SF_ERR_IO;
    }
}

static sf_status write_batch_with_header(sink_kafka *s, const char *text, const size_t *off,
                                         const size_t *len, const char *keys, const size_t *key_off,
                                         const size_t *key_len, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bool keyed = keys && key_off[i] != SIZE_MAX;
        sf_status st = produce_with_header(s, keyed ? keys + key_off[i] : NULL,
                                           keyed ? key_len[i] : 0, text + off[i], len[i]);
        if (st != SF_OK) return st;
    }
    rd_kafka_poll(s->rk, 0); /* delivery reports */
    return s->failed ? SF_ERR_IO : SF_OK;
}

sf_status sf_sink_kafka_set_header(sink_kafka *s, const char *name, const char *value)
{
    char *n = name ? strdup(name) : NULL, *v = value ? strdup(value) : NULL;
    if ((name && !n) || (value && !v) || (!name != !value)) {
        free(n);
        free(v);
        return name && value ? SF_ERR_NO_MEMORY : SF_ERR_INVALID_ARGUMENT;
    }
    free(s->header_name);
    free(s->header_value);
    s->header_name = n;
    s->header_value = v;
    return SF_OK;
}

static sf_status reserve_msgs(sink_kafka *s, size_t n)
{
    if (n <= s->msgs_cap) return SF_OK;
    rd_kafka_message_t *m = realloc(s->msgs, sizeof *m * n);
    if (!m) return SF_ERR_NO_MEMORY;
    s->msgs = m;
    s->msgs_cap = n;
    return SF_OK;
}

sf_status sf_sink_kafka_write_batch(sink_kafka *s, const char *text, const size_t *off,
                                    const size_t *len, const char *keys, const size_t *key_off,
                                    const size_t *key_len, size_t n)
{
    if (s->failed) return SF_ERR_IO;
    if (n == 0) return SF_OK;
    if (s->header_name)
        return write_batch_with_header(s, text, off, len, keys, key_off, key_len, n);
    if (n > INT_MAX || reserve_msgs(s, n) != SF_OK) return SF_ERR_NO_MEMORY;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_t *m = &s->msgs[i];
        memset(m, 0, sizeof *m);
        m->_private = s;
        m->payload = (void *)(text + off[i]);
        m->len = len[i];
        if (keys && key_off[i] != SIZE_MAX) {
            m->key = (void *)(keys + key_off[i]);
            m->key_len = key_len[i];
        }
    }
    /* The partitioner runs per message (RD_KAFKA_PARTITION_UA). Messages the
     * local queue had no room for come back with QUEUE_FULL: serve delivery
     * reports and send those again, in their order (a record after them in
     * the same batch may then be delivered first). */
    size_t left = n;
    for (;;) {
        int done = rd_kafka_produce_batch(s->rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY,
                                          s->msgs, (int)left);
        size_t kept = 0;
        for (size_t i = 0; done != (int)left && i < left; i++) {
            rd_kafka_resp_err_t e = s->msgs[i].err;
            if (!e) continue;
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                snprintf(s->error, sizeof s->error, "kafka: cannot produce to '%s': %s", s->topic,
                         rd_kafka_err2str(e));
                return SF_ERR_IO;
            }
            s->msgs[kept] = s->msgs[i];
            s->msgs[kept++].err = RD_KAFKA_RESP_ERR_NO_ERROR;
        }
        left = kept;
        rd_kafka_poll(s->rk, left ? 10 : 0); /* delivery reports; room when full */
        if (s->failed) return SF_ERR_IO;
        if (left == 0) return SF_OK;
    }
}

sf_status sf_sink_kafka_flush(sink_kafka *s, int timeout_ms)
{
    rd_kafka_resp_err_t e = rd_kafka_flush(s->rk, timeout_ms);
    if (s->failed) return SF_ERR_IO;
    if (e == RD_KAFKA_RESP_ERR__TIMED_OUT) {
        snprintf(s->error, sizeof s->error,
                 "kafka: %d messages to '%s' still undelivered after %d ms%s%s",
                 rd_kafka_outq_len(s->rk), s->topic, timeout_ms, s->last_issue[0] ? "; " : "",
                 s->last_issue);
        return SF_ERR_UNREACHABLE;
    }
    if (e) {
        snprintf(s->error, sizeof s->error, "kafka: flush: %s", rd_kafka_err2str(e));
        return SF_ERR_IO;
    }
    return SF_OK;
}

const char *sf_sink_kafka_error(const sink_kafka *s) { return s ? s->error : ""; }

rd_kafka_t *sf_sink_kafka_producer(sink_kafka *s) { return s->rk; }

void sf_sink_kafka_forget_failures(sink_kafka *s)
{
    s->failed = 0;
    s->error[0] = 0;
}

void sf_sink_kafka_destroy(sink_kafka *s)
{
    if (!s) return;
    if (s->rkt) rd_kafka_topic_destroy(s->rkt);
    if (s->rk && !s->borrowed) {
        rd_kafka_flush(s->rk, SINK_DESTROY_FLUSH_MS);
        rd_kafka_destroy(s->rk);
    }
    free(s->msgs);
    free(s->topic);
    free(s->brokers);
    free(s->header_name);
    free(s->header_value);
    free(s);
}

#else
typedef int sf_sink_kafka_absent; /* this build has no Kafka support */
#endif /* STREAMFIT_HAVE_KAFKA */
