/*
 * test_kafka_io.c — the Kafka sink (host/sinks/sink_kafka.c) and the Kafka
 * source (host/sources/source_kafka.c) against the development broker
 * (host/broker/broker_mock.c: librdkafka's mock cluster) started in this
 * process. The sink writes, the source reads back:
 *
 *   - every record once, with its key (NULL keys stay NULL) and its value;
 *     each partition's offsets run 0, 1, 2, ... in the order the records
 *     were written; one key always lands in one partition; the message
 *     timestamp is the time of writing;
 *   - the source's state after part of the topic is the next offset of
 *     every partition it read from ("kafka v1\nTOPIC\nPARTITION NEXT\n...");
 *     a source opened with it as `resume` starts each partition there and
 *     reads everything written since, nothing twice;
 *   - saved positions of another kind, or damaged, are refused.
 *
 * Label kafka; exits 77 (skipped) when the build has no Kafka support.
 */
#define _GNU_SOURCE
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef STREAMFIT_HAVE_KAFKA

#include "broker_mock.h"
#include "clock.h"
#include "sink.h"
#include "source.h"

#define MAX_RECORDS 512
#define N_KEYS 37        /* keys repeat: records 0, 37, 74, ... share one */
#define KEYLESS_EVERY 50 /* every 50th record has no key */
#define READ_TIMEOUT_MS 20000

static sf_broker *g_broker;

