/*
 * record.h — one streaming record (a CSV or LIBSVM line, or a JSON object)
 * to a feature vector and a label, under a schema fixed at the start of a
 * run: the column names and which one is the label.
 */
#ifndef STREAMFIT_RECORD_H
#define STREAMFIT_RECORD_H

#include <stdbool.h>
#include <stddef.h>

#include "streamfit.h"
#include "streamfit_stream.h" /* sf_record_format */

bool sf_record_format_parse(const char *name, sf_record_format *out);

#define SF_RECORD_NO_LABEL ((size_t)-1)

typedef struct sf_record_schema {
    sf_record_format format;
    size_t ncols;     /* CSV fields / JSON names considered (features + label) */
    size_t label_col; /* index among the columns */
    size_t d;         /* features */
    char **columns;   /* ncols names (CSV, JSON) */
} sf_record_schema;

/* Columns from a comma-separated list ("y,x1,x2"); label by name or index
 * (NULL: the first column). */
sf_status sf_schema_from_list(sf_record_format fmt, const char *columns, const char *label,
                              sf_record_schema *out, char *err, size_t errlen);
/* Columns from the record itself: a CSV header line (as_header), the field
 * count of a CSV record (names x1..xd, label "y"), or a JSON object's keys. */
sf_status sf_schema_from_record(sf_record_format fmt, const char *data, size_t len, bool as_header,
                                const char *label, sf_record_schema *out, char *err, size_t errlen);
/* LIBSVM: d features, the label first. */
sf_status sf_schema_libsvm(size_t d, sf_record_schema *out);
void sf_schema_free(sf_record_schema *s);
/* The feature names (d of them) and label name, for the model file. */
const char *sf_schema_feature_name(const sf_record_schema *s, size_t j);
const char *sf_schema_label_name(const sf_record_schema *s);

/* Parse one record into x (d values) and *y. On a bad record returns false
 * and a one-line reason in why. */
bool sf_record_parse(const sf_record_schema *s, const char *data, size_t len, double *x, double *y,
                     char *why, size_t whylen);

#endif
