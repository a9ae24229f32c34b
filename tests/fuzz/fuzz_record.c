/*
 * fuzz_record.c — the streaming engine's record parser (CSV, JSON, LIBSVM
 * records and the schema taken from a header or first record) on any bytes.
 * The first byte picks the format and whether the first line is a header;
 * the first line makes the schema, every later line is parsed as a record.
 * Checked besides the sanitizers: a record the parser accepts has finite
 * features and label; one it refuses says why.
 */
#include <math.h>
#include <string.h>

#include "fuzz_util.h"
#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t mode = data[0];
    const char *text = (const char *)data + 1, *end = text + size - 1;
    sf_record_format fmt = (sf_record_format)(mode % 3);
    bool header = (mode & 4) != 0;
    const char *label = (mode & 8) ? "y" : NULL;
    const char *nl = memchr(text, '\n', (size_t)(end - text));
    const char *first_end = nl ? nl : end;
    sf_record_schema s;
    memset(&s, 0, sizeof s);
    char err[256];
    sf_status st = fmt == SF_RECORD_LIBSVM
                       ? sf_schema_libsvm(1 + (mode >> 4), &s)
                       : sf_schema_from_record(fmt, text, (size_t)(first_end - text), header, label,
                                               &s, err, sizeof err);
    if (st != SF_OK) return 0;
    FUZZ_CHECK(s.d < 1000000);
    double *x = malloc(sizeof(double) * (s.d ? s.d : 1));
    FUZZ_CHECK(x != NULL);
    const char *p = nl ? nl + 1 : end;
    while (p < end) {
        const char *q = memchr(p, '\n', (size_t)(end - p));
        const char *rec_end = q ? q : end;
        double yv = 0;
        char why[160] = "";
        if (sf_record_parse(&s, p, (size_t)(rec_end - p), x, &yv, why, sizeof why)) {
            for (size_t j = 0; j < s.d; j++)
                FUZZ_CHECK(isfinite(x[j]));
            FUZZ_CHECK(isfinite(yv) || s.label_col == SF_RECORD_NO_LABEL);
        } else {
            FUZZ_CHECK(why[0] != '\0');
        }
        p = q ? q + 1 : end;
    }
    free(x);
    sf_schema_free(&s);
    return 0;
}
