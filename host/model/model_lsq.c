/*
 * model_lsq.c — least squares (OLS, ridge) from the merged statistics.
 *
 * The system (C_xx + P) w = c_xy (C the centered co-moments, P the ridge
 * penalty in raw units) is column-scaled to unit diagonal and solved by
 * Cholesky. When the condition estimate says Cholesky would lose too many
 * digits (or --solver qr), the R factor of the centered, scaled rows is used
 * instead, so the conditioning is that of X, not of X^T X. A rank-deficient
 * system falls back to a rank-revealing minimum-norm solve. With the batches
 * at hand (train on a file), the solution is refined with residuals computed
 * in extended precision until the correction stops shrinking. A stream that
 * keeps exact (double-double) sums of its rows (trainer.c) is solved from
 * them in double-double instead (model_lsq_exact.c).
 *
 * Spanning MPI ranks (sf_trainer_span_ranks), the statistics are merged
 * before this runs; the R factor of the kept rows is each rank's own,
 * stacked across ranks; the refinement's residual sums are summed across
 * ranks; rank 0's solution and decisions are broadcast, so that every rank
 * walks the same path through the collectives.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend_util.h"
#include "dd_sum.h"
#include "internal.h"
#include "mpi_stats.h"
#include "sf_mpi.h"

/* SF_LSQ_RCOND_QR (internal.h): below this reciprocal condition of the
 * scaled normal matrix, Cholesky (even refined) loses digits on
 * large-residual problems such as NIST Wampler5, so the QR path is taken. */
#define SF_LSQ_MAX_REFINE 20
/* Above this reciprocal condition (scaled normal matrix), Cholesky alone is
 * within a few units of rounding and refinement is skipped. */
#define SF_LSQ_RCOND_REFINE 1e-2

typedef struct lsq_system {
    size_t d;
    double n;
    bool intercept;
    const double *mean; /* p = d + 1: features, label */
    double *pen;        /* d: ridge penalty per coefficient, raw units */
    double *U;          /* d x d upper: S^-1 (C_xx + P) S^-1 = U^T U */
    double *s;          /* d: the column scaling of U */
    bool have_factor;
} lsq_system;

/* C_xx + P and c_xy in raw units (about the mean, or about 0 without intercept). */
static void normal_system(const sf_moments *mo, const lsq_system *sys, double *A, double *rhs)
{
    size_t d = sys->d, p = mo->p;
    double n0 = sys->intercept ? 0.0 : mo->n;
    for (size_t c = 0; c < d; c++) {
        for (size_t r = 0; r < d; r++)
            A[c * d + r] = mo->m2[c * p + r] + n0 * mo->mean[r] * mo->mean[c];
        A[c * d + c] += sys->pen[c];
        rhs[c] = mo->m2[d * p + c] + n0 * mo->mean[c] * mo->mean[d];
    }
}

/* Solve U^T U x = b in place (the scaled system), then unscale: x <- x / s. */
static sf_status gram_solve(sf_backend *be, const lsq_system *sys, double *x)
{
    size_t d = sys->d;
    for (size_t j = 0; j < d; j++)
        x[j] /= sys->s[j];
    sf_status st = be->ops->solve_triangular(be, d, sys->U, x, 1, true);
    if (st == SF_OK) st = be->ops->solve_triangular(be, d, sys->U, x, 1, false);
    for (size_t j = 0; j < d; j++)
        x[j] /= sys->s[j];
    return st;
}

static sf_status cholesky_path(sf_trainer *t, lsq_system *sys, double *w, bool *not_pd)
{
    sf_backend *be = t->be;
    size_t d = sys->d;
    double *A = malloc(sizeof(double) * (d * d + d));
    if (!A) return SF_ERR_NO_MEMORY;
    double *rhs = A + d * d;
    normal_system(&t->mom, sys, A, rhs);
    for (size_t j = 0; j < d; j++)
        sys->s[j] = A[j * d + j] > 0 ? sqrt(A[j * d + j]) : 1.0;
    for (size_t c = 0; c < d; c++)
        for (size_t r = 0; r < d; r++)
            A[c * d + r] /= sys->s[r] * sys->s[c];
    memcpy(sys->U, A, sizeof(double) * d * d);
    for (size_t j = 0; j < d; j++)
        w[j] = rhs[j] / sys->s[j];
    double rcond = 0;
    sf_status st = be->ops->solve_spd(be, d, sys->U, w, 1, &rcond);
    /* A factor this close to singular (e.g. a duplicated column) is rank
     * deficiency that rounding hid: take the rank-revealing path. */
    if (st == SF_OK && rcond < (double)d * DBL_EPSILON) st = SF_ERR_NOT_POSITIVE_DEFINITE;
    *not_pd = st == SF_ERR_NOT_POSITIVE_DEFINITE;
    if (st == SF_OK) {
        for (size_t j = 0; j < d; j++)
            w[j] /= sys->s[j];
        sys->have_factor = true;
        t->report.rcond = rcond;
    } else if (*not_pd) {
        /* Rank-revealing minimum-norm solve of the scaled system. */
        for (size_t j = 0; j < d; j++)
            w[j] = rhs[j] / sys->s[j];
        int rank = 0;
        st = be->ops->solve_lstsq(be, d, d, A, w, 1e-13, &rank);
        for (size_t j = 0; j < d; j++)
            w[j] /= sys->s[j];
        t->report.rank_deficient = true;
        t->report.rcond = 0;
    }
    free(A);
    return st;
}

