/*
 * dd_arith.h — double-double numbers (hi + lo, about 106 significant bits):
 * the error-free sum and product (two-sum, and fma for two-product) and the
 * few operations the exact least-squares statistics and their small solve
 * need. Like dd_sum.h, needs IEEE double arithmetic without value-changing
 * optimizations (no -ffast-math, no contraction: the project builds ISO C).
 */
#ifndef STREAMFIT_DD_ARITH_H
#define STREAMFIT_DD_ARITH_H

#include <math.h>

typedef struct sf_dd {
    double hi, lo;
} sf_dd;

static inline sf_dd sf_dd_of(double a) { return (sf_dd){a, 0.0}; }

/* a + b exactly, as a rounded sum and its error (Knuth). */
static inline sf_dd sf_dd_two_sum(double a, double b)
{
    double s = a + b, v = s - a;
    return (sf_dd){s, (a - (s - v)) + (b - v)};
}

/* a * b exactly, as a rounded product and its error. */
static inline sf_dd sf_dd_two_prod(double a, double b)
{
    double p = a * b;
    return (sf_dd){p, fma(a, b, -p)};
}

/* hi + lo renormalized, given |hi| >= |lo| or hi == 0. */
static inline sf_dd sf_dd_fast_sum(double hi, double lo)
{
    double s = hi + lo;
    return (sf_dd){s, lo - (s - hi)};
}

static inline sf_dd sf_dd_add(sf_dd a, sf_dd b)
{
    sf_dd s = sf_dd_two_sum(a.hi, b.hi);
    return sf_dd_fast_sum(s.hi, s.lo + (a.lo + b.lo));
}

static inline sf_dd sf_dd_neg(sf_dd a) { return (sf_dd){-a.hi, -a.lo}; }

static inline sf_dd sf_dd_sub(sf_dd a, sf_dd b) { return sf_dd_add(a, sf_dd_neg(b)); }

static inline sf_dd sf_dd_mul(sf_dd a, sf_dd b)
{
    sf_dd p = sf_dd_two_prod(a.hi, b.hi);
    return sf_dd_fast_sum(p.hi, p.lo + (a.hi * b.lo + a.lo * b.hi));
}

static inline sf_dd sf_dd_mul_d(sf_dd a, double b)
{
    sf_dd p = sf_dd_two_prod(a.hi, b);
    return sf_dd_fast_sum(p.hi, p.lo + a.lo * b);
}

/* a / b: a first quotient, then one correction from the exact remainder. */
static inline sf_dd sf_dd_div(sf_dd a, sf_dd b)
{
    double q1 = a.hi / b.hi;
    sf_dd r = sf_dd_sub(a, sf_dd_mul_d(b, q1));
    double q2 = r.hi / b.hi;
    r = sf_dd_sub(r, sf_dd_mul_d(b, q2));
    return sf_dd_add(sf_dd_two_sum(q1, q2), sf_dd_of(r.hi / b.hi));
}

/* sqrt(a) for a > 0: one Newton step from the double root. */
static inline sf_dd sf_dd_sqrt(sf_dd a)
{
    double s = sqrt(a.hi);
    sf_dd e = sf_dd_sub(a, sf_dd_two_prod(s, s));
    return sf_dd_fast_sum(s, e.hi / (2.0 * s));
}

static inline double sf_dd_round(sf_dd a) { return a.hi + a.lo; }

#endif
