/*
 * trainer.c — the trainer handle: takes micro-batches, keeps the mergeable
 * statistics (and, for exact in-memory fits, the batches on the backend),
 * and hands out fitted models. Which family does the math is decided here;
 * which device does it is the backend's business.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "mpi_stats.h"
#include "sf_mpi.h"

void sf_fit_params_init(sf_fit_params *p)
{
    memset(p, 0, sizeof *p);
    p->model = SF_MODEL_OLS;
    p->solver = SF_SOLVER_AUTO;
    p->fit_intercept = true;
    p->tol = 1e-10;
    p->keep_batches = true;
    p->learning_rate = 0.1;
}

static bool is_least_squares(sf_model_kind k) { return k == SF_MODEL_OLS || k == SF_MODEL_RIDGE; }
static void free_batches(sf_trainer *t);

sf_status sf_trainer_create(sf_context *ctx, const sf_fit_params *params, size_t n_features,
                            size_t n_classes, sf_trainer **out)
{
    if (!ctx || !params || !out || n_features == 0) return SF_ERR_INVALID_ARGUMENT;
    if (params->lambda < 0 || !isfinite(params->lambda) || params->tol < 0 || params->decay < 0 ||
        params->decay > 1)
        return SF_ERR_INVALID_ARGUMENT;
    bool lsq = is_least_squares(params->model);
    if (params->model == SF_MODEL_LOGISTIC) n_classes = 2;
    if (params->model == SF_MODEL_SOFTMAX && n_classes < 2) return SF_ERR_INVALID_ARGUMENT;
    if (lsq && (params->solver == SF_SOLVER_NEWTON || params->solver == SF_SOLVER_LBFGS))
        return SF_ERR_INVALID_ARGUMENT;
    if (!lsq && (params->solver == SF_SOLVER_CHOLESKY || params->solver == SF_SOLVER_QR))
        return SF_ERR_INVALID_ARGUMENT;
    sf_trainer *t = calloc(1, sizeof *t);
    if (!t) return SF_ERR_NO_MEMORY;
    t->ctx = ctx;
    t->be = ctx->be;
    t->par = *params;
    t->d = n_features;
    t->K = lsq ? 0 : n_classes;
    /* A streaming least-squares fit keeps the merged R factor (a QR of every
     * batch) only when asked to (--solver qr); under AUTO the condition
     * estimate of the warm-up, or of the first batch, decides (keep_r_if_ill;
     * on few features the exact sums below take its place).
     * An in-memory fit rebuilds R from its batches when it needs it. */
    bool with_r = lsq && !params->keep_batches && params->solver == SF_SOLVER_QR;
    sf_status st = sf_moments_init(&t->mom, n_features, with_r);
    /* Streaming from the start, the co-moments merged batch by batch lose
     * digits on ill-conditioned data when batches are small: under AUTO,
     * exact sums of the rows are kept until the stream shows it does not
     * need them (add_exact). Not across MPI ranks (sf_trainer_span_ranks
     * drops them). */
    bool exact = lsq && !params->keep_batches && params->solver == SF_SOLVER_AUTO &&
                 n_features <= SF_EXACT_GRAM_MAX_FEATURES;
    if (st == SF_OK && exact && !(t->exact = sf_exact_gram_create(n_features)))
        st = SF_ERR_NO_MEMORY;
    if (st == SF_OK && params->decay > 0 && params->decay < 1) t->mom.decay = params->decay;
    if (st == SF_OK && !lsq) {
        size_t P = (params->model == SF_MODEL_SOFTMAX ? n_classes : 1) * (n_features + 1);
        t->theta = calloc(P, sizeof(double));
        if (!t->theta) st = SF_ERR_NO_MEMORY;
    }
    if (st != SF_OK) {
        sf_trainer_destroy(t);
        return st;
    }
    *out = t;
    return SF_OK;
}

void sf_trainer_destroy(sf_trainer *t)
{
    if (!t) return;
    free_batches(t);
    free(t->batches);
    sf_moments_free(&t->mom);
    sf_exact_gram_destroy(t->exact);
    free(t->theta);
    free(t->shift);
    free(t->scale);
    free(t->ftrl_z);
    free(t->ftrl_n);
    if (t->ring) t->be->ops->ring_destroy(t->be, t->ring);
    free(t->stage_X);
    free(t->stage_y);
    sf_model_destroy(t->live);
    free(t->scores);
    free(t);
}

