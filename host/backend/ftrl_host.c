/*
 * ftrl_host.c — one FTRL-Proximal step with a backend's batch ops (the
 * gradient from logistic_terms / softmax_terms) and the rule (ftrl_rule.h)
 * applied on the host. The scores the step's caller may ask for come from
 * batch_scores here, a pass of their own (a backend's own ftrl_step takes
 * them from the pass that computes the gradient).
 */
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "ftrl_rule.h"

void sf_ftrl_apply_host(const sf_ftrl_params *prm, size_t d, size_t P, const double *g, double rows,
                        double *theta, double *z, double *n)
{
    size_t p = d + 1;
    for (size_t q = 0; q < P; q++) {
        bool icpt = q % p == d;
        if (icpt && !prm->fit_intercept) continue;
        theta[q] = sf_ftrl_rule(g[q] / rows, theta[q], &z[q], &n[q], prm->alpha, prm->beta,
                                icpt ? 0.0 : prm->l1, icpt ? 0.0 : prm->l2);
    }
}

/* Scores of the (standardized) batch at theta: weights and intercepts taken
 * out of theta's [w_k, b_k] blocks for batch_scores. */
static sf_status scores_at(sf_backend *be, const sf_dbatch *b, size_t d, size_t outs,
                           const double *theta, double *scores)
{
    size_t p = d + 1;
    double *W = malloc(sizeof(double) * (outs * p + 1));
    if (!W) return SF_ERR_NO_MEMORY;
    double *bias = W + outs * d;
    for (size_t k = 0; k < outs; k++) {
        memcpy(W + k * d, theta + k * p, sizeof(double) * d);
        bias[k] = theta[k * p + d];
    }
    sf_status st = be->ops->batch_scores(be, b, W, bias, outs, scores);
    free(W);
    return st;
}

sf_status sf_ftrl_step_host(sf_backend *be, sf_dbatch *b, size_t d, size_t K, const double *shift,
                            const double *scale, const sf_ftrl_params *prm, double *theta,
                            double *z, double *n, double *loss, double *scores)
{
    size_t p = d + 1, P = (K ? K : 1) * p;
    double rows = (double)be->ops->batch_rows(b), sum_loss = 0;
    if (loss) *loss = 0;
    if (rows == 0) return SF_OK;
    sf_status st = shift ? be->ops->batch_standardize(be, b, shift, scale) : SF_OK;
    double *g = malloc(sizeof(double) * P);
    if (!g) return SF_ERR_NO_MEMORY;
    if (st == SF_OK && scores) st = scores_at(be, b, d, K ? K : 1, theta, scores);
    if (st == SF_OK)
        st = K ? be->ops->softmax_terms(be, b, theta, K, &sum_loss, g, NULL)
               : be->ops->logistic_terms(be, b, theta, &sum_loss, g, NULL);
    if (st == SF_OK) sf_ftrl_apply_host(prm, d, P, g, rows, theta, z, n);
    if (st == SF_OK && loss) *loss = sum_loss;
    free(g);
    return st;
}
