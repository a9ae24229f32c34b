/*
 * parse_file.c — the parser's driver: input in (a buffer, a mapped file, or
 * stdin read whole), chunks out to a pool of threads, one table back.
 *
 * The data lines are split into one chunk per thread at newline boundaries.
 * Each chunk numbers its lines from 0, so the exact 1-based number of every
 * row and bad record is known once all chunks are done: a chunk's first line
 * follows all the lines before it. With several chunks, a quick first pass
 * counts every chunk's lines, so that the table's arrays can be allocated up
 * front and each chunk writes its rows straight into its own slice of them;
 * joining then only closes the gaps left by blank lines and bad records.
 * The chunks themselves (rows, bad records) are parse_chunk.c's.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "parse_internal.h"

#define DEFAULT_MAX_LINE_BYTES ((size_t)1 << 20)
#define DEFAULT_MAX_ERRORS_KEPT 10
/* Below this much data one thread is faster than starting several. */
#define PARALLEL_MIN_BYTES ((size_t)1 << 20)
/* And no chunk gets less than this. */
#define CHUNK_MIN_BYTES ((size_t)256 << 10)
/* Chunks per parsing thread, taken as they come (run_jobs). */
#define CHUNKS_PER_THREAD 4
#define MAX_CHUNKS SF_PARSE_MAX_CHUNKS

void sf_parse_set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- options and splitting ---- */

void sf_parse_resolve_options(const sf_parse_options *opt, sf_parse_options *o)
{
    if (opt)
        *o = *opt;
    else
        sf_parse_options_init(o);
    if (o->max_line_bytes == 0) o->max_line_bytes = DEFAULT_MAX_LINE_BYTES;
    if (o->max_errors_kept == 0) o->max_errors_kept = DEFAULT_MAX_ERRORS_KEPT;
    if (o->threads <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        o->threads = cores > 0 ? (int)(cores < MAX_CHUNKS ? cores : MAX_CHUNKS) : 1;
    }
}

static size_t chunk_count(const sf_parse_options *o, size_t bytes)
{
    if (bytes < PARALLEL_MIN_BYTES) return 1;
    size_t n = (size_t)o->threads * (o->threads > 1 ? CHUNKS_PER_THREAD : 1);
    size_t most = bytes / CHUNK_MIN_BYTES;
    if (n > most) n = most;
    if (n > MAX_CHUNKS) n = MAX_CHUNKS;
    return n ? n : 1;
}

/* Cut [b, b + len) into n runs of whole lines of about equal size. A chunk
 * may come out empty when one line spans a whole share. */
static void split_chunks(const char *b, size_t len, sf_chunk *ch, size_t n)
{
    const char *p = b, *end = b + len;
    for (size_t i = 0; i < n; i++) {
        const char *stop = end;
        if (i + 1 < n) {
            stop = b + len / n * (i + 1);
            if (stop < p) stop = p;
            const char *nl = memchr(stop, '\n', (size_t)(end - stop));
            stop = nl ? nl + 1 : end;
        }
        ch[i].begin = p;
        ch[i].end = stop;
        p = stop;
    }
}

/* ---- running the chunks ---- */

typedef struct parse_job {
    sf_chunk *chunk;
    const sf_parse_options *opt;
    const sf_csv_layout *lay;
    double *dense; /* LIBSVM: where the chunk's rows go in the table, d wide */
    size_t d;
} parse_job;

static void *parse_job_run(void *arg)
{
    const parse_job *j = arg;
    if (j->opt->format == SF_FORMAT_LIBSVM)
        sf_libsvm_parse_chunk(j->chunk, j->opt->n_features);
    else
        sf_csv_parse_chunk(j->chunk, j->lay);
    return NULL;
}

static void *densify_job_run(void *arg)
{
    const parse_job *j = arg;
    sf_libsvm_densify(j->chunk, j->d, j->dense);
    return NULL;
}

static uint64_t count_lines(const char *p, const char *end)
{
    uint64_t n = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        n++;
        if (!nl) break;
        p = nl + 1;
    }
    return n;
}

static void *count_job_run(void *arg)
{
    sf_chunk *c = ((const parse_job *)arg)->chunk;
    c->lines = count_lines(c->begin, c->end);
    return NULL;
}

