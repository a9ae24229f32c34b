/*
 * parse_part.c — one part of a file's data lines, for one of several
 * processes (MPI ranks) that each parse their own share: the data lines are
 * cut at line boundaries into `parts` runs of about equal size, as the
 * parser cuts them across threads, and only this part's bytes are read
 * (the file is mapped, not read whole). The header is read by every part.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "parse_internal.h"

/* Where part k of the data lines [data, end) starts: the first line start
 * at or after k/parts of the way. Monotone in k, and computed alike by
 * every part, so that the parts cover every line exactly once. */
static const char *part_start(const char *data, const char *end, unsigned k, unsigned parts)
{
    if (k == 0) return data;
    if (k >= parts) return end;
    size_t len = (size_t)(end - data);
    size_t at = len / parts * k + len % parts * k / parts;
    const char *nl = memchr(data + at, '\n', len - at);
    return nl ? nl + 1 : end;
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

static sf_status parse_part(const char *data, size_t len, const sf_parse_options *opt,
                            unsigned part, unsigned parts, sf_table *out, uint64_t *part_lines,
                            char *err, size_t errlen)
{
    sf_parse_options o;
    sf_parse_resolve_options(opt, &o);
    size_t off = sf_utf8_bom_length(data, len), data_off = 0;
    uint64_t lines_before = 0;
    sf_csv_layout lay = {0};
    sf_status st = SF_OK;
    if (o.format == SF_FORMAT_CSV)
        st = sf_csv_setup(data + off, len - off, &o, out, &lay, &data_off, &lines_before, err,
                          errlen);
    if (st != SF_OK) return st;
    data_off += off;
    const char *b = part_start(data + data_off, data + len, part, parts);
    const char *e = part_start(data + data_off, data + len, part + 1, parts);
    if (e > b)
        posix_madvise((void *)((uintptr_t)b & ~(uintptr_t)4095), (size_t)(e - b) + 4096,
                      POSIX_MADV_WILLNEED);
    *part_lines = count_lines(b, e);
    if (e > b)
        st = sf_parse_data_lines(b, (size_t)(e - b), lines_before, &o, &lay, out, err, errlen);
    if (st == SF_ERR_EMPTY) { /* a part without data rows is fine; all of them is not */
        sf_parse_set_err(err, errlen, "%s", "");
        st = SF_OK;
    }
    if (st == SF_OK && o.format == SF_FORMAT_LIBSVM && !out->feature_names)
        st = sf_table_default_names(out, 0);
    out->bytes = (size_t)(e - b);
    return st;
}

sf_status sf_parse_file_part(const char *path, const sf_parse_options *opt, unsigned part,
                             unsigned parts, sf_table *out, uint64_t *part_lines, char *err,
                             size_t errlen)
{
    sf_parse_set_err(err, errlen, "%s", "");
    *part_lines = 0;
    if (!path || !out || parts == 0 || part >= parts) {
        sf_parse_set_err(err, errlen, "invalid arguments");
        return SF_ERR_INVALID_ARGUMENT;
    }
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        sf_parse_set_err(err, errlen, "cannot open '%s': %s", path, strerror(errno));
        return SF_ERR_IO;
    }
    struct stat sb;
    sf_status st = SF_OK;
    if (fstat(fd, &sb) != 0) {
        sf_parse_set_err(err, errlen, "cannot stat '%s': %s", path, strerror(errno));
        st = SF_ERR_IO;
    } else if (!S_ISREG(sb.st_mode)) {
        sf_parse_set_err(err, errlen, "'%s' is not a regular file: parts of it cannot be read",
                         path);
        st = SF_ERR_INVALID_ARGUMENT;
    } else if (sb.st_size == 0) {
        sf_parse_set_err(err, errlen, "no data rows in input");
        st = SF_ERR_EMPTY;
    }
    void *m = MAP_FAILED;
    if (st == SF_OK) {
        m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            sf_parse_set_err(err, errlen, "cannot map '%s': %s", path, strerror(errno));
            st = SF_ERR_IO;
        }
    }
    if (st == SF_OK)
        st = parse_part(m, (size_t)sb.st_size, opt, part, parts, out, part_lines, err, errlen);
    if (m != MAP_FAILED) munmap(m, (size_t)sb.st_size);
    close(fd);
    if (st != SF_OK) sf_table_free(out);
    return st;
}

sf_status sf_table_widen(sf_table *t, size_t d)
{
    if (d < t->d) return SF_ERR_INVALID_ARGUMENT;
    if (d == t->d) return SF_OK;
    if (t->rows) {
        double *X = realloc(t->X, sizeof(double) * t->rows * d);
        if (!X) return SF_ERR_NO_MEMORY;
        /* From the last row back, so that no row is overwritten before it moves. */
        for (size_t i = t->rows; i-- > 0;) {
            memmove(X + i * d, X + i * t->d, sizeof(double) * t->d);
            memset(X + i * d + t->d, 0, sizeof(double) * (d - t->d));
        }
        t->X = X;
    }
    for (size_t j = 0; t->feature_names && j < t->d; j++)
        free(t->feature_names[j]);
    free(t->feature_names);
    t->feature_names = NULL;
    return sf_table_default_names(t, d);
}
