/*
 * sink_kafka.h — the Kafka sink behind sf_sink (sink_open.c): one producer,
 * records written one by one or a batch at a time, keys copied.
 */
#ifndef STREAMFIT_SINK_KAFKA_H
#define STREAMFIT_SINK_KAFKA_H

#include <stddef.h>

#include "kafka_conf.h"
#include "streamfit.h"

typedef struct sink_kafka sink_kafka;
sf_status sf_sink_kafka_open(const char *spec, const sf_kafka_settings *kafka, sink_kafka **out,
                             char *err, size_t errlen);
/* A sink on the producer of `owner` (same brokers, else SF_ERR_UNSUPPORTED):
 * its messages go into owner's transactions. Destroy it before owner. */
sf_status sf_sink_kafka_open_on(sink_kafka *owner, const char *spec, sink_kafka **out, char *err,
                                size_t errlen);
sf_status sf_sink_kafka_write_batch(sink_kafka *s, const char *text, const size_t *off,
                                    const size_t *len, const char *keys, const size_t *key_off,
                                    const size_t *key_len, size_t n);
sf_status sf_sink_kafka_write(sink_kafka *s, const char *key, size_t key_len, const char *value,
                              size_t value_len);
sf_status sf_sink_kafka_set_header(sink_kafka *s, const char *name, const char *value);
sf_status sf_sink_kafka_flush(sink_kafka *s, int timeout_ms);
const char *sf_sink_kafka_error(const sink_kafka *s);
void sf_sink_kafka_destroy(sink_kafka *s);
/* After an aborted transaction: its failed deliveries went with it. */
void sf_sink_kafka_forget_failures(sink_kafka *s);
#ifdef STREAMFIT_HAVE_KAFKA
#include <librdkafka/rdkafka.h>
rd_kafka_t *sf_sink_kafka_producer(sink_kafka *s);
#endif

#endif
