/*
 * moments.c — mergeable least-squares statistics: count, mean and centered
 * co-moment of the augmented rows [x, y] (Chan, Golub & LeVeque pairwise
 * update), and the same update in QR form for the R factor:
 *   M2 = M2a + M2b + (na nb / n) delta delta^T
 *   R  = qr([Ra; Rb; sqrt(na nb / n) delta^T / scale])
 * with delta = mean_b - mean_a. Nothing is squared before it is centered.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend_util.h"
#include "internal.h"

sf_status sf_moments_init(sf_moments *m, size_t d, bool with_r)
{
    memset(m, 0, sizeof *m);
    m->p = d + 1;
    size_t p = m->p;
    m->mean = calloc(p, sizeof(double));
    m->m2 = calloc(p * p, sizeof(double));
    m->has_r = with_r;
    m->decay = 1.0;
    if (with_r) {
        m->R = calloc(p * p, sizeof(double));
        m->scale = calloc(p, sizeof(double));
    }
    if (!m->mean || !m->m2 || (with_r && (!m->R || !m->scale))) {
        sf_moments_free(m);
        return SF_ERR_NO_MEMORY;
    }
    return SF_OK;
}

void sf_moments_free(sf_moments *m)
{
    free(m->mean);
    free(m->m2);
    free(m->R);
    free(m->scale);
    memset(m, 0, sizeof *m);
}

double sf_moments_std(const sf_moments *m, size_t j)
{
    if (m->n <= 0) return 0;
    double v = m->m2[j * m->p + j] / m->n;
    return v > 0 ? sqrt(v) : 0;
}

/* R <- qr([R; Rb; c * delta^T / scale]) */
static sf_status merge_r(sf_backend *be, sf_moments *acc, const double *Rb, const double *delta,
                         double c)
{
    size_t p = acc->p, m = 2 * p + 1;
    double *S = calloc(m * p, sizeof(double));
    if (!S) return SF_ERR_NO_MEMORY;
    for (size_t j = 0; j < p; j++) {
        for (size_t i = 0; i <= j; i++) {
            S[j * m + i] = acc->R[j * p + i];
            S[j * m + p + i] = Rb[j * p + i];
        }
        S[j * m + 2 * p] = c * delta[j] / acc->scale[j];
    }
    sf_status st = be->ops->qr_small(be, m, p, S, acc->R);
    free(S);
    return st;
}

sf_status sf_moments_merge(sf_backend *be, sf_moments *acc, double nb, const double *mean_b,
                           const double *m2_b, const double *R_b)
{
    size_t p = acc->p;
    if (nb <= 0) return SF_OK;
    if (acc->decay > 0 && acc->decay < 1 && acc->n > 0) {
        /* Exponential forgetting: the past counts as decay * its weight. */
        acc->n *= acc->decay;
        for (size_t j = 0; j < p * p; j++)
            acc->m2[j] *= acc->decay;
        if (acc->has_r)
            for (size_t j = 0; j < p * p; j++)
                acc->R[j] *= sqrt(acc->decay);
    }
    double na = acc->n;
    double *delta = malloc(sizeof(double) * p);
    if (!delta) return SF_ERR_NO_MEMORY;
    acc->n = sf_chan_merge(p, na, acc->mean, acc->m2, nb, mean_b, m2_b, delta);
    sf_status st = SF_OK;
    if (acc->has_r && R_b) st = merge_r(be, acc, R_b, delta, sqrt(na * nb / acc->n));
    free(delta);
    return st;
}

sf_status sf_moments_add_batch(sf_backend *be, sf_moments *acc, const sf_dbatch *b)
{
    size_t p = acc->p;
    double nb = (double)be->ops->batch_rows(b);
    if (nb == 0) return SF_OK;
    double *mean = malloc(sizeof(double) * (p + 2 * p * p));
    if (!mean) return SF_ERR_NO_MEMORY;
    double *m2 = mean + p, *R = m2 + p * p;
    sf_status st = be->ops->batch_moments(be, b, mean, m2);
    if (st == SF_OK && acc->has_r) {
        if (acc->n == 0) /* the first batch fixes the column scaling */
            for (size_t j = 0; j < p; j++) {
                double s = sqrt(m2[j * p + j] / nb);
                acc->scale[j] = s > 0 ? s : 1.0;
            }
        st = be->ops->batch_qr(be, b, mean, acc->scale, R);
    }
    if (st == SF_OK) st = sf_moments_merge(be, acc, nb, mean, m2, acc->has_r ? R : NULL);
    free(mean);
    return st;
}

sf_status sf_moments_build_r(sf_backend *be, sf_moments *m, sf_dbatch *const *batches,
                             size_t n_batches)
{
    size_t p = m->p;
    if (!m->has_r) {
        m->R = calloc(p * p, sizeof(double));
        m->scale = calloc(p, sizeof(double));
        if (!m->R || !m->scale) return SF_ERR_NO_MEMORY;
        m->has_r = true;
    }
    for (size_t j = 0; j < p; j++) {
        double sd = sf_moments_std(m, j);
        m->scale[j] = sd > 0 ? sd : 1.0;
    }
    memset(m->R, 0, sizeof(double) * p * p);
    double *Rb = malloc(sizeof(double) * p * p);
    double *S = malloc(sizeof(double) * 2 * p * p);
    sf_status st = (Rb && S) ? SF_OK : SF_ERR_NO_MEMORY;
    for (size_t i = 0; i < n_batches && st == SF_OK; i++) {
        st = be->ops->batch_qr(be, batches[i], m->mean, m->scale, Rb);
        for (size_t c = 0; st == SF_OK && c < p; c++) {
            memcpy(S + c * 2 * p, m->R + c * p, sizeof(double) * p);
            memcpy(S + c * 2 * p + p, Rb + c * p, sizeof(double) * p);
        }
        if (st == SF_OK) st = be->ops->qr_small(be, 2 * p, p, S, m->R);
    }
    free(Rb);
    free(S);
    return st;
}