static int group_setup(void **state)
{
    (void)state;
    char err[256] = "";
    if (sf_broker_start(0, 4, 1, &g_broker, err, sizeof err) != SF_OK) {
        fprintf(stderr, "cannot start the development broker: %s\n", err);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    sf_broker_stop(g_broker);
    return 0;
}

static const char *uri_of(const char *topic)
{
    static char uri[256];
    snprintf(uri, sizeof uri, "kafka://%s/%s", sf_broker_bootstrap(g_broker), topic);
    return uri;
}

static bool keyless(int i) { return i % KEYLESS_EVERY == KEYLESS_EVERY - 1; }

/* Write records from..to-1 through the Kafka sink: value "v%05d", key
 * "k%02d" of i mod N_KEYS (none for the keyless ones); all delivered. */
static void produce(const char *topic, int from, int to)
{
    sf_sink *s = NULL;
    char err[256] = "";
    assert_int_equal(sf_sink_open(uri_of(topic), NULL, &s, err, sizeof err), SF_OK);
    for (int i = from; i < to; i++) {
        char key[16], value[16];
        int kl = snprintf(key, sizeof key, "k%02d", i % N_KEYS);
        int vl = snprintf(value, sizeof value, "v%05d", i);
        sf_status st = keyless(i) ? sf_sink_write(s, NULL, 0, value, (size_t)vl)
                                  : sf_sink_write(s, key, (size_t)kl, value, (size_t)vl);
        assert_int_equal(st, SF_OK);
    }
    sf_status st = sf_sink_flush(s, 10000);
    if (st != SF_OK) fprintf(stderr, "flush: %s\n", sf_sink_error(s));
    assert_int_equal(st, SF_OK);
    sf_sink_destroy(s);
}

typedef struct seen {
    int value[MAX_RECORDS]; /* the record number in the value */
    char key[MAX_RECORDS][16];
    bool has_key[MAX_RECORDS];
    int32_t partition[MAX_RECORDS];
    int64_t offset[MAX_RECORDS];
    int64_t timestamp_ms[MAX_RECORDS];
    size_t n;
} seen;

static sf_source *open_source(const char *topic, const char *resume)
{
    sf_source_options o;
    memset(&o, 0, sizeof o);
    o.uri = uri_of(topic);
    o.start = "earliest";
    o.resume = resume;
    sf_source *src = NULL;
    char err[256] = "";
    sf_status st = sf_source_open(&o, &src, err, sizeof err);
    if (st != SF_OK) fprintf(stderr, "source: %s\n", err);
    assert_int_equal(st, SF_OK);
    return src;
}

/* Read exactly `want` more records (never more: poll is asked for what is
 * left), copying them out of the source's buffers. */
static void read_records(sf_source *src, seen *g, size_t want)
{
    sf_record rec[64];
    size_t goal = g->n + want;
    assert_true(goal <= MAX_RECORDS);
    int64_t deadline = sf_clock_mono_ms() + READ_TIMEOUT_MS;
    while (g->n < goal) {
        assert_true(sf_clock_mono_ms() < deadline);
        size_t left = goal - g->n, n = 0;
        bool eof = false;
        assert_int_equal(src->ops->poll(src, rec, left < 64 ? left : 64, 200, &n, &eof), SF_OK);
        assert_false(eof); /* a topic never ends */
        assert_true(n <= left);
        for (size_t i = 0; i < n; i++) {
            size_t k = g->n++;
            char value[16] = "";
            assert_true(rec[i].len < sizeof value);
            memcpy(value, rec[i].data, rec[i].len);
            assert_int_equal(sscanf(value, "v%d", &g->value[k]), 1);
            g->has_key[k] = rec[i].key != NULL;
            if (rec[i].key) {
                assert_true(rec[i].key_len < sizeof g->key[k]);
                memcpy(g->key[k], rec[i].key, rec[i].key_len);
                g->key[k][rec[i].key_len] = '\0';
            }
            g->partition[k] = rec[i].pos.partition;
            g->offset[k] = rec[i].pos.offset;
            g->timestamp_ms[k] = rec[i].timestamp_ms;
            assert_int_equal(rec[i].pos.line, 0);
        }
    }
}

/* Nothing more arrives within `ms`. */
static void assert_no_more(sf_source *src, int ms)
{
    sf_record rec[8];
    int64_t until = sf_clock_mono_ms() + ms;
    while (sf_clock_mono_ms() < until) {
        size_t n = 0;
        bool eof = false;
        assert_int_equal(src->ops->poll(src, rec, 8, 100, &n, &eof), SF_OK);
        assert_int_equal(n, 0);
    }
}

/* Each record written (0..total-1) was read exactly once, with its key. */
static void assert_each_once(const seen *g, int total)
{
    assert_int_equal(g->n, (size_t)total);
    static int count[MAX_RECORDS];
    memset(count, 0, sizeof count);
    for (size_t k = 0; k < g->n; k++) {
        int v = g->value[k];
        assert_true(v >= 0 && v < total);
        count[v]++;
        assert_int_equal(g->has_key[k], !keyless(v));
        if (g->has_key[k]) {
            char want[16];
            snprintf(want, sizeof want, "k%02d", v % N_KEYS);
            assert_string_equal(g->key[k], want);
        }
    }
    for (int v = 0; v < total; v++)
        assert_int_equal(count[v], 1);
}

/* Per partition, in reading order: offsets 0, 1, 2, ... (from `first`), and
 * records in the order they were written. Returns the partitions used. */
static int assert_partition_order(const seen *g, int partitions, const int64_t *first)
{
    int used = 0;
    for (int32_t p = 0; p < partitions; p++) {
        int64_t next = first ? first[p] : 0;
        int last_value = -1;
        bool any = false;
        for (size_t k = 0; k < g->n; k++) {
            if (g->partition[k] != p) continue;
            any = true;
            assert_true(g->offset[k] == next);
            next++;
            assert_true(g->value[k] > last_value);
            last_value = g->value[k];
        }
        used += any;
    }
    for (size_t k = 0; k < g->n; k++)
        assert_true(g->partition[k] >= 0 && g->partition[k] < partitions);
    return used;
}

static void test_sink_then_source(void **state)
{
    (void)state;
    const int total = 400, partitions = 4;
    assert_int_equal(sf_broker_create_topic(g_broker, "roundtrip", partitions), SF_OK);
    int64_t t0 = sf_clock_wall_ms();
    produce("roundtrip", 0, total);
    int64_t t1 = sf_clock_wall_ms();

    sf_source *src = open_source("roundtrip", NULL);
    static seen g;
    memset(&g, 0, sizeof g);
    read_records(src, &g, (size_t)total);
    assert_no_more(src, 500);
    src->ops->destroy(src);

    assert_each_once(&g, total);
    /* 37 keys over 4 partitions by hash: more than one partition is used */
    assert_true(assert_partition_order(&g, partitions, NULL) > 1);
    int32_t key_partition[N_KEYS];
    for (int k = 0; k < N_KEYS; k++)
        key_partition[k] = -1;
    for (size_t k = 0; k < g.n; k++) {
        /* the time of writing, to the broker's millisecond */
        assert_true(g.timestamp_ms[k] >= t0 - 1 && g.timestamp_ms[k] <= t1 + 1);
        if (!g.has_key[k]) continue;
        int key = g.value[k] % N_KEYS;
        if (key_partition[key] < 0) key_partition[key] = g.partition[k];
        assert_int_equal(g.partition[k], key_partition[key]);
    }
}

/* The partition -> next offset pairs of a state blob for `topic`. */
static void parse_state(const char *blob, const char *topic, int64_t *next, int partitions)
{
    char head[128];
    snprintf(head, sizeof head, "kafka v1\n%s\n", topic);
    assert_true(strncmp(blob, head, strlen(head)) == 0);
    for (int p = 0; p < partitions; p++)
        next[p] = -1;
    const char *s = blob + strlen(head);
    while (*s) {
        int p, used = 0;
        long long off;
        assert_int_equal(sscanf(s, "%d %lld\n%n", &p, &off, &used), 2);
        assert_true(used > 0 && p >= 0 && p < partitions);
        next[p] = off;
        s += used;
    }
}

static void test_state_and_resume(void **state)
{
    (void)state;
    const int first = 300, more = 50, partitions = 3;
    const size_t part = 137;
    assert_int_equal(sf_broker_create_topic(g_broker, "resume", partitions), SF_OK);
    produce("resume", 0, first);

    /* Read part of the topic, then save the position. */
    sf_source *a = open_source("resume", NULL);
    static seen ga;
    memset(&ga, 0, sizeof ga);
    read_records(a, &ga, part);
    sf_source_state st = {0};
    assert_int_equal(a->ops->state(a, &st), SF_OK);
    assert_non_null(st.blob);
    assert_int_equal(a->ops->commit(a, &st), SF_OK); /* no group: nothing to commit, no failure */
    a->ops->destroy(a);

    /* The blob names, for every partition read, the offset after its last record. */
    int64_t next[3];
    parse_state(st.blob, "resume", next, partitions);
    for (int p = 0; p < partitions; p++) {
        int64_t last = -1;
        for (size_t k = 0; k < ga.n; k++)
            if (ga.partition[k] == p && ga.offset[k] > last) last = ga.offset[k];
        assert_true(next[p] == (last >= 0 ? last + 1 : -1));
    }

    /* More written while no one reads; a source resumed from the blob reads
     * the rest of the first records and all of the new ones, nothing twice. */
    produce("resume", first, first + more);
    sf_source *b = open_source("resume", st.blob);
    static seen gb;
    memset(&gb, 0, sizeof gb);
    read_records(b, &gb, (size_t)(first + more) - part);
    assert_no_more(b, 500);
    sf_source_state st2 = {0};
    assert_int_equal(b->ops->state(b, &st2), SF_OK);
    b->ops->destroy(b);

    int64_t from[3];
    for (int p = 0; p < partitions; p++)
        from[p] = next[p] >= 0 ? next[p] : 0;
    assert_partition_order(&gb, partitions, from);

    static seen all;
    memcpy(&all, &ga, sizeof all);
    for (size_t k = 0; k < gb.n; k++) {
        size_t j = all.n++;
        all.value[j] = gb.value[k];
        all.has_key[j] = gb.has_key[k];
        memcpy(all.key[j], gb.key[k], sizeof all.key[j]);
        all.partition[j] = gb.partition[k];
        all.offset[j] = gb.offset[k];
    }
    assert_each_once(&all, first + more);
    assert_partition_order(&all, partitions, NULL);

    /* At the end every partition's next offset is its record count. */
    int64_t end[3];
    parse_state(st2.blob, "resume", end, partitions);
    for (int p = 0; p < partitions; p++) {
        int64_t count = 0;
        for (size_t k = 0; k < all.n; k++)
            count += all.partition[k] == p;
        assert_true(end[p] == (count > 0 ? count : -1));
    }
    sf_source_state_free(&st);
    sf_source_state_free(&st2);
}

static void test_bad_positions_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "file v1\n0 0 1\n",           /* another kind of source */
        "kafka v1\nresume\n0 abc\n",  /* damaged offset */
        "kafka v1\nresume\n-1 5\n",   /* no such partition number */
        "kafka v1\nresume\n0 5 junk", /* trailing junk */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sf_source_options o;
        memset(&o, 0, sizeof o);
        o.uri = uri_of("resume");
        o.resume = bad[i];
        sf_source *src = NULL;
        char err[256] = "";
        assert_int_equal(sf_source_open(&o, &src, err, sizeof err), SF_ERR_INVALID_ARGUMENT);
        assert_null(src);
        assert_true(strlen(err) > 0);
    }
}

