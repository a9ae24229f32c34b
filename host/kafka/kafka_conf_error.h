/*
 * kafka_conf_error.h — the message for a librdkafka setting (-X KEY=VALUE)
 * that librdkafka refused. The value never appears in it: -X carries
 * passwords and keys (sasl.password, ssl.key.password, ...), and librdkafka's
 * own reason can quote the value, so it is cut out of that too.
 */
#ifndef STREAMFIT_KAFKA_CONF_ERROR_H
#define STREAMFIT_KAFKA_CONF_ERROR_H

#include <stddef.h>

/* err = "PREFIX KEY: REASON", every copy of value in REASON replaced. */
void sf_kafka_conf_error(char *err, size_t errlen, const char *prefix, const char *key,
                         const char *value, const char *reason);

#endif
