/*
 * cmd_produce.c — `streamfit produce`: replay a file into a Kafka topic, one
 * message per line, as fast as possible or at a steady rate, once or in a
 * loop. For feeding `streamfit stream` and the development broker.
 */
#define _POSIX_C_SOURCE 200809L /* sigaction, sigwait, getline, clock_gettime */

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "cli.h"
#include "kafka_conf.h"

#ifdef STREAMFIT_HAVE_KAFKA
#include <librdkafka/rdkafka.h>

#endif

static const char produce_help[] =
    "Usage: streamfit produce --brokers HOST:PORT --topic T --input FILE|- [options]\n"
    "\n"
    "Replay a file into a Kafka topic: one message per line (empty lines and,\n"
    "for CSV, the header line are skipped). Prints 'produced N records' on\n"
    "stderr once everything is delivered; exit 1 when a delivery fails.\n"
    "\n"
    "  --brokers LIST        bootstrap servers, HOST:PORT[,HOST:PORT] (required)\n"
    "  --topic T             topic to write to (required)\n"
    "  --input FILE|-        lines to send, '-' for stdin (required)\n"
    "  --rate N              messages per second, steady (default 0: as fast as\n"
    "                        possible)\n"
    "  --loop                replay the file again and again until SIGINT/SIGTERM\n"
    "  --key-column NAME|INDEX  use this CSV column's text as the message key\n"
    "                        (INDEX 0-based; default: messages have no key)\n"
    "  --no-header           the first line is data, not a CSV header\n"
    "  --partition N         write every message to partition N (default: the\n"
    "                        partitioner's choice, by key when there is one)\n"
    "  -X KEY=VALUE          librdkafka producer property (repeatable), e.g.\n"
    "                        -X compression.type=lz4 (defaults: linger.ms=5, a\n"
    "                        queue of 1M messages)\n";

enum {
    OPT_BROKERS = 5000,
    OPT_TOPIC,
    OPT_RATE,
    OPT_LOOP,
    OPT_KEY_COLUMN,
    OPT_PARTITION,
    OPT_HELP,
    OPT_NO_HEADER_P,
};

#ifdef STREAMFIT_HAVE_KAFKA

static volatile sig_atomic_t stop_requests;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requests++;
}

typedef struct produce_stats {
    unsigned long long delivered, failed;
    char first_failure[512];
    int last_error;
} produce_stats;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    produce_stats *ps = opaque;
    if (!m->err) {
        ps->delivered++;
        return;
    }
    if (ps->failed++ == 0)
        snprintf(ps->first_failure, sizeof ps->first_failure, "%s", rd_kafka_err2str(m->err));
}

static void on_error(rd_kafka_t *rk, int code, const char *reason, void *opaque)
{
    produce_stats *ps = opaque;
    if (code == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[512];
        rd_kafka_resp_err_t e = rd_kafka_fatal_error(rk, buf, sizeof buf);
        cli_error("produce: kafka: fatal error: %s: %s", rd_kafka_err2str(e), buf);
        stop_requests += 2;
        return;
    }
    if (code == RD_KAFKA_RESP_ERR__TRANSPORT || code == ps->last_error) return;
    ps->last_error = code;
    if (code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        cli_error("produce: kafka: brokers unreachable (%s); waiting", reason);
    else
        cli_error("produce: kafka: %s", reason);
}

/* Configuration warnings only; connection trouble comes through on_error. */
static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    if (level <= LOG_WARNING && strcmp(fac, "CONFWARN") == 0) cli_error("produce: kafka: %s", buf);
}

/* Token bucket: `rate` tokens a second, at most 2 ms worth banked. */
typedef struct bucket {
    double rate, tokens, burst, last;
} bucket;

static void bucket_take(bucket *b)
{
    for (;;) {
        double now = sf_clock_mono_s();
        b->tokens = fmin(b->burst, b->tokens + (now - b->last) * b->rate);
        b->last = now;
        if (b->tokens >= 1.0 || stop_requests) break;
        double wait = (1.0 - b->tokens) / b->rate;
        if (wait < 0.001) wait = 0.001;
        struct timespec ts = {.tv_sec = (time_t)wait, .tv_nsec = (long)(fmod(wait, 1.0) * 1e9)};
        nanosleep(&ts, NULL); /* a signal cuts it short: stop_requests is seen at once */
    }
    b->tokens -= 1.0;
}

