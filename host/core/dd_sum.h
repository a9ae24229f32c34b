/*
 * dd_sum.h — double-double sums (hi + lo, |lo| <= ulp(hi) / 2): adding
 * doubles or double-doubles without losing what rounding would drop, for
 * sums whose terms cancel (refinement residuals, statistics of few rows).
 * Needs IEEE double arithmetic without value-changing optimizations
 * (no -ffast-math, no contraction into FMA: the project builds ISO C).
 */
#ifndef STREAMFIT_DD_SUM_H
#define STREAMFIT_DD_SUM_H

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

#endif
