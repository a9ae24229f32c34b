/*
 * float_text.h — numbers to text for outputs: the shortest digits that read
 * back as exactly the same double (libfmt's Dragonbox), and integers.
 */
#ifndef STREAMFIT_FLOAT_TEXT_H
#define STREAMFIT_FLOAT_TEXT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SF_FLOAT_TEXT_MAX 32 /* bytes sf_float_text / sf_int_text may write */

/* "0.1", "-2.5e-07", "1e+20", "nan", "inf", "-inf"; no NUL. Returns the length. */
size_t sf_float_text(double v, char *out);
/* Decimal digits of v; no NUL. Returns the length. */
size_t sf_int_text(int64_t v, char *out);

#ifdef __cplusplus
}
#endif

#endif
