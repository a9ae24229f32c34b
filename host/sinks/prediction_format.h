/*
 * prediction_format.h — a batch of predictions as text in one buffer, one
 * record after the other, each followed by '\n': CSV "prediction[,p1,...]"
 * or JSON {"prediction":..,"proba":[..],"partition":..,"offset":..,
 * "model_version":".."} ("line" for file sources; model_version when given). Numbers have the
 * shortest digits that read back exactly (float_text.h); nothing goes through printf.
 */
#ifndef STREAMFIT_PREDICTION_FORMAT_H
#define STREAMFIT_PREDICTION_FORMAT_H

#include <stdbool.h>
#include <stddef.h>

#include "source.h"
#include "streamfit.h"

typedef struct sf_prediction_text {
    char *text; /* rows records, each followed by '\n' */
    size_t len, cap;
    size_t *off, *len_of; /* per record: where it starts and its length without the '\n' */
    size_t rows_cap;
} sf_prediction_text;

typedef struct sf_prediction_rows {
    size_t rows, K;           /* K: classes (0: regression, no probabilities) */
    const double *pred;       /* rows */
    const double *proba;      /* rows x K, or NULL */
    const sf_record_pos *pos; /* rows; for JSON */
    bool json;
    const char *model_version; /* JSON: the model that made them (NULL: none) */
} sf_prediction_rows;

/* Replace t's contents by the rows' text (buffers are kept between batches). */
sf_status sf_prediction_format(sf_prediction_text *t, const sf_prediction_rows *rows);
/* Several records per message: regroup off/len_of so that entry g spans
 * records g*per .. g*per+per-1 (their lines, '\n' between them, none at
 * the end). Returns the number of groups. */
size_t sf_prediction_text_group(sf_prediction_text *t, size_t rows, size_t per);
void sf_prediction_text_free(sf_prediction_text *t);

#endif