static sf_status check_labels(const sf_trainer *t, const double *y, size_t rows)
{
    for (size_t i = 0; i < rows; i++) {
        if (!isfinite(y[i])) return SF_ERR_BAD_LABEL;
        if (t->K && (y[i] < 0 || y[i] >= (double)t->K || y[i] != floor(y[i])))
            return SF_ERR_BAD_LABEL;
    }
    return SF_OK;
}

/* ---- feeding batches ---- */

#define DEFAULT_STAGING_ROWS ((size_t)65536)
#define SLOT_BYTES ((size_t)256 << 20)
/* A batch the device cannot hold is halved, down to this many rows. */
#define MIN_SPLIT_ROWS ((size_t)1024)

static sf_status keep_batch(sf_trainer *t, sf_dbatch *b)
{
    t->borrow_X = NULL; /* only keep_borrowed extends what it kept */
    if (t->n_batches == t->cap_batches) {
        size_t cap = t->cap_batches ? 2 * t->cap_batches : 16;
        sf_dbatch **nb = realloc(t->batches, cap * sizeof *nb);
        if (!nb) {
            t->be->ops->batch_free(t->be, b);
            return SF_ERR_NO_MEMORY;
        }
        t->batches = nb;
        t->cap_batches = cap;
    }
    t->batches[t->n_batches++] = b;
    return SF_OK;
}

/* The first batch of a least-squares trainer that streams from the start
 * under the AUTO solver: its condition estimate decides whether the R factor
 * is kept (keep_r_if_ill). */
static bool first_streamed_batch(const sf_trainer *t)
{
    return is_least_squares(t->par.model) && !t->par.keep_batches &&
           t->par.solver == SF_SOLVER_AUTO && !t->mom.has_r && t->mom.n == 0 &&
           t->ring_pending == 0;
}

/* Start keeping R when these statistics are too ill-conditioned for a
 * Cholesky solve of the co-moments (the batch's own moments: the first
 * batch fixes R's column scaling in sf_moments_add_batch). */
static sf_status keep_r_if_ill(sf_trainer *t, const sf_dbatch *b)
{
    size_t p = t->mom.p;
    if (t->be->ops->batch_rows(b) <= t->d) return SF_OK; /* too few rows to tell */
    sf_moments first;
    sf_status st = sf_moments_init(&first, t->d, false);
    if (st != SF_OK) return st;
    st = t->be->ops->batch_moments(t->be, b, first.mean, first.m2);
    first.n = (double)t->be->ops->batch_rows(b);
    double rcond = 1;
    if (st == SF_OK) st = sf_lsq_rcond(t, &first, &rcond);
    sf_moments_free(&first);
    if (st != SF_OK || rcond >= SF_LSQ_RCOND_QR) return st;
    t->mom.R = calloc(p * p, sizeof(double));
    t->mom.scale = calloc(p, sizeof(double));
    if (!t->mom.R || !t->mom.scale) return SF_ERR_NO_MEMORY;
    t->mom.has_r = true;
    sf_logf(t->ctx, SF_LOG_INFO,
            "least squares: condition estimate %.2g of the first batch asks for the QR path: "
            "keeping the R factor",
            rcond);
    return SF_OK;
}

/* A classifier uses the merged moments only for its scaler, fixed once:
 * before that (with standardize) they are merged, otherwise only the rows
 * are counted, which spares a pass over the batch. */
static sf_status add_statistics(sf_trainer *t, const sf_dbatch *b)
{
    if (is_least_squares(t->par.model) || (t->par.standardize && !t->shift))
        return sf_moments_add_batch(t->be, &t->mom, b);
    t->mom.n += (double)t->be->ops->batch_rows(b);
    return SF_OK;
}

/* The stream's exact sums take rows (X, y): forgotten first as the
 * co-moments are (decay), then added. */
static void exact_add_rows(sf_trainer *t, const double *X, const double *y, size_t rows)
{
    if (t->mom.decay != 1.0) sf_exact_gram_scale(t->exact, t->mom.decay);
    sf_exact_gram_add_rows(t->exact, X, y, rows);
}

/* The judgement on the exact sums, given the condition estimate of the
 * statistics (st: whether there is one): a well-conditioned stream drops them
 * (their p^2 / 2 double-double multiply-adds a row would only slow it down);
 * an ill-conditioned one keeps them from then on. true when they are kept. */
static bool keep_exact_if_ill(sf_trainer *t, sf_status st, double rcond)
{
    if (st != SF_OK) /* the co-moments have the rows: go on with them alone */
        sf_logf(t->ctx, SF_LOG_WARN,
                "least squares: no condition estimate (%s): the stream's exact sums are dropped",
                sf_strerror(st));
    if (st != SF_OK || rcond >= SF_LSQ_RCOND_QR) {
        sf_exact_gram_destroy(t->exact);
        t->exact = NULL;
        return false;
    }
    t->exact_judged = true;
    sf_logf(t->ctx, SF_LOG_INFO,
            "least squares: condition estimate %.2g after %llu rows: keeping exact "
            "(double-double) sums of the stream",
            rcond, (unsigned long long)t->rows);
    return true;
}