/* Jobs handed out through a shared counter. */
typedef struct job_queue {
    parse_job *jobs;
    size_t n;
    atomic_size_t next;
    void *(*fn)(void *);
} job_queue;

static void *queue_worker(void *arg)
{
    job_queue *q = arg;
    for (size_t i; (i = atomic_fetch_add(&q->next, 1)) < q->n;)
        q->fn(&q->jobs[i]);
    return NULL;
}

/* `threads` workers, the calling thread one of them, take the n jobs as they
 * come: on cores shared with other work a worker that gets less time takes
 * fewer chunks instead of holding up the rest (there are CHUNKS_PER_THREAD
 * chunks per thread). A worker whose thread cannot start leaves its share to
 * the others. */
static void run_jobs(parse_job *jobs, size_t n, size_t threads, void *(*fn)(void *))
{
    job_queue q = {.jobs = jobs, .n = n, .fn = fn};
    atomic_init(&q.next, 0);
    if (threads > n) threads = n;
    if (threads > MAX_CHUNKS) threads = MAX_CHUNKS;
    pthread_t tid[MAX_CHUNKS];
    bool started[MAX_CHUNKS] = {false};
    for (size_t i = 1; i < threads; i++)
        started[i] = pthread_create(&tid[i], NULL, queue_worker, &q) == 0;
    queue_worker(&q);
    for (size_t i = 1; i < threads; i++)
        if (started[i]) pthread_join(tid[i], NULL);
}

void sf_parse_run_csv_chunks(sf_chunk *ch, size_t n, const sf_parse_options *o,
                             const sf_csv_layout *lay)
{
    parse_job jobs[MAX_CHUNKS];
    if (n > MAX_CHUNKS) n = MAX_CHUNKS;
    for (size_t i = 0; i < n; i++)
        jobs[i] = (parse_job){.chunk = &ch[i], .opt = o, .lay = lay};
    run_jobs(jobs, n, n, parse_job_run);
}

/* ---- the table's arrays ---- */

/* Allocate the table's row arrays for every line of every chunk (the lines
 * are counted) and lend each chunk its slice. LIBSVM features are not lent:
 * the width is not known yet. */
static bool lend_rows(sf_chunk *ch, size_t n, bool dense, sf_table *out)
{
    size_t total = 0, d = dense ? out->d : 0;
    for (size_t i = 0; i < n; i++) {
        if (ch[i].lines > SIZE_MAX - total) return false;
        total += (size_t)ch[i].lines;
    }
    size_t cap = total ? total : 1;
    if (d && cap > SIZE_MAX / sizeof(double) / d) return false;
    out->y = malloc(cap * sizeof *out->y);
    out->line = malloc(cap * sizeof *out->line);
    out->X = d ? malloc(cap * d * sizeof *out->X) : NULL;
    if (!out->y || !out->line || (d && !out->X)) return false;
    size_t slot = 0;
    for (size_t i = 0; i < n; i++) {
        sf_rowbuf *rb = &ch[i].rb;
        rb->lent = true;
        rb->slot = slot;
        rb->cap = (size_t)ch[i].lines;
        rb->y = out->y + slot;
        rb->line = out->line + slot;
        rb->X = out->X ? out->X + slot * d : NULL;
        if (ch[i].sparse) {
            ch[i].sp.row_end = malloc((rb->cap ? rb->cap : 1) * sizeof *ch[i].sp.row_end);
            if (!ch[i].sp.row_end) return false;
        }
        slot += rb->cap;
    }
    return true;
}

/* A lone chunk's own arrays become the table's, so its rows are never copied. */
static void adopt_rows(sf_chunk *c, sf_table *out)
{
    out->X = c->rb.X;
    out->y = c->rb.y;
    out->line = c->rb.line;
    c->rb.X = NULL;
    c->rb.y = NULL;
    c->rb.line = NULL;
    c->rb.slot = 0;
}

size_t sf_chunks_compact(const sf_chunk *ch, size_t n, const uint64_t *first, double *X, size_t d,
                         double *y, uint64_t *line)
{
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        const sf_rowbuf *rb = &ch[i].rb;
        if (rb->slot != at && rb->rows) {
            memmove(y + at, y + rb->slot, rb->rows * sizeof *y);
            memmove(line + at, line + rb->slot, rb->rows * sizeof *line);
            if (X) memmove(X + at * d, X + rb->slot * d, rb->rows * d * sizeof *X);
        }
        for (size_t r = 0; r < rb->rows; r++)
            line[at + r] += first[i];
        at += rb->rows;
    }
    return at;
}

