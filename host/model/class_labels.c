/*
 * class_labels.c — the class-label policy (see class_labels.h).
 */
#include "class_labels.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Ascending, NaN last (a NaN would otherwise break the order qsort needs). */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    if (isnan(x) || isnan(y)) return isnan(x) - isnan(y);
    return (x > y) - (x < y);
}

/* Labels take a handful of values: a look-up in the few seen so far (kept
 * sorted) reads each label once; a NaN or more than FEW_LABELS values fall
 * back to the sort. */
#define FEW_LABELS 64

static size_t few_distinct(const double *y, size_t n, double *c)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        double v = y[i];
        size_t j = 0;
        while (j < k && c[j] < v)
            j++;
        if (j < k && c[j] == v) continue;
        if (isnan(v) || k == FEW_LABELS) return SIZE_MAX;
        memmove(c + j + 1, c + j, sizeof(double) * (k - j));
        c[j] = v;
        k++;
    }
    return k;
}

size_t sf_class_labels_distinct(const double *y, size_t n, double **out)
{
    /* room for the 0/1 pair, and for the few-values scan */
    double *c = malloc(sizeof(double) * ((n > FEW_LABELS ? n : FEW_LABELS) + 2));
    *out = c;
    if (!c) return 0;
    size_t few = few_distinct(y, n, c);
    if (few != SIZE_MAX) return few;
    if (n) memcpy(c, y, sizeof(double) * n); /* y is NULL when no rows are left */
    qsort(c, n, sizeof(double), cmp_double);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (k == 0 || c[i] != c[k - 1]) c[k++] = c[i];
    return k;
}

long sf_class_index(const double *classes, size_t K, double label)
{
    if (K <= 2) { /* binary labels: compares that compile to selects, no branch to mispredict */
        long first = K > 0 && classes[0] == label ? 0 : -1;
        return K == 2 && classes[1] == label ? 1 : first;
    }
    size_t lo = 0, hi = K;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (classes[mid] < label)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (lo < K && classes[lo] == label) ? (long)lo : -1;
}

bool sf_class_label_valid(sf_model_kind kind, double label)
{
    if (!isfinite(label)) return false;
    /* Beyond 2^53 neighbouring integers are no longer distinct doubles. */
    if (kind == SF_MODEL_SOFTMAX) return label == floor(label) && fabs(label) < 0x1p53;
    return true;
}

sf_status sf_class_labels_choose(sf_model_kind kind, const double *y, size_t n, double **out,
                                 size_t *K, char *why, size_t whylen)
{
    *out = NULL;
    *K = 0;
    double *c = NULL;
    size_t k = sf_class_labels_distinct(y, n, &c);
    if (!c) return SF_ERR_NO_MEMORY;
    size_t kept = 0; /* drop the values that can be no class */
    for (size_t i = 0; i < k; i++)
        if (sf_class_label_valid(kind, c[i])) c[kept++] = c[i];
    k = kept;
    if (kind == SF_MODEL_LOGISTIC && k != 2) { /* the 0/1 convention */
        c[0] = 0;
        c[1] = 1;
        k = 2;
    }
    if (k < 2) {
        snprintf(why, whylen, "softmax needs at least two classes in the label, the data has %zu",
                 k);
        free(c);
        return SF_ERR_BAD_LABEL;
    }
    *out = c;
    *K = k;
    return SF_OK;
}