/* R <- qr([R; rows]) for `extra` more rows (column-major extra x p). */
static sf_status stack_rows(sf_backend *be, size_t p, double *R, const double *rows, size_t extra)
{
    size_t m = p + extra;
    double *S = calloc(m * p, sizeof(double));
    if (!S) return SF_ERR_NO_MEMORY;
    for (size_t c = 0; c < p; c++) {
        memcpy(S + c * m, R + c * p, sizeof(double) * p);
        memcpy(S + c * m + p, rows + c * extra, sizeof(double) * extra);
    }
    sf_status st = be->ops->qr_small(be, m, p, S, R);
    free(S);
    return st;
}

/* Whether the rows are at hand (kept batches), on some rank (spanning the
 * ranks while streaming, none are: the same answer on every rank). */
static bool rows_kept(const sf_trainer *t)
{
    return t->n_batches > 0 || (t->span_ranks && t->par.keep_batches);
}

/* The R factor of ([x, y] - center) / scale over all data, with the
 * no-intercept and ridge rows added; scale[] receives the scaling used. */
static sf_status build_r(sf_trainer *t, const lsq_system *sys, double *R, double *scale)
{
    sf_backend *be = t->be;
    const sf_moments *mo = &t->mom;
    size_t d = sys->d, p = d + 1;
    sf_status st = SF_OK;
    double *buf = calloc(p * p + 2 * p + d * p, sizeof(double));
    if (!buf) return SF_ERR_NO_MEMORY;
    double *Rb = buf, *center = Rb + p * p, *row = center + p, *pen_rows = row + p;
    if (rows_kept(t)) {
        for (size_t j = 0; j < p; j++) {
            double sd = sf_moments_std(mo, j);
            scale[j] = sd > 0 ? sd : 1.0;
            center[j] = sys->intercept ? mo->mean[j] : 0.0;
        }
        memset(R, 0, sizeof(double) * p * p);
        for (size_t i = 0; i < t->n_batches && st == SF_OK; i++) {
            st = be->ops->batch_qr(be, t->batches[i], center, scale, Rb);
            if (st == SF_OK) st = stack_rows(be, p, R, Rb, p);
        }
        if (t->span_ranks) { /* every rank's status first: no rank waits alone */
            double failed = st != SF_OK;
            sf_status ast = sf_mpi_allreduce_sum(&failed, 1);
            if (ast != SF_OK) st = ast;
            if (st == SF_OK && failed > 0) st = SF_ERR_IO;
            if (st == SF_OK) st = sf_mpi_reduce_r(be, p, R);
        }
    } else if (mo->has_r) {
        memcpy(R, mo->R, sizeof(double) * p * p);
        memcpy(scale, mo->scale, sizeof(double) * p);
        if (!sys->intercept) { /* uncentered: add sqrt(n) mean / scale as a row */
            for (size_t j = 0; j < p; j++)
                row[j] = sqrt(mo->n) * mo->mean[j] / scale[j];
            st = stack_rows(be, p, R, row, 1);
        }
    } else {
        st = SF_ERR_UNSUPPORTED;
    }
    bool ridge = false;
    for (size_t j = 0; j < d; j++) {
        pen_rows[j * d + j] = sqrt(sys->pen[j]) / scale[j];
        ridge = ridge || sys->pen[j] > 0;
    }
    if (st == SF_OK && ridge) st = stack_rows(be, p, R, pen_rows, d);
    free(buf);
    return st;
}