/* realloc down to `bytes`; a failure keeps the larger block, freeing none. */
static void *shrink(void *p, size_t bytes)
{
    if (!bytes) {
        free(p);
        return NULL;
    }
    void *q = realloc(p, bytes);
    return q ? q : p;
}

/* The dense table is often larger than the text, so the chunks scatter
 * their rows into it in parallel too. */
static sf_status densify(parse_job *jobs, size_t n, sf_table *out)
{
    size_t d = out->d;
    if (!out->rows || !d) return SF_OK;
    if (out->rows > SIZE_MAX / sizeof(double) / d) return SF_ERR_NO_MEMORY;
    out->X = calloc(out->rows * d, sizeof *out->X);
    if (!out->X) return SF_ERR_NO_MEMORY;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        jobs[i].dense = out->X + at * d;
        jobs[i].d = d;
        at += jobs[i].chunk->rb.rows;
    }
    run_jobs(jobs, n, (size_t)jobs[0].opt->threads, densify_job_run);
    return SF_OK;
}

static sf_status join_rows(sf_chunk *ch, parse_job *jobs, size_t n, const uint64_t *first,
                           bool sparse, sf_table *out)
{
    size_t total = 0, d = out->d;
    for (size_t i = 0; i < n; i++)
        total += ch[i].rb.rows;
    if (!ch[0].rb.lent) adopt_rows(&ch[0], out);
    sf_chunks_compact(ch, n, first, out->X, d, out->y, out->line);
    out->rows = total;
    out->y = shrink(out->y, total * sizeof *out->y);
    out->line = shrink(out->line, total * sizeof *out->line);
    if (sparse) return densify(jobs, n, out);
    out->X = shrink(out->X, total * d * sizeof *out->X);
    return SF_OK;
}

static sf_status join_errors(const sf_chunk *ch, size_t n, const uint64_t *first, size_t max_kept,
                             sf_table *out)
{
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        out->bad_rows += ch[i].bad;
        kept += ch[i].n_errors;
    }
    if (kept > max_kept) kept = max_kept;
    if (!kept) return SF_OK;
    out->errors = malloc(kept * sizeof *out->errors);
    if (!out->errors) return SF_ERR_NO_MEMORY;
    for (size_t i = 0; i < n && out->n_errors < kept; i++) {
        for (size_t k = 0; k < ch[i].n_errors && out->n_errors < kept; k++) {
            sf_parse_error *e = &out->errors[out->n_errors++];
            *e = ch[i].errors[k];
            e->line += first[i];
        }
    }
    return SF_OK;
}

/* The LIBSVM width: as given, or the largest index any good row used. */
static size_t libsvm_width(const sf_chunk *ch, size_t n, size_t n_features)
{
    if (n_features) return n_features;
    size_t d = 0;
    for (size_t i = 0; i < n; i++)
        if (ch[i].sp.max_index > d) d = ch[i].sp.max_index;
    return d;
}

/* Rows are densified: refuse a table that would be large (over 1 GiB) and
 * almost all zeros (under 1 value in 64 set), a width no dense fit can use,
 * before allocating it. */
static sf_status check_dense_size(const sf_chunk *ch, size_t n, size_t width, char *err,
                                  size_t errlen)
{
    double rows = 0, nnz = 0;
    for (size_t i = 0; i < n; i++) {
        rows += (double)ch[i].rb.rows;
        nnz += (double)ch[i].sp.nnz;
    }
    double cells = rows * (double)width, bytes = cells * sizeof(double);
    if (bytes <= (double)((size_t)1 << 30) || nnz * 64 >= cells) return SF_OK;
    sf_parse_set_err(err, errlen,
                     "LIBSVM: %.0f rows x %zu features would take %.1f GiB as dense rows, for "
                     "%.0f values set (%.3f%%): too sparse for the dense rows streamfit fits",
                     rows, width, bytes / (1024.0 * 1024 * 1024), nnz, 100.0 * nnz / cells);
    return SF_ERR_NO_MEMORY;
}

