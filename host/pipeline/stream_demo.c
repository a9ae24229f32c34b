/*
 * stream_demo.c — the embedded demo: a development broker (librdkafka's mock
 * cluster, in memory, 32 partitions) and a feed thread that produces records
 * at a steady rate, either replaying a CSV file in a loop or generating a
 * seeded synthetic stream (8 features; a linear target for least squares, a
 * logistic one for classifiers).
 */
#include "stream_demo.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker_mock.h"
#include "clock.h"
#include "sink.h"

#define DEMO_TOPIC "streamfit-demo"
#define DEMO_PARTITIONS 32
#define DEMO_FEATURES 8

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double uniform(uint64_t *s) { return (double)(splitmix64(s) >> 11) * 0x1.0p-53; }

static double gaussian(uint64_t *s)
{
    double u = uniform(s), v = uniform(s);
    return sqrt(-2.0 * log(u > 0 ? u : 1e-300)) * cos(2.0 * M_PI * v);
}

/* One synthetic record as CSV: y,x1..x8. */
static size_t synthetic_record(sf_model_kind model, uint64_t *rng, char *buf, size_t len)
{
    double x[DEMO_FEATURES], t = 0.3;
    for (int j = 0; j < DEMO_FEATURES; j++) {
        x[j] = gaussian(rng);
        t += x[j] * ((j % 2 ? -1.0 : 1.0) / (1.0 + j));
    }
    double y;
    if (model == SF_MODEL_OLS || model == SF_MODEL_RIDGE)
        y = t + 0.1 * gaussian(rng);
    else if (model == SF_MODEL_SOFTMAX)
        y = t < -0.5 ? 0 : (t < 0.5 ? 1 : 2);
    else
        y = uniform(rng) < 1.0 / (1.0 + exp(-2.0 * t)) ? 1 : 0;
    int n = snprintf(buf, len, "%.6g", y);
    for (int j = 0; j < DEMO_FEATURES && n > 0 && (size_t)n < len; j++)
        n += snprintf(buf + n, len - (size_t)n, ",%.6g", x[j]);
    return n > 0 ? (size_t)n : 0;
}

static void *feed_main(void *arg)
{
    sf_stream_demo *demo = arg;
    uint64_t rng = 42, seq = 0;
    FILE *f = demo->feed_path ? fopen(demo->feed_path, "r") : NULL;
    char *line = NULL;
    size_t cap = 0;
    char rec[512], key[32];
    int64_t next_ns = sf_clock_mono_ns();
    const long chunk = demo->rate >= 1000 ? demo->rate / 1000 : 1; /* records per tick */
    const long tick_ns = (long)(1e9 * (double)chunk / (double)demo->rate);
    while (!demo->feed_stop) {
        for (long i = 0; i < chunk && !demo->feed_stop; i++) {
            const char *value = rec;
            size_t len;
            if (f) {
                ssize_t n = getline(&line, &cap, f);
                if (n <= 0 || seq == 0) { /* loop the file, skipping its header */
                    rewind(f);
                    if (getline(&line, &cap, f) <= 0) break;
                    n = getline(&line, &cap, f);
                    if (n <= 0) break;
                }
                while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
                    n--;
                value = line;
                len = (size_t)n;
            } else {
                len = synthetic_record(demo->model, &rng, rec, sizeof rec);
            }
            int kl = snprintf(key, sizeof key, "%llu", (unsigned long long)seq++);
            if (sf_sink_write(demo->feed_sink, key, (size_t)kl, value, len) != SF_OK) {
                demo->feed_stop = 1;
                break;
            }
        }
        next_ns += tick_ns;
        sf_clock_sleep_until_ns(next_ns);
    }
    free(line);
    if (f) fclose(f);
    return NULL;
}

static sf_status feed_columns(sf_stream_demo *demo, char *err, size_t errlen)
{
    if (!demo->feed_path) {
        int n = snprintf(demo->columns, sizeof demo->columns, "y");
        for (int j = 1; j <= DEMO_FEATURES; j++)
            n += snprintf(demo->columns + n, sizeof demo->columns - (size_t)n, ",x%d", j);
        return SF_OK;
    }
    FILE *f = fopen(demo->feed_path, "r");
    if (!f || !fgets(demo->columns, sizeof demo->columns, f)) {
        snprintf(err, errlen, "cannot read the header of the feed file '%s'", demo->feed_path);
        if (f) fclose(f);
        return SF_ERR_IO;
    }
    fclose(f);
    demo->columns[strcspn(demo->columns, "\r\n")] = 0;
    return SF_OK;
}

sf_status sf_stream_demo_start(sf_stream_demo *demo, sf_stream_options *o, const char *feed_path,
                               long rate, char *err, size_t errlen)
{
    demo->feed_path = feed_path;
    demo->rate = rate;
    demo->model = o->fit.model;
    sf_status st = feed_columns(demo, err, errlen);
    if (st != SF_OK) return st;
#ifndef STREAMFIT_HAVE_KAFKA
    (void)feed_main; /* the feed thread runs only beside a broker */
    snprintf(err, errlen,
             "the embedded demo needs Kafka support, and this build has none "
             "(configured with STREAMFIT_KAFKA=OFF or without librdkafka)");
    return SF_ERR_UNSUPPORTED;
#else
    st = sf_broker_start(0, DEMO_PARTITIONS, 1, &demo->broker, err, errlen);
    if (st != SF_OK) return st;
    st = sf_broker_create_topic(demo->broker, DEMO_TOPIC, DEMO_PARTITIONS);
    if (st != SF_OK) {
        snprintf(err, errlen, "cannot create the demo topic");
        return st;
    }
    char sink_uri[256];
    snprintf(sink_uri, sizeof sink_uri, "kafka://%s/%s", sf_broker_bootstrap(demo->broker),
             DEMO_TOPIC);
    snprintf(demo->uri, sizeof demo->uri, "%s", sink_uri);
    /* The feed batches like a typical producer (librdkafka's linger.ms 5):
     * the development broker serves one message set per partition and
     * fetch, so sets of a millisecond would cap what a consumer can read. */
    static const char *const feed_conf[] = {"linger.ms", "5", NULL};
    sf_kafka_settings feed = {.own = feed_conf};
    st = sf_sink_open(sink_uri, &feed, &demo->feed_sink, err, errlen);
    if (st != SF_OK) return st;
    if (pthread_create(&demo->feed_thread, NULL, feed_main, demo) != 0) {
        snprintf(err, errlen, "cannot start the feed thread");
        return SF_ERR_NO_MEMORY;
    }
    demo->feed_running = true;
    o->source = demo->uri;
    if (!o->columns) o->columns = demo->columns;
    snprintf(demo->banner, sizeof demo->banner,
             "development broker at %s (in memory, %d partitions; for development only — "
             "production uses a real Kafka cluster)\n"
             "feeding topic %s with %s at %ld records/s",
             sf_broker_bootstrap(demo->broker), DEMO_PARTITIONS, DEMO_TOPIC,
             feed_path ? feed_path : "a synthetic stream", rate);
    return SF_OK;
#endif
}

void sf_stream_demo_stop(sf_stream_demo *demo)
{
    demo->feed_stop = 1;
    if (demo->feed_running) pthread_join(demo->feed_thread, NULL);
    demo->feed_running = false;
    sf_sink_destroy(demo->feed_sink);
    demo->feed_sink = NULL;
#ifdef STREAMFIT_HAVE_KAFKA
    if (demo->broker) sf_broker_stop(demo->broker);
#endif
    demo->broker = NULL;
}
