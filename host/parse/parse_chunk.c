/*
 * parse_chunk.c — one chunk's bookkeeping, shared by the CSV and LIBSVM
 * parsers and their driver (parse_file.c): the rows it parsed (its own
 * growing buffers, or a slice of the table lent to it), the bad records it
 * met with their lines and reasons, and the quoting of record text into
 * those reasons.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse_internal.h"

/* A first guess at the rows of a lone chunk from the length of its first
 * line, so that its buffers seldom grow. */
static size_t initial_rows(const sf_chunk *c)
{
    size_t bytes = (size_t)(c->end - c->begin);
    size_t scan = bytes < 65536 ? bytes : 65536;
    const char *nl = scan ? memchr(c->begin, '\n', scan) : NULL;
    size_t line_len = nl ? (size_t)(nl - c->begin) + 1 : scan + 1;
    size_t guess = bytes / line_len;
    return guess + guess / 8 + 16;
}

/* realloc for n elements of `size`; NULL (p untouched) when it fails or overflows. */
static void *grow_array(void *p, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size) return NULL;
    size_t bytes = n * size;
    return realloc(p, bytes ? bytes : 1);
}

/* Each array is kept as soon as it has grown, so that a failure later in the
 * list leaves nothing to leak; cap moves only when all have grown. */
static bool grow_rows(sf_chunk *c, size_t cap)
{
    sf_rowbuf *rb = &c->rb;
    if (rb->d) {
        if (cap > SIZE_MAX / rb->d) return false;
        double *X = grow_array(rb->X, cap * rb->d, sizeof *X);
        if (!X) return false;
        rb->X = X;
    }
    double *y = grow_array(rb->y, cap, sizeof *y);
    if (!y) return false;
    rb->y = y;
    uint64_t *line = grow_array(rb->line, cap, sizeof *line);
    if (!line) return false;
    rb->line = line;
    if (c->sparse) {
        size_t *row_end = grow_array(c->sp.row_end, cap, sizeof *row_end);
        if (!row_end) return false;
        c->sp.row_end = row_end;
    }
    rb->cap = cap;
    return true;
}

bool sf_chunk_reserve_row(sf_chunk *c)
{
    sf_rowbuf *rb = &c->rb;
    if (rb->rows < rb->cap) return true;
    /* A lent slice has room for every line of the chunk: never reached. */
    if (rb->lent) {
        c->out_of_memory = true;
        return false;
    }
    size_t cap = rb->cap ? rb->cap * 2 : initial_rows(c);
    if (cap > rb->cap && grow_rows(c, cap)) return true;
    c->out_of_memory = true;
    return false;
}

static bool reserve_error(sf_chunk *c)
{
    if (c->n_errors < c->cap_errors) return true;
    size_t cap = c->cap_errors ? c->cap_errors * 2 : 8;
    if (cap > c->max_errors_kept) cap = c->max_errors_kept;
    sf_parse_error *errors = grow_array(c->errors, cap, sizeof *errors);
    if (!errors) return false;
    c->errors = errors;
    c->cap_errors = cap;
    return true;
}

void sf_chunk_bad(sf_chunk *c, uint64_t line, const char *fmt, ...)
{
    c->bad++;
    /* A chunk keeps as many as the whole table may: the table's first bad
     * records are the first ones of the earliest chunks. */
    if (c->n_errors >= c->max_errors_kept || !reserve_error(c)) return;
    sf_parse_error *e = &c->errors[c->n_errors++];
    memset(e, 0, sizeof *e);
    e->line = line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->reason, sizeof e->reason, fmt, ap);
    va_end(ap);
}

void sf_quote_text(char *dst, size_t dstlen, const char *b, const char *e, size_t max)
{
    if (!dstlen) return;
    size_t n = (size_t)(e - b);
    bool cut = n > max;
    if (cut) n = max;
    if (n + (cut ? 3 : 0) >= dstlen) n = dstlen - 1 - (cut && dstlen > 4 ? 3 : 0);
    size_t k = 0;
    for (; k < n; k++) {
        unsigned char ch = (unsigned char)b[k];
        dst[k] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    if (cut && k + 3 < dstlen) {
        memcpy(dst + k, "...", 3);
        k += 3;
    }
    dst[k] = '\0';
}

void sf_chunk_free(sf_chunk *c)
{
    if (!c->rb.lent) {
        free(c->rb.X);
        free(c->rb.y);
        free(c->rb.line);
    }
    free(c->sp.idx);
    free(c->sp.val);
    free(c->sp.row_end);
    free(c->errors);
}