static sf_status collect(sf_chunk *ch, parse_job *jobs, size_t n, uint64_t lines_before,
                         const sf_parse_options *o, sf_table *out, char *err, size_t errlen)
{
    uint64_t first[MAX_CHUNKS], data_lines = 0, line = lines_before + 1;
    for (size_t i = 0; i < n; i++) {
        if (ch[i].out_of_memory) {
            sf_parse_set_err(err, errlen, "out of memory while parsing");
            return SF_ERR_NO_MEMORY;
        }
        data_lines += ch[i].data_lines;
        first[i] = line;
        line += ch[i].lines;
    }
    if (data_lines == 0) {
        sf_parse_set_err(err, errlen, "no data rows in input");
        return SF_ERR_EMPTY;
    }
    bool sparse = o->format == SF_FORMAT_LIBSVM;
    sf_status st = SF_OK;
    if (sparse) {
        size_t width = libsvm_width(ch, n, o->n_features);
        st = check_dense_size(ch, n, width, err, errlen);
        if (st != SF_OK) return st;
        out->has_label = true;
        st = sf_table_default_names(out, width);
    }
    if (st == SF_OK) st = join_rows(ch, jobs, n, first, sparse, out);
    if (st == SF_OK) st = join_errors(ch, n, first, o->max_errors_kept, out);
    if (st != SF_OK)
        sf_parse_set_err(err, errlen, "out of memory: the table has %zu rows of %zu features",
                         out->rows, out->d);
    return st;
}

static void init_chunks(sf_chunk *ch, parse_job *jobs, size_t n, const sf_parse_options *o,
                        const sf_csv_layout *lay)
{
    for (size_t i = 0; i < n; i++) {
        ch[i].max_line_bytes = o->max_line_bytes;
        ch[i].max_errors_kept = o->max_errors_kept;
        ch[i].sparse = o->format == SF_FORMAT_LIBSVM;
        ch[i].rb.d = ch[i].sparse ? 0 : lay->d;
        jobs[i] = (parse_job){.chunk = &ch[i], .opt = o, .lay = lay};
    }
}

sf_status sf_parse_data_lines(const char *b, size_t len, uint64_t lines_before,
                              const sf_parse_options *o, const sf_csv_layout *lay, sf_table *out,
                              char *err, size_t errlen)
{
    size_t n = chunk_count(o, len);
    sf_chunk *ch = calloc(n, sizeof *ch);
    parse_job *jobs = calloc(n, sizeof *jobs);
    sf_status st = ch && jobs ? SF_OK : SF_ERR_NO_MEMORY;
    if (st == SF_OK) {
        split_chunks(b, len, ch, n);
        init_chunks(ch, jobs, n, o, lay);
        /* Counting the lines first (a fast memchr pass) lets every chunk
         * write its rows straight into the table. */
        if (n > 1) run_jobs(jobs, n, (size_t)o->threads, count_job_run);
        if (n > 1 && !lend_rows(ch, n, o->format == SF_FORMAT_CSV, out)) st = SF_ERR_NO_MEMORY;
    }
    if (st == SF_OK) {
        run_jobs(jobs, n, (size_t)o->threads, parse_job_run);
        st = collect(ch, jobs, n, lines_before, o, out, err, errlen);
    } else {
        sf_parse_set_err(err, errlen, "out of memory");
    }
    for (size_t i = 0; ch && i < n; i++)
        sf_chunk_free(&ch[i]);
    free(ch);
    free(jobs);
    return st;
}

/* ---- entry points ---- */

size_t sf_utf8_bom_length(const char *data, size_t len)
{
    return len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
}

