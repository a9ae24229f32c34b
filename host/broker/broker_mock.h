/*
 * broker_mock.h — an in-process Kafka broker for development and tests,
 * built on librdkafka's mock cluster. It keeps data in memory, about 5 MiB
 * per partition, and silently drops older data beyond that: use enough
 * partitions, and a real Kafka cluster in production.
 */
#ifndef STREAMFIT_BROKER_MOCK_H
#define STREAMFIT_BROKER_MOCK_H

#include <stddef.h>

#include "streamfit.h"

typedef struct sf_broker sf_broker;

/* Start `brokers` mock brokers on 127.0.0.1. port > 0: clients bootstrap at
 * 127.0.0.1:port (forwarded to the first broker); 0: at the brokers' own
 * ephemeral ports. `partitions` is the count sf_broker_create_topic uses when
 * given 0. Topics that clients create on first use get librdkafka's fixed
 * mock default instead (4 partitions in librdkafka 2.0): create the topics
 * you need up front. */
sf_status sf_broker_start(int port, int partitions, int brokers, sf_broker **out, char *err,
                          size_t errlen);
/* "127.0.0.1:PORT[,...]", valid until sf_broker_stop. */
const char *sf_broker_bootstrap(const sf_broker *b);
/* Create a topic with `partitions` (0: the broker's default) partitions;
 * SF_ERR_INVALID_ARGUMENT when it exists or the name is invalid. */
sf_status sf_broker_create_topic(sf_broker *b, const char *topic, int partitions);
/* Apply one fault command (broker_faults.c: down / up BROKER, rtt BROKER MS,
 * leader TOPIC PARTITION BROKER, errors REQUEST COUNT ERROR, clear REQUEST);
 * SF_ERR_INVALID_ARGUMENT with the reason in err for anything else. Safe to
 * call while clients are connected. */
sf_status sf_broker_fault(sf_broker *b, const char *command, char *err, size_t errlen);
/* The librdkafka mock cluster behind the broker (for broker_faults.c). */
struct rd_kafka_mock_cluster_s *sf_broker_cluster(sf_broker *b);
/* Bracket every rd_kafka_mock_* call that waits for the cluster's thread, so
 * that it is answered promptly (broker_wake.h says why). */
void sf_broker_control_begin(sf_broker *b);
void sf_broker_control_end(sf_broker *b);

/* Stop forwarding and serving; all data is gone. stop(NULL) does nothing. */
void sf_broker_stop(sf_broker *b);

#endif
