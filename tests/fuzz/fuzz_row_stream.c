/*
 * fuzz_row_stream.c — the windowed row stream (sf_row_stream, the parser that
 * feeds the staging ring) on any bytes, against the whole-table parser: the
 * same good rows (bit for bit), the same line numbers and the same count of
 * bad records, whatever the window (1 to 256 rows, from the second byte).
 */
#include <stdbool.h>
#include <string.h>

#include "fuzz_util.h"
#include "parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    uint8_t mode = data[0], window = data[1];
    sf_parse_options opt;
    sf_parse_options_init(&opt);
    opt.format = SF_FORMAT_CSV; /* the row stream reads CSV */
    opt.has_header = (mode & 2) != 0;
    opt.label_index = (mode >> 2) & 3;
    opt.threads = 1 + ((mode >> 4) & 3);
    opt.max_line_bytes = (mode & 64) ? 64 : 0;
    char path[256];
    fuzz_write_file("rows.csv", data + 2, size - 2, path, sizeof path);

    sf_table whole;
    memset(&whole, 0, sizeof whole);
    char err[256];
    sf_status st_whole =
        sf_parse_buffer((const char *)data + 2, size - 2, &opt, &whole, err, sizeof err);
    sf_row_stream *s = NULL;
    sf_table info;
    memset(&info, 0, sizeof info);
    sf_status st = sf_row_stream_open(path, &opt, &s, &info, err, sizeof err);
    /* The stream opens on a header alone, where the table has no rows to
     * offer (SF_ERR_EMPTY); it then yields none. Otherwise both agree. */
    bool header_only = st_whole == SF_ERR_EMPTY && st == SF_OK;
    if (header_only)
        whole.rows = 0;
    else
        FUZZ_CHECK((st == SF_OK) == (st_whole == SF_OK));
    if (st == SF_OK) {
        size_t cap = 1 + (size_t)window, d = info.d, at = 0;
        FUZZ_CHECK(header_only || d == whole.d);
        double *X = malloc(sizeof(double) * cap * (d ? d : 1)), *y = malloc(sizeof(double) * cap);
        uint64_t *line = malloc(sizeof(uint64_t) * cap);
        FUZZ_CHECK(X && y && line);
        for (;;) {
            size_t rows = 0, new_errors = 0;
            st = sf_row_stream_next(s, &info, X, y, line, cap, &rows, &new_errors);
            FUZZ_CHECK(st == SF_OK);
            if (rows == 0) break;
            FUZZ_CHECK(at + rows <= whole.rows);
            if (d) FUZZ_CHECK(memcmp(X, whole.X + at * d, sizeof(double) * rows * d) == 0);
            FUZZ_CHECK(memcmp(y, whole.y + at, sizeof(double) * rows) == 0);
            FUZZ_CHECK(memcmp(line, whole.line + at, sizeof(uint64_t) * rows) == 0);
            at += rows;
        }
        FUZZ_CHECK(at == whole.rows);
        FUZZ_CHECK(info.bad_rows == whole.bad_rows);
        free(X);
        free(y);
        free(line);
        sf_row_stream_close(s);
    }
    sf_table_free(&info);
    sf_table_free(&whole);
    return 0;
}
