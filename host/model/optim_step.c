/*
 * optim_step.c — what Newton (optim_newton.c) and L-BFGS (optim_lbfgs.c)
 * share: the gradient norm they stop on and the line search's test of a step.
 */
#include <math.h>

#include "internal.h"

double sf_norm2(const double *v, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += v[i] * v[i];
    return sqrt(s);
}

/* Accept a step when it decreases f enough (Armijo), or — once f no longer
 * resolves the difference — when it does not raise f and shrinks the gradient. */
bool sf_step_acceptable(double f0, double f1, double slope, double alpha, double gn0, double gn1)
{
    if (!isfinite(f1)) return false;
    if (f1 <= f0 + 1e-4 * alpha * slope) return true;
    return f1 <= f0 + 1e-14 * fabs(f0) && gn1 < gn0;
}
