/*
 * checkpoint.h — the streaming run's durable state in one file,
 * DIR/checkpoint.bin, replaced atomically (temporary file, fsync, rename,
 * fsync of the directory): the trainer state, the metrics, the source
 * positions and the counters, all from the same batch boundary.
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
void sf_checkpoint_free(sf_checkpoint *c);

#endif