static sf_status qr_path(sf_trainer *t, lsq_system *sys, double *w)
{
    sf_backend *be = t->be;
    size_t d = sys->d, p = d + 1;
    double *R = malloc(sizeof(double) * (p * p + p));
    if (!R) return SF_ERR_NO_MEMORY;
    double *scale = R + p * p;
    sf_status st = build_r(t, sys, R, scale);
    double dmax = 0, dmin = INFINITY;
    for (size_t j = 0; st == SF_OK && j < d; j++) {
        double a = fabs(R[j * p + j]);
        dmax = a > dmax ? a : dmax;
        dmin = a < dmin ? a : dmin;
    }
    t->report.solver_used = SF_SOLVER_QR;
    t->report.rcond = dmax > 0 ? (dmin / dmax) * (dmin / dmax) : 0;
    if (st == SF_OK) {
        for (size_t c = 0; c < d; c++) { /* U = R11, x = r12 */
            memcpy(sys->U + c * d, R + c * p, sizeof(double) * d);
            w[c] = R[d * p + c];
        }
        for (size_t j = 0; j < d; j++)
            sys->s[j] = scale[j];
        if (dmin > 1e-13 * dmax) {
            st = be->ops->solve_triangular(be, d, sys->U, w, 1, false);
            sys->have_factor = true;
        } else {
            double *U = malloc(sizeof(double) * d * d);
            int rank = 0;
            st = U ? SF_OK : SF_ERR_NO_MEMORY;
            if (st == SF_OK) {
                memcpy(U, sys->U, sizeof(double) * d * d);
                st = be->ops->solve_lstsq(be, d, d, U, w, 1e-13, &rank);
            }
            free(U);
            t->report.rank_deficient = true;
        }
        for (size_t j = 0; j < d; j++)
            w[j] *= scale[d] / scale[j];
    }
    free(R);
    return st;
}

/* Residual sums of the refinement, m = 1 + 2d of them ([sum_r, g, sxc]), as
 * double-doubles: rec = [failed, hi (m), lo (m)]. Summed over batches and
 * ranks in double-double, since the parts cancel (the gradient is near 0
 * at the solution while each part's is not): rounding each part to double
 * first would cost the digits the refinement is there to win. */
static sf_status merge_residual_sums(double *acc, const double *b, size_t n, void *user)
{
    (void)user;
    size_t m = (n - 1) / 2;
    acc[0] = acc[0] > b[0] ? acc[0] : b[0];
    for (size_t k = 0; k < m; k++)
        sf_dd_accumulate(&acc[1 + k], &acc[1 + m + k], b[1 + k], b[1 + m + k]);
    return SF_OK;
}

static sf_status residual_sums(sf_trainer *t, const double *w, double b0, const double *center,
                               double *rec, double *part)
{
    size_t d = t->d, m = 1 + 2 * d;
    sf_status st = SF_OK;
    memset(rec, 0, sizeof(double) * (1 + 2 * m));
    for (size_t i = 0; i < t->n_batches && st == SF_OK; i++) {
        double sr2; /* the residuals' squares are not needed here */
        st = t->be->ops->batch_residuals(t->be, t->batches[i], w, b0, center, &part[0], &sr2,
                                         part + 1, part + 1 + d, part + m);
        for (size_t k = 0; st == SF_OK && k < m; k++)
            sf_dd_accumulate(&rec[1 + k], &rec[1 + m + k], part[k], part[m + k]);
    }
    rec[0] = st != SF_OK;
    if (t->span_ranks) {
        sf_status ast = sf_mpi_tree_merge(rec, 1 + 2 * m, merge_residual_sums, NULL);
        if (ast != SF_OK) return ast;
    }
    if (st == SF_OK && rec[0] > 0) st = SF_ERR_IO; /* another rank failed */
    return st;
}

/* w += correction from residuals in extended precision, until the
 * correction stops shrinking. */