/* Whether the stream has enough rows to judge its exact sums. */
static bool exact_can_judge(const sf_trainer *t)
{
    return !t->exact_judged && t->rows >= 2 * (t->d + 1);
}

/* The exact sums take the batch's host rows (X, y) while they are kept;
 * once the stream has enough rows, its condition decides whether they stay. */
static void add_exact(sf_trainer *t, const double *X, const double *y, size_t rows)
{
    if (exact_can_judge(t)) {
        double rcond = 1;
        sf_status st = sf_lsq_rcond(t, &t->mom, &rcond);
        if (!keep_exact_if_ill(t, st, rcond)) return;
    }
    exact_add_rows(t, X, y, rows);
}

/* Learn from one device batch (the host rows X, y behind it): its statistics
 * merged (and R or the exact sums when kept), then the classifier's
 * mini-batch step when `step` (scores: see sf_ftrl_update). The one learning
 * step of sf_trainer_update and sf_trainer_predict_update. */
static sf_status learn_batch(sf_trainer *t, sf_dbatch *b, const double *X, const double *y,
                             bool step, double *scores)
{
    if (t->span_ranks && step) return sf_trainer_learn_ranks(t, b);
    /* Exact sums, while kept, serve better than an R factor would. */
    sf_status st = first_streamed_batch(t) && !t->exact ? keep_r_if_ill(t, b) : SF_OK;
    if (st == SF_OK) st = add_statistics(t, b);
    if (st != SF_OK) return st;
    size_t rows = t->be->ops->batch_rows(b);
    t->rows += rows;
    if (t->exact) add_exact(t, X, y, rows);
    t->live_valid = false;
    if (step && !is_least_squares(t->par.model)) st = sf_ftrl_update(t, b, scores);
    return st;
}

/* Borrowed rows that continue the last kept borrowed batch in memory (a
 * table fed in slices) are kept as one batch of up to
 * SF_BORROW_JOIN_MAX_VALUES features: the passes of an exact fit then run
 * over fewer, longer batches (on the CPU one parallel region per pass instead
 * of one per slice). The statistics were merged slice by slice already. */
#define SF_BORROW_JOIN_MAX_VALUES ((size_t)1 << 22)

static sf_status keep_borrowed(sf_trainer *t, sf_dbatch *b, const double *X, const double *y,
                               size_t rows)
{
    sf_backend *be = t->be;
    size_t d = t->d, joined_rows = t->borrow_rows + rows;
    if (t->borrow_X && t->n_batches > 0 && X == t->borrow_X + t->borrow_rows * d &&
        y == t->borrow_y + t->borrow_rows && joined_rows * d <= SF_BORROW_JOIN_MAX_VALUES) {
        sf_dbatch *joined = NULL;
        if (be->ops->batch_borrow(be, t->borrow_X, t->borrow_y, joined_rows, d, &joined) == SF_OK) {
            be->ops->batch_free(be, t->batches[t->n_batches - 1]);
            t->batches[t->n_batches - 1] = joined;
            be->ops->batch_free(be, b);
            t->borrow_rows = joined_rows;
            return SF_OK;
        }
    }
    sf_status st = keep_batch(t, b);
    if (st == SF_OK) {
        t->borrow_X = X;
        t->borrow_y = y;
        t->borrow_rows = rows;
    }
    return st;
}

/* Least-squares batches go through the backend's staging ring when their
 * statistics are plain moments (the ring merges them on the device): not
 * with per-batch forgetting, nor while the trainer keeps an R factor or
 * exact sums. */
static bool uses_ring(const sf_trainer *t)
{
    const sf_backend_ops *ops = t->be->ops;
    if (!is_least_squares(t->par.model) || t->mom.has_r || t->exact || t->mom.decay != 1.0 ||
        !ops->ring_create || t->span_ranks)
        return false;
    if (first_streamed_batch(t)) return false; /* it decides whether R is kept */
    if (t->par.staging == SF_STAGING_RING) return true;
    return t->par.staging == SF_STAGING_AUTO && ops->ring_async;
}