/* Field `index` of a CSV line (surrounding quotes removed); false if absent. */
static bool csv_field(const char *line, size_t len, long index, const char **start, size_t *flen)
{
    size_t i = 0;
    for (long f = 0;; f++) {
        size_t s = i, e;
        bool quoted = i < len && line[i] == '"', closed = false;
        if (quoted) {
            for (i++; i < len; i++) {
                if (line[i] != '"') continue;
                if (i + 1 < len && line[i + 1] == '"')
                    i++; /* "" inside quotes */
                else
                    break;
            }
            closed = i < len;
            e = closed ? ++i : i; /* past the closing quote */
            while (i < len && line[i] != ',')
                i++;
        } else {
            while (i < len && line[i] != ',')
                i++;
            e = i;
        }
        if (f == index) {
            if (quoted) s++;
            if (closed) e--;
            *start = line + s;
            *flen = e - s;
            return true;
        }
        if (i >= len) return false;
        i++; /* past ',' */
    }
}

static long find_column(const char *header, size_t len, const char *name)
{
    for (long f = 0;; f++) {
        const char *s;
        size_t n;
        if (!csv_field(header, len, f, &s, &n)) return -1;
        while (n && (*s == ' ' || *s == '\t'))
            s++, n--;
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        if (n == strlen(name) && memcmp(s, name, n) == 0) return f;
    }
}

typedef struct produce_opts {
    const char *brokers, *topic, *input, *key_column;
    double rate;
    bool loop, header;
    long partition;
    const char *const *conf; /* key, value, ..., NULL */
} produce_opts;

static rd_kafka_t *make_producer(const produce_opts *o, produce_stats *ps)
{
    char errstr[512];
    /* Keyless messages go to a random partition each, not in sticky runs:
     * an even spread keeps partitions balanced (the development broker
     * holds only about 5 MiB per partition). It batches like a typical
     * producer (librdkafka's linger.ms 5): the development broker serves one
     * message set per partition and fetch, so sets of a millisecond would
     * cap what a consumer can read from it. */
    const char *defaults[] = {"client.id", "streamfit-produce", "sticky.partitioning.linger.ms",
                              "0",         "linger.ms",         "5",
                              NULL};
    const char *fixed[] = {"bootstrap.servers", o->brokers, NULL};
    sf_kafka_settings user = {.own = o->conf, .own_flag = "-X"};
    rd_kafka_conf_t *conf =
        sf_kafka_conf_build(SF_KAFKA_PRODUCER, defaults, &user, fixed, errstr, sizeof errstr);
    if (!conf) {
        cli_usage_error("produce", "%s", errstr);
        return NULL;
    }
    rd_kafka_conf_set_opaque(conf, ps);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_log_cb(conf, on_log);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        cli_error("produce: cannot create the Kafka producer: %s", errstr);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

/* Send one line; waits while librdkafka's queue is full. False: give up. */
static bool send_line(rd_kafka_t *rk, rd_kafka_topic_t *rkt, const produce_opts *o, long key_index,
                      const char *line, size_t len)
{
    const char *key = NULL;
    size_t key_len = 0;
    if (key_index >= 0 && !csv_field(line, len, key_index, &key, &key_len)) key = NULL;
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            rk, RD_KAFKA_V_RKT(rkt),
            RD_KAFKA_V_PARTITION(o->partition >= 0 ? (int32_t)o->partition : RD_KAFKA_PARTITION_UA),
            RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)line, len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (!e) return true;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            cli_error("produce: cannot send to '%s': %s", o->topic, rd_kafka_err2str(e));
            return false;
        }
        if (stop_requests > 1) return false;
        rd_kafka_poll(rk, 10);
    }
}

