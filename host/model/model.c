/*
 * model.c — the fitted model object: allocation, accessors, and prediction
 * through the backend (scores t = x.w + b in raw feature units).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend_util.h"
#include "internal.h"

sf_model *sf_model_alloc(sf_model_kind kind, size_t d, size_t K)
{
    sf_model *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->kind = kind;
    m->d = d;
    m->K = (kind == SF_MODEL_LOGISTIC) ? 2 : (kind == SF_MODEL_SOFTMAX ? K : 0);
    m->outputs = kind == SF_MODEL_SOFTMAX ? K : 1;
    m->fit_intercept = true;
    m->coef = calloc(m->outputs * d + 1, sizeof(double));
    m->intercept = calloc(m->outputs, sizeof(double));
    m->classes = calloc(m->K + 1, sizeof(double));
    m->names = calloc(d + 1, sizeof(char *));
    if (!m->coef || !m->intercept || !m->classes || !m->names || m->outputs == 0) {
        sf_model_destroy(m);
        return NULL;
    }
    for (size_t k = 0; k < m->K; k++)
        m->classes[k] = (double)k;
    return m;
}

sf_model *sf_model_create(sf_model_kind kind, size_t n_features, size_t n_classes)
{
    return sf_model_alloc(kind, n_features, n_classes);
}

static double *dup_doubles(const double *a, size_t n)
{
    if (!a) return NULL;
    double *c = malloc(sizeof(double) * (n + 1));
    if (c) memcpy(c, a, sizeof(double) * n);
    return c;
}

sf_model *sf_model_clone(const sf_model *m)
{
    sf_model *c = sf_model_alloc(m->kind, m->d, m->K);
    if (!c) return NULL;
    memcpy(c->coef, m->coef, sizeof(double) * m->outputs * m->d);
    memcpy(c->intercept, m->intercept, sizeof(double) * m->outputs);
    memcpy(c->classes, m->classes, sizeof(double) * m->K);
    c->lambda = m->lambda;
    c->fit_intercept = m->fit_intercept;
    c->standardize = m->standardize;
    c->rows_seen = m->rows_seen;
    c->rows_skipped = m->rows_skipped;
    c->batches = m->batches;
    c->report = m->report;
    bool ok = sf_model_set_feature_names(c, (const char *const *)m->names, m->label) == SF_OK;
    if (m->scaler_mean) {
        c->scaler_mean = dup_doubles(m->scaler_mean, m->d);
        c->scaler_std = dup_doubles(m->scaler_std, m->d);
        ok = ok && c->scaler_mean && c->scaler_std;
    }
    if (!ok) {
        sf_model_destroy(c);
        return NULL;
    }
    return c;
}

void sf_model_destroy(sf_model *m)
{
    if (!m) return;
    if (m->names)
        for (size_t j = 0; j < m->d; j++)
            free(m->names[j]);
    free(m->names);
    free(m->label);
    free(m->coef);
    free(m->intercept);
    free(m->classes);
    free(m->scaler_mean);
    free(m->scaler_std);
    free(m);
}

sf_model_kind sf_model_kind_of(const sf_model *m) { return m->kind; }
size_t sf_model_n_features(const sf_model *m) { return m->d; }
size_t sf_model_n_outputs(const sf_model *m) { return m->outputs; }
size_t sf_model_n_classes(const sf_model *m) { return m->K; }
double *sf_model_coefficients(sf_model *m, size_t k) { return m->coef + k * m->d; }
double *sf_model_intercepts(sf_model *m) { return m->intercept; }
double *sf_model_classes(sf_model *m) { return m->classes; }
const double *sf_model_classes_const(const sf_model *m) { return m->classes; }
const char *sf_model_feature_name(const sf_model *m, size_t j) { return m->names[j]; }
const char *sf_model_label_name(const sf_model *m) { return m->label; }
uint64_t sf_model_rows_seen(const sf_model *m) { return m->rows_seen; }
double sf_model_lambda(const sf_model *m) { return m->lambda; }
bool sf_model_standardized(const sf_model *m) { return m->standardize; }
bool sf_model_has_intercept(const sf_model *m) { return m->fit_intercept; }
const double *sf_model_scaler_mean(const sf_model *m) { return m->scaler_mean; }
const double *sf_model_scaler_std(const sf_model *m) { return m->scaler_std; }

void sf_model_set_counts(sf_model *m, uint64_t rows_seen, uint64_t rows_skipped)
{
    m->rows_seen = rows_seen;
    m->rows_skipped = rows_skipped;
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

sf_status sf_model_set_feature_names(sf_model *m, const char *const *names, const char *label)
{
    for (size_t j = 0; j < m->d; j++) {
        free(m->names[j]);
        m->names[j] = dup_or_null(names ? names[j] : NULL);
        if (names && names[j] && !m->names[j]) return SF_ERR_NO_MEMORY;
    }
    free(m->label);
    m->label = dup_or_null(label);
    return SF_OK;
}

/* value and probabilities of one row from its scores t (outputs values). */
static void classify_row(const sf_model *m, double *t, double *value, double *proba)
{
    if (m->kind == SF_MODEL_OLS || m->kind == SF_MODEL_RIDGE) {
        *value = t[0];
        return;
    }
    if (m->kind == SF_MODEL_LOGISTIC) {
        double p1 = sf_sigmoid(t[0]);
        *value = m->classes[p1 > 0.5 ? 1 : 0]; /* a tie goes to the first class, as argmax does */
        if (proba) {
            proba[0] = 1.0 - p1;
            proba[1] = p1;
        }
        return;
    }
    sf_softmax_inplace(t, m->K);
    size_t best = 0;
    for (size_t k = 1; k < m->K; k++)
        if (t[k] > t[best]) best = k;
    *value = m->classes[best];
    if (proba) memcpy(proba, t, sizeof(double) * m->K);
}

void sf_model_classify_rows(const sf_model *m, double *T, size_t rows, double *value, double *proba)
{
    for (size_t i = 0; i < rows; i++)
        classify_row(m, T + i * m->outputs, value + i, proba ? proba + i * m->K : NULL);
}

sf_status sf_predict(sf_context *ctx, const sf_model *m, const double *X, size_t rows,
                     double *value, double *proba)
{
    if (!ctx || !m || (!X && rows) || !value) return SF_ERR_INVALID_ARGUMENT;
    if (rows == 0) return SF_OK;
    sf_backend *be = ctx->be;
    double *zeros = calloc(rows, sizeof(double));
    double *T = malloc(sizeof(double) * rows * m->outputs);
    sf_dbatch *b = NULL;
    sf_status st = (zeros && T) ? SF_OK : SF_ERR_NO_MEMORY;
    if (st == SF_OK) /* prediction only reads the rows: no copy where the backend can avoid it */
        st = be->ops->batch_borrow ? be->ops->batch_borrow(be, X, zeros, rows, m->d, &b)
                                   : be->ops->batch_upload(be, X, zeros, rows, m->d, &b);
    if (st == SF_OK) st = be->ops->batch_scores(be, b, m->coef, m->intercept, m->outputs, T);
    if (st == SF_OK) sf_model_classify_rows(m, T, rows, value, proba);
    if (b) be->ops->batch_free(be, b);
    free(zeros);
    free(T);
    return st;
}