static sf_status open_ring(sf_trainer *t)
{
    if (t->ring) return SF_OK;
    /* Default slots of at most 256 MiB (wide rows get fewer of them). */
    size_t rows = (SLOT_BYTES / sizeof(double)) / t->d;
    if (rows > DEFAULT_STAGING_ROWS) rows = DEFAULT_STAGING_ROWS;
    if (rows < MIN_SPLIT_ROWS) rows = MIN_SPLIT_ROWS;
    if (t->par.staging_rows) rows = t->par.staging_rows;
    return t->be->ops->ring_create(t->be, t->d, rows, 3,
                                   t->par.staging_float32 ? SF_RING_F32 : SF_RING_F64, 0, &t->ring);
}

sf_status sf_trainer_drain(sf_trainer *t)
{
    if (!t->ring || t->ring_pending == 0) return SF_OK;
    size_t p = t->mom.p;
    double n = 0, *buf = malloc(sizeof(double) * (p + p * p));
    if (!buf) return SF_ERR_NO_MEMORY;
    sf_status st = t->be->ops->ring_read(t->be, t->ring, &n, buf, buf + p);
    if (st == SF_OK) st = sf_moments_merge(t->be, &t->mom, n, buf, buf + p, NULL);
    free(buf);
    t->ring_pending = 0;
    return st;
}

/* Hand the acquired ring slot's first `rows` rows over (labels already checked). */
static sf_status submit_slot(sf_trainer *t, size_t rows, bool keep)
{
    sf_dbatch *b = NULL;
    sf_status st = t->be->ops->ring_submit(t->be, t->ring, rows, keep ? &b : NULL);
    if (st != SF_OK) return st;
    t->live_valid = false;
    t->ring_pending += rows;
    t->rows += rows;
    return keep ? keep_batch(t, b) : SF_OK;
}

/* Rows to the ring, a slot at a time: copying into slot k+1 overlaps the
 * device's copy and fold of slot k. */
static sf_status ring_ingest(sf_trainer *t, const double *X, const double *y, size_t rows,
                             bool keep)
{
    sf_status st = check_labels(t, y, rows); /* all or nothing */
    if (st == SF_OK) st = open_ring(t);
    for (size_t done = 0; st == SF_OK && done < rows;) {
        sf_ring_slot slot;
        st = t->be->ops->ring_acquire(t->be, t->ring, &slot);
        if (st != SF_OK) break;
        size_t n = rows - done < slot.cap ? rows - done : slot.cap;
        if (t->par.staging_float32) {
            float *xf = slot.X;
            const double *src = X + done * t->d;
            for (size_t i = 0; i < n * t->d; i++)
                xf[i] = (float)src[i];
        } else {
            memcpy(slot.X, X + done * t->d, sizeof(double) * n * t->d);
        }
        memcpy(slot.y, y + done, sizeof(double) * n);
        st = submit_slot(t, n, keep);
        done += n;
    }
    return st;
}

/* One device batch: upload (or borrow), merge its statistics, then keep it,
 * or take the classifier's mini-batch step (step) and free it. *merged tells
 * whether the statistics took the rows in (a retry must not repeat that). */
static sf_status ingest_one(sf_trainer *t, const double *X, const double *y, size_t rows, bool keep,
                            bool step, bool borrow, bool *merged)
{
    sf_backend *be = t->be;
    *merged = false;
    /* Borrowed rows are never standardized in place (the caller's data). */
    borrow = borrow && keep && be->ops->batch_borrow &&
             !(t->par.standardize && !is_least_squares(t->par.model));
    sf_dbatch *b = NULL;
    sf_status st = borrow ? be->ops->batch_borrow(be, X, y, rows, t->d, &b)
                          : be->ops->batch_upload(be, X, y, rows, t->d, &b);
    if (st != SF_OK) return st;
    if (keep) {
        st = add_statistics(t, b);
        if (st != SF_OK) {
            be->ops->batch_free(be, b);
            return st;
        }
        *merged = true;
        if (t->exact) exact_add_rows(t, X, y, rows); /* a warm-up streamed after */
        t->rows += rows;
        t->live_valid = false;
        return borrow ? keep_borrowed(t, b, X, y, rows) : keep_batch(t, b);
    }
    uint64_t before = t->rows;
    st = learn_batch(t, b, X, y, step, NULL);
    *merged = t->rows != before;
    be->ops->batch_free(be, b);
    return st;
}

/* Rows into the statistics (and kept batches, or the mini-batch step). A
 * batch the device has no memory for is split in halves and fed again. */
