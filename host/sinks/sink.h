/*
 * sink.h — where streaming outputs go: predictions and dead letters, to a
 * Kafka topic (one message per record, key copied from the input record),
 * a file (one line per record, appended) or stdout.
 */
#ifndef STREAMFIT_SINK_H
#define STREAMFIT_SINK_H

#include <stddef.h>

#include "kafka_conf.h"
#include "streamfit.h"

typedef struct sf_sink sf_sink;

/* uri: kafka://HOST:PORT[,HOST:PORT]/TOPIC | file:PATH | stdout.
 * kafka: the user's librdkafka settings (kafka_conf.h), or NULL. */
sf_status sf_sink_open(const char *uri, const sf_kafka_settings *kafka, sf_sink **out, char *err,
                       size_t errlen);
/* A Kafka output on the producer of the Kafka sink `with`, so that its
 * messages go into with's transactions: SF_ERR_UNSUPPORTED (err says why)
 * when uri is not a Kafka topic on the same brokers. Destroy it first. */
sf_status sf_sink_open_on(const char *uri, sf_sink *with, sf_sink **out, char *err, size_t errlen);
/* One record: a Kafka message (key may be NULL) or `value` plus a newline. */
sf_status sf_sink_write(sf_sink *s, const char *key, size_t key_len, const char *value,
                        size_t value_len);
/* A batch of n records in one buffer: record i is text[off[i]] .. (len[i]
 * bytes), each followed by a '\n' inside `text` (text_len bytes in all);
 * its key is keys[key_off[i]] .. (key_len[i] bytes), or none where key_off[i]
 * is SIZE_MAX (keys may be NULL: no keys). Kafka takes the batch in one call
 * (rd_kafka_produce_batch); a file gets the buffer as it is and is flushed
 * (not synced), so that each batch is visible to readers at once. */
sf_status sf_sink_write_batch(sf_sink *s, const char *text, size_t text_len, const size_t *off,
                              const size_t *len, const char *keys, const size_t *key_off,
                              const size_t *key_len, size_t n);
/* From now on every Kafka message carries this header (name, value: NUL-
 * terminated text, copied; both NULL: none). Files and stdout ignore it. */
sf_status sf_sink_set_header(sf_sink *s, const char *name, const char *value);
/* Wait until everything written is delivered (Kafka) or flushed (files). */
sf_status sf_sink_flush(sf_sink *s, int timeout_ms);
void sf_sink_destroy(sf_sink *s);
/* Why the last call on this sink failed (empty when it did not). */
const char *sf_sink_error(const sf_sink *s);
/* Kafka: the failures so far are forgotten (after the transaction they
 * belonged to was aborted). Files: nothing. */
void sf_sink_forget_failures(sf_sink *s);
#ifdef STREAMFIT_HAVE_KAFKA
#include <librdkafka/rdkafka.h>
/* The librdkafka producer of a Kafka sink (owned by it), NULL for others:
 * for the transactions of an exactly-once run (stream_txn.c). */
rd_kafka_t *sf_sink_producer(sf_sink *s);
#endif

#endif
