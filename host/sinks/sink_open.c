/*
 * sink_open.c — where outputs go, chosen by URI: kafka://HOST:PORT/TOPIC,
 * file:PATH or stdout. The kinds live in sink_kafka.c and sink_file.c; this
 * file dispatches the calls of sink.h to them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink.h"
#include "sink_file.h"
#include "sink_kafka.h"

struct sf_sink {
    sink_kafka *kafka; /* exactly one of the two */
    sink_file *file;
};

sf_status sf_sink_open(const char *uri, const sf_kafka_settings *kafka, sf_sink **out, char *err,
                       size_t errlen)
{
    if (err && errlen) err[0] = '\0';
    if (!out) return SF_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (!uri || !uri[0]) {
        snprintf(err, errlen, "no output given (kafka://HOST:PORT/TOPIC, file:PATH or stdout)");
        return SF_ERR_INVALID_ARGUMENT;
    }
    sf_sink *s = calloc(1, sizeof *s);
    if (!s) return SF_ERR_NO_MEMORY;
    sf_status st;
    if (strncmp(uri, "kafka://", 8) == 0) {
#ifdef STREAMFIT_HAVE_KAFKA
        st = sf_sink_kafka_open(uri + 8, kafka, &s->kafka, err, errlen);
#else
        (void)kafka;
        snprintf(err, errlen, "cannot write to '%s': this build has no Kafka support", uri);
        st = SF_ERR_UNSUPPORTED;
#endif
    } else if (strncmp(uri, "file:", 5) == 0) {
        if (!uri[5]) {
            snprintf(err, errlen, "output 'file:' needs a path (file:PATH)");
            st = SF_ERR_INVALID_ARGUMENT;
        } else {
            st = sf_sink_file_open(uri + 5, &s->file, err, errlen);
        }
    } else if (strcmp(uri, "stdout") == 0 || strcmp(uri, "-") == 0) {
        st = sf_sink_file_open(NULL, &s->file, err, errlen);
    } else {
        snprintf(err, errlen, "unknown output '%s' (kafka://HOST:PORT/TOPIC, file:PATH or stdout)",
                 uri);
        st = SF_ERR_INVALID_ARGUMENT;
    }
    if (st != SF_OK) {
        free(s);
        return st;
    }
    *out = s;
    return SF_OK;
}

sf_status sf_sink_open_on(const char *uri, sf_sink *with, sf_sink **out, char *err, size_t errlen)
{
    if (err && errlen) err[0] = '\0';
    if (!out) return SF_ERR_INVALID_ARGUMENT;
    *out = NULL;
#ifdef STREAMFIT_HAVE_KAFKA
    if (!uri || strncmp(uri, "kafka://", 8) != 0 || !with || !with->kafka) {
        snprintf(err, errlen, "'%s' is not a Kafka output beside another", uri ? uri : "");
        return SF_ERR_UNSUPPORTED;
    }
    sf_sink *s = calloc(1, sizeof *s);
    if (!s) return SF_ERR_NO_MEMORY;
    sf_status st = sf_sink_kafka_open_on(with->kafka, uri + 8, &s->kafka, err, errlen);
    if (st != SF_OK) {
        free(s);
        return st;
    }
    *out = s;
    return SF_OK;
#else
    (void)with;
    snprintf(err, errlen, "cannot write to '%s': this build has no Kafka support", uri);
    return SF_ERR_UNSUPPORTED;
#endif
}

sf_status sf_sink_write(sf_sink *s, const char *key, size_t key_len, const char *value,
                        size_t value_len)
{
    if (!s || (!value && value_len)) return SF_ERR_INVALID_ARGUMENT;
#ifdef STREAMFIT_HAVE_KAFKA
    if (s->kafka) return sf_sink_kafka_write(s->kafka, key, key_len, value, value_len);
#else
    (void)key;
    (void)key_len;
#endif
    return sf_sink_file_write(s->file, value, value_len);
}

sf_status sf_sink_write_batch(sf_sink *s, const char *text, size_t text_len, const size_t *off,
                              const size_t *len, const char *keys, const size_t *key_off,
                              const size_t *key_len, size_t n)
{
    if (!s || (n && (!text || !off || !len))) return SF_ERR_INVALID_ARGUMENT;
#ifdef STREAMFIT_HAVE_KAFKA
    if (s->kafka)
        return sf_sink_kafka_write_batch(s->kafka, text, off, len, keys, key_off, key_len, n);
#else
    (void)keys;
    (void)key_off;
    (void)key_len;
#endif
    return sf_sink_file_write_text(s->file, text, text_len);
}

sf_status sf_sink_set_header(sf_sink *s, const char *name, const char *value)
{
    if (!s) return SF_ERR_INVALID_ARGUMENT;
#ifdef STREAMFIT_HAVE_KAFKA
    if (s->kafka) return sf_sink_kafka_set_header(s->kafka, name, value);
#else
    (void)name;
    (void)value;
#endif
    return SF_OK;
}

sf_status sf_sink_flush(sf_sink *s, int timeout_ms)
{
    if (!s) return SF_ERR_INVALID_ARGUMENT;
#ifdef STREAMFIT_HAVE_KAFKA
    if (s->kafka) return sf_sink_kafka_flush(s->kafka, timeout_ms);
#else
    (void)timeout_ms;
#endif
    return sf_sink_file_flush(s->file);
}

const char *sf_sink_error(const sf_sink *s)
{
    if (!s) return "";
#ifdef STREAMFIT_HAVE_KAFKA
    if (s->kafka) return sf_sink_kafka_error(s->kafka);
#endif
    return sf_sink_file_error(s->file);
}

void sf_sink_destroy(sf_sink *s)
{
    if (!s) return;
#ifdef STREAMFIT_HAVE_KAFKA
    sf_sink_kafka_destroy(s->kafka);
#endif
    sf_sink_file_destroy(s->file);
    free(s);
}

void sf_sink_forget_failures(sf_sink *s)
{
#ifdef STREAMFIT_HAVE_KAFKA
    if (s && s->kafka) sf_sink_kafka_forget_failures(s->kafka);
#else
    (void)s;
#endif
}

#ifdef STREAMFIT_HAVE_KAFKA
rd_kafka_t *sf_sink_producer(sf_sink *s)
{
    return s && s->kafka ? sf_sink_kafka_producer(s->kafka) : NULL;
}
#endif
