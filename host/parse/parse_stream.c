/*
 * parse_stream.c — CSV rows a window at a time, straight into the caller's
 * memory (parse.h, sf_row_stream).
 *
 * Each call takes the next `cap` lines of the input (a memchr pass that also
 * cuts them into one run of whole lines per thread), lends every run its
 * slice of the caller's arrays at the run's first line, parses the runs in
 * parallel with the table parser's chunk code, and closes the gaps that
 * blank lines and bad records left. A window never holds more lines than
 * rows fit, so a lent slice cannot overflow.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "parse_internal.h"

/* Fewer lines than this per thread are not worth a thread. */
#define LINES_PER_THREAD_MIN 2048

struct sf_row_stream {
    sf_parse_options o;
    const char *data; /* the whole input */
    size_t len;
    sf_csv_layout lay;
    char *owned; /* stdin or a pipe, read whole */
    void *map;   /* or a mapped regular file */
    size_t map_len;
    const char *p, *end; /* the data lines not parsed yet */
    uint64_t next_line;  /* 1-based input line of p */
    uint64_t *line_tmp;  /* row lines when the caller wants none */
    size_t line_cap;
    sf_chunk ch[SF_PARSE_MAX_CHUNKS];
};

void sf_row_stream_close(sf_row_stream *s)
{
    if (!s) return;
    if (s->map) munmap(s->map, s->map_len);
    free(s->owned);
    free(s->line_tmp);
    free(s);
}

/* The whole input in memory: mapped when it is a regular file, else read. */
static sf_status load_input(sf_row_stream *s, const char *path, const char **data, size_t *len,
                            char *err, size_t errlen)
{
    if (strcmp(path, "-") == 0) {
        sf_status st = sf_read_fd_all(STDIN_FILENO, "stdin", &s->owned, len, err, errlen);
        *data = s->owned;
        return st;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        sf_parse_set_err(err, errlen, "cannot open '%s': %s", path, strerror(errno));
        return SF_ERR_IO;
    }
    struct stat sb;
    sf_status st = SF_OK;
    if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0 &&
        (uintmax_t)sb.st_size <= SIZE_MAX) {
        void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m != MAP_FAILED) {
            posix_madvise(m, (size_t)sb.st_size, POSIX_MADV_SEQUENTIAL);
            s->map = m;
            s->map_len = (size_t)sb.st_size;
            *data = m;
            *len = s->map_len;
            close(fd);
            return SF_OK;
        }
    }
    st = sf_read_fd_all(fd, path, &s->owned, len, err, errlen);
    *data = s->owned;
    close(fd);
    return st;
}

sf_status sf_row_stream_open(const char *path, const sf_parse_options *opt, sf_row_stream **out,
                             sf_table *info, char *err, size_t errlen)
{
    sf_parse_set_err(err, errlen, "%s", "");
    if (!path || !out || !info) return SF_ERR_INVALID_ARGUMENT;
    memset(info, 0, sizeof *info);
    sf_row_stream *s = calloc(1, sizeof *s);
    if (!s) return SF_ERR_NO_MEMORY;
    sf_parse_resolve_options(opt, &s->o);
    if (s->o.format != SF_FORMAT_CSV) {
        sf_parse_set_err(err, errlen, "row streams read CSV");
        sf_row_stream_close(s);
        return SF_ERR_UNSUPPORTED;
    }
    const char *data = NULL;
    size_t len = 0;
    sf_status st = load_input(s, path, &data, &len, err, errlen);
    if (st == SF_OK && len == 0) {
        sf_parse_set_err(err, errlen, "no data rows in input");
        st = SF_ERR_EMPTY;
    }
    size_t off = st == SF_OK ? sf_utf8_bom_length(data, len) : 0, data_off = 0;
    uint64_t lines_before = 0;
    if (st == SF_OK)
        st = sf_csv_setup(data + off, len - off, &s->o, info, &s->lay, &data_off, &lines_before,
                          err, errlen);
    if (st != SF_OK) {
        sf_table_free(info);
        sf_row_stream_close(s);
        return st;
    }
    s->data = data;
    s->len = len;
    s->p = data + off + data_off;
    s->end = data + len;
    s->next_line = lines_before + 1;
    info->bytes = len;
    *out = s;
    return SF_OK;
}

/* Cut the next at most `cap` lines into runs of about `per_run` lines;
 * returns the number of runs (each with its line count) and the lines. */
