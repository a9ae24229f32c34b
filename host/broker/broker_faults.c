/*
 * broker_faults.c — faults the development broker can be told to make, one
 * text command at a time (sf_broker_fault), for tests and for anyone who wants
 * to watch a pipeline survive them. They are librdkafka's mock-cluster
 * controls:
 *
 *   down BROKER | up BROKER           the broker stops / starts serving
 *   rtt BROKER MS                     added round-trip time (0: none)
 *   leader TOPIC PARTITION BROKER     move a partition's leader
 *   errors REQUEST COUNT ERROR        the next COUNT requests of that kind
 *                                     (produce, fetch, listoffsets, metadata,
 *                                     offsetcommit, offsetfetch, ...) fail
 *                                     with ERROR, a Kafka error name such as
 *                                     NOT_LEADER_FOR_PARTITION
 *   clear REQUEST                     drop the errors still queued for it
 *
 * The first three wait for the cluster's thread and are bracketed with
 * sf_broker_control_begin / _end (broker_wake.h); the error stacks are set
 * under the cluster's lock, without the thread.
 */
#ifdef STREAMFIT_HAVE_KAFKA

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "broker_mock.h"

/* Kafka protocol API keys of the requests a client of the broker sends. */
static const struct {
    const char *name;
    int16_t key;
} requests[] = {
    {"produce", 0},
    {"fetch", 1},
    {"listoffsets", 2},
    {"metadata", 3},
    {"offsetcommit", 8},
    {"offsetfetch", 9},
    {"findcoordinator", 10},
    {"joingroup", 11},
    {"heartbeat", 12},
    {"leavegroup", 13},
    {"syncgroup", 14},
    {"initproducerid", 22},
    {"addpartitionstotxn", 24},
    {"addoffsetstotxn", 25},
    {"endtxn", 26},
    {"txnoffsetcommit", 28},
};

static bool request_key(const char *name, int16_t *key)
{
    for (size_t i = 0; i < sizeof requests / sizeof *requests; i++)
        if (strcasecmp(requests[i].name, name) == 0) {
            *key = requests[i].key;
            return true;
        }
    return false;
}

/* A Kafka error by its name (librdkafka's table, without RD_KAFKA_RESP_ERR_). */
static bool error_code(const char *name, rd_kafka_resp_err_t *out)
{
    const struct rd_kafka_err_desc *descs;
    size_t n;
    rd_kafka_get_err_descs(&descs, &n);
    for (size_t i = 0; i < n; i++)
        if (descs[i].name && strcasecmp(descs[i].name, name) == 0) {
            *out = descs[i].code;
            return true;
        }
    return false;
}

static bool parse_int(const char *s, long lo, long hi, long *out)
{
    if (!s || !*s) return false;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static sf_status fail(char *err, size_t errlen, const char *msg, const char *cmd)
{
    snprintf(err, errlen, "%s: %s", msg, cmd);
    return SF_ERR_INVALID_ARGUMENT;
}

sf_status sf_broker_fault(sf_broker *b, const char *command, char *err, size_t errlen)
{
    char line[256];
    if (!b || !command || strlen(command) >= sizeof line)
        return fail(err, errlen, "not a fault command", command ? command : "(none)");
    snprintf(line, sizeof line, "%s", command);
    char *save = NULL, *words[5] = {0};
    size_t n = 0;
    for (char *w = strtok_r(line, " \t\r\n", &save); w && n < 5;
         w = strtok_r(NULL, " \t\r\n", &save))
        words[n++] = w;
    rd_kafka_mock_cluster_t *mc = sf_broker_cluster(b);
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    long id = 0, v = 0, part = 0;
    if (n == 2 && (strcmp(words[0], "down") == 0 || strcmp(words[0], "up") == 0)) {
        if (!parse_int(words[1], 1, 64, &id)) return fail(err, errlen, "bad broker id", command);
        sf_broker_control_begin(b);
        e = words[0][0] == 'd' ? rd_kafka_mock_broker_set_down(mc, (int32_t)id)
                               : rd_kafka_mock_broker_set_up(mc, (int32_t)id);
        sf_broker_control_end(b);
    } else if (n == 3 && strcmp(words[0], "rtt") == 0) {
        if (!parse_int(words[1], 1, 64, &id) || !parse_int(words[2], 0, 600000, &v))
            return fail(err, errlen, "usage: rtt BROKER MS", command);
        sf_broker_control_begin(b);
        e = rd_kafka_mock_broker_set_rtt(mc, (int32_t)id, (int)v);
        sf_broker_control_end(b);
    } else if (n == 4 && strcmp(words[0], "leader") == 0) {
        if (!parse_int(words[2], 0, 100000, &part) || !parse_int(words[3], 1, 64, &id))
            return fail(err, errlen, "usage: leader TOPIC PARTITION BROKER", command);
        sf_broker_control_begin(b);
        e = rd_kafka_mock_partition_set_leader(mc, words[1], (int32_t)part, (int32_t)id);
        sf_broker_control_end(b);
    } else if (n == 4 && strcmp(words[0], "errors") == 0) {
        int16_t key;
        rd_kafka_resp_err_t code;
        if (!request_key(words[1], &key)) return fail(err, errlen, "unknown request", command);
        if (!parse_int(words[2], 1, 100000, &v)) return fail(err, errlen, "bad count", command);
        if (!error_code(words[3], &code)) return fail(err, errlen, "unknown Kafka error", command);
        rd_kafka_resp_err_t *codes = malloc(sizeof *codes * (size_t)v);
        if (!codes) return SF_ERR_NO_MEMORY;
        for (long i = 0; i < v; i++)
            codes[i] = code;
        rd_kafka_mock_push_request_errors_array(mc, key, (size_t)v, codes);
        free(codes);
    } else if (n == 2 && strcmp(words[0], "clear") == 0) {
        int16_t key;
        if (!request_key(words[1], &key)) return fail(err, errlen, "unknown request", command);
        rd_kafka_mock_clear_request_errors(mc, key);
    } else {
        return fail(err, errlen, "unknown fault command (down, up, rtt, leader, errors, clear)",
                    command);
    }
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errlen, "%s: %s", command, rd_kafka_err2str(e));
        return SF_ERR_INVALID_ARGUMENT;
    }
    return SF_OK;
}

#else
typedef int sf_broker_faults_absent; /* this build has no Kafka support */
#endif /* STREAMFIT_HAVE_KAFKA */
