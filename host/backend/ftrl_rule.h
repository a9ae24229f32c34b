/*
 * ftrl_rule.h — the per-coordinate FTRL-Proximal rule (McMahan et al., 2013),
 * shared by the host implementation (ftrl_host.c) and the CUDA kernel
 * (kernels/ftrl_kernels.cu) so that both backends apply the same formula.
 */
#ifndef STREAMFIT_FTRL_RULE_H
#define STREAMFIT_FTRL_RULE_H

#include <math.h>

#ifdef __CUDACC__
#define SF_HOST_DEVICE __host__ __device__
#else
#define SF_HOST_DEVICE
#endif

/* With the mean gradient g of coordinate q: update its z and n accumulators
 * and return its new value (l1, l2: that coordinate's penalties). */
static inline SF_HOST_DEVICE double sf_ftrl_rule(double g, double theta, double *z, double *n,
                                                 double alpha, double beta, double l1, double l2)
{
    double n0 = *n;
    double sigma = (sqrt(n0 + g * g) - sqrt(n0)) / alpha;
    *z += g - sigma * theta;
    *n = n0 + g * g;
    double zq = *z;
    if (fabs(zq) <= l1) return 0.0;
    return -(zq - copysign(l1, zq)) / ((beta + sqrt(*n)) / alpha + l2);
}

#endif
