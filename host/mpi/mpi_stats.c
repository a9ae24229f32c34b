/*
 * mpi_stats.c — least-squares statistics across ranks: (n, mean, co-moment)
 * by the Chan-Golub-LeVeque merge, R factors by QR of the stacked factors,
 * each folded along the rank-ordered tree of sf_mpi_tree_merge.
 */
#include "mpi_stats.h"

#include <stdlib.h>
#include <string.h>

#include "backend_util.h"
#include "sf_mpi.h"

typedef struct merge_ctx {
    sf_backend *be;
    size_t p;
} merge_ctx;

/* Record: [n, mean (p), m2 (p x p)]. */
static sf_status merge_moments(double *acc, const double *b, size_t n, void *user)
{
    (void)n;
    const merge_ctx *c = user;
    size_t p = c->p;
    if (b[0] <= 0) return SF_OK;
    if (acc[0] <= 0) {
        memcpy(acc, b, sizeof(double) * (1 + p + p * p));
        return SF_OK;
    }
    double *delta = malloc(sizeof(double) * p);
    if (!delta) return SF_ERR_NO_MEMORY;
    acc[0] = sf_chan_merge(p, acc[0], acc + 1, acc + 1 + p, b[0], b + 1, b + 1 + p, delta);
    free(delta);
    return SF_OK;
}

sf_status sf_mpi_reduce_moments(sf_backend *be, sf_moments *m)
{
    if (!sf_mpi_active()) return SF_OK;
    size_t p = m->p, n = 1 + p + p * p;
    double *rec = malloc(sizeof(double) * n);
    if (!rec) return SF_ERR_NO_MEMORY; /* the tree's first allreduce tells the others */
    rec[0] = m->n;
    memcpy(rec + 1, m->mean, sizeof(double) * p);
    memcpy(rec + 1 + p, m->m2, sizeof(double) * p * p);
    merge_ctx c = {.be = be, .p = p};
    sf_status st = sf_mpi_tree_merge(rec, n, merge_moments, &c);
    if (st == SF_OK) {
        m->n = rec[0];
        memcpy(m->mean, rec + 1, sizeof(double) * p);
        memcpy(m->m2, rec + 1 + p, sizeof(double) * p * p);
    }
    free(rec);
    return st;
}

/* Record: R (p x p, column-major upper). */
static sf_status merge_r(double *acc, const double *b, size_t n, void *user)
{
    (void)n;
    const merge_ctx *c = user;
    size_t p = c->p, m = 2 * p;
    double *S = calloc(m * p, sizeof(double));
    if (!S) return SF_ERR_NO_MEMORY;
    for (size_t j = 0; j < p; j++)
        for (size_t i = 0; i <= j; i++) {
            S[j * m + i] = acc[j * p + i];
            S[j * m + p + i] = b[j * p + i];
        }
    sf_status st = c->be->ops->qr_small(c->be, m, p, S, acc);
    free(S);
    return st;
}

sf_status sf_mpi_reduce_r(sf_backend *be, size_t p, double *R)
{
    if (!sf_mpi_active()) return SF_OK;
    merge_ctx c = {.be = be, .p = p};
    return sf_mpi_tree_merge(R, p * p, merge_r, &c);
}
