/*
 * ftrl.c — the streaming update of logistic/softmax: one FTRL-Proximal step
 * (McMahan et al., 2013) per micro-batch on the batch's mean gradient, with
 * per-coordinate learning rates, L1 (the l1 parameter) and L2 (lambda) on the
 * weights, none on intercepts. It starts from the last exact fit when there
 * is one.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define FTRL_BETA 1.0

static bool is_intercept(const sf_trainer *t, size_t q) { return q % (t->d + 1) == t->d; }

static sf_status ftrl_init(sf_trainer *t, size_t P)
{
    t->ftrl_z = calloc(P, sizeof(double));
    t->ftrl_n = calloc(P, sizeof(double));
    if (!t->ftrl_z || !t->ftrl_n) return SF_ERR_NO_MEMORY;
    double alpha = t->par.learning_rate > 0 ? t->par.learning_rate : 0.1;
    for (size_t q = 0; q < P; q++) { /* z such that the closed form gives back theta */
        double l2 = is_intercept(t, q) ? 0.0 : t->par.lambda;
        t->ftrl_z[q] = -t->theta[q] * (FTRL_BETA / alpha + l2);
    }
    return t->par.standardize ? sf_logit_fix_scaler(t) : SF_OK;
}

sf_status sf_ftrl_update(sf_trainer *t, const sf_dbatch *b_in)
{
    sf_backend *be = t->be;
    size_t outs = t->par.model == SF_MODEL_SOFTMAX ? t->K : 1, P = outs * (t->d + 1);
    sf_status st = t->ftrl_z ? SF_OK : ftrl_init(t, P);
    if (st != SF_OK) return st;
    sf_dbatch *b = (sf_dbatch *)b_in;
    if (t->shift) st = be->ops->batch_standardize(be, b, t->shift, t->scale);
    double *g = malloc(sizeof(double) * P), loss = 0;
    if (!g) return SF_ERR_NO_MEMORY;
    if (st == SF_OK)
        st = t->par.model == SF_MODEL_SOFTMAX
                 ? be->ops->softmax_terms(be, b, t->theta, t->K, &loss, g, NULL)
                 : be->ops->logistic_terms(be, b, t->theta, &loss, g, NULL);
    double n = (double)be->ops->batch_rows(b);
    double alpha = t->par.learning_rate > 0 ? t->par.learning_rate : 0.1;
    for (size_t q = 0; st == SF_OK && q < P; q++) {
        bool icpt = is_intercept(t, q);
        if (icpt && !t->par.fit_intercept) continue;
        double gq = g[q] / n, nq = t->ftrl_n[q];
        double sigma = (sqrt(nq + gq * gq) - sqrt(nq)) / alpha;
        t->ftrl_z[q] += gq - sigma * t->theta[q];
        t->ftrl_n[q] = nq + gq * gq;
        double l1 = icpt ? 0.0 : t->par.l1, l2 = icpt ? 0.0 : t->par.lambda;
        double z = t->ftrl_z[q];
        if (fabs(z) <= l1)
            t->theta[q] = 0;
        else
            t->theta[q] = -(z - copysign(l1, z)) / ((FTRL_BETA + sqrt(t->ftrl_n[q])) / alpha + l2);
    }
    t->has_theta = true;
    free(g);
    return st;
}