sf_status sf_parse_buffer(const char *data, size_t len, const sf_parse_options *opt, sf_table *out,
                          char *err, size_t errlen)
{
    sf_parse_set_err(err, errlen, "%s", "");
    if (!out || (!data && len)) {
        sf_parse_set_err(err, errlen, "invalid arguments");
        return SF_ERR_INVALID_ARGUMENT;
    }
    memset(out, 0, sizeof *out);
    sf_parse_options o;
    sf_parse_resolve_options(opt, &o);
    if (o.format != SF_FORMAT_CSV && o.format != SF_FORMAT_LIBSVM) {
        sf_parse_set_err(err, errlen, "unknown input format %d", (int)o.format);
        return SF_ERR_INVALID_ARGUMENT;
    }
    if (len == 0) {
        sf_parse_set_err(err, errlen, "no data rows in input");
        return SF_ERR_EMPTY;
    }
    size_t off = sf_utf8_bom_length(data, len), data_off = 0;
    uint64_t lines_before = 0;
    sf_csv_layout lay = {0};
    sf_status st = SF_OK;
    if (o.format == SF_FORMAT_CSV)
        st = sf_csv_setup(data + off, len - off, &o, out, &lay, &data_off, &lines_before, err,
                          errlen);
    data_off += off;
    if (st == SF_OK)
        st = sf_parse_data_lines(data + data_off, len - data_off, lines_before, &o, &lay, out, err,
                                 errlen);
    if (st != SF_OK) {
        sf_table_free(out);
        return st;
    }
    out->bytes = len;
    return SF_OK;
}

/* Reads fd to its end into a buffer of our own (stdin, pipes, devices). */
sf_status sf_read_fd_all(int fd, const char *name, char **buf, size_t *len, char *err,
                         size_t errlen)
{
    size_t cap = (size_t)1 << 20, n = 0;
    char *b = malloc(cap);
    if (!b) goto no_memory;
    for (;;) {
        if (n == cap) {
            char *nb = cap <= SIZE_MAX / 2 ? realloc(b, cap * 2) : NULL;
            if (!nb) goto no_memory;
            b = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, b + n, cap - n);
        if (r == 0) break;
        if (r < 0) {
            if (errno == EINTR) continue;
            sf_parse_set_err(err, errlen, "cannot read '%s': %s", name, strerror(errno));
            free(b);
            return SF_ERR_IO;
        }
        n += (size_t)r;
    }
    *buf = b;
    *len = n;
    return SF_OK;
no_memory:
    free(b);
    sf_parse_set_err(err, errlen, "out of memory reading '%s'", name);
    return SF_ERR_NO_MEMORY;
}

static sf_status parse_read(int fd, const char *name, const sf_parse_options *opt, sf_table *out,
                            char *err, size_t errlen)
{
    char *buf = NULL;
    size_t len = 0;
    sf_status st = sf_read_fd_all(fd, name, &buf, &len, err, errlen);
    if (st == SF_OK) st = sf_parse_buffer(buf, len, opt, out, err, errlen);
    free(buf);
    return st;
}

/* A mapped regular file; *mapped is false when mapping is not possible and
 * the caller should read instead. */
static sf_status parse_mapped(int fd, size_t size, const sf_parse_options *opt, sf_table *out,
                              char *err, size_t errlen, bool *mapped)
{
    /* Populate up front: one read-ahead instead of a fault per page. */
    void *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    *mapped = m != MAP_FAILED;
    if (!*mapped) return SF_OK;
    posix_madvise(m, size, POSIX_MADV_SEQUENTIAL);
    sf_status st = sf_parse_buffer(m, size, opt, out, err, errlen);
    munmap(m, size);
    return st;
}

sf_status sf_parse_file(const char *path, const sf_parse_options *opt, sf_table *out, char *err,
                        size_t errlen)
{
    if (!path || !out) {
        sf_parse_set_err(err, errlen, "invalid arguments");
        return SF_ERR_INVALID_ARGUMENT;
    }
    if (strcmp(path, "-") == 0) return parse_read(STDIN_FILENO, "stdin", opt, out, err, errlen);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        sf_parse_set_err(err, errlen, "cannot open '%s': %s", path, strerror(errno));
        return SF_ERR_IO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        sf_parse_set_err(err, errlen, "cannot stat '%s': %s", path, strerror(errno));
        close(fd);
        return SF_ERR_IO;
    }
    sf_status status = SF_OK;
    bool mapped = false;
    if (S_ISREG(st.st_mode) && st.st_size > 0 && (uintmax_t)st.st_size <= SIZE_MAX)
        status = parse_mapped(fd, (size_t)st.st_size, opt, out, err, errlen, &mapped);
    if (!mapped) status = parse_read(fd, path, opt, out, err, errlen);
    close(fd);
    return status;
}
