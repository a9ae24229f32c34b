/*
 * logit_objective.c — the objective that Newton and L-BFGS minimize for
 * logistic (binary) and softmax regression:
 *   f(theta) = (1/n) sum_i loss_i + (lambda/2) sum_k ||w_k||^2
 * over the rows it names (the trainer's kept batches, or a subsample of
 * them; intercepts unpenalized), with its gradient and, when asked, its
 * Hessian. The per-batch terms come from the backend. Spanning MPI ranks,
 * the sums of loss, gradient and Hessian over each rank's rows are summed
 * across ranks (bit-identical everywhere), so every rank takes the same step.
 * theta holds `outputs` blocks [w_k (d), b_k].
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "sf_mpi.h"

size_t sf_logit_outputs(const sf_trainer *t) { return t->par.model == SF_MODEL_SOFTMAX ? t->K : 1; }

/* The directions softmax cannot see (the same shift of every class's
 * intercept; with lambda = 0 also of every class's weight on a feature) make
 * its Hessian singular. The gradient has no component along them, so adding
 * (1/K) 1 1^T there changes no Newton step except to make it well defined. */
static void pin_softmax_invariants(const sf_trainer *t, double *H, size_t P)
{
    size_t K = t->K, p = t->d + 1;
    for (size_t a = 0; a < p; a++) {
        bool is_bias = a == t->d;
        if (!is_bias && t->par.lambda > 0) continue;
        if (is_bias && !t->par.fit_intercept) continue;
        for (size_t k = 0; k < K; k++)
            for (size_t l = 0; l < K; l++)
                H[(l * p + a) * P + k * p + a] += 1.0 / (double)K;
    }
}

sf_status sf_objective_eval(const sf_objective *o, const double *theta, double *f, double *g,
                            double *H)
{
    sf_trainer *t = o->t;
    sf_backend *be = t->be;
    size_t P = o->P, d = t->d, p = d + 1, outs = sf_logit_outputs(t);
    size_t nH = H ? P * P : 0;
    double *gb = malloc(sizeof(double) * (P + nH + 2 + P + nH));
    if (!gb) return SF_ERR_NO_MEMORY;
    double *Hb = H ? gb + P : NULL;
    double loss = 0;
    memset(g, 0, sizeof(double) * P);
    if (H) memset(H, 0, sizeof(double) * P * P);
    sf_status st = SF_OK;
    for (size_t i = 0; i < o->n_batches && st == SF_OK; i++) {
        double lb = 0;
        if (t->par.model == SF_MODEL_SOFTMAX)
            st = be->ops->softmax_terms(be, o->batches[i], theta, t->K, &lb, gb, Hb);
        else
            st = be->ops->logistic_terms(be, o->batches[i], theta, &lb, gb, Hb);
        loss += lb;
        for (size_t j = 0; j < P; j++)
            g[j] += gb[j];
        if (H)
            for (size_t j = 0; j < P * P; j++)
                H[j] += Hb[j];
    }
    if (t->span_ranks) {
        /* [failed, loss, g, H] summed across ranks in one message */
        double *all = gb + P + nH;
        all[0] = st != SF_OK;
        all[1] = loss;
        memcpy(all + 2, g, sizeof(double) * P);
        if (H) memcpy(all + 2 + P, H, sizeof(double) * nH);
        sf_status ast = sf_mpi_allreduce_sum(all, 2 + P + nH);
        if (ast != SF_OK) st = ast;
        if (st == SF_OK && all[0] > 0) st = SF_ERR_IO;
        loss = all[1];
        memcpy(g, all + 2, sizeof(double) * P);
        if (H) memcpy(H, all + 2 + P, sizeof(double) * nH);
    }
    free(gb);
    if (st != SF_OK) return st;
    double inv_n = 1.0 / o->n, lam = t->par.lambda, pen = 0;
    for (size_t j = 0; j < P; j++) {
        g[j] *= inv_n;
        if (H)
            for (size_t r = 0; r < P; r++)
                H[j * P + r] *= inv_n;
    }
    for (size_t k = 0; k < outs; k++)
        for (size_t j = 0; j < d; j++) {
            size_t q = k * p + j;
            pen += theta[q] * theta[q];
            g[q] += lam * theta[q];
            if (H) H[q * P + q] += lam;
        }
    *f = loss * inv_n + 0.5 * lam * pen;
    if (!t->par.fit_intercept)
        for (size_t k = 0; k < outs; k++) {
            size_t q = k * p + d;
            g[q] = 0;
            if (H) {
                for (size_t r = 0; r < P; r++)
                    H[q * P + r] = H[r * P + q] = 0;
                H[q * P + q] = 1;
            }
        }
    if (H && t->par.model == SF_MODEL_SOFTMAX) pin_softmax_invariants(t, H, P);
    return SF_OK;
}
