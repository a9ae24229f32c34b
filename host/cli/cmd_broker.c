/*
 * cmd_broker.c — `streamfit broker`: a Kafka broker inside this process, for
 * development and tests (librdkafka's mock cluster, see broker_mock.h). It
 * prints its bootstrap address as the first line on stdout and serves until
 * SIGINT or SIGTERM.
 */
#define _POSIX_C_SOURCE 200809L /* sigtimedwait, pthread_sigmask */

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#ifdef STREAMFIT_HAVE_KAFKA
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include "broker_mock.h"
#include "clock.h"
#endif

static const char broker_help[] =
    "Usage: streamfit broker [--port 9092] [--partitions 32] [--brokers 1] [--topic T]...\n"
    "\n"
    "Run a Kafka broker inside this process, for development and tests. It\n"
    "prints its bootstrap address (e.g. 127.0.0.1:9092) as the first line on\n"
    "stdout, then serves until SIGINT or SIGTERM (exit 0).\n"
    "\n"
    "Caveat: the data lives in memory only, about 5 MiB per partition; beyond\n"
    "that the oldest data is silently dropped. Give topics enough partitions\n"
    "for what you replay (32 partitions hold about 160 MiB). Production uses a\n"
    "real Kafka cluster.\n"
    "\n"
    "  --port N          bootstrap port on 127.0.0.1 (default 9092; 0: the\n"
    "                    brokers' own ephemeral ports)\n"
    "  --partitions N    partitions of each --topic (default 32)\n"
    "  --brokers N       brokers in the cluster (default 1)\n"
    "  --topic NAME      create this topic up front (repeatable). Topics that\n"
    "                    clients create on first use get 4 partitions (about\n"
    "                    20 MiB), a limit of the mock cluster: name them here.\n"
    "                    Each topic created on first use is reported on stderr.\n"
    "  --control         read fault commands from stdin, one per line, and answer\n"
    "                    each on stdout with 'ok: COMMAND' or 'error: REASON':\n"
    "                      down BROKER | up BROKER       stop / resume serving\n"
    "                      rtt BROKER MS                 added round-trip time\n"
    "                      leader TOPIC PARTITION BROKER move a partition's leader\n"
    "                      errors REQUEST COUNT ERROR    fail the next COUNT produce,\n"
    "                                    fetch, metadata, ... requests with a Kafka\n"
    "                                    error (e.g. NOT_LEADER_FOR_PARTITION)\n"
    "                      clear REQUEST                 drop the errors still queued\n"
    "                    Brokers are numbered from 1 (--brokers N).\n";

enum { OPT_PORT = 4000, OPT_PARTITIONS, OPT_BROKERS, OPT_TOPIC, OPT_CONTROL, OPT_HELP };

#ifdef STREAMFIT_HAVE_KAFKA
/* Topics clients create on first use are small (the mock cluster's fixed
 * default): a client of the broker lists the topics now and then and warns
 * about each new one, since their older data will be dropped silently. */
typedef struct topic_watch {
    rd_kafka_t *rk;
    char **known;
    size_t n, cap;
} topic_watch;

static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    (void)level;
    (void)fac;
    (void)buf;
}

static bool watch_known(topic_watch *w, const char *name)
{
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->known[i], name) == 0) return true;
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 16;
        char **k = realloc(w->known, cap * sizeof *k);
        if (!k) return true; /* cannot remember it: stay quiet rather than repeat */
        w->known = k;
        w->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy) return true;
    w->known[w->n++] = copy;
    return false;
}

static void watch_start(topic_watch *w, const char *bootstrap)
{
    memset(w, 0, sizeof *w);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[256];
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof errstr) !=
            RD_KAFKA_CONF_OK ||
        !(w->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr)))
        rd_kafka_conf_destroy(conf); /* no warnings then; the broker still works */
}

