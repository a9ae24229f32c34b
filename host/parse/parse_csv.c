/*
 * parse_csv.c — numeric CSV: the header and column layout, and the parse of
 * one chunk of lines into dense rows.
 *
 * Fields are separated by ','; blanks (spaces, tabs) around a number are
 * allowed; quoting is understood in the header only. The row loop is the hot
 * path of the whole parser: it writes straight into the chunk's row buffer
 * and does nothing but parse numbers. When a row fails, a separate slow pass
 * works out the reason, so the fast loop carries no bookkeeping for it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse_internal.h"

static void set_err(char *err, size_t errlen, const char *fmt, const char *arg)
{
    if (err && errlen) snprintf(err, errlen, fmt, arg);
}

static size_t count_fields(const char *p, const char *eol)
{
    size_t n = 1;
    while ((p = memchr(p, ',', (size_t)(eol - p))) != NULL) {
        n++;
        p++;
    }
    return n;
}

/* [*b, *e) without surrounding blanks. */
static void trim_blanks(const char **b, const char **e)
{
    *b = sf_skip_blanks(*b, *e);
    while (*e > *b && sf_is_blank((*e)[-1]))
        (*e)--;
}

/* A header name: blanks, then one pair of surrounding double quotes, go. */
static char *header_name(const char *b, const char *e)
{
    trim_blanks(&b, &e);
    if (e - b >= 2 && *b == '"' && e[-1] == '"') {
        b++;
        e--;
        trim_blanks(&b, &e);
    }
    return sf_strndup(b, (size_t)(e - b));
}

static char *numbered_name(size_t j)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "x%zu", j + 1);
    return sf_strndup(buf, (size_t)n);
}

/* The header's names, one per field; NULL when memory is out. */
static char **split_header(const char *p, const char *eol, size_t ncols)
{
    char **names = calloc(ncols, sizeof *names);
    if (!names) return NULL;
    for (size_t j = 0; j < ncols; j++) {
        const char *fe = memchr(p, ',', (size_t)(eol - p));
        if (!fe) fe = eol;
        names[j] = header_name(p, fe);
        if (!names[j]) {
            for (size_t k = 0; k < j; k++)
                free(names[k]);
            free(names);
            return NULL;
        }
        p = fe < eol ? fe + 1 : eol;
    }
    return names;
}

static void free_names(char **names, size_t n)
{
    if (!names) return;
    for (size_t j = 0; j < n; j++)
        free(names[j]);
    free(names);
}

static bool find_name(char *const *names, size_t ncols, const char *want, size_t *col)
{
    for (size_t j = 0; j < ncols; j++) {
        if (strcmp(names[j], want) == 0) {
            *col = j;
            return true;
        }
    }
    return false;
}

/* The label column by index (negative counts from the end), or SF_NO_LABEL
 * where the options allow the label to be missing. */
static sf_status label_by_index(size_t ncols, const sf_parse_options *opt, size_t *col, char *err,
                                size_t errlen)
{
    if (opt->label_optional && opt->expected_features > 0 && ncols == opt->expected_features) {
        *col = SF_NO_LABEL;
        return SF_OK;
    }
    long idx = opt->label_index;
    if (idx < 0) idx += (long)ncols;
    if (idx >= 0 && (size_t)idx < ncols) {
        *col = (size_t)idx;
        return SF_OK;
    }
    if (opt->label_optional) {
        *col = SF_NO_LABEL;
        return SF_OK;
    }
    if (err && errlen)
        snprintf(err, errlen, "label column index %ld is out of range: rows have %zu fields",
                 opt->label_index, ncols);
    return SF_ERR_PARSE;
}

/* names: the header's, or NULL without a header. */
static sf_status pick_label(char *const *names, size_t ncols, const sf_parse_options *opt,
                            size_t *col, char *err, size_t errlen)
{
    if (opt->label_name && names) {
        if (find_name(names, ncols, opt->label_name, col)) return SF_OK;
        if (opt->label_optional) {
            *col = SF_NO_LABEL;
            return SF_OK;
        }
        set_err(err, errlen, "no column named '%s' in the header", opt->label_name);
        return SF_ERR_PARSE;
    }
    if (opt->label_name && !opt->label_optional) {
        set_err(err, errlen, "the label column '%s' is named, but the input has no header",
                opt->label_name);
        return SF_ERR_INVALID_ARGUMENT;
    }
    return label_by_index(ncols, opt, col, err, errlen);
}

/* Moves the header's names into the table: features in column order, the
 * label's apart. Empty names become x<j> (features) or "y" (label). */
static sf_status take_header_names(char **names, const sf_csv_layout *lay, sf_table *out)
{
    out->feature_names = calloc(lay->d ? lay->d : 1, sizeof *out->feature_names);
    if (!out->feature_names) return SF_ERR_NO_MEMORY;
    out->d = lay->d;
    size_t k = 0;
    for (size_t j = 0; j < lay->ncols; j++) {
        char *name = names[j];
        names[j] = NULL;
        if (j == lay->label_col) {
            out->label_name = name;
            continue;
        }
        if (name[0] == '\0') {
            free(name);
            name = numbered_name(k);
            if (!name) return SF_ERR_NO_MEMORY;
        }
        out->feature_names[k++] = name;
    }
    if (out->label_name && out->label_name[0] == '\0') {
        free(out->label_name);
        out->label_name = NULL;
    }
    if (!out->label_name) out->label_name = sf_strndup("y", 1);
    return out->label_name ? SF_OK : SF_ERR_NO_MEMORY;
}

static void set_layout(sf_csv_layout *lay, size_t ncols, size_t label_col)
{
    lay->ncols = ncols;
    lay->label_col = label_col;
    lay->d = label_col == SF_NO_LABEL ? ncols : ncols - 1;
}

