/*
 * stream_demo.h — `stream --broker embedded`: the development broker and a
 * data feed started inside the process, so that a streaming run can be seen
 * end to end with nothing else running.
 */
#ifndef STREAMFIT_STREAM_DEMO_H
#define STREAMFIT_STREAM_DEMO_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>

#include "streamfit_stream.h"

typedef struct sf_stream_demo {
    struct sf_broker *broker;
    struct sf_sink *feed_sink;
    pthread_t feed_thread;
    bool feed_running;
    volatile sig_atomic_t feed_stop;
    char uri[256];
    char columns[256];
    const char *feed_path;
    long rate;
    sf_model_kind model;
    char err[256];
    char banner[512]; /* two lines (no trailing newline): where the broker is, what it feeds */
} sf_stream_demo;

/* Start the broker and the feed, and point o's source at them (o->source and,
 * when unset, o->columns then point into demo). Returns SF_OK, or the failure
 * with err holding a message. */
sf_status sf_stream_demo_start(sf_stream_demo *demo, sf_stream_options *o, const char *feed_path,
                               long rate, char *err, size_t errlen);
void sf_stream_demo_stop(sf_stream_demo *demo);

#endif
