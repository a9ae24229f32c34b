/*
 * ftrl_host.c — one FTRL-Proximal step with a backend's batch ops (the
 * gradient from logistic_terms / softmax_terms) and the rule (ftrl_rule.h)
 * applied on the host.
 */
#include <stdlib.h>

#include "backend.h"
#include "ftrl_rule.h"

sf_status sf_ftrl_step_host(sf_backend *be, sf_dbatch *b, size_t d, size_t K, const double *shift,
                            const double *scale, const sf_ftrl_params *prm, double *theta,
                            double *z, double *n, double *loss)
{
    size_t p = d + 1, P = (K ? K : 1) * p;
    double rows = (double)be->ops->batch_rows(b), sum_loss = 0;
    if (loss) *loss = 0;
    if (rows == 0) return SF_OK;
    sf_status st = shift ? be->ops->batch_standardize(be, b, shift, scale) : SF_OK;
    double *g = malloc(sizeof(double) * P);
    if (!g) return SF_ERR_NO_MEMORY;
    if (st == SF_OK)
        st = K ? be->ops->softmax_terms(be, b, theta, K, &sum_loss, g, NULL)
               : be->ops->logistic_terms(be, b, theta, &sum_loss, g, NULL);
    for (size_t q = 0; st == SF_OK && q < P; q++) {
        bool icpt = q % p == d;
        if (icpt && !prm->fit_intercept) continue;
        theta[q] = sf_ftrl_rule(g[q] / rows, theta[q], &z[q], &n[q], prm->alpha, prm->beta,
                                icpt ? 0.0 : prm->l1, icpt ? 0.0 : prm->l2);
    }
    if (st == SF_OK && loss) *loss = sum_loss;
    free(g);
    return st;
}
