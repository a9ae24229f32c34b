/*
 * train_finish.c — the ending both input paths of `streamfit train` share:
 * fit, report what the solver did, name the features, count the rows, and
 * save the model file. Across MPI ranks every rank fits (the fit is
 * collective) and rank 0 alone reports and writes.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "sf_mpi.h"
#include "train.h"

int train_finish(const train_args *a, sf_context *ctx, sf_trainer *tr, const sf_table *info,
                 const double *classes, size_t K)
{
    sf_model *m = NULL;
    double t0 = sf_clock_mono_s();
    sf_status st = sf_trainer_fit(tr, &m);
    if (sf_mpi_rank() != 0) {
        sf_model_destroy(m);
        return st == SF_OK ? SF_EXIT_OK : SF_EXIT_FAILURE;
    }
    if (a->verbose && st == SF_OK)
        fprintf(stderr, "streamfit: fitted in %.1f ms (batches uploaded before)\n",
                (sf_clock_mono_s() - t0) * 1e3);
    if (st != SF_OK) {
        cli_error("training failed: %s",
                  st == SF_ERR_EMPTY ? "no good rows to train on" : sf_strerror(st));
        return SF_EXIT_FAILURE;
    }
    sf_fit_report rep;
    sf_trainer_report(tr, &rep);
    if (a->verbose)
        fprintf(stderr,
                "streamfit: %s on %s: solver %s, %d iterations, gradient norm %.3g, rcond %.3g, "
                "%d refinement steps%s\n",
                sf_model_kind_name(a->fit.model), sf_context_backend_name(ctx),
                sf_solver_kind_name(rep.solver_used), rep.iterations, rep.grad_norm, rep.rcond,
                rep.refinement_steps, rep.rank_deficient ? ", rank-deficient" : "");
    if (a->verbose && rep.cost_newton > 0)
        fprintf(stderr,
                "streamfit: solver: %s (chosen by cost: newton ~%.3g, lbfgs ~%.3g multiply-adds "
                "estimated%s)\n",
                rep.newton_finished ? "lbfgs then newton" : sf_solver_kind_name(rep.solver_used),
                rep.cost_newton, rep.cost_lbfgs,
                rep.newton_finished ? "; lbfgs stopped short of the tolerance" : "");
    if (rep.iterations > 0 && rep.grad_norm > a->fit.tol)
        fprintf(stderr, "streamfit: warning: stopped at gradient norm %.3g (target %.3g)\n",
                rep.grad_norm, a->fit.tol);
    if (K) memcpy(sf_model_classes(m), classes, sizeof(double) * K);
    sf_model_set_feature_names(m, (const char *const *)info->feature_names, info->label_name);
    sf_model_set_counts(m, info->rows, info->bad_rows);
    char err[512] = "";
    st = sf_model_save(m, a->out, err, sizeof err);
    sf_model_destroy(m);
    if (st != SF_OK) {
        cli_error("%s", err[0] ? err : sf_strerror(st));
        return SF_EXIT_FAILURE;
    }
    return SF_EXIT_OK;
}
