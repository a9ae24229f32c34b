/*
 * class_labels.h — the one class-label policy of the library, used by
 * training from a table, the benchmark and the streaming pipeline:
 *
 *   logistic: the two label values when the data has exactly two (e.g.
 *             -1/+1), otherwise 0 and 1;
 *   softmax:  every integer label value (each distinct value a class).
 *
 * Any other label is a bad record. Classes are kept sorted ascending; a
 * model's class index k stands for classes[k].
 */
#ifndef STREAMFIT_CLASS_LABELS_H
#define STREAMFIT_CLASS_LABELS_H

#include <stdbool.h>
#include <stddef.h>

#include "streamfit.h"

/* Sorted distinct values of y[0..n) into a new array (*out, caller frees).
 * Returns their count; *out is NULL when memory ran out. */
size_t sf_class_labels_distinct(const double *y, size_t n, double **out);

/* Index of label among the sorted classes, or -1. */
long sf_class_index(const double *classes, size_t K, double label);

/* Whether a label can be a class of `kind` at all (softmax: an integer;
 * logistic: any value — which two is settled by sf_class_labels_choose). */
bool sf_class_label_valid(sf_model_kind kind, double label);

/* The classes for labels y[0..n) under the policy above; *out (caller frees)
 * sorted, *K their count. Labels that are no class stay in y (the caller
 * reports them: sf_class_index gives -1). SF_ERR_BAD_LABEL when fewer than
 * two classes remain (softmax); why holds one line then. */
sf_status sf_class_labels_choose(sf_model_kind kind, const double *y, size_t n, double **out,
                                 size_t *K, char *why, size_t whylen);

#endif
