/*
 * kafka_conf.h — the one place where streamfit's Kafka clients get their
 * librdkafka configuration: per-role defaults chosen for low latency and
 * high throughput, the user's settings for every client (-X) and for one
 * role only (--consumer-X, --producer-X), then what the caller's guarantees
 * rest on. Used by the stream source, the output sinks and `produce`.
 */
#ifndef STREAMFIT_KAFKA_CONF_H
#define STREAMFIT_KAFKA_CONF_H

#include <stdbool.h>
#include <stddef.h>

#include "streamfit.h"

typedef enum sf_kafka_role {
    SF_KAFKA_CONSUMER = 0,
    SF_KAFKA_PRODUCER = 1,
} sf_kafka_role;

/* Settings as NULL-terminated key, value, key, value, ... lists. */
typedef struct sf_kafka_settings {
    const char *const *shared; /* -X: every client, where librdkafka says the key applies */
    const char *const *own;    /* --consumer-X / --producer-X: this client, as given */
    const char *own_flag;      /* how messages name `own` (NULL: --consumer-X / --producer-X) */
    /* Producers: a transactional producer with this transactional.id (set
     * by the stream for exactly-once outputs, never by the user; NULL: none) */
    const char *transactional_id;
} sf_kafka_settings;

/* Does librdkafka list `key` as a property of this role's clients ("*" and
 * the role's own, and every topic property)? Keys it does not know count
 * as applying (librdkafka then says what is wrong with them). */
bool sf_kafka_key_applies(const char *key, sf_kafka_role role);

/* true when `key` is set in `pairs` (NULL-terminated key, value, ...). */
bool sf_kafka_settings_has(const char *const *pairs, const char *key);

#ifdef STREAMFIT_HAVE_KAFKA
#include <librdkafka/rdkafka.h>

/* A configuration in this order, later entries winning: the role's
 * defaults, `defaults` (the caller's, e.g. a fetch wait from the batch
 * budget), the shared settings that apply to the role, the role's own
 * settings, and `fixed` (not overridable). NULL with a one-line reason in
 * err when a setting is refused. */
rd_kafka_conf_t *sf_kafka_conf_build(sf_kafka_role role, const char *const *defaults,
                                     const sf_kafka_settings *user, const char *const *fixed,
                                     char *err, size_t errlen);
#endif

#endif
