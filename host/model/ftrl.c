/*
 * ftrl.c — the streaming update of logistic/softmax: one FTRL-Proximal step
 * (McMahan et al., 2013) per micro-batch on the batch's mean gradient, with
 * per-coordinate learning rates, L1 (the l1 parameter) and L2 (lambda) on the
 * weights, none on intercepts. It starts from the last exact fit when there
 * is one. The step itself is the backend's (ftrl_step: on a GPU, two kernels),
 * and its pass over the batch can hand back the scores at the parameters of
 * before the step (the batch's test-then-train prediction).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static bool is_intercept(const sf_trainer *t, size_t q) { return q % (t->d + 1) == t->d; }

static sf_status ftrl_init(sf_trainer *t, size_t P)
{
    t->ftrl_z = calloc(P, sizeof(double));
    t->ftrl_n = calloc(P, sizeof(double));
    if (!t->ftrl_z || !t->ftrl_n) return SF_ERR_NO_MEMORY;
    double alpha = t->par.learning_rate > 0 ? t->par.learning_rate : 0.1;
    for (size_t q = 0; q < P; q++) { /* z such that the closed form gives back theta */
        double l2 = is_intercept(t, q) ? 0.0 : t->par.lambda;
        t->ftrl_z[q] = -t->theta[q] * (SF_FTRL_BETA / alpha + l2);
    }
    return t->par.standardize ? sf_logit_fix_scaler(t) : SF_OK;
}

sf_status sf_ftrl_prepare(sf_trainer *t)
{
    size_t outs = t->par.model == SF_MODEL_SOFTMAX ? t->K : 1, P = outs * (t->d + 1);
    return t->ftrl_z ? SF_OK : ftrl_init(t, P);
}

sf_status sf_ftrl_update(sf_trainer *t, const sf_dbatch *b_in, double *scores)
{
    sf_backend *be = t->be;
    sf_status st = sf_ftrl_prepare(t);
    if (st != SF_OK) return st;
    sf_ftrl_params prm = {
        .alpha = t->par.learning_rate > 0 ? t->par.learning_rate : 0.1,
        .beta = SF_FTRL_BETA,
        .l1 = t->par.l1,
        .l2 = t->par.lambda,
        .fit_intercept = t->par.fit_intercept,
    };
    /* The batch is the trainer's own upload: it may be left standardized. */
    st =
        be->ops->ftrl_step(be, (sf_dbatch *)b_in, t->d, t->par.model == SF_MODEL_SOFTMAX ? t->K : 0,
                           t->shift, t->scale, &prm, t->theta, t->ftrl_z, t->ftrl_n, NULL, scores);
    if (st == SF_OK) t->has_theta = true;
    return st;
}