/* A consumer-group source commits the positions of the state it is given,
 * not where it has polled since (the pipeline polls the next batch before
 * the checkpoint of this one is durable): a new member of the group starting
 * from the committed offsets reads exactly what that state had not. */
static void test_commit_is_the_states(void **state)
{
    (void)state;
    const int total = 200, in_state = 80, polled_after = 60;
    assert_int_equal(sf_broker_create_topic(g_broker, "committed", 2), SF_OK);
    produce("committed", 0, total);
    sf_source_options o;
    memset(&o, 0, sizeof o);
    o.uri = uri_of("committed");
    o.group = "streamfit-test-commit";
    o.start = "earliest";
    /* The second member joins once the development broker has timed the
     * first one out of the group: the shortest session it allows. */
    static const char *const conf[] = {"session.timeout.ms", "6000", "heartbeat.interval.ms", "500",
                                       NULL};
    o.kafka_conf = conf;
    sf_source *a = NULL;
    char err[256] = "";
    assert_int_equal(sf_source_open(&o, &a, err, sizeof err), SF_OK);
    static seen ga;
    memset(&ga, 0, sizeof ga);
    read_records(a, &ga, (size_t)in_state);
    sf_source_state st = {0};
    assert_int_equal(a->ops->state(a, &st), SF_OK);
    assert_true(st.n_commit > 0);
    read_records(a, &ga, (size_t)polled_after); /* the next batch, polled meanwhile */
    assert_int_equal(a->ops->commit(a, &st), SF_OK);
    a->ops->destroy(a);
    sf_source_state_free(&st);

    o.start = "committed";
    sf_source *b = NULL;
    assert_int_equal(sf_source_open(&o, &b, err, sizeof err), SF_OK);
    static seen gb;
    memset(&gb, 0, sizeof gb);
    read_records(b, &gb, (size_t)(total - in_state));
    assert_no_more(b, 500);
    b->ops->destroy(b);
    static int count[MAX_RECORDS];
    memset(count, 0, sizeof count);
    for (size_t k = 0; k < (size_t)in_state; k++)
        count[ga.value[k]]++;
    for (size_t k = 0; k < gb.n; k++)
        count[gb.value[k]]++;
    for (int v = 0; v < total; v++) /* the state's records once, the rest once */
        assert_int_equal(count[v], 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sink_then_source),
        cmocka_unit_test(test_state_and_resume),
        cmocka_unit_test(test_bad_positions_refused),
        cmocka_unit_test(test_commit_is_the_states),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

#else

int main(void)
{
    puts("built without Kafka support: skipped");
    return 77;
}

#endif
