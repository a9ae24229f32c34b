/*
 * parse_libsvm.c — LIBSVM / SVMlight lines: `label idx:val idx:val ...`.
 *
 * Indices are 1-based and strictly increasing; `qid:N` tokens are ignored and
 * '#' starts a comment that runs to the end of the line. The width of the
 * table may not be known until every chunk is read (the largest index seen),
 * so each chunk keeps its rows sparse and sf_libsvm_densify scatters them
 * once the width is fixed.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse_internal.h"

/* Digits beyond this are not an index at all. */
#define MAX_INDEX ((size_t)1 << 48)
/* Rows are densified: a wider table is out of reach of memory (one row of 10^7
 * features is 80 MB), so a larger index makes the line a bad record, with a
 * reason, instead of an allocation that cannot succeed. */
#define MAX_DENSE_FEATURES ((size_t)10000000)

static bool ends_token(const char *p, const char *eol)
{
    return p == eol || sf_is_blank(*p) || *p == '#';
}

static const char *token_end(const char *p, const char *eol)
{
    while (!ends_token(p, eol))
        p++;
    return p;
}

static bool reserve_entry(sf_chunk *c)
{
    sf_sparse *sp = &c->sp;
    if (sp->nnz < sp->cap) return true;
    size_t cap = sp->cap ? sp->cap * 2 : 4096;
    size_t *idx = realloc(sp->idx, cap * sizeof *idx);
    if (idx) sp->idx = idx;
    double *val = idx ? realloc(sp->val, cap * sizeof *val) : NULL;
    if (val) sp->val = val;
    if (!idx || !val) {
        c->out_of_memory = true;
        return false;
    }
    sp->cap = cap;
    return true;
}

/* Why the number in [b, eol) up to the end of its token was refused. */
static void explain_number(sf_chunk *c, uint64_t line, const char *what, const char *b,
                           const char *eol)
{
    const char *e = token_end(b, eol);
    double v = 0;
    if (b == e) {
        sf_chunk_bad(c, line, "%s is empty", what);
        return;
    }
    if (sf_parse_f64_any(b, e, &v) == e && !isfinite(v)) {
        sf_chunk_bad(c, line, "%s is NaN or infinite", what);
        return;
    }
    char text[48];
    sf_quote_text(text, sizeof text, b, e, 40);
    sf_chunk_bad(c, line, "%s ('%s') is not a number", what, text);
}

/* Digits of an index at p, up to the ':'; NULL when the token is not idx:val. */
static const char *parse_index(const char *p, const char *eol, size_t *idx)
{
    size_t v = 0;
    const char *q = p;
    while (q < eol && *q >= '0' && *q <= '9') {
        v = v * 10 + (size_t)(*q - '0');
        if (v > MAX_INDEX) return NULL;
        q++;
    }
    if (q == p || q == eol || *q != ':') return NULL;
    *idx = v;
    return q + 1;
}

static bool is_qid(const char *p, const char *eol)
{
    return eol - p >= 4 && memcmp(p, "qid:", 4) == 0;
}

static bool check_index(sf_chunk *c, uint64_t line, size_t idx, size_t prev, size_t n_features)
{
    if (idx == 0) {
        sf_chunk_bad(c, line, "%s", "index 0 is not allowed (indices start at 1)");
        return false;
    }
    if (idx > MAX_DENSE_FEATURES) {
        sf_chunk_bad(c, line, "index %zu is beyond the %zu features a dense row can hold", idx,
                     MAX_DENSE_FEATURES);
        return false;
    }
    if (n_features && idx > n_features) {
        sf_chunk_bad(c, line, "index %zu is larger than the %zu features", idx, n_features);
        return false;
    }
    if (idx <= prev) {
        sf_chunk_bad(c, line, "index %zu does not follow %zu in increasing order", idx, prev);
        return false;
    }
    return true;
}

/* One line's label and features (appended to c->sp); false for a bad record,
 * whose entries the caller drops. *last_index: the row's largest index. */
static bool parse_sparse_row(sf_chunk *c, uint64_t line, const char *p, const char *eol,
                             size_t n_features, double *label, size_t *last_index)
{
    const char *q = sf_parse_f64(p, eol, label);
    if (!q || !ends_token(q, eol)) {
        explain_number(c, line, "the label", p, eol);
        return false;
    }
    size_t prev = 0;
    for (p = q;;) {
        p = sf_skip_blanks(p, eol);
        if (p == eol || *p == '#') break;
        if (is_qid(p, eol)) {
            p = token_end(p, eol);
            continue;
        }
        size_t idx = 0;
        const char *v = parse_index(p, eol, &idx);
        if (!v) {
            char text[48];
            sf_quote_text(text, sizeof text, p, token_end(p, eol), 40);
            sf_chunk_bad(c, line, "'%s' is not index:value", text);
            return false;
        }
        if (!check_index(c, line, idx, prev, n_features)) return false;
        double x;
        q = sf_parse_f64(v, eol, &x);
        if (!q || !ends_token(q, eol)) {
            char what[48];
            snprintf(what, sizeof what, "the value of index %zu", idx);
            explain_number(c, line, what, v, eol);
            return false;
        }
        if (!reserve_entry(c)) return false;
        c->sp.idx[c->sp.nnz] = idx - 1;
        c->sp.val[c->sp.nnz++] = x;
        prev = idx;
        p = q;
    }
    *last_index = prev;
    return true;
}

static void parse_line(sf_chunk *c, uint64_t line, const char *s, const char *eol,
                       size_t n_features)
{
    if (!sf_chunk_reserve_row(c)) return;
    sf_rowbuf *rb = &c->rb;
    size_t start = c->sp.nnz, last_index = 0;
    if (!parse_sparse_row(c, line, s, eol, n_features, rb->y + rb->rows, &last_index)) {
        c->sp.nnz = start;
        return;
    }
    if (last_index > c->sp.max_index) c->sp.max_index = last_index;
    c->sp.row_end[rb->rows] = c->sp.nnz;
    rb->line[rb->rows++] = line;
}

void sf_libsvm_parse_chunk(sf_chunk *c, size_t n_features)
{
    const char *p = c->begin, *end = c->end;
    uint64_t line = 0;
    for (const char *next; p < end && !c->out_of_memory; p = next, line++) {
        const char *eol;
        next = sf_line_end(p, end, &eol);
        const char *s = sf_skip_blanks(p, eol);
        if (s == eol || *s == '#') continue;
        c->data_lines++;
        if ((size_t)(eol - p) > c->max_line_bytes)
            sf_chunk_bad(c, line, "line longer than %zu bytes", c->max_line_bytes);
        else
            parse_line(c, line, s, eol, n_features);
    }
    c->lines = line;
}

void sf_libsvm_densify(const sf_chunk *c, size_t d, double *X)
{
    size_t k = 0;
    for (size_t r = 0; r < c->rb.rows; r++) {
        double *row = X + r * d;
        for (; k < c->sp.row_end[r]; k++)
            row[c->sp.idx[k]] = c->sp.val[k];
    }
}
