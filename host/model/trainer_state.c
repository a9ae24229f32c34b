/*
 * trainer_state.c — the streaming state of a trainer as bytes, for
 * checkpoints: merged statistics (and R), parameters, FTRL state, scaler and
 * row count, and at the end, only when the trainer keeps them, the exact sums
 * of a streaming least-squares fit (a state without them loads as before).
 * Doubles are stored as their bytes, so a restored trainer continues bit for
 * bit on the same machine. Kept batches are not part of the state:
 * checkpoints are taken after the warm-up.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend_util.h"
#include "bytes.h"
#include "internal.h"

static const char state_magic[8] = {'S', 'F', 'T', 'S', 'T', 'A', 'T', '1'};

typedef sf_bytes writer;

static void put(writer *w, const void *p, size_t n) { sf_bytes_put(w, p, n); }

static void put_u64(writer *w, uint64_t v) { put(w, &v, sizeof v); }

/* An optional array: a presence flag, then n doubles. */
static void put_array(writer *w, const double *a, size_t n)
{
    put_u64(w, a ? 1 : 0);
    if (a) put(w, a, n * sizeof(double));
}

typedef struct reader {
    const unsigned char *p, *end;
    bool failed;
} reader;

static void get(reader *r, void *dst, size_t n)
{
    if (r->failed || (size_t)(r->end - r->p) < n) {
        r->failed = true;
        return;
    }
    memcpy(dst, r->p, n);
    r->p += n;
}

static uint64_t get_u64(reader *r)
{
    uint64_t v = 0;
    get(r, &v, sizeof v);
    return v;
}

/* Read an optional array into *a (allocated when absent), or free it when the
 * state has none. */
static void get_array(reader *r, double **a, size_t n)
{
    uint64_t present = get_u64(r);
    if (r->failed) return;
    if (present && n == 0) { /* an array this trainer has no place for */
        r->failed = true;
        return;
    }
    if (!present) {
        free(*a);
        *a = NULL;
        return;
    }
    if (!*a) *a = malloc(sizeof(double) * (n + 1));
    if (!*a) {
        r->failed = true;
        return;
    }
    get(r, *a, n * sizeof(double));
}

static size_t params_of(const sf_trainer *t)
{
    return t->theta ? (t->par.model == SF_MODEL_SOFTMAX ? t->K : 1) * (t->d + 1) : 0;
}

sf_status sf_trainer_save_state(const sf_trainer *t, unsigned char **buf, size_t *len)
{
    if (!t || !buf || !len) return SF_ERR_INVALID_ARGUMENT;
    /* Statistics still on the device belong to the state: bring them in.
     * This changes where they are kept, not the trainer's value. */
    sf_status drained = sf_trainer_drain((sf_trainer *)t);
    if (drained != SF_OK) return drained;
    const sf_moments *m = &t->mom;
    size_t p = m->p, P = params_of(t);
    writer w = {0};
    put(&w, state_magic, sizeof state_magic);
    put_u64(&w, (uint64_t)t->par.model);
    put_u64(&w, t->d);
    put_u64(&w, t->K);
    put_u64(&w, t->rows);
    put(&w, &m->n, sizeof m->n);
    put(&w, m->mean, p * sizeof(double));
    put(&w, m->m2, p * p * sizeof(double));
    put_array(&w, m->has_r ? m->R : NULL, p * p);
    put_array(&w, m->has_r ? m->scale : NULL, p);
    put_u64(&w, t->has_theta);
    put_array(&w, t->theta, P);
    put_array(&w, t->shift, t->d);
    put_array(&w, t->scale, t->d);
    put_array(&w, t->ftrl_z, P);
    put_array(&w, t->ftrl_n, P);
    if (t->exact) {
        size_t n = sf_exact_gram_doubles(p);
        double *e = malloc(sizeof(double) * n);
        if (e) sf_exact_gram_pack(t->exact, e);
        put_u64(&w, t->exact_judged);
        put_array(&w, e, n);
        w.failed = w.failed || !e;
        free(e);
    }
    if (w.failed) {
        free(w.p);
        return SF_ERR_NO_MEMORY;
    }
    *buf = w.p;
    *len = w.len;
    return SF_OK;
}

/* What a saved state can hold: finite numbers, a count of rows >= 0. */
static bool state_is_sane(const sf_trainer *t, size_t P)
{
    const sf_moments *m = &t->mom;
    size_t p = m->p;
    for (size_t j = 0; j < p; j++) /* a co-moment's diagonal is a sum of squares */
        if (!(m->m2[j * p + j] >= 0)) return false;
    return isfinite(m->n) && m->n >= 0 && sf_all_finite(m->mean, p) &&
           sf_all_finite(m->m2, p * p) && sf_all_finite(m->R, p * p) &&
           sf_all_finite(m->scale, p) && sf_all_finite(t->theta, P) &&
           sf_all_finite(t->shift, t->d) && sf_all_finite(t->scale, t->d) &&
           sf_all_finite(t->ftrl_z, P) && sf_all_finite(t->ftrl_n, P) &&
           (!t->exact || (sf_exact_gram_finite(t->exact) && t->exact->n.hi >= 0));
}

/* The exact sums after the rest of a state, or none (a state saved without
 * them: the stream goes on with the merged co-moments alone). */
