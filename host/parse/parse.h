/*
 * parse.h — text records (CSV, LIBSVM/SVMlight) to a dense in-memory table.
 *
 * A whole input (a file, mapped; or stdin, read) is split into chunks at line
 * boundaries, the chunks are parsed by a pool of threads, and the rows are
 * concatenated in input order. Bad records never stop the parse: each is
 * counted, and the first few are kept with their 1-based line number and the
 * reason, so the caller can report them and decide (skip or fail).
 */
#ifndef STREAMFIT_PARSE_H
#define STREAMFIT_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "streamfit.h"

typedef enum sf_format { SF_FORMAT_CSV = 0, SF_FORMAT_LIBSVM = 1 } sf_format;

typedef struct sf_parse_options {
    sf_format format;
    bool has_header;          /* CSV: first line names the columns */
    const char *label_name;   /* CSV with header: label column by name; NULL: use label_index */
    long label_index;         /* 0-based label column (CSV); default 0 */
    bool label_optional;      /* predict: a missing label column means all columns are features */
    size_t expected_features; /* >0: with label_optional and no header, a row of exactly this
                                 many fields has no label */
    size_t n_features;        /* LIBSVM: densify to this many features (0: largest index seen) */
    int threads;              /* parser threads (<=0: all cores) */
    size_t max_line_bytes;    /* longer lines are bad records (0: 1 MiB) */
    size_t max_errors_kept;   /* how many bad records keep their line and reason (0: 10) */
} sf_parse_options;

void sf_parse_options_init(sf_parse_options *opt);

typedef struct sf_parse_error {
    uint64_t line; /* 1-based line number in the input */
    char reason[120];
} sf_parse_error;

typedef struct sf_table {
    size_t rows;    /* good rows */
    size_t d;       /* features per row */
    double *X;      /* rows x d, row-major */
    double *y;      /* rows labels (NaN when the input has no label column) */
    uint64_t *line; /* rows: 1-based input line of each good row */
    bool has_label;
    char **feature_names;   /* d names: the CSV header's, or x1..xd */
    char *label_name;       /* the CSV header's, or "y" */
    uint64_t bad_rows;      /* all bad records */
    sf_parse_error *errors; /* the first bad records, in input order */
    size_t n_errors;
    size_t bytes; /* input size */
} sf_table;

/* Parse `len` bytes. On SF_OK `out` owns its memory (free with sf_table_free);
 * a structural problem (no such label column, empty input, a header only)
 * returns an error status with a one-line message in `err`. */
sf_status sf_parse_buffer(const char *data, size_t len, const sf_parse_options *opt, sf_table *out,
                          char *err, size_t errlen);

/* Parse a file by path, or stdin when path is "-". */
sf_status sf_parse_file(const char *path, const sf_parse_options *opt, sf_table *out, char *err,
                        size_t errlen);

void sf_table_free(sf_table *t);

/* Part `part` of `parts` of a regular file's data lines, cut at line
 * boundaries into runs of about equal size, for one of several processes
 * (MPI ranks) that each parse their own: header and names as for the whole
 * file. Line numbers (rows and bad records) count as if the part followed
 * the header directly: add the *part_lines of the parts before it to get the
 * file's. A part without data rows is an empty table, not an error. */
sf_status sf_parse_file_part(const char *path, const sf_parse_options *opt, unsigned part,
                             unsigned parts, sf_table *out, uint64_t *part_lines, char *err,
                             size_t errlen);

/* LIBSVM parts may see different largest indices: widen a table to d
 * features (new columns zero, names x1..xd). */
sf_status sf_table_widen(sf_table *t, size_t d);

/* CSV rows a window at a time, parsed (by all threads) straight into the
 * caller's memory — a staging slot, say — instead of one table.
 *
 * sf_row_stream_open reads the header (or looks at the first line) of a file
 * ("-": stdin, read whole first) and fills `info` as sf_parse_file would,
 * without rows: d, feature and label names, has_label. Each
 * sf_row_stream_next parses the next data lines into X (cap x d, row-major)
 * and y, at most `cap` rows, and sets *rows (0: the input is done); `line`
 * (may be NULL) gets each row's 1-based input line. Bad records are counted
 * in info->bad_rows, the first few kept in info->errors with their line, as
 * in a table; *new_errors says how many of those this call added. info
 * stays the caller's to free (sf_table_free) after sf_row_stream_close. */
typedef struct sf_row_stream sf_row_stream;
sf_status sf_row_stream_open(const char *path, const sf_parse_options *opt, sf_row_stream **out,
                             sf_table *info, char *err, size_t errlen);
sf_status sf_row_stream_next(sf_row_stream *s, sf_table *info, double *X, double *y, uint64_t *line,
                             size_t cap, size_t *rows, size_t *new_errors);
void sf_row_stream_close(sf_row_stream *s);
/* The whole input as the stream holds it (mapped or read), for a caller
 * that decides to parse it as one table after all. */
void sf_row_stream_input(const sf_row_stream *s, const char **data, size_t *len);

/* fast_float behind a C signature: parse a double from [first, last).
 * Returns the first byte not consumed, or NULL when no number starts at first. */
const char *sf_parse_f64(const char *first, const char *last, double *out);

#endif
