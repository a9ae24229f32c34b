/*
 * optim_lbfgs.c — limited-memory BFGS (two-loop recursion, 10 pairs) with a
 * backtracking line search, for problems too large for a dense Hessian.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define LBFGS_PAIRS 10

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* dir = -H_k g by the two-loop recursion over the stored pairs. */
static void two_loop(size_t P, const double *g, double *S, double *Y, double *rho, int count,
                     int newest, double *alpha, double *dir)
{
    for (size_t j = 0; j < P; j++)
        dir[j] = -g[j];
    for (int c = 0; c < count; c++) {
        int i = (newest - c + LBFGS_PAIRS) % LBFGS_PAIRS;
        alpha[i] = rho[i] * dot(S + i * P, dir, P);
        for (size_t j = 0; j < P; j++)
            dir[j] -= alpha[i] * Y[i * P + j];
    }
    if (count > 0) {
        double gamma =
            dot(S + newest * P, Y + newest * P, P) / dot(Y + newest * P, Y + newest * P, P);
        for (size_t j = 0; j < P; j++)
            dir[j] *= gamma;
    }
    for (int c = count - 1; c >= 0; c--) {
        int i = (newest - c + LBFGS_PAIRS) % LBFGS_PAIRS;
        double beta = rho[i] * dot(Y + i * P, dir, P);
        for (size_t j = 0; j < P; j++)
            dir[j] += (alpha[i] - beta) * S[i * P + j];
    }
}

sf_status sf_minimize_lbfgs(const sf_objective *o, double *theta, sf_fit_report *rep)
{
    size_t P = o->P;
    int max_iter = o->t->par.max_iter > 0 ? o->t->par.max_iter : 1000;
    double tol = o->tol;
    double *buf = malloc(sizeof(double) * (2 * LBFGS_PAIRS * P + 2 * LBFGS_PAIRS + 4 * P));
    if (!buf) return SF_ERR_NO_MEMORY;
    double *S = buf, *Y = S + LBFGS_PAIRS * P, *rho = Y + LBFGS_PAIRS * P,
           *alpha_k = rho + LBFGS_PAIRS, *g = alpha_k + LBFGS_PAIRS, *dir = g + P, *trial = dir + P,
           *g1 = trial + P;
    double f = 0;
    sf_status st = sf_objective_eval(o, theta, &f, g, NULL);
    double gn = sf_norm2(g, P);
    int it = 0, count = 0, newest = -1;
    while (st == SF_OK && gn > tol && it < max_iter) {
        it++;
        two_loop(P, g, S, Y, rho, count, newest, alpha_k, dir);
        double slope = dot(g, dir, P);
        if (slope >= 0) { /* not a descent direction: restart from steepest descent */
            count = 0;
            for (size_t j = 0; j < P; j++)
                dir[j] = -g[j];
            slope = -gn * gn;
        }
        double alpha = (count == 0) ? fmin(1.0, 1.0 / gn) : 1.0, f1 = 0, gn1 = 0;
        bool accepted = false;
        for (int ls = 0; ls < 60 && !accepted; ls++) {
            for (size_t j = 0; j < P; j++)
                trial[j] = theta[j] + alpha * dir[j];
            st = sf_objective_eval(o, trial, &f1, g1, NULL);
            if (st != SF_OK) break;
            gn1 = sf_norm2(g1, P);
            accepted = sf_step_acceptable(f, f1, slope, alpha, gn, gn1);
            if (!accepted) alpha *= 0.5;
        }
        if (st != SF_OK || !accepted) break;
        int slot = (newest + 1) % LBFGS_PAIRS;
        double sy = 0;
        for (size_t j = 0; j < P; j++) {
            S[slot * P + j] = trial[j] - theta[j];
            Y[slot * P + j] = g1[j] - g[j];
            sy += S[slot * P + j] * Y[slot * P + j];
        }
        if (sy > 1e-300) { /* keep the pair only when curvature is positive */
            rho[slot] = 1.0 / sy;
            newest = slot;
            if (count < LBFGS_PAIRS) count++;
        }
        memcpy(theta, trial, sizeof(double) * P);
        memcpy(g, g1, sizeof(double) * P);
        f = f1;
        gn = gn1;
    }
    rep->iterations = it;
    rep->grad_norm = gn;
    free(buf);
    return st;
}