static void get_exact(reader *r, sf_trainer *t)
{
    sf_exact_gram_destroy(t->exact);
    t->exact = NULL;
    t->exact_judged = false;
    if (r->failed || r->p == r->end) return;
    if (t->par.model != SF_MODEL_OLS && t->par.model != SF_MODEL_RIDGE) {
        r->failed = true; /* only least squares keeps them */
        return;
    }
    t->exact_judged = get_u64(r) != 0;
    size_t n = sf_exact_gram_doubles(t->mom.p);
    double *e = NULL;
    get_array(r, &e, n);
    if (!r->failed &&
        (!e || !(t->exact = sf_exact_gram_create(t->d)) || !sf_exact_gram_unpack(t->exact, e)))
        r->failed = true;
    free(e);
    if (t->span_ranks) { /* across ranks the stream merges co-moments alone */
        sf_exact_gram_destroy(t->exact);
        t->exact = NULL;
    }
}

/* An empty streaming state, after a load that failed part way. */
static void forget_state(sf_trainer *t)
{
    sf_moments *m = &t->mom;
    m->n = 0;
    memset(m->mean, 0, sizeof(double) * m->p);
    memset(m->m2, 0, sizeof(double) * m->p * m->p);
    free(m->R);
    free(m->scale);
    m->R = m->scale = NULL;
    m->has_r = false;
    sf_exact_gram_destroy(t->exact);
    t->exact = NULL;
    t->has_theta = false;
    t->rows = 0;
}

sf_status sf_trainer_load_state(sf_trainer *t, const unsigned char *buf, size_t len)
{
    if (!t || !buf) return SF_ERR_INVALID_ARGUMENT;
    sf_status drained = sf_trainer_drain(t); /* empties the ring; the state replaces it all */
    if (drained != SF_OK) return drained;
    reader r = {.p = buf, .end = buf + len};
    char magic[sizeof state_magic];
    get(&r, magic, sizeof magic);
    if (r.failed || memcmp(magic, state_magic, sizeof magic) != 0) return SF_ERR_BAD_MODEL_FILE;
    uint64_t kind = get_u64(&r), d = get_u64(&r), K = get_u64(&r);
    if (r.failed || kind != (uint64_t)t->par.model || d != t->d || K != t->K)
        return SF_ERR_INVALID_ARGUMENT; /* a state of another model */
    sf_moments *m = &t->mom;
    size_t p = m->p, P = params_of(t);
    t->rows = get_u64(&r);
    get(&r, &m->n, sizeof m->n);
    get(&r, m->mean, p * sizeof(double));
    get(&r, m->m2, p * p * sizeof(double));
    get_array(&r, &m->R, p * p);
    get_array(&r, &m->scale, p);
    m->has_r = m->R != NULL && m->scale != NULL;
    t->has_theta = get_u64(&r) != 0;
    double *theta = t->theta;
    get_array(&r, &theta, P);
    t->theta = theta;
    get_array(&r, &t->shift, t->d);
    get_array(&r, &t->scale, t->d);
    get_array(&r, &t->ftrl_z, P);
    get_array(&r, &t->ftrl_n, P);
    get_exact(&r, t);
    if (r.failed || r.p != r.end || !state_is_sane(t, P)) {
        forget_state(t); /* a damaged state must not be half used */
        return SF_ERR_BAD_MODEL_FILE;
    }
    /* A restored trainer continues streaming: no kept batches. */
    for (size_t i = 0; i < t->n_batches; i++)
        t->be->ops->batch_free(t->be, t->batches[i]);
    t->n_batches = 0;
    t->borrow_X = NULL;
    t->par.keep_batches = false;
    t->live_valid = false;
    return SF_OK;
}

sf_status sf_trainer_merge_state(sf_trainer *t, const unsigned char *buf, size_t len)
{
    if (!t || !buf) return SF_ERR_INVALID_ARGUMENT;
    if (t->par.model != SF_MODEL_OLS && t->par.model != SF_MODEL_RIDGE)
        return SF_ERR_UNSUPPORTED; /* only least-squares statistics merge exactly */
    sf_status drained = sf_trainer_drain(t);
    if (drained != SF_OK) return drained;
    if (t->mom.n == 0 && t->n_batches == 0) return sf_trainer_load_state(t, buf, len);
    sf_fit_params p = t->par;
    p.keep_batches = false;
    sf_trainer *o = NULL;
    sf_status st = sf_trainer_create(t->ctx, &p, t->d, t->K, &o);
    if (st == SF_OK) st = sf_trainer_load_state(o, buf, len);
    if (st == SF_OK && t->mom.has_r && !o->mom.has_r) st = SF_ERR_UNSUPPORTED;
    size_t q = t->mom.p;
    if (st == SF_OK && t->mom.has_r) /* bring the other R to this one's column scaling */
        for (size_t c = 0; c < q; c++)
            for (size_t r = 0; r <= c; r++)
                o->mom.R[c * q + r] *= o->mom.scale[c] / t->mom.scale[c];
    if (st == SF_OK)
        st = sf_moments_merge(t->be, &t->mom, o->mom.n, o->mom.mean, o->mom.m2,
                              t->mom.has_r ? o->mom.R : NULL);
    if (st == SF_OK && t->exact && o->exact) { /* merged like the co-moments, decay first */
        if (t->mom.decay != 1.0) sf_exact_gram_scale(t->exact, t->mom.decay);
        sf_exact_gram_merge(t->exact, o->exact);
        t->exact_judged = t->exact_judged || o->exact_judged;
    } else if (st == SF_OK && t->exact) { /* the other part's rows have none */
        sf_exact_gram_destroy(t->exact);
        t->exact = NULL;
    }
    if (st == SF_OK) t->rows += o->rows;
    t->live_valid = false;
    sf_trainer_destroy(o);
    return st;
}