static sf_status ingest(sf_trainer *t, const double *X, const double *y, size_t rows, bool keep,
                        bool step, bool borrow)
{
    if (!t || (rows && (!X || !y))) return SF_ERR_INVALID_ARGUMENT;
    t->live_valid = false;
    if (uses_ring(t)) return ring_ingest(t, X, y, rows, keep);
    sf_status st = check_labels(t, y, rows);
    if (st != SF_OK) return st;
    bool merged = false;
    st = ingest_one(t, X, y, rows, keep, step, borrow, &merged);
    if (st == SF_ERR_NO_MEMORY && !merged && rows >= 2 * MIN_SPLIT_ROWS) {
        sf_logf(t->ctx, SF_LOG_WARN, "out of memory for a batch of %zu rows: feeding it in halves",
                rows);
        size_t h = rows / 2;
        st = ingest(t, X, y, h, keep, step, borrow);
        if (st == SF_OK) st = ingest(t, X + h * t->d, y + h, rows - h, keep, step, borrow);
    }
    return st;
}

sf_status sf_trainer_add_batch(sf_trainer *t, const double *X, const double *y, size_t rows)
{
    if (rows == 0) return SF_OK;
    if (t && t->batches_standardized) return SF_ERR_INVALID_ARGUMENT; /* fit already ran */
    return ingest(t, X, y, rows, t->par.keep_batches, false, t->par.borrow_rows);
}

sf_status sf_trainer_stage(sf_trainer *t, double **X, double **y, size_t *cap)
{
    if (!t || !X || !y || !cap) return SF_ERR_INVALID_ARGUMENT;
    t->staged = SF_STAGED_NONE;
    /* Float slots are filled from the host buffer at commit (rounding). */
    if (uses_ring(t) && !t->par.staging_float32) {
        sf_status st = open_ring(t);
        sf_ring_slot slot;
        if (st == SF_OK) st = t->be->ops->ring_acquire(t->be, t->ring, &slot);
        if (st != SF_OK) return st;
        *X = slot.X;
        *y = slot.y;
        t->staged_cap = *cap = slot.cap;
        t->staged = SF_STAGED_RING;
        return SF_OK;
    }
    if (!t->stage_X) {
        size_t rows = t->par.staging_rows ? t->par.staging_rows : DEFAULT_STAGING_ROWS;
        t->stage_X = malloc(sizeof(double) * rows * t->d);
        t->stage_y = malloc(sizeof(double) * rows);
        if (!t->stage_X || !t->stage_y) {
            free(t->stage_X);
            free(t->stage_y);
            t->stage_X = t->stage_y = NULL;
            return SF_ERR_NO_MEMORY;
        }
        t->staged_cap = rows;
    }
    *X = t->stage_X;
    *y = t->stage_y;
    *cap = t->staged_cap;
    t->staged = SF_STAGED_HOST;
    return SF_OK;
}

sf_status sf_trainer_commit(sf_trainer *t, size_t rows)
{
    if (!t || t->staged == SF_STAGED_NONE || rows > t->staged_cap) return SF_ERR_INVALID_ARGUMENT;
    int staged = t->staged;
    t->staged = SF_STAGED_NONE;
    if (rows == 0) return SF_OK;
    if (t->par.keep_batches && t->batches_standardized) return SF_ERR_INVALID_ARGUMENT;
    if (staged == SF_STAGED_HOST) /* never borrowed: the buffer is filled again */
        return t->par.keep_batches ? ingest(t, t->stage_X, t->stage_y, rows, true, false, false)
                                   : sf_trainer_update(t, t->stage_X, t->stage_y, rows);
    /* The slot stays acquired when its labels are refused: staging again
     * hands out the same slot. */
    sf_ring_slot slot;
    sf_status st = t->be->ops->ring_acquire(t->be, t->ring, &slot);
    if (st == SF_OK) st = check_labels(t, slot.y, rows);
    if (st != SF_OK) return st;
    return submit_slot(t, rows, t->par.keep_batches);
}

static sf_model *new_model(const sf_trainer *t)
{
    sf_model *m = sf_model_alloc(t->par.model, t->d, t->K);
    if (!m) return NULL;
    m->lambda = t->par.model == SF_MODEL_OLS ? 0.0 : t->par.lambda;
    m->fit_intercept = t->par.fit_intercept;
    m->standardize = t->par.standardize;
    m->rows_seen = t->rows;
    return m;
}

static sf_status finish_model(sf_trainer *t, sf_status st, sf_model *m, sf_model **out)
{
    if (st != SF_OK) {
        sf_model_destroy(m);
        return st;
    }
    m->report = t->report;
    *out = m;
    return SF_OK;
}

