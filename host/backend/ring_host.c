/*
 * ring_host.c — the staging ring of a host backend (backend.h, "staging
 * ring"). There is nothing to overlap with on a host: the slots are plain
 * memory and ring_submit folds its slot before it returns, with the
 * backend's own batch ops (borrowed rows, batch_moments, the Chan merge).
 * It exists so that the code above the backend feeds every backend the same
 * way, and so that the ring's contract is tested on machines without a GPU.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "backend_util.h"

typedef struct host_slot {
    void *X;   /* cap x d, float or double */
    double *y; /* cap */
} host_slot;

struct sf_ring {
    size_t d, p, cap, n_slots, next;
    sf_ring_input input;
    unsigned flags;
    host_slot *slots;
    double *Xd;           /* cap x d: a float slot widened to double */
    double n, *mean, *m2; /* running statistics since the last read */
    double *bmean, *bm2, *delta;
};

void sf_ring_host_destroy(sf_backend *be, sf_ring *r)
{
    (void)be;
    if (!r) return;
    for (size_t s = 0; r->slots && s < r->n_slots; s++) {
        free(r->slots[s].X);
        free(r->slots[s].y);
    }
    free(r->slots);
    free(r->Xd);
    free(r->mean);
    free(r->m2);
    free(r->bmean);
    free(r->bm2);
    free(r->delta);
    free(r);
}

sf_status sf_ring_host_create(sf_backend *be, size_t d, size_t rows_per_slot, size_t slots,
                              sf_ring_input input, unsigned flags, sf_ring **out)
{
    if (!out || d == 0 || rows_per_slot == 0 || slots < 3 ||
        (input != SF_RING_F64 && input != SF_RING_F32))
        return SF_ERR_INVALID_ARGUMENT;
    if (rows_per_slot > SIZE_MAX / sizeof(double) / d) return SF_ERR_NO_MEMORY;
    sf_ring *r = calloc(1, sizeof *r);
    if (!r) return SF_ERR_NO_MEMORY;
    r->d = d;
    r->p = d + 1;
    r->cap = rows_per_slot;
    r->n_slots = slots;
    r->input = input;
    r->flags = flags;
    size_t esize = input == SF_RING_F32 ? sizeof(float) : sizeof(double);
    bool ok = (r->slots = calloc(slots, sizeof *r->slots)) != NULL;
    for (size_t s = 0; ok && s < slots; s++) {
        r->slots[s].X = calloc(rows_per_slot * d, esize);
        r->slots[s].y = calloc(rows_per_slot, sizeof(double));
        ok = r->slots[s].X && r->slots[s].y;
    }
    if (ok && input == SF_RING_F32) ok = (r->Xd = malloc(sizeof(double) * rows_per_slot * d));
    size_t p = r->p;
    if (ok) {
        r->mean = calloc(p, sizeof(double));
        r->m2 = calloc(p * p, sizeof(double));
        r->bmean = malloc(sizeof(double) * p);
        r->bm2 = malloc(sizeof(double) * p * p);
        r->delta = malloc(sizeof(double) * p);
        ok = r->mean && r->m2 && r->bmean && r->bm2 && r->delta;
    }
    if (!ok) {
        sf_ring_host_destroy(be, r);
        return SF_ERR_NO_MEMORY;
    }
    *out = r;
    return SF_OK;
}

sf_status sf_ring_host_acquire(sf_backend *be, sf_ring *r, sf_ring_slot *slot)
{
    (void)be;
    if (!r || !slot) return SF_ERR_INVALID_ARGUMENT;
    slot->X = r->slots[r->next].X;
    slot->y = r->slots[r->next].y;
    slot->cap = r->cap;
    return SF_OK;
}

/* The slot's rows as a batch of the backend (borrowed when it can). */
static sf_status slot_batch(sf_backend *be, sf_ring *r, const host_slot *s, size_t rows, bool keep,
                            sf_dbatch **out)
{
    const double *X = s->X;
    if (r->input == SF_RING_F32) {
        const float *xf = s->X;
        double *xd = r->Xd;
        size_t count = rows * r->d;
#pragma omp parallel for num_threads(be->threads > 0 ? be->threads : 1)                            \
    schedule(static) if (count > 65536)
        for (size_t i = 0; i < count; i++)
            xd[i] = xf[i];
        X = r->Xd;
    }
    /* A kept batch outlives the slot, which will be refilled: a copy. */
    if (!keep && be->ops->batch_borrow) return be->ops->batch_borrow(be, X, s->y, rows, r->d, out);
    return be->ops->batch_upload(be, X, s->y, rows, r->d, out);
}

sf_status sf_ring_host_submit(sf_backend *be, sf_ring *r, size_t rows, sf_dbatch **keep)
{
    if (!r || rows > r->cap) return SF_ERR_INVALID_ARGUMENT;
    if (keep) *keep = NULL;
    host_slot *s = &r->slots[r->next];
    r->next = (r->next + 1) % r->n_slots;
    if (rows == 0 || (r->flags & SF_RING_SKIP_COMPUTE)) return SF_OK;
    sf_dbatch *b = NULL;
    sf_status st = slot_batch(be, r, s, rows, keep != NULL, &b);
    if (st == SF_OK && sf_backend_fault(be, SF_FAULT_RING_SUBMIT_COPY)) st = SF_ERR_DEVICE;
    if (st == SF_OK) st = be->ops->batch_moments(be, b, r->bmean, r->bm2);
    if (st == SF_OK)
        r->n = sf_chan_merge(r->p, r->n, r->mean, r->m2, (double)rows, r->bmean, r->bm2, r->delta);
    if (st == SF_OK && keep)
        *keep = b;
    else if (b)
        be->ops->batch_free(be, b);
    return st;
}

sf_status sf_ring_host_read(sf_backend *be, sf_ring *r, double *n, double *mean, double *m2)
{
    (void)be;
    if (!r || !n || !mean || !m2) return SF_ERR_INVALID_ARGUMENT;
    *n = r->n;
    memcpy(mean, r->mean, sizeof(double) * r->p);
    memcpy(m2, r->m2, sizeof(double) * r->p * r->p);
    r->n = 0;
    memset(r->mean, 0, sizeof(double) * r->p);
    memset(r->m2, 0, sizeof(double) * r->p * r->p);
    return SF_OK;
}
