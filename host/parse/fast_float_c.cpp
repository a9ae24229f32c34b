/*
 * fast_float_c.cpp — fast_float behind C signatures, for the C parsers.
 *
 * sf_parse_f64 is the hot-path number parser: exact (round to nearest, like
 * strtod in the "C" locale), locale independent, bounded by `last` so it can
 * run on mapped bytes with no NUL at the end. It also takes a leading '+',
 * which fast_float alone refuses, and refuses NaN and infinities, which are
 * bad records here. sf_parse_f64_any keeps the non-finite values; the parsers
 * use it only to explain why a field was refused.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmath>
#include <system_error>

#include <fast_float/fast_float.h>

extern "C" {
#include "parse.h"

const char *sf_parse_f64_any(const char *first, const char *last, double *out);
}

/* A '+' is skipped unless another sign follows, so "+-1" and "++1" stay
 * invalid (fast_float itself takes the '-'). */
static const char *skip_plus(const char *first, const char *last)
{
    if (*first == '+' && last - first > 1 && first[1] != '-' && first[1] != '+') return first + 1;
    return first;
}

/* Out of range is not a failure here: like strtod, an underflow is 0 and an
 * overflow an infinity (newer fast_float reports both, older neither). */
static bool parsed(const fast_float::from_chars_result &r)
{
    return r.ec == std::errc() || r.ec == std::errc::result_out_of_range;
}

extern "C" const char *sf_parse_f64_any(const char *first, const char *last, double *out)
{
    if (first == nullptr || first >= last) return nullptr;
    first = skip_plus(first, last);
    double v = 0.0;
    fast_float::from_chars_result r = fast_float::from_chars(first, last, v);
    if (!parsed(r)) return nullptr;
    *out = v;
    return r.ptr;
}

/* Powers of ten that are exact doubles. */
static const double k_pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* The common CSV number, a plain decimal ([-+]digits[.digits], at most 19
 * digits, no exponent), without fast_float's general machinery: m / 10^k with
 * m <= 2^53 and k <= 22 is Clinger's fast path, the one fast_float itself
 * takes for such numbers (both operands exact, one correctly rounded
 * division), so the value is the same bit for bit. Fraction digits are read
 * eight at a time. Anything else (exponents, long mantissas, inf/nan, a sign
 * without digits) returns nullptr and goes to fast_float. */
static const char *plain_decimal(const char *p, const char *last, double *out)
{
    bool neg = false;
    if (p < last && (*p == '-' || *p == '+')) neg = *p++ == '-';
    const char *digits = p;
    uint64_t m = 0;
    while (p < last && fast_float::is_integer(*p))
        m = m * 10 + (uint64_t)(*p++ - '0');
    size_t int_digits = (size_t)(p - digits), frac = 0;
    if (int_digits > 19) return nullptr;
    if (p < last && *p == '.') {
        const char *f = ++p;
        while (last - p >= 8 && p - f <= 8 && fast_float::is_made_of_eight_digits_fast(p)) {
            m = m * 100000000 + fast_float::parse_eight_digits_unrolled(p);
            p += 8;
        }
        while (p < last && fast_float::is_integer(*p) && p - f < 20)
            m = m * 10 + (uint64_t)(*p++ - '0');
        frac = (size_t)(p - f);
    }
    if (int_digits + frac == 0 || int_digits + frac > 19 || frac > 22) return nullptr;
    if (p < last && (*p == 'e' || *p == 'E' || fast_float::is_integer(*p))) return nullptr;
    if (m > (uint64_t(1) << 53)) return nullptr;
    double v = (double)m;
    if (frac) v /= k_pow10[frac];
    *out = neg ? -v : v;
    return p;
}

extern "C" const char *sf_parse_f64(const char *first, const char *last, double *out)
{
    if (first >= last) return nullptr;
    const char *fast = plain_decimal(first, last, out);
    if (fast) return fast;
    first = skip_plus(first, last);
    double v = 0.0;
    fast_float::from_chars_result r = fast_float::from_chars(first, last, v);
    /* Finiteness is the one test for NaN, infinities and overflow alike. */
    if (!parsed(r) || !std::isfinite(v)) return nullptr;
    *out = v;
    return r.ptr;
}