sf_status sf_trainer_fit(sf_trainer *t, sf_model **out)
{
    if (!t || !out) return SF_ERR_INVALID_ARGUMENT;
    sf_status st = sf_trainer_drain(t);
    if (st != SF_OK) return st;
    if (st == SF_OK && t->span_ranks && !t->ranks_merged) {
        /* Every rank's statistics, merged in rank order, on every rank. */
        st = sf_mpi_reduce_moments(t->be, &t->mom);
        uint64_t rows = t->rows; /* the model's rows_seen: every rank's */
        if (st == SF_OK) st = sf_mpi_allreduce_sum_u64(&rows, 1);
        if (st == SF_OK) t->rows = rows;
        t->ranks_merged = st == SF_OK;
        if (st != SF_OK) return st;
    }
    if (t->mom.n == 0) return SF_ERR_EMPTY;
    sf_model *m = new_model(t);
    if (!m) return SF_ERR_NO_MEMORY;
    t->live_valid = false; /* a classifier's fit moves its parameters */
    memset(&t->report, 0, sizeof t->report);
    if (is_least_squares(t->par.model))
        st = sf_lsq_fit(t, m);
    else if (!t->par.keep_batches)
        st = SF_ERR_UNSUPPORTED; /* an exact classifier fit needs the batches */
    else
        st = sf_logit_fit(t, m);
    return finish_model(t, st, m, out);
}

sf_status sf_trainer_span_ranks(sf_trainer *t)
{
    if (!t) return SF_ERR_INVALID_ARGUMENT;
    /* The streaming update merges moments only: a kept R factor (the QR
     * path) is not combined across ranks batch by batch. */
    if (t->mom.has_r || (!t->par.keep_batches && t->par.solver == SF_SOLVER_QR))
        return SF_ERR_UNSUPPORTED;
    t->span_ranks = sf_mpi_active();
    if (t->span_ranks) { /* the exact sums are one rank's own */
        sf_exact_gram_destroy(t->exact);
        t->exact = NULL;
    }
    return SF_OK;
}

sf_status sf_trainer_update(sf_trainer *t, const double *X, const double *y, size_t rows)
{
    if (rows == 0) return SF_OK;
    /* The first update ends the exact phase: the kept batches would no longer
     * describe everything the statistics have seen. */
    sf_status st = (t && t->par.keep_batches) ? sf_trainer_end_warmup(t) : SF_OK;
    if (st != SF_OK) return st;
    return ingest(t, X, y, rows, false, true, false);
}

/* Bring t->live up to the current state (least squares: a solve of the
 * merged statistics; classifiers: the parameters in raw units). Allocates
 * only the first time; a state that did not change is not solved again. */
static sf_status refresh_live(sf_trainer *t)
{
    sf_status st = sf_trainer_drain(t);
    if (st != SF_OK) return st;
    if (t->mom.n == 0) return SF_ERR_EMPTY;
    if (t->live_valid) return SF_OK;
    if (!t->live && !(t->live = new_model(t))) return SF_ERR_NO_MEMORY;
    t->live->rows_seen = t->rows;
    /* The merged statistics are exact: the least-squares model is a solve on them. */
    if (is_least_squares(t->par.model)) {
        memset(&t->report, 0, sizeof t->report);
        st = sf_lsq_fit(t, t->live);
    } else {
        if (!t->shift) { /* a restored state may have dropped the scaler */
            free(t->live->scaler_mean);
            free(t->live->scaler_std);
            t->live->scaler_mean = t->live->scaler_std = NULL;
        }
        st = sf_logit_theta_to_model(t, t->theta, t->live);
    }
    t->live->report = t->report;
    t->live_valid = st == SF_OK;
    return st;
}

sf_status sf_trainer_snapshot(sf_trainer *t, sf_model **out)
{
    if (!t || !out) return SF_ERR_INVALID_ARGUMENT;
    sf_status st = refresh_live(t);
    if (st != SF_OK) return st;
    *out = sf_model_clone(t->live);
    return *out ? SF_OK : SF_ERR_NO_MEMORY;
}

/* t->scores with room for the scores of `rows` rows under the live model. */
static sf_status reserve_scores(sf_trainer *t, size_t rows)
{
    size_t need = rows * t->live->outputs;
    if (need > t->scores_cap) {
        double *s = realloc(t->scores, sizeof(double) * need);
        if (!s) return SF_ERR_NO_MEMORY;
        t->scores = s;
        t->scores_cap = need;
    }
    return SF_OK;
}

/* Scores of a device batch under the live model, into value / proba. */
static sf_status predict_batch(sf_trainer *t, const sf_dbatch *b, size_t rows, double *value,
                               double *proba)
{
    sf_status st = reserve_scores(t, rows);
    if (st != SF_OK) return st;
    st = t->be->ops->batch_scores(t->be, b, t->live->coef, t->live->intercept, t->live->outputs,
                                  t->scores);
    if (st == SF_OK) sf_model_classify_rows(t->live, t->scores, rows, value, proba);
    return st;
}

