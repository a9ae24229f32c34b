/*
 * source.h — where streaming records come from: a Kafka topic, a file, a
 * watched directory, or stdin. A source hands out raw records (one CSV/LIBSVM
 * line or one JSON object each) with their position, and can resume from a
 * saved position set so that, after a restart, no record is lost or read
 * twice (with respect to the last checkpoint).
 */
#ifndef STREAMFIT_SOURCE_H
#define STREAMFIT_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "streamfit.h"

/* Where one record was read. For Kafka: partition and offset; for files:
 * file index (0 for file:/stdin; the ordinal of the file for dir:), the byte
 * offset of the record's first byte and its 1-based line number. */
typedef struct sf_record_pos {
    int32_t partition; /* -1 for files */
    int64_t offset;    /* Kafka offset, or byte offset in the file */
    uint64_t line;     /* 1-based line in the file (0 for Kafka) */
    uint32_t file;     /* dir: ordinal of the file (in name order) */
} sf_record_pos;

typedef struct sf_record {
    const char *data; /* not NUL-terminated */
    size_t len;
    const char *key; /* Kafka message key (may be NULL) */
    size_t key_len;
    sf_record_pos pos;
    int64_t arrival_us;   /* CLOCK_MONOTONIC when the source handed it out */
    int64_t timestamp_ms; /* Kafka message timestamp (epoch ms), or -1 */
} sf_record;

typedef struct sf_source sf_source;

/* One partition's position to commit upstream: the offset after the last
 * record handed out. */
typedef struct sf_source_offset {
    int32_t partition;
    int64_t next;
} sf_source_offset;

/* A resumable position set: for Kafka, the next offset per partition; for
 * files, the next byte offset and line (and, for dir:, which files are done).
 * Serialized as a short text blob inside checkpoints. It also carries what
 * commit() hands upstream for it, so that a state taken at one batch
 * boundary is committed as it was, whatever was polled since. */
typedef struct sf_source_state {
    char *blob; /* NUL-terminated text, owned */
    /* Kafka: the partitions assigned when the state was taken; NULL for
     * files. Owned. */
    sf_source_offset *commit;
    size_t n_commit;
} sf_source_state;

/* One partition's consumer position and high watermark (-1: unknown). */
typedef struct sf_source_partition {
    int32_t partition;
    int64_t position, high;
} sf_source_partition;

typedef struct sf_source_ops {
    /* Fill up to `max` records, waiting at most timeout_ms for the first.
     * Returned records stay valid until the next call to poll.
     * *n = 0 with SF_OK: nothing yet. *eof true: a finite source ended. */
    sf_status (*poll)(sf_source *s, sf_record *out, size_t max, int timeout_ms, size_t *n,
                      bool *eof);
    /* The position set after every record handed out so far: what a
     * checkpoint of those records saves. Called on the thread that polls,
     * between two polls (the batch boundary). */
    sf_status (*state)(sf_source *s, sf_source_state *out);
    /* After the checkpoint holding st is durable: commit its positions
     * upstream (Kafka). Safe on another thread while poll runs. */
    sf_status (*commit)(sf_source *s, const sf_source_state *st);
    void (*destroy)(sf_source *s);
    /* Optional (NULL: no partitions, never down), safe on any thread while
     * poll runs, no network round trip: the partitions' positions and high
     * watermarks as last fetched (up to max; returns how many), and whether
     * the brokers are unreachable now. */
    size_t (*partitions)(sf_source *s, sf_source_partition *out, size_t max);
    bool (*down)(sf_source *s);
    /* Optional (Kafka), for exactly-once runs, on the thread that polls:
     * read again from the positions of a state blob (an aborted transaction's
     * records); and the consumer (an rd_kafka_t) whose group metadata goes
     * with the offsets a transaction commits. */
    sf_status (*rewind)(sf_source *s, const char *blob, char *err, size_t errlen);
    void *(*kafka_consumer)(sf_source *s);
} sf_source_ops;

struct sf_source {
    const sf_source_ops *ops;
};

typedef struct sf_source_options {
    const char *uri;                   /* kafka://H:P[,H:P]/TOPIC | file:PATH | dir:PATH | stdin */
    const char *group;                 /* Kafka consumer group (NULL: assign all partitions) */
    const char *start;                 /* earliest | latest | committed (default earliest) */
    const char *const *kafka_conf;     /* NULL-terminated key, value, ... (-X, every client) */
    const char *const *kafka_conf_own; /* the same, for the consumer only (--consumer-X) */
    int fetch_wait_ms;                 /* Kafka: longest wait of an empty fetch (0: 100) */
    const char *resume;                /* a state blob from a checkpoint, or NULL */
    bool follow; /* file:/stdin: keep waiting for more at EOF (default false) */
    void (*notice)(void *user, const char *msg); /* one-line status reports */
    /* Records that can no longer be read (Kafka: deleted by retention before
     * this consumer got to them): `count` records of `partition` from offset
     * `first` on. Called at once; then poll returns SF_ERR_DATA_LOST after the
     * records read before, unless continue_on_loss (reading goes on after them). */
    void (*lost)(void *user, int32_t partition, int64_t first, int64_t count);
    bool continue_on_loss;
    /* Kafka: no broker reachable for longer than this (0: wait for ever):
     * `gone` is called once with what happened (brokers, how long, the
     * positions reached), then poll returns SF_ERR_UNREACHABLE. Also called
     * when a position cannot be served and the records missing cannot be
     * counted (Kafka: the log ends before it): then poll returns
     * SF_ERR_DATA_LOST with no `lost` call. */
    int64_t broker_timeout_ms;
    void (*gone)(void *user, const char *msg);
    void *notice_user;
    /* Kafka, one consumer per MPI rank (ranks > 1): partition p is this
     * consumer's when p mod ranks == rank, assigned statically; `group`
     * then only receives the offset commits. Other sources ignore it. */
    int rank, ranks;
} sf_source_options;

sf_status sf_source_open(const sf_source_options *opt, sf_source **out, char *err, size_t errlen);
/* The position blob of a source spread over `ranks` consumers (ranks > 1)
 * from each consumer's (blobs[r]: rank r's): every partition's position from
 * the rank it belongs to. Owned by the caller; NULL: out of memory, or not
 * the blobs of a spread source. */
char *sf_source_merge_spread(const char *const *blobs, int ranks);
void sf_source_state_free(sf_source_state *st);

#endif