static sf_status refine(sf_trainer *t, const lsq_system *sys, double *w, double *b0)
{
    sf_backend *be = t->be;
    size_t d = sys->d, m = 1 + 2 * d;
    double *buf = calloc((1 + 2 * m) + 2 * m + 2 * d, sizeof(double));
    if (!buf) return SF_ERR_NO_MEMORY;
    double *rec = buf, *part = rec + 1 + 2 * m, *center = part + 2 * m, *dw = center + d;
    if (sys->intercept) memcpy(center, sys->mean, sizeof(double) * d);
    double prev = INFINITY;
    sf_status st = SF_OK;
    for (int it = 0; it < SF_LSQ_MAX_REFINE && st == SF_OK; it++) {
        st = residual_sums(t, w, *b0, center, rec, part);
        if (st != SF_OK) break;
        const double *hi = rec + 1, *lo = rec + 1 + m;
        double sum_r = hi[0] + lo[0];
        double rbar = sys->intercept ? sum_r / sys->n : 0.0;
        for (size_t j = 0; j < d; j++) {
            double g = hi[1 + j] + lo[1 + j], sxc = hi[1 + d + j] + lo[1 + d + j];
            dw[j] = g - rbar * sxc - sys->pen[j] * w[j];
        }
        st = gram_solve(be, sys, dw);
        if (st == SF_OK && t->span_ranks) st = sf_mpi_bcast(dw, d, 0); /* rank 0 decides */
        if (st != SF_OK) break;
        double nd = 0, nw = 0;
        for (size_t j = 0; j < d; j++) {
            nd += dw[j] * dw[j];
            nw += w[j] * w[j];
        }
        double rel = nw > 0 ? sqrt(nd / nw) : sqrt(nd);
        if (!(rel < prev)) break; /* stopped improving */
        prev = rel;
        double shift = 0;
        for (size_t j = 0; j < d; j++) {
            w[j] += dw[j];
            shift += sys->mean[j] * dw[j];
        }
        if (sys->intercept) *b0 += rbar - shift;
        t->report.refinement_steps = it + 1;
        if (rel < 1e-17) break;
    }
    free(buf);
    return st;
}

/* Across ranks: rank 0's status, solution and what decides the next steps
 * (condition estimate, rank deficiency) on every rank. */
static sf_status agree_on_solve(sf_trainer *t, lsq_system *sys, sf_status st, double *w,
                                bool *not_pd)
{
    size_t d = sys->d, k = 5;
    double *v = malloc(sizeof(double) * (d + k));
    if (!v) return SF_ERR_NO_MEMORY; /* reported; the job stops on it */
    v[0] = (double)st;
    v[1] = t->report.rcond;
    v[2] = *not_pd;
    v[3] = t->report.rank_deficient;
    v[4] = sys->have_factor;
    memcpy(v + k, w, sizeof(double) * d);
    sf_status bst = sf_mpi_bcast(v, d + k, 0);
    if (bst == SF_OK) {
        st = (sf_status)(int)v[0];
        t->report.rcond = v[1];
        *not_pd = v[2] != 0;
        t->report.rank_deficient = v[3] != 0;
        sys->have_factor = v[4] != 0;
        memcpy(w, v + k, sizeof(double) * d);
    }
    free(v);
    return bst != SF_OK ? bst : st;
}

/* The ridge penalty per coefficient in raw units. */
static void penalties(const sf_trainer *t, const sf_moments *mo, double *pen)
{
    double lambda = t->par.model == SF_MODEL_RIDGE ? t->par.lambda : 0.0;
    for (size_t j = 0; j < t->d; j++) {
        double sd = sf_moments_std(mo, j);
        /* On standardized features the penalty on w_z = std * w is lambda std^2 w^2. */
        pen[j] = lambda * (t->par.standardize && sd > 0 ? sd * sd : 1.0);
    }
}

sf_status sf_lsq_rcond(sf_trainer *t, const sf_moments *mo, double *rcond)
{
    size_t d = t->d;
    *rcond = 1; /* statistics that overflowed tell nothing: the solve reports them */
    if (!sf_all_finite(mo->mean, d + 1) || !sf_all_finite(mo->m2, (d + 1) * (d + 1))) return SF_OK;
    lsq_system sys = {.d = d, .n = mo->n, .intercept = t->par.fit_intercept, .mean = mo->mean};
    double *A = malloc(sizeof(double) * (d * d + 2 * d));
    if (!A) return SF_ERR_NO_MEMORY;
    double *rhs = A + d * d;
    sys.pen = rhs + d;
    penalties(t, mo, sys.pen);
    normal_system(mo, &sys, A, rhs);
    double *s = sys.pen; /* the penalties are no longer needed */
    for (size_t j = 0; j < d; j++)
        s[j] = A[j * d + j] > 0 ? sqrt(A[j * d + j]) : 1.0;
    for (size_t c = 0; c < d; c++)
        for (size_t r = 0; r < d; r++)
            A[c * d + r] /= s[r] * s[c];
    *rcond = 0;
    sf_status st = t->be->ops->solve_spd(t->be, d, A, rhs, 1, rcond);
    if (st == SF_ERR_NOT_POSITIVE_DEFINITE) {
        *rcond = 0;
        st = SF_OK;
    }
    free(A);
    return st;
}

