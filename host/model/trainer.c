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
    /* A streaming least-squares fit that may need the accurate path keeps the
     * merged R factor too; an in-memory fit rebuilds it from the batches. */
    bool with_r = lsq && !params->keep_batches && params->solver != SF_SOLVER_CHOLESKY;
    sf_status st = sf_moments_init(&t->mom, n_features, with_r);
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
    free(t->theta);
    free(t->shift);
    free(t->scale);
    free(t->ftrl_z);
    free(t->ftrl_n);
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

/* Upload a batch and merge its statistics; the caller keeps or frees it. */
static sf_status ingest(sf_trainer *t, const double *X, const double *y, size_t rows, bool keep,
                        sf_dbatch **out)
{
    if (!t || (rows && (!X || !y))) return SF_ERR_INVALID_ARGUMENT;
    sf_status st = check_labels(t, y, rows);
    if (st != SF_OK) return st;
    /* Borrowed rows are never standardized in place (the caller's data). */
    bool borrow = keep && t->par.borrow_rows && t->be->ops->batch_borrow &&
                  !(t->par.standardize && !is_least_squares(t->par.model));
    st = borrow ? t->be->ops->batch_borrow(t->be, X, y, rows, t->d, out)
                : t->be->ops->batch_upload(t->be, X, y, rows, t->d, out);
    if (st != SF_OK) return st;
    st = sf_moments_add_batch(t->be, &t->mom, *out);
    if (st != SF_OK) {
        t->be->ops->batch_free(t->be, *out);
        *out = NULL;
        return st;
    }
    t->rows += rows;
    return SF_OK;
}

sf_status sf_trainer_add_batch(sf_trainer *t, const double *X, const double *y, size_t rows)
{
    if (rows == 0) return SF_OK;
    if (t && t->batches_standardized) return SF_ERR_INVALID_ARGUMENT; /* fit already ran */
    sf_dbatch *b = NULL;
    sf_status st = ingest(t, X, y, rows, t->par.keep_batches, &b);
    if (st != SF_OK) return st;
    if (!t->par.keep_batches) {
        t->be->ops->batch_free(t->be, b);
        return SF_OK;
    }
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
    if (t->mom.n == 0) return SF_ERR_EMPTY;
    sf_model *m = new_model(t);
    if (!m) return SF_ERR_NO_MEMORY;
    memset(&t->report, 0, sizeof t->report);
    sf_status st;
    if (is_least_squares(t->par.model))
        st = sf_lsq_fit(t, m);
    else if (!t->par.keep_batches)
        st = SF_ERR_UNSUPPORTED; /* an exact classifier fit needs the batches */
    else
        st = sf_logit_fit(t, m);
    return finish_model(t, st, m, out);
}

sf_status sf_trainer_update(sf_trainer *t, const double *X, const double *y, size_t rows)
{
    if (rows == 0) return SF_OK;
    /* The first update ends the exact phase: the kept batches would no longer
     * describe everything the statistics have seen. */
    sf_status st = (t && t->par.keep_batches) ? sf_trainer_end_warmup(t) : SF_OK;
    if (st != SF_OK) return st;
    sf_dbatch *b = NULL;
    st = ingest(t, X, y, rows, false, &b);
    if (st != SF_OK) return st;
    if (!is_least_squares(t->par.model)) st = sf_ftrl_update(t, b);
    t->be->ops->batch_free(t->be, b);
    return st;
}

sf_status sf_trainer_snapshot(sf_trainer *t, sf_model **out)
{
    if (!t || !out) return SF_ERR_INVALID_ARGUMENT;
    if (t->mom.n == 0) return SF_ERR_EMPTY;
    if (is_least_squares(t->par.model)) {
        /* The merged statistics are exact: a snapshot is a solve on them. */
        sf_model *m = new_model(t);
        if (!m) return SF_ERR_NO_MEMORY;
        return finish_model(t, sf_lsq_fit(t, m), m, out);
    }
    sf_model *m = new_model(t);
    if (!m) return SF_ERR_NO_MEMORY;
    return finish_model(t, sf_logit_theta_to_model(t, t->theta, m), m, out);
}

void sf_trainer_report(const sf_trainer *t, sf_fit_report *out) { *out = t->report; }

uint64_t sf_trainer_rows(const sf_trainer *t) { return t->rows; }

static void free_batches(sf_trainer *t)
{
    for (size_t i = 0; i < t->n_batches; i++)
        t->be->ops->batch_free(t->be, t->batches[i]);
    t->n_batches = 0;
}

sf_status sf_trainer_end_warmup(sf_trainer *t)
{
    if (!t) return SF_ERR_INVALID_ARGUMENT;
    sf_status st = SF_OK;
    /* Least squares keeps the accurate path open for later solves by turning
     * the kept batches into the mergeable R factor before dropping them. */
    if (is_least_squares(t->par.model) && t->par.solver != SF_SOLVER_CHOLESKY && t->n_batches)
        st = sf_moments_build_r(t->be, &t->mom, t->batches, t->n_batches);
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
        free(t->ftrl_z); /* the mini-batch update restarts from the refit */
        free(t->ftrl_n);
        t->ftrl_z = t->ftrl_n = NULL;
        t->report = w->report;
    }
    sf_model_destroy(m);
    sf_trainer_destroy(w);
    return st;
}
