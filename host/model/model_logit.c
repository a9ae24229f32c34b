/*
 * model_logit.c — logistic (binary) and softmax regression: the exact fit of
 * the objective (logit_objective.c) by Newton or L-BFGS over the kept
 * batches, and the conversion of standardized parameters to raw units.
 * theta holds `outputs` blocks [w_k (d), b_k].
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "sf_mpi.h"

sf_status sf_logit_fix_scaler(sf_trainer *t)
{
    size_t d = t->d;
    if (t->shift) return SF_OK;
    t->shift = calloc(d, sizeof(double));
    t->scale = calloc(d, sizeof(double));
    if (!t->shift || !t->scale) return SF_ERR_NO_MEMORY;
    for (size_t j = 0; j < d; j++) {
        double sd = sf_moments_std(&t->mom, j);
        t->shift[j] = t->par.fit_intercept ? t->mom.mean[j] : 0.0;
        t->scale[j] = sd > 0 ? sd : 1.0;
    }
    return SF_OK;
}

/* Standardize the kept batches once, with the merged mean and std. */
static sf_status standardize_batches(sf_trainer *t)
{
    sf_status st = sf_logit_fix_scaler(t);
    if (st != SF_OK || t->batches_standardized) return st;
    for (size_t i = 0; i < t->n_batches && st == SF_OK; i++)
        st = t->be->ops->batch_standardize(t->be, t->batches[i], t->shift, t->scale);
    t->batches_standardized = st == SF_OK;
    return st;
}

sf_status sf_logit_theta_to_model(sf_trainer *t, const double *theta, sf_model *m)
{
    size_t d = t->d, p = d + 1, outs = sf_logit_outputs(t);
    for (size_t k = 0; k < outs; k++) {
        double b = theta[k * p + d];
        for (size_t j = 0; j < d; j++) {
            double w = theta[k * p + j];
            if (t->shift) {
                w /= t->scale[j];
                b -= t->shift[j] * w;
            }
            m->coef[k * d + j] = w;
        }
        m->intercept[k] = b;
    }
    if (t->par.model == SF_MODEL_SOFTMAX && t->par.fit_intercept) {
        double mean_b = 0; /* report intercepts centered: softmax cannot tell */
        for (size_t k = 0; k < outs; k++)
            mean_b += m->intercept[k] / (double)outs;
        for (size_t k = 0; k < outs; k++)
            m->intercept[k] -= mean_b;
    }
    if (t->shift) {
        if (!m->scaler_mean) m->scaler_mean = malloc(sizeof(double) * d);
        if (!m->scaler_std) m->scaler_std = malloc(sizeof(double) * d);
        if (!m->scaler_mean || !m->scaler_std) return SF_ERR_NO_MEMORY;
        memcpy(m->scaler_mean, t->shift, sizeof(double) * d);
        memcpy(m->scaler_std, t->scale, sizeof(double) * d);
    }
    return SF_OK;
}

/* ---- the solver chosen by cost ----
 *
 * A Newton iteration is a pass over the rows that forms the Hessian
 * (n p^2 for binary, n K(K+1) p^2 for softmax's K(K+1)/2 blocks) and a dense
 * solve (P^3 / 3); an L-BFGS iteration is a gradient pass (n P). Measured on
 * the CPU backend (2-core EPYC, 100k rows, standardized features): a
 * gradient pass costs about n (72 + 4 p) per output in multiply-add units —
 * the per-row exp/log is the 72 — and the Hessian adds about 0.1 n p^2 (it is
 * one SYRK, which runs near peak while the gradient is memory-bound). Newton
 * takes 4-6 iterations to 1e-10 on such problems, L-BFGS 10-12 with some
 * line-search evaluations: the estimates below (6 and 20 evaluations) lean
 * to Newton, which is the more robust to ill conditioning. The crossover for
 * binary logistic is then near d = 110 (measured: Newton 1.3x slower at d = 64,
 * 2x at 128, 2.7x at 256; 2x faster at d = 16). Newton is not considered
 * above SF_NEWTON_MAX_PARAMS (its dense P x P Hessian). */
#define SF_NEWTON_EVALS_EST 6.0
#define SF_LBFGS_EVALS_EST 20.0
#define SF_NEWTON_MAX_PARAMS 4096

static void solver_costs(const sf_trainer *t, double *newton, double *lbfgs)
{
    double n = t->mom.n, p = (double)t->d + 1, outs = (double)sf_logit_outputs(t), P = outs * p;
    double K = (double)t->K, grad = n * outs * (72.0 + 4.0 * p);
    double hess = 0.1 * n * p * p * (t->par.model == SF_MODEL_SOFTMAX ? K * (K + 1) : 1.0);
    *newton = SF_NEWTON_EVALS_EST * (grad + hess + P * P * P / 3.0);
    *lbfgs = SF_LBFGS_EVALS_EST * grad;
}

static sf_solver_kind choose_solver(sf_trainer *t, size_t P)
{
    if (t->par.solver != SF_SOLVER_AUTO) return t->par.solver;
    solver_costs(t, &t->report.cost_newton, &t->report.cost_lbfgs);
    if (P > SF_NEWTON_MAX_PARAMS) return SF_SOLVER_LBFGS;
    return t->report.cost_lbfgs < t->report.cost_newton ? SF_SOLVER_LBFGS : SF_SOLVER_NEWTON;
}