static void watch_poll(topic_watch *w, long partitions)
{
    const struct rd_kafka_metadata *md = NULL;
    if (!w->rk || rd_kafka_metadata(w->rk, 1, NULL, &md, 500) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
    for (int i = 0; i < md->topic_cnt; i++) {
        const struct rd_kafka_metadata_topic *t = &md->topics[i];
        if (t->err || t->topic[0] == '_' || watch_known(w, t->topic)) continue;
        fprintf(stderr,
                "streamfit: broker: topic '%s' was created on first use with %d partitions: it "
                "holds about %d MiB and silently drops older data (restart with --topic %s to "
                "give it %ld partitions)\n",
                t->topic, t->partition_cnt, 5 * t->partition_cnt, t->topic, partitions);
    }
    rd_kafka_metadata_destroy(md);
}

/* One fault command from stdin if a line comes within 200 ms, answered on
 * stdout; 0 when stdin has ended, 1 otherwise. */
static int control_step(sf_broker *b)
{
    struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
    if (poll(&pfd, 1, 200) <= 0) return 1;
    char line[512];
    if (!fgets(line, sizeof line, stdin)) return 0;
    line[strcspn(line, "\r\n")] = 0;
    if (!line[0]) return 1;
    char err[512];
    if (sf_broker_fault(b, line, err, sizeof err) == SF_OK)
        printf("ok: %s\n", line);
    else
        printf("error: %s\n", err);
    fflush(stdout);
    return 1;
}

static void watch_stop(topic_watch *w)
{
    if (w->rk) rd_kafka_destroy(w->rk);
    for (size_t i = 0; i < w->n; i++)
        free(w->known[i]);
    free(w->known);
}
#endif

int cmd_broker(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"port", required_argument, 0, OPT_PORT},
        {"partitions", required_argument, 0, OPT_PARTITIONS},
        {"brokers", required_argument, 0, OPT_BROKERS},
        {"topic", required_argument, 0, OPT_TOPIC},
        {"control", no_argument, 0, OPT_CONTROL},
        {"help", no_argument, 0, OPT_HELP},
        {0, 0, 0, 0},
    };
    const char *cmd = "broker";
    long port = 9092, partitions = 32, brokers = 1;
    bool control = false;
    const char **topics = calloc((size_t)argc + 1, sizeof *topics);
    size_t ntopics = 0;
    if (!topics) {
        cli_error("out of memory");
        return SF_EXIT_FAILURE;
    }
    int opt, rc = SF_EXIT_OK;
    opterr = 0;
    optind = 1;
    while (rc == SF_EXIT_OK && (opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_PORT:
            if (!cli_parse_long(optarg, 0, 65535, &port))
                rc = cli_usage_error(cmd, "--port needs a port number 0-65535, not '%s'", optarg);
            break;
        case OPT_PARTITIONS:
            if (!cli_parse_long(optarg, 1, 100000, &partitions))
                rc =
                    cli_usage_error(cmd, "--partitions needs a positive integer, not '%s'", optarg);
            break;
        case OPT_BROKERS:
            if (!cli_parse_long(optarg, 1, 64, &brokers))
                rc = cli_usage_error(cmd, "--brokers needs an integer 1-64, not '%s'", optarg);
            break;
        case OPT_TOPIC: topics[ntopics++] = optarg; break;
        case OPT_CONTROL: control = true; break;
        case 'h':
        case OPT_HELP:
            fputs(broker_help, stdout);
            free(topics);
            return SF_EXIT_OK;
        default: rc = cli_usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (rc == SF_EXIT_OK && optind < argc)
        rc = cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (rc != SF_EXIT_OK) {
        free(topics);
        return rc;
    }
#ifndef STREAMFIT_HAVE_KAFKA
    (void)control;
    (void)port;
    (void)partitions;
    (void)brokers;
    free(topics);
    cli_error("broker: this build has no Kafka support");
    return SF_EXIT_FAILURE;
#else
    /* Block the stop signals in every thread (librdkafka's and the
     * forwarder inherit the mask) and take them with sigwait. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    char err[512];
    sf_broker *b = NULL;
    sf_status st = sf_broker_start((int)port, (int)partitions, (int)brokers, &b, err, sizeof err);
    if (st != SF_OK) {
        cli_error("broker: %s", err[0] ? err : sf_strerror(st));
        free(topics);
        return SF_EXIT_FAILURE;
    }
    for (size_t i = 0; i < ntopics; i++) {
        bool dup = false;
        for (size_t j = 0; j < i; j++)
            dup = dup || strcmp(topics[i], topics[j]) == 0;
        if (dup) continue;
        st = sf_broker_create_topic(b, topics[i], (int)partitions);
        if (st != SF_OK) {
            if (st == SF_ERR_INVALID_ARGUMENT)
                cli_error("broker: invalid topic name '%s' (letters, digits, '.', '_' and '-')",
                          topics[i]);
            else
                cli_error("broker: cannot create topic '%s': %s", topics[i], sf_strerror(st));
            sf_broker_stop(b);
            free(topics);
            return st == SF_ERR_INVALID_ARGUMENT ? SF_EXIT_USAGE : SF_EXIT_FAILURE;
        }
    }
    printf("%s\n", sf_broker_bootstrap(b));
    fflush(stdout);
    fprintf(stderr,
            "streamfit: development broker at %s: it keeps data in memory, about 5 MiB per "
            "partition, and silently drops older data; for development and tests only, "
            "production uses a real Kafka cluster\n",
            sf_broker_bootstrap(b));
    topic_watch watch;
    watch_start(&watch, sf_broker_bootstrap(b));
    for (size_t i = 0; i < ntopics; i++)
        watch_known(&watch, topics[i]);
    free(topics);
    /* control_step polls the descriptor: lines that stdio had read ahead
     * would wait there unseen, so stdin is read without a buffer. */
    if (control) setvbuf(stdin, NULL, _IONBF, 0);
    double last_watch = sf_clock_mono_s();
    for (;;) {
        /* With --control, wait on stdin and look for signals between lines. */
        if (control && control_step(b) == 0) control = false; /* stdin ended */
        struct timespec tick = {.tv_sec = control ? 0 : 1, .tv_nsec = 0};
        int sig = sigtimedwait(&stop, NULL, &tick);
        if (sig == SIGINT || sig == SIGTERM) break;
        if (sig < 0 && errno != EAGAIN && errno != EINTR) {
            cli_error("broker: cannot wait for signals: %s", strerror(errno));
            rc = SF_EXIT_FAILURE;
            break;
        }
        if (sf_clock_mono_s() - last_watch >= 1.0) {
            watch_poll(&watch, partitions);
            last_watch = sf_clock_mono_s();
        }
    }
    watch_stop(&watch);
    sf_broker_stop(b);
    return rc;
#endif
}
