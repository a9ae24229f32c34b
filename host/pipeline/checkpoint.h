/*
 * checkpoint.h — the streaming run's durable state in one file,
 * DIR/checkpoint.bin, replaced atomically (temporary file, fsync, rename,
 * fsync of the directory): the trainer state, the metrics, the source
 * positions and the counters, all from the same batch boundary.
 *
 * Exactly-once runs keep two generations: before a new checkpoint is written
 * the current one becomes DIR/checkpoint.prev.bin (sf_checkpoint_rotate), so
 * that the one matching the offsets a transaction committed is still there
 * after a crash between the write and the commit.
 */
#ifndef STREAMFIT_CHECKPOINT_H
#define STREAMFIT_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "streamfit.h"

typedef struct sf_checkpoint {
    uint64_t rows_total;   /* records consumed by the model (warm-up included) */
    uint64_t rows_skipped; /* bad records */
    uint64_t batches;
    char *config; /* what must match on resume (model, d, classes, ...) */
    unsigned char *trainer;
    size_t trainer_len;
    unsigned char *metrics;
    size_t metrics_len;
    char *source;  /* source position blob */
    char *classes; /* class labels, comma-separated ("" for regression) */
    char *names;   /* feature names then label, comma-separated */
    /* the model's version (sf_model_version); a trailing section that
     * checkpoints written before it do not have ("" when read from those) */
    char *model_version;
} sf_checkpoint;

sf_status sf_checkpoint_write(const char *dir, const sf_checkpoint *c, char *err, size_t errlen);
/* SF_ERR_EMPTY when the directory has no checkpoint yet. */
sf_status sf_checkpoint_read(const char *dir, sf_checkpoint *c, char *err, size_t errlen);
/* The previous generation (checkpoint.prev.bin); SF_ERR_EMPTY when none. */
sf_status sf_checkpoint_read_previous(const char *dir, sf_checkpoint *c, char *err, size_t errlen);
/* checkpoint.bin becomes checkpoint.prev.bin (nothing to do when there is
 * none), made durable; the next sf_checkpoint_write is the current one. */
sf_status sf_checkpoint_rotate(const char *dir, char *err, size_t errlen);
/* A deep copy of *src into *dst (free with sf_checkpoint_free). */
sf_status sf_checkpoint_copy(const sf_checkpoint *src, sf_checkpoint *dst);
void sf_checkpoint_free(sf_checkpoint *c);

#endif
