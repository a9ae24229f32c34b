/*
 * trainer_ranks.c — the streaming update of a trainer that spans the MPI
 * ranks (sf_trainer_span_ranks after the warm-up): each rank holds its part
 * of one logical micro-batch, and every rank leaves the call with the state
 * one process reaches by learning from the union of the parts (in rank
 * order). Collective: every rank calls it once per batch, a rank without
 * rows with b = NULL.
 *
 *  - Least squares: the parts' (n, mean, co-moment) are merged along the
 *    rank-ordered tree (mpi_stats.h), then merged into the trainer's
 *    statistics once, so --decay forgets the past once per logical batch.
 *  - Logistic/softmax: the FTRL step (ftrl.c) is a function of the batch's
 *    mean gradient at the current parameters; the gradient sums of the parts
 *    and their row counts are summed across ranks (one allreduce, the same
 *    bits on every rank), and the per-coordinate rule is applied on every
 *    rank to the same numbers, so the parameters stay bit-identical.
 */
#include <stdlib.h>
#include <string.h>

#include "ftrl_rule.h"
#include "internal.h"
#include "mpi_stats.h"
#include "sf_mpi.h"

static bool is_least_squares(sf_model_kind k) { return k == SF_MODEL_OLS || k == SF_MODEL_RIDGE; }

/* The union batch's moments on every rank; n = 0 when no rank had rows. */
static sf_status union_moments(sf_trainer *t, const sf_dbatch *b, sf_moments *u)
{
    sf_status st = sf_moments_init(u, t->d, false);
    if (st != SF_OK) return st;
    size_t rows = b ? t->be->ops->batch_rows(b) : 0;
    if (rows) st = t->be->ops->batch_moments(t->be, b, u->mean, u->m2);
    u->n = st == SF_OK ? (double)rows : 0;
    /* A failed part still takes part in the merge (as no rows): the others
     * would wait for it otherwise. */
    sf_status mst = sf_mpi_reduce_moments(t->be, u);
    return st != SF_OK ? st : mst;
}

static sf_status merge_statistics(sf_trainer *t, const sf_dbatch *b, double *rows_all)
{
    bool moments = is_least_squares(t->par.model) || (t->par.standardize && !t->shift);
    if (!moments) {
        double n = b ? (double)t->be->ops->batch_rows(b) : 0;
        sf_status st = sf_mpi_allreduce_sum(&n, 1);
        if (st == SF_OK) t->mom.n += n;
        *rows_all = n;
        return st;
    }
    sf_moments u;
    sf_status st = union_moments(t, b, &u);
    *rows_all = st == SF_OK ? u.n : 0;
    if (st == SF_OK && u.n > 0) st = sf_moments_merge(t->be, &t->mom, u.n, u.mean, u.m2, NULL);
    sf_moments_free(&u);
    return st;
}

/* One FTRL step on the union batch's mean gradient (ftrl.c's step, with the
 * gradient summed across ranks before the rule). */
static sf_status ftrl_step_ranks(sf_trainer *t, sf_dbatch *b)
{
    sf_backend *be = t->be;
    size_t K = t->par.model == SF_MODEL_SOFTMAX ? t->K : 0, p = t->d + 1, P = (K ? K : 1) * p;
    sf_status st = sf_ftrl_prepare(t);
    if (st != SF_OK) return st;
    double *g = calloc(P + 1, sizeof(double)), loss = 0;
    if (!g) return SF_ERR_NO_MEMORY;
    size_t rows = b ? be->ops->batch_rows(b) : 0;
    if (rows && t->shift) st = be->ops->batch_standardize(be, b, t->shift, t->scale);
    if (st == SF_OK && rows)
        st = K ? be->ops->softmax_terms(be, b, t->theta, K, &loss, g, NULL)
               : be->ops->logistic_terms(be, b, t->theta, &loss, g, NULL);
    if (st != SF_OK) memset(g, 0, sizeof(double) * P); /* take part all the same */
    g[P] = st == SF_OK ? (double)rows : 0;
    sf_status ast = sf_mpi_allreduce_sum(g, P + 1);
    if (st == SF_OK) st = ast;
    double n = g[P];
    double alpha = t->par.learning_rate > 0 ? t->par.learning_rate : 0.1;
    for (size_t q = 0; st == SF_OK && n > 0 && q < P; q++) {
        bool icpt = q % p == t->d;
        if (icpt && !t->par.fit_intercept) continue;
        t->theta[q] =
            sf_ftrl_rule(g[q] / n, t->theta[q], &t->ftrl_z[q], &t->ftrl_n[q], alpha, SF_FTRL_BETA,
                         icpt ? 0.0 : t->par.l1, icpt ? 0.0 : t->par.lambda);
    }
    if (st == SF_OK && n > 0) t->has_theta = true;
    free(g);
    return st;
}

sf_status sf_trainer_learn_ranks(sf_trainer *t, sf_dbatch *b)
{
    if (t->mom.has_r) return SF_ERR_UNSUPPORTED; /* refused by sf_trainer_span_ranks */
    double rows_all = 0;
    sf_status st = merge_statistics(t, b, &rows_all);
    if (st != SF_OK) return st;
    t->rows += (uint64_t)rows_all;
    t->live_valid = false;
    if (!is_least_squares(t->par.model)) st = ftrl_step_ranks(t, b);
    return st;
}