/* ---- a subsample first ----
 *
 * Far from the optimum a pass over every row buys little: the first steps
 * are taken on every SF_PRESOLVE_STRIDE-th row (all batches, rows spread
 * over the whole input, so a file sorted by label is still sampled evenly),
 * solved to SF_PRESOLVE_TOL (its optimum is within about 1/sqrt(rows) of the
 * full one, so a tighter tolerance buys nothing), and the full problem
 * starts from there. Its optimum is that of the full data to the usual
 * tolerance; only the number of full passes drops (200k x 16 logistic: 7
 * passes with the Hessian before, now 3 and one gradient pass, plus 5 on the
 * eighth). Used where the backend offers batch_sample, with at least
 * SF_PRESOLVE_ROWS_PER_PARAM sampled rows per parameter. */
#define SF_PRESOLVE_STRIDE 8
#define SF_PRESOLVE_ROWS_PER_PARAM 200.0
#define SF_PRESOLVE_TOL 1e-4

static sf_status presolve_on_sample(sf_trainer *t, sf_solver_kind solver, size_t P)
{
    sf_backend *be = t->be;
    double rows = t->mom.n / SF_PRESOLVE_STRIDE;
    if (!be->ops->batch_sample || t->has_theta || rows < SF_PRESOLVE_ROWS_PER_PARAM * (double)P)
        return SF_OK;
    sf_dbatch **sample = calloc(t->n_batches + 1, sizeof *sample);
    if (!sample) return SF_ERR_NO_MEMORY;
    sf_status st = SF_OK;
    double n = 0;
    /* Rows before this batch: the stride runs across batches, and across
     * ranks, from the rows of the ranks before this one. */
    uint64_t before = 0;
    if (t->span_ranks) st = sf_mpi_exscan_sum_u64(t->rows, &before);
    size_t base = (size_t)before;
    for (size_t i = 0; i < t->n_batches && st == SF_OK; i++) {
        size_t offset = (SF_PRESOLVE_STRIDE - base % SF_PRESOLVE_STRIDE) % SF_PRESOLVE_STRIDE;
        st = be->ops->batch_sample(be, t->batches[i], SF_PRESOLVE_STRIDE, offset, &sample[i]);
        if (st == SF_OK) n += (double)be->ops->batch_rows(sample[i]);
        base += be->ops->batch_rows(t->batches[i]);
    }
    /* Across ranks the sample is the union of the ranks' samples: the rows
     * one process would take, counted together. */
    if (t->span_ranks) {
        double v[2] = {st != SF_OK, n};
        sf_status ast = sf_mpi_allreduce_sum(v, 2);
        if (ast != SF_OK) st = ast;
        if (st == SF_OK && v[0] > 0) st = SF_ERR_IO;
        n = v[1];
    }
    sf_objective o = {.t = t,
                      .P = P,
                      .batches = sample,
                      .n_batches = t->n_batches,
                      .n = n,
                      .tol = SF_PRESOLVE_TOL};
    sf_fit_report rep = {0};
    double *theta = malloc(sizeof(double) * P);
    if (!theta) st = SF_ERR_NO_MEMORY;
    if (st == SF_OK && n > 0) {
        memcpy(theta, t->theta, sizeof(double) * P);
        st = solver == SF_SOLVER_NEWTON ? sf_minimize_newton(&o, theta, &rep)
                                        : sf_minimize_lbfgs(&o, theta, &rep);
        /* A start that is no better (not finite, or a stalled solve) is dropped. */
        if (st == SF_OK && rep.grad_norm <= SF_PRESOLVE_TOL)
            memcpy(t->theta, theta, sizeof(double) * P);
    }
    free(theta);
    for (size_t i = 0; i < t->n_batches; i++)
        if (sample[i]) be->ops->batch_free(be, sample[i]);
    free(sample);
    return st;
}

sf_status sf_logit_fit(sf_trainer *t, sf_model *m)
{
    size_t P = sf_logit_outputs(t) * (t->d + 1);
    sf_status st = t->par.standardize ? standardize_batches(t) : SF_OK;
    if (st != SF_OK) return st;
    sf_objective o = {.t = t,
                      .P = P,
                      .batches = t->batches,
                      .n_batches = t->n_batches,
                      .n = t->mom.n,
                      .tol = t->par.tol};
    sf_solver_kind solver = choose_solver(t, P);
    t->report.solver_used = solver;
    st = presolve_on_sample(t, solver, P);
    if (st != SF_OK) return st;
    st = solver == SF_SOLVER_NEWTON ? sf_minimize_newton(&o, t->theta, &t->report)
                                    : sf_minimize_lbfgs(&o, t->theta, &t->report);
    /* An automatic L-BFGS that stopped short (ill conditioning) hands over
     * to Newton where a dense Hessian fits: the tolerance is the contract. */
    if (st == SF_OK && t->par.solver == SF_SOLVER_AUTO && solver == SF_SOLVER_LBFGS &&
        t->report.grad_norm > t->par.tol && P <= SF_NEWTON_MAX_PARAMS) {
        int lbfgs_iters = t->report.iterations;
        st = sf_minimize_newton(&o, t->theta, &t->report);
        t->report.iterations += lbfgs_iters;
        t->report.newton_finished = true;
    }
    if (st != SF_OK) return st;
    t->has_theta = true;
    return sf_logit_theta_to_model(t, t->theta, m);
}
