/*
 * fuzz_option_numbers.c — option values that become numbers: the command
 * line's parsers (cli_parse_double, cli_parse_long) and the library's
 * sf_parse_f64 on any bytes. An accepted double is finite, an accepted long
 * lies in its bounds, and sf_parse_f64 never reads past the end it is given.
 */
#include <math.h>
#include <string.h>

#include "cli.h"
#include "fuzz_util.h"
#include "parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) return 0;
    char *s = malloc(size + 1);
    FUZZ_CHECK(s != NULL);
    memcpy(s, data, size);
    s[size] = '\0';
    double v = 0;
    if (cli_parse_double(s, &v)) FUZZ_CHECK(isfinite(v));
    long l = 0;
    if (cli_parse_long(s, -1000, 1000000, &l)) FUZZ_CHECK(l >= -1000 && l <= 1000000);
    /* Exactly `size` bytes, no terminator: a read past them is a heap overflow. */
    char *exact = malloc(size ? size : 1);
    FUZZ_CHECK(exact != NULL);
    memcpy(exact, data, size);
    double f = 0;
    const char *end = sf_parse_f64(exact, exact + size, &f);
    FUZZ_CHECK(end == NULL || (end >= exact && end <= exact + size));
    free(exact);
    free(s);
    return 0;
}