static size_t cut_window(sf_row_stream *s, size_t cap, size_t per_run, uint64_t *lines)
{
    const char *q = s->p;
    size_t runs = 0, total = 0;
    while (q < s->end && total < cap && runs < SF_PARSE_MAX_CHUNKS) {
        sf_chunk *c = &s->ch[runs++];
        memset(c, 0, sizeof *c);
        c->begin = q;
        size_t want = cap - total < per_run ? cap - total : per_run, n = 0;
        while (q < s->end && n < want) {
            const char *nl = memchr(q, '\n', (size_t)(s->end - q));
            q = nl ? nl + 1 : s->end;
            n++;
        }
        c->end = q;
        c->lines = n;
        total += n;
    }
    *lines = total;
    return runs;
}

/* Keep the runs' first bad records (with input line numbers) in info. */
static sf_status keep_errors(const sf_row_stream *s, size_t runs, const uint64_t *first,
                             sf_table *info, size_t *added)
{
    *added = 0;
    for (size_t i = 0; i < runs; i++) {
        const sf_chunk *c = &s->ch[i];
        info->bad_rows += c->bad;
        for (size_t k = 0; k < c->n_errors && info->n_errors < s->o.max_errors_kept; k++) {
            sf_parse_error *e = realloc(info->errors, (info->n_errors + 1) * sizeof *e);
            if (!e) return SF_ERR_NO_MEMORY;
            info->errors = e;
            e[info->n_errors] = c->errors[k];
            e[info->n_errors].line += first[i];
            info->n_errors++;
            (*added)++;
        }
    }
    return SF_OK;
}

/* One window of at most cap lines; *rows may come out 0 (all blank or bad). */
static sf_status next_window(sf_row_stream *s, sf_table *info, double *X, double *y, uint64_t *line,
                             size_t cap, size_t *rows, size_t *new_errors);

sf_status sf_row_stream_next(sf_row_stream *s, sf_table *info, double *X, double *y, uint64_t *line,
                             size_t cap, size_t *rows, size_t *new_errors)
{
    if (!s || !info || !rows || !y || cap == 0 || (s->lay.d && !X)) return SF_ERR_INVALID_ARGUMENT;
    *rows = 0;
    if (new_errors) *new_errors = 0;
    /* Windows of only blank lines and bad records do not end the input. */
    while (*rows == 0 && s->p < s->end) {
        size_t added = 0;
        sf_status st = next_window(s, info, X, y, line, cap, rows, &added);
        if (new_errors) *new_errors += added;
        if (st != SF_OK) return st;
    }
    return SF_OK;
}

static sf_status next_window(sf_row_stream *s, sf_table *info, double *X, double *y, uint64_t *line,
                             size_t cap, size_t *rows, size_t *new_errors)
{
    if (!line) {
        if (s->line_cap < cap) {
            uint64_t *l = realloc(s->line_tmp, cap * sizeof *l);
            if (!l) return SF_ERR_NO_MEMORY;
            s->line_tmp = l;
            s->line_cap = cap;
        }
        line = s->line_tmp;
    }
    size_t threads = (size_t)s->o.threads, most = cap / LINES_PER_THREAD_MIN;
    if (threads > most) threads = most;
    if (threads < 1) threads = 1;
    uint64_t window_lines = 0;
    size_t runs = cut_window(s, cap, (cap + threads - 1) / threads, &window_lines);

    /* Lend each run the slice at its first line, then parse them all. */
    size_t d = s->lay.d, slot = 0;
    uint64_t first[SF_PARSE_MAX_CHUNKS], at_line = s->next_line;
    for (size_t i = 0; i < runs; i++) {
        sf_chunk *c = &s->ch[i];
        c->max_line_bytes = s->o.max_line_bytes;
        c->max_errors_kept = s->o.max_errors_kept;
        c->rb = (sf_rowbuf){.X = d ? X + slot * d : NULL,
                            .y = y + slot,
                            .line = line + slot,
                            .cap = (size_t)c->lines,
                            .d = d,
                            .lent = true,
                            .slot = slot};
        first[i] = at_line;
        at_line += c->lines;
        slot += (size_t)c->lines;
    }
    sf_parse_run_csv_chunks(s->ch, runs, &s->o, &s->lay);

    sf_status st = SF_OK;
    for (size_t i = 0; i < runs; i++)
        if (s->ch[i].out_of_memory) st = SF_ERR_NO_MEMORY;
    /* Close the gaps; chunk-local line numbers become the input's. */
    size_t at = sf_chunks_compact(s->ch, runs, first, d ? X : NULL, d, y, line);
    size_t added = 0;
    if (st == SF_OK) st = keep_errors(s, runs, first, info, &added);
    for (size_t i = 0; i < runs; i++)
        sf_chunk_free(&s->ch[i]);
    if (st != SF_OK) return st;
    s->p = s->ch[runs - 1].end;
    s->next_line = at_line;
    info->rows += at;
    *rows = at;
    *new_errors = added;
    return SF_OK;
}

void sf_row_stream_input(const sf_row_stream *s, const char **data, size_t *len)
{
    *data = s->data;
    *len = s->len;
}
