/*
 * optim_newton.c — Newton's method (IRLS for logistic regression) with a
 * backtracking line search, to a gradient norm below the tolerance.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

sf_status sf_minimize_newton(const sf_objective *o, double *theta, sf_fit_report *rep)
{
    size_t P = o->P;
    int max_iter = o->t->par.max_iter > 0 ? o->t->par.max_iter : 100;
    double tol = o->tol;
    sf_backend *be = o->t->be;
    double *buf = malloc(sizeof(double) * (2 * P * P + 5 * P));
    if (!buf) return SF_ERR_NO_MEMORY;
    double *H = buf, *F = H + P * P, *g = F + P * P, *s = g + P, *trial = s + P, *g1 = trial + P;
    double f = 0;
    sf_status st = sf_objective_eval(o, theta, &f, g, H);
    double gn = sf_norm2(g, P), gn_prev = 0;
    int it = 0;
    while (st == SF_OK && gn > tol && it < max_iter) {
        /* Quadratic convergence: gn_next ~ (gn / gn_prev^2) gn^2. When that
         * is far below the tolerance, the step's evaluation skips the Hessian
         * it will most likely not need (a wrong guess costs one more pass). */
        bool last =
            gn_prev > 0 && gn < gn_prev && (gn / (gn_prev * gn_prev)) * gn * gn < 1e-2 * tol;
        gn_prev = gn;
        it++;
        memcpy(F, H, sizeof(double) * P * P);
        for (size_t j = 0; j < P; j++)
            s[j] = -g[j];
        st = be->ops->solve_spd(be, P, F, s, 1, NULL);
        if (st == SF_ERR_NOT_POSITIVE_DEFINITE) {
            memcpy(F, H, sizeof(double) * P * P);
            for (size_t j = 0; j < P; j++)
                s[j] = -g[j];
            int rank;
            st = be->ops->solve_lstsq(be, P, P, F, s, 1e-12, &rank);
        }
        if (st != SF_OK) break;
        double slope = 0;
        for (size_t j = 0; j < P; j++)
            slope += g[j] * s[j];
        double alpha = 1, f1 = 0, gn1 = 0;
        bool accepted = false, reused = false;
        /* The full step is usually taken: evaluate the Hessian with it, so an
         * accepted full step costs one pass over the data, not two. */
        for (int ls = 0; ls < 60 && !accepted; ls++, alpha *= 0.5) {
            for (size_t j = 0; j < P; j++)
                trial[j] = theta[j] + alpha * s[j];
            st = sf_objective_eval(o, trial, &f1, g1, ls == 0 && !last ? F : NULL);
            if (st != SF_OK) break;
            gn1 = sf_norm2(g1, P);
            accepted = sf_step_acceptable(f, f1, slope, alpha, gn, gn1);
            if (accepted && ls == 0 && !last) {
                reused = true;
                memcpy(H, F, sizeof(double) * P * P);
                memcpy(g, g1, sizeof(double) * P);
                f = f1;
            }
        }
        if (st != SF_OK || !accepted) break; /* no representable progress left */
        memcpy(theta, trial, sizeof(double) * P);
        if (!reused && gn1 <= tol) { /* converged: no Hessian needed there */
            memcpy(g, g1, sizeof(double) * P);
            f = f1;
        } else if (!reused) {
            st = sf_objective_eval(o, theta, &f, g, H);
        }
        gn = sf_norm2(g, P);
    }
    rep->iterations = it;
    rep->grad_norm = gn;
    free(buf);
    return st;
}
