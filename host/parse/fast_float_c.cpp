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

extern "C" const char *sf_parse_f64(const char *first, const char *last, double *out)
{
    if (first >= last) return nullptr;
    first = skip_plus(first, last);
    double v = 0.0;
    fast_float::from_chars_result r = fast_float::from_chars(first, last, v);
    /* Finiteness is the one test for NaN, infinities and overflow alike. */
    if (!parsed(r) || !std::isfinite(v)) return nullptr;
    *out = v;
    return r.ptr;
}
