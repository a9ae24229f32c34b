/*
 * checkpoint.c — write and read DIR/checkpoint.bin (see checkpoint.h).
 * Layout: magic, then length-prefixed sections in a fixed order; a trailing
 * FNV-1a checksum over everything before it catches torn or foreign files.
 */
#include "checkpoint.h"

#include "bytes.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char ckpt_magic[8] = {'S', 'F', 'C', 'K', 'P', 'T', '0', '1'};

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

typedef sf_bytes buf;

static void put(buf *b, const void *src, size_t n) { sf_bytes_put(b, src, n); }

static void put_section(buf *b, const void *p, size_t n)
{
    uint64_t len = n;
    put(b, &len, sizeof len);
    put(b, p, n);
}

static void put_string(buf *b, const char *s) { put_section(b, s ? s : "", s ? strlen(s) : 0); }

static bool write_all(int fd, const unsigned char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

sf_status sf_checkpoint_write(const char *dir, const sf_checkpoint *c, char *err, size_t errlen)
{
    buf b = {0};
    put(&b, ckpt_magic, sizeof ckpt_magic);
    uint64_t counters[3] = {c->rows_total, c->rows_skipped, c->batches};
    put(&b, counters, sizeof counters);
    put_string(&b, c->config);
    put_section(&b, c->trainer, c->trainer_len);
    put_section(&b, c->metrics, c->metrics_len);
    put_string(&b, c->source);
    put_string(&b, c->classes);
    put_string(&b, c->names);
    put_string(&b, c->model_version);
    uint64_t sum = b.failed ? 0 : fnv1a(b.p, b.len);
    put(&b, &sum, sizeof sum);
    if (b.failed) {
        free(b.p);
        snprintf(err, errlen, "checkpoint: out of memory");
        return SF_ERR_NO_MEMORY;
    }
    char tmp[4096], final[4096];
    snprintf(tmp, sizeof tmp, "%s/checkpoint.bin.tmp", dir);
    snprintf(final, sizeof final, "%s/checkpoint.bin", dir);
    /* Each step names itself and keeps its errno: the report says what failed. */
    const char *step = NULL;
    int saved = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) step = "create", saved = errno;
    if (!step && !write_all(fd, b.p, b.len)) step = "write", saved = errno;
    if (!step && fsync(fd) != 0) step = "fsync", saved = errno;
    if (fd >= 0 && close(fd) != 0 && !step) step = "close", saved = errno;
    if (!step && rename(tmp, final) != 0) step = "rename", saved = errno;
    if (step && fd >= 0) unlink(tmp); /* never a half-written file left behind */
    if (!step) {                      /* make the rename itself durable */
        int dfd = open(dir, O_RDONLY | O_DIRECTORY);
        if (dfd < 0 || fsync(dfd) != 0) step = "fsync of its folder", saved = errno;
        if (dfd >= 0) close(dfd);
    }
    free(b.p);
    if (step) {
        snprintf(err, errlen,
                 "cannot write the checkpoint '%s' (%s failed: %s); the previous checkpoint, if "
                 "any, is unchanged",
                 final, step, strerror(saved));
        return SF_ERR_IO;
    }
    return SF_OK;
}

typedef struct cursor {
    const unsigned char *p, *end;
    bool failed;
} cursor;

static const unsigned char *take(cursor *c, size_t n)
{
    if (c->failed || (size_t)(c->end - c->p) < n) {
        c->failed = true;
        return NULL;
    }
    const unsigned char *r = c->p;
    c->p += n;
    return r;
}

static unsigned char *take_section(cursor *c, size_t *len, bool as_string)
{
    const unsigned char *lp = take(c, sizeof(uint64_t));
    if (!lp) return NULL;
    uint64_t n;
    memcpy(&n, lp, sizeof n);
    const unsigned char *src = take(c, n);
    if (!src) return NULL;
    unsigned char *dst = malloc(n + 1);
    if (!dst) {
        c->failed = true;
        return NULL;
    }
    memcpy(dst, src, n);
    if (as_string) dst[n] = 0;
    if (len) *len = n;
    return dst;
}