/* Replay the input (once, or until stopped with --loop). */
static int replay(rd_kafka_t *rk, rd_kafka_topic_t *rkt, const produce_opts *o, FILE *in,
                  unsigned long long *sent, produce_stats *ps)
{
    bucket bk = {.rate = o->rate,
                 .tokens = 1.0,
                 .burst = fmax(1.0, o->rate * 0.002),
                 .last = sf_clock_mono_s()};
    long key_index = -1;
    bool key_by_name = o->key_column && !cli_parse_long(o->key_column, 0, 1000000, &key_index);
    char *line = NULL;
    size_t cap = 0;
    int rc = SF_EXIT_OK;
    do {
        bool header = o->header;
        unsigned long long pass = 0;
        ssize_t got;
        while (!stop_requests && (got = getline(&line, &cap, in)) >= 0) {
            size_t len = (size_t)got;
            if (len && line[len - 1] == '\n') len--;
            if (len && line[len - 1] == '\r') len--;
            if (len == 0) continue;
            if (header) {
                header = false;
                if (key_by_name && (key_index = find_column(line, len, o->key_column)) < 0) {
                    cli_error("produce: no column '%s' in the header of '%s'", o->key_column,
                              o->input);
                    rc = SF_EXIT_USAGE;
                    break;
                }
                continue;
            }
            if (o->rate > 0) bucket_take(&bk);
            if (stop_requests) break;
            if (!send_line(rk, rkt, o, key_index, line, len)) {
                rc = SF_EXIT_FAILURE;
                break;
            }
            pass++;
            if (++*sent % 1024 == 0) {
                rd_kafka_poll(rk, 0);
                if (ps->failed) break;
            }
        }
        if (ferror(in)) {
            cli_error("produce: cannot read '%s': %s", o->input, strerror(errno));
            rc = SF_EXIT_FAILURE;
        }
        if (rc != SF_EXIT_OK || ps->failed || !o->loop || stop_requests) break;
        if (pass == 0) {
            cli_error("produce: '%s' has no records to replay", o->input);
            rc = SF_EXIT_FAILURE;
            break;
        }
        rewind(in);
    } while (1);
    free(line);
    return rc;
}

static int produce_run(const produce_opts *o)
{
    FILE *in = strcmp(o->input, "-") == 0 ? stdin : fopen(o->input, "r");
    if (!in) {
        cli_error("produce: cannot open '%s': %s", o->input, strerror(errno));
        return SF_EXIT_FAILURE;
    }
    static char inbuf[1 << 20];
    setvbuf(in, inbuf, _IOFBF, sizeof inbuf);
    produce_stats ps = {0};
    rd_kafka_t *rk = make_producer(o, &ps);
    if (!rk) {
        if (in != stdin) fclose(in);
        return SF_EXIT_USAGE;
    }
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o->topic, NULL);
    if (!rkt) {
        cli_error("produce: topic '%s': %s", o->topic, rd_kafka_err2str(rd_kafka_last_error()));
        rd_kafka_destroy(rk);
        if (in != stdin) fclose(in);
        return SF_EXIT_FAILURE;
    }
    struct sigaction sa = {.sa_handler = on_stop_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    unsigned long long sent = 0;
    double t0 = sf_clock_mono_s();
    int rc = replay(rk, rkt, o, in, &sent, &ps);
    if (in != stdin) fclose(in);
    /* Deliver what is queued; a second signal gives up on it. */
    while (rd_kafka_outq_len(rk) > 0 && stop_requests < 2)
        rd_kafka_flush(rk, 100);
    unsigned long long undelivered = (unsigned long long)rd_kafka_outq_len(rk);
    if (undelivered) rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(rk, 0);
    double secs = sf_clock_mono_s() - t0;
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);

    fprintf(stderr, "streamfit: produced %llu records", ps.delivered);
    if (secs > 0 && ps.delivered)
        fprintf(stderr, " in %.2f s (%.0f/s)", secs, (double)ps.delivered / secs);
    fputc('\n', stderr);
    if (ps.failed) {
        cli_error("produce: %llu records were not delivered to '%s': %s", ps.failed, o->topic,
                  ps.first_failure);
        return SF_EXIT_FAILURE;
    }
    if (undelivered) {
        cli_error("produce: stopped with %llu records undelivered", undelivered);
        return SF_EXIT_FAILURE;
    }
    return rc;
}

