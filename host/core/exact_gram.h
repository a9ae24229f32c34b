/*
 * exact_gram.h — exact sums of the augmented rows a = [x, y] - shift of a
 * stream, in double-double: the weight n, S1 = sum a and the upper triangle
 * of S2 = sum a a^T. Each product is split exactly (two-product) and summed
 * with about 106 bits, so a least-squares system formed from them keeps the
 * digits that merging rounded per-batch co-moments loses when batches are
 * small and the data ill-conditioned. The shift (the first row fed) only
 * keeps the magnitudes small. Rows come from host memory.
 */
#ifndef STREAMFIT_EXACT_GRAM_H
#define STREAMFIT_EXACT_GRAM_H

#include <stdbool.h>
#include <stddef.h>

#include "dd_arith.h"

typedef struct sf_exact_gram {
    size_t p;      /* d + 1: features, label */
    bool shifted;  /* the shift is fixed (a row was fed) */
    sf_dd n;       /* weight of the rows (a count without forgetting) */
    double *shift; /* p */
    sf_dd *s1;     /* p */
    sf_dd *s2;     /* p (p + 1) / 2, packed upper by columns: (i, j) at j (j + 1) / 2 + i */
} sf_exact_gram;

/* The widest rows kept: the sums grow as p^2 and live in small arrays. */
#define SF_EXACT_GRAM_MAX_FEATURES 32

/* NULL when out of memory or d > SF_EXACT_GRAM_MAX_FEATURES. destroy(NULL)
 * does nothing. */
sf_exact_gram *sf_exact_gram_create(size_t d);
void sf_exact_gram_destroy(sf_exact_gram *g);

/* Add `rows` rows (X row-major rows x d, y). */
void sf_exact_gram_add_rows(sf_exact_gram *g, const double *X, const double *y, size_t rows);
/* Every sum times f (exponential forgetting: f is the past's weight). */
void sf_exact_gram_scale(sf_exact_gram *g, double f);
/* g += o (same p): o's sums moved to g's shift. */
void sf_exact_gram_merge(sf_exact_gram *g, const sf_exact_gram *o);

/* The mean (p) and the second moments M (p x p, column-major, both
 * triangles): about the mean when centered, else about 0 (raw sums). */
void sf_exact_gram_moments(const sf_exact_gram *g, bool centered, sf_dd *mean, sf_dd *M);

/* As doubles, for checkpoints: how many, and packing both ways (unpack
 * returns false for a shape that does not fit). */
size_t sf_exact_gram_doubles(size_t p);
void sf_exact_gram_pack(const sf_exact_gram *g, double *out);
bool sf_exact_gram_unpack(sf_exact_gram *g, const double *in);
/* Whether every sum is finite. */
bool sf_exact_gram_finite(const sf_exact_gram *g);

#endif