/* A batch the device cannot hold at once: predicted in halves with the
 * model of before the batch, then learned from in halves (each half then
 * crosses to the device twice; only out of memory). */
static sf_status predict_only(sf_trainer *t, const double *X, const double *y, size_t rows,
                              double *value, double *proba)
{
    sf_backend *be = t->be;
    sf_dbatch *b = NULL;
    sf_status st = be->ops->batch_borrow ? be->ops->batch_borrow(be, X, y, rows, t->d, &b)
                                         : be->ops->batch_upload(be, X, y, rows, t->d, &b);
    if (st == SF_ERR_NO_MEMORY && rows >= 2 * MIN_SPLIT_ROWS) {
        size_t h = rows / 2, K = t->live->K;
        st = predict_only(t, X, y, h, value, proba);
        if (st == SF_OK)
            st = predict_only(t, X + h * t->d, y + h, rows - h, value + h,
                              proba ? proba + h * K : NULL);
        return st;
    }
    if (st == SF_OK) st = predict_batch(t, b, rows, value, proba);
    if (b) be->ops->batch_free(be, b);
    return st;
}

/* Whether a classifier's test-then-train prediction can come from its FTRL
 * step's scores: the step then runs with the scaler the live model was made
 * with (fixed already, or none at all). A scaler still to be fixed by the
 * first step (ftrl.c) would score the batch with parameters read in other
 * units than the live model's; that batch is predicted on its own. */
static bool fused_predict_step(const sf_trainer *t)
{
    /* Not across ranks: the step there sums the parts' gradients first. */
    return !is_least_squares(t->par.model) && (t->shift || !t->par.standardize) && !t->span_ranks;
}

sf_status sf_trainer_predict_update(sf_trainer *t, const double *X, const double *y, size_t rows,
                                    double *value, double *proba)
{
    if (!t || (rows && (!X || !y || !value))) return SF_ERR_INVALID_ARGUMENT;
    if (rows == 0 && !t->span_ranks) return SF_OK;
    sf_status st = check_labels(t, y, rows); /* before anything changes */
    if (st == SF_OK && t->par.keep_batches) st = sf_trainer_end_warmup(t);
    if (st == SF_OK && rows == 0) { /* spanning the ranks: this rank's part is empty */
        st = refresh_live(t);       /* collective like the other ranks' */
        return st == SF_OK ? sf_trainer_learn_ranks(t, NULL) : st;
    }
    if (st == SF_OK) st = refresh_live(t); /* the model as it was before the batch */
    if (st != SF_OK) return st;
    sf_backend *be = t->be;
    /* One copy to the device serves both. Rows the classifier's step will
     * standardize in place are the trainer's own copy, never borrowed. */
    bool in_place = !is_least_squares(t->par.model) && (t->par.standardize || t->shift);
    bool borrow = be->ops->batch_borrow && !in_place;
    sf_dbatch *b = NULL;
    st = borrow ? be->ops->batch_borrow(be, X, y, rows, t->d, &b)
                : be->ops->batch_upload(be, X, y, rows, t->d, &b);
    if (st == SF_ERR_NO_MEMORY && rows >= 2 * MIN_SPLIT_ROWS) {
        sf_logf(t->ctx, SF_LOG_WARN, "out of memory for a batch of %zu rows: feeding it in halves",
                rows);
        st = predict_only(t, X, y, rows, value, proba);
        return st == SF_OK ? ingest(t, X, y, rows, false, true, false) : st;
    }
    if (st == SF_OK && fused_predict_step(t)) {
        /* The step's own pass over the batch scores it at the parameters of
         * before the batch: the live model's scores in standardized units
         * (equal up to rounding), so the batch is read once for both. */
        st = reserve_scores(t, rows);
        if (st == SF_OK) st = learn_batch(t, b, X, y, true, t->scores);
        if (st == SF_OK) sf_model_classify_rows(t->live, t->scores, rows, value, proba);
    } else {
        if (st == SF_OK) st = predict_batch(t, b, rows, value, proba);
        if (st == SF_OK) st = learn_batch(t, b, X, y, true, NULL);
    }
    if (b) be->ops->batch_free(be, b);
    return st;
}

void sf_trainer_report(const sf_trainer *t, sf_fit_report *out) { *out = t->report; }

uint64_t sf_trainer_rows(const sf_trainer *t) { return t->rows; }

