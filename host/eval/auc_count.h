/*
 * auc_count.h — the Mann-Whitney count behind an exact binary AUC, by
 * sorting: the positives' and the negatives' scores sorted (a radix sort of
 * the doubles' bits, no comparison callbacks), then one merge.
 */
#ifndef STREAMFIT_AUC_COUNT_H
#define STREAMFIT_AUC_COUNT_H

#include <stddef.h>
#include <stdint.h>

/* Sorts v[0..n) ascending (NaN not allowed: map it first); scratch holds 2n. */
void sf_sort_doubles(double *v, size_t n, uint64_t *scratch);

/* Twice the number of (positive, negative) pairs with the positive's score
 * above, ties counted one half: 2 #(pos > neg) + #(pos == neg), an integer
 * (exact below 2^53). Sorts pos and neg in place (no NaN); scratch holds
 * 2 max(np, nn). */
double sf_auc_pairs2(double *pos, size_t np, double *neg, size_t nn, uint64_t *scratch);

#endif
