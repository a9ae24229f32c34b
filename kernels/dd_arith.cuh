/*
 * dd_arith.cuh — double-double arithmetic on the device: a value is the
 * unevaluated sum hi + lo of two doubles (about 106 significant bits), built
 * from the error-free transformations two-sum and two-prod (with fma).
 *
 * Every operation is written with the _rn intrinsics: nvcc would otherwise be
 * free to contract a*b + c into an fma, and the error terms below rely on each
 * operation being rounded exactly once, as written.
 */
#ifndef STREAMFIT_DD_ARITH_CUH
#define STREAMFIT_DD_ARITH_CUH

struct sf_dd {
    double hi, lo;
};

/* a + b = s + e exactly (Knuth). */
__device__ __forceinline__ sf_dd sf_dd_two_sum(double a, double b)
{
    double s = __dadd_rn(a, b);
    double bb = __dsub_rn(s, a);
    double e = __dadd_rn(__dsub_rn(a, __dsub_rn(s, bb)), __dsub_rn(b, bb));
    return {s, e};
}

/* a + b = s + e exactly, given |a| >= |b| (Dekker). */
__device__ __forceinline__ sf_dd sf_dd_fast_two_sum(double a, double b)
{
    double s = __dadd_rn(a, b);
    double e = __dsub_rn(b, __dsub_rn(s, a));
    return {s, e};
}

/* a * b = p + e exactly. */
__device__ __forceinline__ sf_dd sf_dd_two_prod(double a, double b)
{
    double p = __dmul_rn(a, b);
    double e = __fma_rn(a, b, -p);
    return {p, e};
}

__device__ __forceinline__ sf_dd sf_dd_from(double a) { return {a, 0.0}; }

__device__ __forceinline__ sf_dd sf_dd_neg(sf_dd a) { return {-a.hi, -a.lo}; }

/* (a.hi + a.lo) + (b.hi + b.lo), the accurate ("IEEE") variant. */
__device__ __forceinline__ sf_dd sf_dd_add(sf_dd a, sf_dd b)
{
    sf_dd s = sf_dd_two_sum(a.hi, b.hi);
    sf_dd t = sf_dd_two_sum(a.lo, b.lo);
    sf_dd u = sf_dd_fast_two_sum(s.hi, __dadd_rn(s.lo, t.hi));
    return sf_dd_fast_two_sum(u.hi, __dadd_rn(u.lo, t.lo));
}

/* (a.hi + a.lo) * (b.hi + b.lo); the a.lo * b.lo term is below the result's precision. */
__device__ __forceinline__ sf_dd sf_dd_mul(sf_dd a, sf_dd b)
{
    sf_dd p = sf_dd_two_prod(a.hi, b.hi);
    double cross = __fma_rn(a.hi, b.lo, __dmul_rn(a.lo, b.hi));
    return sf_dd_fast_two_sum(p.hi, __dadd_rn(p.lo, cross));
}

#endif