static sf_status read_file(const char *dir, const char *name, sf_checkpoint *c, char *err,
                           size_t errlen)
{
    memset(c, 0, sizeof *c);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return SF_ERR_EMPTY;
        snprintf(err, errlen, "cannot read '%s': %s", path, strerror(errno));
        return SF_ERR_IO;
    }
    struct stat sb;
    unsigned char *data = NULL;
    size_t n = 0;
    if (fstat(fileno(f), &sb) == 0 && sb.st_size > 0) {
        n = (size_t)sb.st_size;
        data = malloc(n);
        if (data && fread(data, 1, n, f) != n) {
            free(data);
            data = NULL;
        }
    }
    fclose(f);
    uint64_t sum = 0;
    if (data && n > sizeof ckpt_magic + sizeof sum) memcpy(&sum, data + n - sizeof sum, sizeof sum);
    const char *why = NULL;
    if (!data && n > 0)
        why = "it could not be read whole";
    else if (n <= sizeof ckpt_magic + sizeof sum)
        why = "it is cut short (too small to hold a checkpoint)";
    else if (memcmp(data, ckpt_magic, sizeof ckpt_magic) != 0)
        why = "it does not start like a streamfit checkpoint";
    else if (fnv1a(data, n - sizeof sum) != sum)
        why = "its checksum does not match: it is damaged or was cut short";
    if (why) {
        free(data);
        snprintf(err, errlen, "'%s' is not a valid streamfit checkpoint: %s (%zu bytes)", path, why,
                 n);
        return SF_ERR_BAD_MODEL_FILE;
    }
    cursor cur = {.p = data + sizeof ckpt_magic, .end = data + n - sizeof sum};
    const unsigned char *cp = take(&cur, 3 * sizeof(uint64_t));
    if (cp) {
        uint64_t counters[3];
        memcpy(counters, cp, sizeof counters);
        c->rows_total = counters[0];
        c->rows_skipped = counters[1];
        c->batches = counters[2];
    }
    c->config = (char *)take_section(&cur, NULL, true);
    c->trainer = take_section(&cur, &c->trainer_len, false);
    c->metrics = take_section(&cur, &c->metrics_len, false);
    c->source = (char *)take_section(&cur, NULL, true);
    c->classes = (char *)take_section(&cur, NULL, true);
    c->names = (char *)take_section(&cur, NULL, true);
    /* Checkpoints from before the model version end here. */
    c->model_version =
        cur.p == cur.end && !cur.failed ? strdup("") : (char *)take_section(&cur, NULL, true);
    if (!c->model_version) cur.failed = true;
    bool failed = cur.failed || cur.p != cur.end;
    free(data);
    if (failed) {
        sf_checkpoint_free(c);
        snprintf(err, errlen,
                 "'%s' is not a valid streamfit checkpoint: its sections do not add up (a file "
                 "of another version?)",
                 path);
        return SF_ERR_BAD_MODEL_FILE;
    }
    return SF_OK;
}

sf_status sf_checkpoint_read(const char *dir, sf_checkpoint *c, char *err, size_t errlen)
{
    return read_file(dir, "checkpoint.bin", c, err, errlen);
}

sf_status sf_checkpoint_read_previous(const char *dir, sf_checkpoint *c, char *err, size_t errlen)
{
    return read_file(dir, "checkpoint.prev.bin", c, err, errlen);
}

sf_status sf_checkpoint_rotate(const char *dir, char *err, size_t errlen)
{
    char cur[4096], prev[4096];
    snprintf(cur, sizeof cur, "%s/checkpoint.bin", dir);
    snprintf(prev, sizeof prev, "%s/checkpoint.prev.bin", dir);
    if (rename(cur, prev) != 0) {
        if (errno == ENOENT) return SF_OK;
        snprintf(err, errlen, "cannot keep the previous checkpoint as '%s': %s", prev,
                 strerror(errno));
        return SF_ERR_IO;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    int saved = dfd < 0 || fsync(dfd) != 0 ? errno : 0;
    if (dfd >= 0) close(dfd);
    if (saved) {
        snprintf(err, errlen, "cannot make '%s' durable: %s", prev, strerror(saved));
        return SF_ERR_IO;
    }
    return SF_OK;
}

static bool dup_bytes(void **dst, const void *src, size_t n, bool as_string)
{
    *dst = NULL;
    if (!src) return true;
    if (as_string) n = strlen(src) + 1;
    *dst = malloc(n ? n : 1);
    if (*dst) memcpy(*dst, src, n);
    return *dst != NULL;
}

sf_status sf_checkpoint_copy(const sf_checkpoint *src, sf_checkpoint *dst)
{
    memset(dst, 0, sizeof *dst);
    dst->rows_total = src->rows_total;
    dst->rows_skipped = src->rows_skipped;
    dst->batches = src->batches;
    dst->trainer_len = src->trainer_len;
    dst->metrics_len = src->metrics_len;
    bool ok = dup_bytes((void **)&dst->config, src->config, 0, true) &&
              dup_bytes((void **)&dst->trainer, src->trainer, src->trainer_len, false) &&
              dup_bytes((void **)&dst->metrics, src->metrics, src->metrics_len, false) &&
              dup_bytes((void **)&dst->source, src->source, 0, true) &&
              dup_bytes((void **)&dst->classes, src->classes, 0, true) &&
              dup_bytes((void **)&dst->names, src->names, 0, true) &&
              dup_bytes((void **)&dst->model_version, src->model_version, 0, true);
    if (ok) return SF_OK;
    sf_checkpoint_free(dst);
    return SF_ERR_NO_MEMORY;
}

void sf_checkpoint_free(sf_checkpoint *c)
{
    free(c->config);
    free(c->trainer);
    free(c->metrics);
    free(c->source);
    free(c->classes);
    free(c->names);
    free(c->model_version);
    memset(c, 0, sizeof *c);
}