static void free_batches(sf_trainer *t)
{
    t->borrow_X = NULL;
    for (size_t i = 0; i < t->n_batches; i++)
        t->be->ops->batch_free(t->be, t->batches[i]);
    t->n_batches = 0;
}

sf_status sf_trainer_stream_after_warmup(sf_trainer *t)
{
    if (!t) return SF_ERR_INVALID_ARGUMENT;
    /* Only a warm-up still to come, on one rank, with the solver left to the
     * trainer, can pick its statistics: as for a stream from the start. */
    if (!is_least_squares(t->par.model) || !t->par.keep_batches ||
        t->par.solver != SF_SOLVER_AUTO || t->d > SF_EXACT_GRAM_MAX_FEATURES || t->exact ||
        t->span_ranks || t->rows > 0)
        return SF_OK;
    t->exact = sf_exact_gram_create(t->d);
    return t->exact ? SF_OK : SF_ERR_NO_MEMORY;
}

sf_status sf_trainer_end_warmup(sf_trainer *t)
{
    if (!t) return SF_ERR_INVALID_ARGUMENT;
    sf_status st = sf_trainer_drain(t);
    if (st != SF_OK) return st;
    /* Least squares keeps the accurate path open for later solves by turning
     * the kept batches into the mergeable R factor before dropping them, when
     * the solver is qr or the condition estimate asks for it (auto). Otherwise
     * every later batch is a co-moment merge and the solve a Cholesky. */
    bool keep_r = false;
    double rcond = 1;
    if (is_least_squares(t->par.model) && t->n_batches) {
        keep_r = t->par.solver == SF_SOLVER_QR;
        if (t->par.solver == SF_SOLVER_AUTO) {
            st = sf_lsq_rcond(t, &t->mom, &rcond);
            keep_r = st == SF_OK && rcond < SF_LSQ_RCOND_QR;
        }
        if (keep_r && t->span_ranks) { /* the same decision on every rank */
            sf_logf(t->ctx, SF_LOG_WARN,
                    "least squares across ranks: the QR path is not kept while streaming; later "
                    "batches merge co-moments");
            keep_r = false;
        }
    }
    /* The exact sums of a warm-up that streams on (sf_trainer_stream_after_
     * warmup) are judged on its condition, as a stream from the start judges
     * them (a warm-up too short to tell leaves that to the stream); kept,
     * they serve later solves better than an R factor would. */
    if (st == SF_OK && t->exact && t->par.keep_batches) {
        if (exact_can_judge(t) && t->n_batches) keep_exact_if_ill(t, SF_OK, rcond);
        if (t->exact) keep_r = false;
    }
    if (st == SF_OK && keep_r) st = sf_moments_build_r(t->be, &t->mom, t->batches, t->n_batches);
    t->live_valid = false;
    free_batches(t);
    t->par.keep_batches = false;
    t->batches_standardized = false;
    return st;
}

sf_status sf_trainer_refit(sf_trainer *t, const double *X, const double *y, size_t rows)
{
    if (!t || is_least_squares(t->par.model)) return SF_ERR_INVALID_ARGUMENT;
    if (rows == 0) return SF_ERR_EMPTY;
    sf_fit_params p = t->par;
    p.keep_batches = true;
    sf_trainer *w = NULL;
    sf_status st = sf_trainer_create(t->ctx, &p, t->d, t->K, &w);
    if (st != SF_OK) return st;
    if (t->shift) { /* the window is fitted with the stream's scaler */
        w->shift = malloc(sizeof(double) * t->d);
        w->scale = malloc(sizeof(double) * t->d);
        if (!w->shift || !w->scale) st = SF_ERR_NO_MEMORY;
        if (st == SF_OK) {
            memcpy(w->shift, t->shift, sizeof(double) * t->d);
            memcpy(w->scale, t->scale, sizeof(double) * t->d);
        }
    }
    size_t P = (t->par.model == SF_MODEL_SOFTMAX ? t->K : 1) * (t->d + 1);
    if (st == SF_OK) memcpy(w->theta, t->theta, sizeof(double) * P); /* warm start */
    if (st == SF_OK) st = sf_trainer_add_batch(w, X, y, rows);
    sf_model *m = NULL;
    if (st == SF_OK) st = sf_trainer_fit(w, &m);
    if (st == SF_OK) {
        memcpy(t->theta, w->theta, sizeof(double) * P);
        t->has_theta = true;
        t->live_valid = false;
        free(t->ftrl_z); /* the mini-batch update restarts from the refit */
        free(t->ftrl_n);
        t->ftrl_z = t->ftrl_n = NULL;
        t->report = w->report;
    }
    sf_model_destroy(m);
    sf_trainer_destroy(w);
    return st;
}
