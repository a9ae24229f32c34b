/*
 * auc_window.h — the exact binary AUC of a sliding window of scored
 * records, kept up to date as records enter and leave, in O(log n) each,
 * instead of sorting the window for every batch. Equal to the Mann-Whitney
 * AUC of the same records (ties count half), as sf_binary_auc computes it.
 *
 * A window that changes by many records at once is cheaper to count afresh:
 * sf_auc_window_recount sorts its records once (O(n log n) for the window
 * instead of O(log n) tree work for each record that entered and left) and
 * gives the same value. The trees are then out of date until the window is
 * refilled with sf_auc_window_clear and sf_auc_window_add.
 */
#ifndef STREAMFIT_AUC_WINDOW_H
#define STREAMFIT_AUC_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "streamfit.h"

typedef struct sf_auc_node sf_auc_node;

typedef struct sf_auc_window {
    sf_auc_node *nodes; /* pool: capacity + 2 (one per distinct score and class) */
    uint32_t root[2];   /* per class (0: negative, 1: positive); 0: empty */
    uint32_t free_list;
    size_t capacity;
    uint64_t count[2];
    double pairs; /* positive-negative pairs ordered right, ties counted 1/2, times 2 */
    uint64_t seed;
    double *keys;           /* recount's scratch: capacity scores */
    uint64_t *sort_scratch; /* and 2 capacity for sorting them */
    bool counted_only;      /* count and pairs from a recount; the trees are empty */
} sf_auc_window;

/* capacity: the most records in the window at once. */
sf_status sf_auc_window_init(sf_auc_window *w, size_t capacity);
void sf_auc_window_free(sf_auc_window *w);
void sf_auc_window_clear(sf_auc_window *w);
/* A record enters (the caller keeps at most `capacity` in). */
void sf_auc_window_add(sf_auc_window *w, double score, bool positive);
/* A record that entered earlier leaves (same score and class). */
void sf_auc_window_remove(sf_auc_window *w, double score, bool positive);
/* The window becomes exactly these n <= capacity records (record i: score
 * score[i * stride], positive when label[i] == 1), counted by sorting;
 * add and remove must not be called before sf_auc_window_clear. */
void sf_auc_window_recount(sf_auc_window *w, const double *score, size_t stride,
                           const double *label, size_t n);
/* NaN while one of the classes is absent. */
double sf_auc_window_value(const sf_auc_window *w);

#endif
