/*
 * sink.h — where streaming outputs go: predictions and dead letters, to a
 * Kafka topic (one message per record, key copied from the input record),
 * a file (one line per record, appended) or stdout.
 */
#ifndef STREAMFIT_SINK_H
#define STREAMFIT_SINK_H

#include <stddef.h>

#include "streamfit.h"

typedef struct sf_sink sf_sink;

/* uri: kafka://HOST:PORT[,HOST:PORT]/TOPIC | file:PATH | stdout.
 * kafka_conf: NULL-terminated key, value, ... pairs passed to librdkafka. */
sf_status sf_sink_open(const char *uri, const char *const *kafka_conf, sf_sink **out, char *err,
                       size_t errlen);
/* One record: a Kafka message (key may be NULL) or `value` plus a newline. */
sf_status sf_sink_write(sf_sink *s, const char *key, size_t key_len, const char *value,
                        size_t value_len);
/* Wait until everything written is delivered (Kafka) or flushed (files). */
sf_status sf_sink_flush(sf_sink *s, int timeout_ms);
void sf_sink_destroy(sf_sink *s);
/* Why the last call on this sink failed (empty when it did not). */
const char *sf_sink_error(const sf_sink *s);

#endif
