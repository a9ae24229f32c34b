/*
 * fuzz_table.c — the CSV and LIBSVM table parser (sf_parse_buffer) on any
 * bytes. The first input byte picks the options (format, header, label
 * column, threads, a small line limit); the rest is the input. Checked
 * besides the sanitizers: every good row's values are finite, line numbers
 * rise strictly and lie inside the input, and the kept errors are in order.
 */
#include <math.h>
#include <string.h>

#include "fuzz_util.h"
#include "parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t mode = data[0];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    sf_parse_options opt;
    sf_parse_options_init(&opt);
    opt.format = (mode & 1) ? SF_FORMAT_LIBSVM : SF_FORMAT_CSV;
    opt.has_header = (mode & 2) != 0;
    opt.label_index = (mode >> 2) & 3;
    opt.threads = 1 + ((mode >> 4) & 3);
    opt.max_line_bytes = (mode & 64) ? 64 : 0;
    opt.label_optional = (mode & 128) != 0;
    opt.max_errors_kept = 4;
    sf_table t;
    memset(&t, 0, sizeof t);
    char err[256];
    sf_status st = sf_parse_buffer(text, len, &opt, &t, err, sizeof err);
    if (st == SF_OK) {
        uint64_t lines = 1;
        for (size_t i = 0; i < len; i++)
            lines += text[i] == '\n';
        for (size_t i = 0; i < t.rows; i++) {
            FUZZ_CHECK(t.line[i] >= 1 && t.line[i] <= lines);
            if (i) FUZZ_CHECK(t.line[i] > t.line[i - 1]);
            for (size_t j = 0; j < t.d; j++)
                FUZZ_CHECK(isfinite(t.X[i * t.d + j]));
            if (t.has_label) FUZZ_CHECK(isfinite(t.y[i]));
        }
        FUZZ_CHECK(t.n_errors <= t.bad_rows);
        for (size_t e = 1; e < t.n_errors; e++)
            FUZZ_CHECK(t.errors[e].line > t.errors[e - 1].line);
    }
    sf_table_free(&t);
    return 0;
}