#endif /* STREAMFIT_HAVE_KAFKA */

int cmd_produce(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"brokers", required_argument, 0, OPT_BROKERS},
        {"topic", required_argument, 0, OPT_TOPIC},
        {"input", required_argument, 0, OPT_INPUT},
        {"rate", required_argument, 0, OPT_RATE},
        {"loop", no_argument, 0, OPT_LOOP},
        {"key-column", required_argument, 0, OPT_KEY_COLUMN},
        {"no-header", no_argument, 0, OPT_NO_HEADER_P},
        {"partition", required_argument, 0, OPT_PARTITION},
        {"help", no_argument, 0, OPT_HELP},
        {0, 0, 0, 0},
    };
    const char *cmd = "produce";
    const char *brokers = NULL, *topic = NULL, *input = NULL, *key_column = NULL;
    double rate = 0;
    bool loop = false, header = true;
    long partition = -1;
    const char **conf = calloc((size_t)argc * 2 + 2, sizeof *conf);
    size_t nconf = 0;
    if (!conf) {
        cli_error("out of memory");
        return SF_EXIT_FAILURE;
    }
    int opt, rc = SF_EXIT_OK;
    opterr = 0;
    optind = 1;
    while (rc == SF_EXIT_OK && (opt = getopt_long(argc, argv, "X:h", longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_BROKERS: brokers = optarg; break;
        case OPT_TOPIC: topic = optarg; break;
        case OPT_INPUT: input = optarg; break;
        case OPT_RATE:
            if (!cli_parse_double(optarg, &rate) || rate < 0)
                rc = cli_usage_error(
                    cmd, "--rate needs a number of messages per second >= 0, not '%s'", optarg);
            break;
        case OPT_LOOP: loop = true; break;
        case OPT_KEY_COLUMN: key_column = optarg; break;
        case OPT_NO_HEADER_P: header = false; break;
        case OPT_PARTITION:
            if (!cli_parse_long(optarg, 0, 2147483647L, &partition))
                rc = cli_usage_error(cmd, "--partition needs a partition number >= 0, not '%s'",
                                     optarg);
            break;
        case 'X': {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg) {
                rc = cli_usage_error(cmd, "-X needs KEY=VALUE, not '%s'", optarg);
                break;
            }
            *eq = '\0';
            conf[nconf++] = optarg;
            conf[nconf++] = eq + 1;
            break;
        }
        case 'h':
        case OPT_HELP:
            fputs(produce_help, stdout);
            free(conf);
            return SF_EXIT_OK;
        default: rc = cli_usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (rc == SF_EXIT_OK) {
        if (optind < argc)
            rc = cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
        else if (!brokers || !brokers[0])
            rc = cli_usage_error(cmd, "--brokers is required");
        else if (!topic || !topic[0])
            rc = cli_usage_error(cmd, "--topic is required");
        else if (!input || !input[0])
            rc = cli_usage_error(cmd, "--input is required");
        else if (loop && strcmp(input, "-") == 0)
            rc = cli_usage_error(cmd, "--loop needs a file (stdin cannot be replayed)");
        else if (key_column && !header && !cli_parse_long(key_column, 0, 1000000, &(long){0}))
            rc = cli_usage_error(cmd, "--key-column by name needs a header line (drop --no-header "
                                      "or give a 0-based column index)");
    }
    if (rc != SF_EXIT_OK) {
        free(conf);
        return rc;
    }
#ifdef STREAMFIT_HAVE_KAFKA
    produce_opts o = {.brokers = brokers,
                      .topic = topic,
                      .input = input,
                      .key_column = key_column,
                      .rate = rate,
                      .loop = loop,
                      .header = header,
                      .partition = partition,
                      .conf = conf};
    rc = produce_run(&o);
#else
    (void)rate;
    (void)partition;
    cli_error("produce: this build has no Kafka support");
    rc = SF_EXIT_FAILURE;
#endif
    free(conf);
    return rc;
}
