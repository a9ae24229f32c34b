/*
 * dd_sum.h — double-double sums (hi + lo, |lo| <= ulp(hi) / 2): adding
 * doubles or double-doubles without losing what rounding would drop, for
 * sums whose terms cancel (refinement residuals, statistics of few rows).
 * Needs IEEE double arithmetic without value-changing optimizations
 * (no -ffast-math, no contraction into FMA: the project builds ISO C).
 */
#ifndef STREAMFIT_DD_SUM_H
#define STREAMFIT_DD_SUM_H

#include <math.h>

/* (hi, lo) += (bh, bl), Knuth's two-sum on the high parts. */
static inline void sf_dd_accumulate(double *hi, double *lo, double bh, double bl)
{
    double s = *hi + bh;
    double v = s - *hi;
    double e = (*hi - (s - v)) + (bh - v);
    e += *lo + bl;
    double h = s + e;
    *lo = e - (h - s);
    *hi = h;
}

/* a * b = hi + lo exactly (fma computes the rounding error of the product). */
static inline void sf_dd_two_prod(double a, double b, double *hi, double *lo)
{
    *hi = a * b;
    *lo = fma(a, b, -*hi);
}

/* (hi, lo) <- (hi, lo) * b, to double-double accuracy. */
static inline void sf_dd_scale(double *hi, double *lo, double b)
{
    double p, e;
    sf_dd_two_prod(*hi, b, &p, &e);
    e += *lo * b;
    *hi = p + e;
    *lo = e - (*hi - p);
}

/* (hi, lo) <- (hi, lo) / b, to double-double accuracy. */
static inline void sf_dd_divide(double *hi, double *lo, double b)
{
    double q1 = *hi / b, p, e;
    sf_dd_two_prod(q1, b, &p, &e);
    double r = ((*hi - p) - e + *lo) / b; /* the remainder, divided */
    *hi = q1 + r;
    *lo = r - (*hi - q1);
}

#endif
