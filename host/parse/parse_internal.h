/*
 * parse_internal.h — what the parser's own files share (never installed):
 * the chunk one thread parses (its slice of the input, its rows, its bad
 * records), the CSV column layout, and the per-format chunk parsers.
 *
 * Line numbers inside a chunk are 0-based and local to it; they become the
 * input's 1-based numbers only when the chunks are joined, once every chunk
 * has counted its lines.
 */
#ifndef STREAMFIT_PARSE_INTERNAL_H
#define STREAMFIT_PARSE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "parse.h"

#define SF_NO_LABEL ((size_t)-1)

/* The good rows of one chunk, dense (CSV) or labels and lines only (LIBSVM,
 * whose features wait in sf_sparse until the width is known).
 *
 * With several chunks the arrays are lent: they point into the table's own
 * arrays at row `slot`, with room for every line of the chunk, so that the
 * rows land in place and joining moves nothing unless earlier chunks had
 * blank lines or bad records. A lone chunk owns growable arrays instead. */
typedef struct sf_rowbuf {
    double *X; /* cap x d, row-major (NULL when d == 0 or LIBSVM) */
    double *y;
    uint64_t *line; /* chunk-local line of each row */
    size_t rows, cap, d;
    bool lent;
    size_t slot;
} sf_rowbuf;

/* LIBSVM features of a chunk's rows, as (index, value) runs. */
typedef struct sf_sparse {
    size_t *idx; /* 0-based feature index */
    double *val;
    size_t nnz, cap;
    size_t *row_end;  /* per row (parallel to sf_rowbuf): nnz after the row */
    size_t max_index; /* largest 1-based index in a good row */
} sf_sparse;

typedef struct sf_chunk {
    const char *begin, *end; /* whole lines, the last one possibly without '\n' */
    size_t max_line_bytes;
    size_t max_errors_kept;
    uint64_t lines;      /* lines started in the chunk, blank ones included */
    uint64_t data_lines; /* non-blank lines: good rows plus bad records */
    uint64_t bad;
    sf_parse_error *errors; /* the chunk's first bad records */
    size_t n_errors, cap_errors;
    sf_rowbuf rb;
    bool sparse; /* LIBSVM: rows keep their features in sp */
    sf_sparse sp;
    bool out_of_memory;
} sf_chunk;

/* How a CSV row maps onto (x, y). */
typedef struct sf_csv_layout {
    size_t ncols;     /* fields per row */
    size_t label_col; /* 0-based, or SF_NO_LABEL: every column is a feature */
    size_t d;         /* features per row */
} sf_csv_layout;

/* ---- number parsing (fast_float_c.cpp) ---- */

/* Like sf_parse_f64 but NaN and infinities come back as values: used only to
 * say why a field was refused. */
const char *sf_parse_f64_any(const char *first, const char *last, double *out);

/* ---- chunk bookkeeping (parse_file.c) ---- */

/* Make room for one more row; false (and out_of_memory set) when memory is out. */
bool sf_chunk_reserve_row(sf_chunk *c);

/* Count a bad record at chunk-local `line`; keep its reason while there is room. */
void sf_chunk_bad(sf_chunk *c, uint64_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Copy [b, e) into dst for a message: at most `max` bytes, with "..." when cut
 * and control bytes shown as '?', so that a reason stays on one line. */
void sf_quote_text(char *dst, size_t dstlen, const char *b, const char *e, size_t max);

/* The line starting at p: *eol is its end without "\n" or "\r\n"; returns the
 * start of the next line (end when none). */
static inline const char *sf_line_end(const char *p, const char *end, const char **eol)
{
    const char *nl = (const char *)memchr(p, '\n', (size_t)(end - p));
    const char *e = nl ? nl : end;
    if (e > p && e[-1] == '\r') e--;
    *eol = e;
    return nl ? nl + 1 : end;
}

static inline bool sf_is_blank(char c) { return c == ' ' || c == '\t'; }

static inline const char *sf_skip_blanks(const char *p, const char *e)
{
    while (p < e && sf_is_blank(*p))
        p++;
    return p;
}

/* ---- the driver's pieces that the row stream (parse_stream.c) shares ---- */

#define SF_PARSE_MAX_CHUNKS 256
/* Defaults filled in: line limit, errors kept, threads (all cores). */
void sf_parse_resolve_options(const sf_parse_options *opt, sf_parse_options *o);
/* Parse n (<= SF_PARSE_MAX_CHUNKS) CSV chunks, one thread each. */
void sf_parse_run_csv_chunks(sf_chunk *ch, size_t n, const sf_parse_options *o,
                             const sf_csv_layout *lay);
void sf_chunk_free(sf_chunk *c);
/* Each chunk's rows, written into slices of X (d wide; NULL: none), y and
 * line at their rb.slot, move down to follow the previous chunk's (a no-op
 * unless earlier chunks had blank lines or bad records), and their lines
 * become the input's 1-based numbers (first[i]: chunk i's first line).
 * Returns the rows. */
size_t sf_chunks_compact(const sf_chunk *ch, size_t n, const uint64_t *first, double *X, size_t d,
                         double *y, uint64_t *line);
/* The data lines [b, b + len) (whole lines; lines_before: lines of the input
 * before them) parsed by the thread pool into out (layout and names set
 * already). SF_ERR_EMPTY when they hold no data row. */
sf_status sf_parse_data_lines(const char *b, size_t len, uint64_t lines_before,
                              const sf_parse_options *o, const sf_csv_layout *lay, sf_table *out,
                              char *err, size_t errlen);
/* A one-line message into err (when err is not NULL). */
void sf_parse_set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
size_t sf_utf8_bom_length(const char *data, size_t len);
/* fd read to its end into a malloc'd buffer. */
sf_status sf_read_fd_all(int fd, const char *name, char **buf, size_t *len, char *err,
                         size_t errlen);

/* ---- table helpers (parse_options.c) ---- */

/* Names x1..xd, and "y" unless the table has a label name already; sets t->d. */
sf_status sf_table_default_names(sf_table *t, size_t d);
char *sf_strndup(const char *s, size_t n);

/* ---- CSV (parse_csv.c) ---- */

/* Read the header (or, without one, look at the first non-blank line) and
 * fix the layout and the names. *data_off: where the data lines begin;
 * *lines_before: how many lines come before them. */
sf_status sf_csv_setup(const char *data, size_t len, const sf_parse_options *opt, sf_table *out,
                       sf_csv_layout *lay, size_t *data_off, uint64_t *lines_before, char *err,
                       size_t errlen);

void sf_csv_parse_chunk(sf_chunk *c, const sf_csv_layout *lay);

/* ---- LIBSVM (parse_libsvm.c) ---- */

/* n_features: 0 to accept any index. */
void sf_libsvm_parse_chunk(sf_chunk *c, size_t n_features);

/* Scatter the chunk's rows into X (c->rb.rows x d, zeroed by the caller). */
void sf_libsvm_densify(const sf_chunk *c, size_t d, double *X);

#endif