static sf_status setup_from_header(const char *p, const char *eol, const sf_parse_options *opt,
                                   sf_table *out, sf_csv_layout *lay, char *err, size_t errlen)
{
    size_t ncols = count_fields(p, eol);
    char **names = split_header(p, eol, ncols);
    if (!names) {
        set_err(err, errlen, "%s", "out of memory reading the header");
        return SF_ERR_NO_MEMORY;
    }
    size_t col = SF_NO_LABEL;
    sf_status st = pick_label(names, ncols, opt, &col, err, errlen);
    if (st == SF_OK) {
        set_layout(lay, ncols, col);
        out->has_label = col != SF_NO_LABEL;
        st = take_header_names(names, lay, out);
        if (st != SF_OK) set_err(err, errlen, "%s", "out of memory reading the header");
    }
    free_names(names, ncols);
    return st;
}

static sf_status setup_without_header(const char *p, const char *eol, const sf_parse_options *opt,
                                      sf_table *out, sf_csv_layout *lay, char *err, size_t errlen)
{
    size_t ncols = count_fields(p, eol);
    size_t col = SF_NO_LABEL;
    sf_status st = pick_label(NULL, ncols, opt, &col, err, errlen);
    if (st != SF_OK) return st;
    set_layout(lay, ncols, col);
    out->has_label = col != SF_NO_LABEL;
    st = sf_table_default_names(out, lay->d);
    if (st != SF_OK) set_err(err, errlen, "%s", "out of memory");
    return st;
}

sf_status sf_csv_setup(const char *data, size_t len, const sf_parse_options *opt, sf_table *out,
                       sf_csv_layout *lay, size_t *data_off, uint64_t *lines_before, char *err,
                       size_t errlen)
{
    const char *p = data, *end = data + len, *eol = data, *next = data;
    uint64_t blank_lines = 0;
    for (;; p = next, blank_lines++) {
        if (p >= end) {
            set_err(err, errlen, "%s", "no data rows in input");
            return SF_ERR_EMPTY;
        }
        next = sf_line_end(p, end, &eol);
        if (sf_skip_blanks(p, eol) < eol) break;
    }
    if (opt->has_header) {
        *data_off = (size_t)(next - data);
        *lines_before = blank_lines + 1;
        return setup_from_header(p, eol, opt, out, lay, err, errlen);
    }
    *data_off = (size_t)(p - data);
    *lines_before = blank_lines;
    return setup_without_header(p, eol, opt, out, lay, err, errlen);
}

/* ---- rows ---- */

/* The hot loop: true when [p, eol) is exactly ncols numbers. Writes at most
 * d features into x and the label into *y. */
static bool parse_row(const char *p, const char *eol, const sf_csv_layout *lay, double *x,
                      double *y)
{
    const size_t ncols = lay->ncols, label_col = lay->label_col;
    for (size_t j = 0;; j++) {
        double v;
        p = sf_parse_f64(sf_skip_blanks(p, eol), eol, &v);
        if (!p) return false;
        p = sf_skip_blanks(p, eol);
        if (j == label_col)
            *y = v;
        else
            *x++ = v;
        if (p == eol) return j + 1 == ncols;
        if (*p != ',' || j + 1 == ncols) return false;
        p++;
    }
}

/* The first problem of a row parse_row refused, in the order a reader would
 * look: the field count, then each field from the left. */
static void explain_bad_row(sf_chunk *c, uint64_t line, const char *p, const char *eol,
                            const sf_csv_layout *lay)
{
    size_t found = count_fields(p, eol);
    if (found != lay->ncols) {
        sf_chunk_bad(c, line, "expected %zu fields, found %zu", lay->ncols, found);
        return;
    }
    for (size_t j = 1;; j++) {
        const char *fe = memchr(p, ',', (size_t)(eol - p));
        if (!fe) fe = eol;
        const char *b = p, *e = fe;
        trim_blanks(&b, &e);
        double v = 0;
        if (b == e) {
            sf_chunk_bad(c, line, "field %zu is empty", j);
            return;
        }
        const char *q = sf_parse_f64_any(b, e, &v);
        if (q == e && !isfinite(v)) {
            sf_chunk_bad(c, line, "field %zu is NaN or infinite", j);
            return;
        }
        if (q != e) {
            char text[48];
            sf_quote_text(text, sizeof text, b, e, 40);
            sf_chunk_bad(c, line, "field %zu ('%s') is not a number", j, text);
            return;
        }
        if (fe == eol) break;
        p = fe + 1;
    }
    sf_chunk_bad(c, line, "%s", "malformed row");
}

void sf_csv_parse_chunk(sf_chunk *c, const sf_csv_layout *lay)
{
    const char *p = c->begin, *end = c->end;
    const size_t d = lay->d;
    const bool has_label = lay->label_col != SF_NO_LABEL;
    uint64_t line = 0;
    for (; p < end; line++) {
        const char *eol;
        const char *next = sf_line_end(p, end, &eol);
        const char *s = sf_skip_blanks(p, eol);
        if (s == eol) {
            p = next;
            continue;
        }
        c->data_lines++;
        if ((size_t)(eol - p) > c->max_line_bytes) {
            sf_chunk_bad(c, line, "line longer than %zu bytes", c->max_line_bytes);
        } else {
            if (!sf_chunk_reserve_row(c)) return;
            sf_rowbuf *rb = &c->rb;
            double *y = rb->y + rb->rows;
            if (parse_row(s, eol, lay, rb->X ? rb->X + rb->rows * d : NULL, y)) {
                if (!has_label) *y = NAN;
                rb->line[rb->rows++] = line;
            } else {
                explain_bad_row(c, line, p, eol, lay);
            }
        }
        p = next;
    }
    c->lines = line;
}