sf_status sf_lsq_fit(sf_trainer *t, sf_model *m)
{
    const sf_moments *mo = &t->mom;
    size_t d = t->d;
    /* Squares of values past ~1e154 overflow: LAPACK must never see the
     * infinities (some of its routines loop forever on them). */
    if (!sf_all_finite(mo->mean, d + 1) || !sf_all_finite(mo->m2, (d + 1) * (d + 1)) ||
        (mo->has_r && !sf_all_finite(mo->R, (d + 1) * (d + 1))))
        return SF_ERR_NOT_FINITE;
    lsq_system sys = {.d = d, .n = mo->n, .intercept = t->par.fit_intercept, .mean = mo->mean};
    double *buf = calloc(d * d + 3 * d, sizeof(double));
    if (!buf) return SF_ERR_NO_MEMORY;
    sys.U = buf;
    sys.s = buf + d * d;
    sys.pen = sys.s + d;
    double *w = sys.pen + d;
    penalties(t, mo, sys.pen);
    bool can_qr = rows_kept(t) || mo->has_r;
    sf_solver_kind solver = t->par.solver;
    sf_status st = SF_OK;
    bool not_pd = false, exact = false;
    double b0 = 0;
    if (t->exact && solver != SF_SOLVER_QR && !rows_kept(t)) {
        /* A streaming fit's exact statistics: the solve in double-double. A
         * rank-deficient system goes on to the rank-revealing paths below. */
        t->report.solver_used = SF_SOLVER_CHOLESKY;
        st = sf_lsq_exact_solve(t->exact, sys.intercept, sys.pen, w, &b0, &t->report.rcond);
        exact = st == SF_OK;
        if (st == SF_ERR_NOT_POSITIVE_DEFINITE) st = SF_OK;
    }
    if (!exact && st == SF_OK && solver != SF_SOLVER_QR) {
        t->report.solver_used = SF_SOLVER_CHOLESKY;
        st = cholesky_path(t, &sys, w, &not_pd);
        if (t->span_ranks) st = agree_on_solve(t, &sys, st, w, &not_pd);
    }
    bool ill = not_pd || t->report.rcond < SF_LSQ_RCOND_QR;
    if (!exact && solver == SF_SOLVER_AUTO && ill && !can_qr && !t->warned_no_r) {
        /* A stream that turned ill-conditioned after its start kept no R. */
        sf_logf(t->ctx, SF_LOG_WARN,
                "least squares: condition estimate %.2g is below %g but the streaming state "
                "keeps no R factor: the Cholesky solve of the co-moments may lose digits "
                "(--solver qr keeps R from the start)",
                t->report.rcond, SF_LSQ_RCOND_QR);
        t->warned_no_r = true;
    }
    if (!exact && (solver == SF_SOLVER_QR || (solver == SF_SOLVER_AUTO && ill && can_qr))) {
        t->report.rank_deficient = false;
        sys.have_factor = false;
        st = qr_path(t, &sys, w);
        bool unused = false;
        if (t->span_ranks) st = agree_on_solve(t, &sys, st, w, &unused);
    }
    if (!exact && st == SF_OK && sys.intercept) {
        b0 = mo->mean[d];
        for (size_t j = 0; j < d; j++)
            b0 -= mo->mean[j] * w[j];
    }
    /* Refinement pays when conditioning cost digits; on well-conditioned data
     * the direct solve is already accurate to rounding. */
    bool worth_refining =
        t->report.solver_used == SF_SOLVER_QR || t->report.rcond < SF_LSQ_RCOND_REFINE;
    if (!exact && st == SF_OK && rows_kept(t) && sys.have_factor && !t->report.rank_deficient &&
        worth_refining)
        st = refine(t, &sys, w, &b0);
    if (st == SF_OK && (!sf_all_finite(w, d) || !isfinite(b0))) st = SF_ERR_NOT_FINITE;
    if (st == SF_OK) {
        memcpy(m->coef, w, sizeof(double) * d);
        m->intercept[0] = b0;
        if (t->par.standardize) {
            if (!m->scaler_mean) m->scaler_mean = malloc(sizeof(double) * d);
            if (!m->scaler_std) m->scaler_std = malloc(sizeof(double) * d);
            if (!m->scaler_mean || !m->scaler_std) st = SF_ERR_NO_MEMORY;
            for (size_t j = 0; st == SF_OK && j < d; j++) {
                m->scaler_mean[j] = mo->mean[j];
                m->scaler_std[j] = sf_moments_std(mo, j);
            }
        }
    }
    free(buf);
    return st;
}
