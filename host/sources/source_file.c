/*
 * source_file.c — records from a file (file:PATH), from stdin, or from the
 * files that appear in a directory (dir:PATH).
 *
 * A record is one line: '\n' or "\r\n" ends it, empty lines are skipped (but
 * counted, so line numbers match the file). A line longer than 1 MiB is
 * handed out anyway, cut to 1 MiB + 1 bytes — a length no good line has — so
 * the parser reports it as a bad record; the rest of it is skipped. Memory
 * is one fixed buffer per source.
 *
 * Positions: "file v1\nOFFSET LINE\n" — the byte offset after the last record
 * handed out and the number of lines before it. A file resumes by seeking;
 * stdin cannot seek, so it resumes by skipping LINE lines. A directory saves
 * which files are done and where the current one stands:
 *   dir v1\nnext ORDINAL\ncurrent ORDINAL OFFSET LINE NAME\ndone NAME\n...
 * (names percent-encoded), so a restart neither rereads a finished file nor
 * skips the rest of a half-read one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "source.h"

sf_status sf_source_file_open(const sf_source_options *opt, const char *path, sf_source **out,
                              char *err, size_t errlen);
sf_status sf_source_dir_open(const sf_source_options *opt, const char *path, sf_source **out,
                             char *err, size_t errlen);

#define LINE_LIMIT ((size_t)1 << 20) /* longest line handed out whole */
#define READER_CAP ((size_t)4 << 20) /* buffer: a long line plus room to read */
#define FOLLOW_INTERVAL_MS 100       /* file growth check while following */
#define DIR_SCAN_INTERVAL_US 200000  /* directory rescan while idle */

typedef struct notifier {
    void (*fn)(void *user, const char *msg);
    void *user;
} notifier;

static void notice(const notifier *nt, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void notice(const notifier *nt, const char *fmt, ...)
{
    if (!nt->fn) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    nt->fn(nt->user, msg);
}

/* ---- the line reader ---- */

typedef struct line_reader {
    int fd;       /* -1: none */
    bool regular; /* a regular file: reads never block, EOF may be temporary */
    bool follow;  /* at the end of a regular file, wait for more */
    char *buf;
    size_t cap, pos, end; /* unread bytes: buf[pos, end) */
    size_t keep;          /* buf[0, keep) backs records handed out by this poll */
    int64_t off;          /* file offset of buf[pos] */
    uint64_t line;        /* lines before buf[pos] */
    bool eof;             /* the input ended (no more data will come) */
    bool shrank;          /* following: the file got shorter than what was read */
    bool skipping;        /* discarding the rest of an over-long line */
    uint64_t skip_lines;  /* stdin resume: lines still to skip */
    int64_t skipped_off;  /* where they ended (-1 until then) */
    bool mid_line;        /* skipping: part of the current line is already discarded */
    int64_t done_off;     /* position after the last record handed out */
    uint64_t done_line;
} line_reader;

enum { TAKE_RECORD, TAKE_NEED_DATA, TAKE_END };
enum { READ_GOT, READ_EOF, READ_NONE, READ_FULL, READ_ERROR };

static bool lr_init(line_reader *lr)
{
    memset(lr, 0, sizeof *lr);
    lr->fd = -1;
    lr->cap = READER_CAP;
    lr->buf = malloc(lr->cap);
    return lr->buf != NULL;
}

/* Start on a new input; records of this poll stay valid (they lie before keep). */
static void lr_attach(line_reader *lr, int fd, bool regular, int64_t off, uint64_t line)
{
    lr->fd = fd;
    lr->regular = regular;
    lr->pos = lr->end = lr->keep;
    lr->off = lr->done_off = off;
    lr->line = lr->done_line = line;
    lr->eof = lr->skipping = false;
    lr->skip_lines = 0;
    lr->skipped_off = -1;
    lr->mid_line = false;
}

static void lr_close(line_reader *lr)
{
    if (lr->fd > STDERR_FILENO) close(lr->fd);
    lr->fd = -1;
}

static void lr_free(line_reader *lr)
{
    lr_close(lr);
    free(lr->buf);
    lr->buf = NULL;
}

static void lr_advance(line_reader *lr, size_t k, bool ends_line)
{
    lr->pos += k;
    lr->off += (int64_t)k;
    if (ends_line) lr->line++;
}

/* Discard buffered bytes of a line nobody will see; reuse their room. */
static void lr_discard_all(line_reader *lr)
{
    lr->off += (int64_t)(lr->end - lr->pos);
    lr->pos = lr->end = lr->keep;
}

/* The next record from the buffer, without reading. */
static int lr_take(line_reader *lr, sf_record *rec)
{
    for (;;) {
        char *p = lr->buf + lr->pos;
        size_t avail = lr->end - lr->pos;
        if (lr->skipping || lr->skip_lines) {
            char *nl = avail ? memchr(p, '\n', avail) : NULL;
            if (nl) {
                lr_advance(lr, (size_t)(nl - p) + 1, true);
            } else if (!lr->eof) {
                if (avail) lr->mid_line = true;
                lr_discard_all(lr);
                return TAKE_NEED_DATA;
            } else if (avail == 0 && !lr->skipping && !lr->mid_line) {
                lr->skip_lines = 0; /* stdin is shorter than the saved position */
                lr->skipped_off = lr->off;
                continue;
            } else {
                lr_discard_all(lr); /* the input ends inside this line */
                lr->line++;
            }
            lr->mid_line = false;
            if (lr->skipping)
                lr->skipping = false;
            else if (--lr->skip_lines == 0)
                lr->skipped_off = lr->off;
            lr->done_off = lr->off;
            lr->done_line = lr->line;
            continue;
        }
        if (avail == 0) return lr->eof ? TAKE_END : TAKE_NEED_DATA;
        size_t scan = avail < LINE_LIMIT + 1 ? avail : LINE_LIMIT + 1;
        char *nl = memchr(p, '\n', scan);
        size_t len, used;
        bool oversize = false;
        if (nl) {
            len = (size_t)(nl - p);
            used = len + 1;
        } else if (avail > LINE_LIMIT) {
            len = used = LINE_LIMIT + 1;
            oversize = true;
        } else if (lr->eof) {
            len = used = avail; /* a last line without '\n' */
        } else {
            return TAKE_NEED_DATA;
        }
        int64_t start = lr->off;
        uint64_t line = lr->line + 1;
        lr_advance(lr, used, !oversize);
        if (!oversize && len > 0 && p[len - 1] == '\r') len--;
        if (len == 0) continue; /* empty line */
        rec->data = p;
        rec->len = len;
        rec->key = NULL;
        rec->key_len = 0;
        rec->pos = (sf_record_pos){.partition = -1, .offset = start, .line = line, .file = 0};
        rec->timestamp_ms = -1;
        lr->keep = lr->pos;
        if (oversize) {
            /* Until the rest is skipped, a saved position points at this line's
             * start: a restart sees the bad line again, never half of it. */
            lr->skipping = true;
            lr->done_off = start;
            lr->done_line = line - 1;
        } else {
            lr->done_off = lr->off;
            lr->done_line = lr->line;
        }
        return TAKE_RECORD;
    }
}

/* Read more bytes, waiting at most wait_ms for them. */
static int lr_read(line_reader *lr, int wait_ms)
{
    if (lr->eof) return READ_EOF;
    if (lr->cap - lr->end < lr->cap / 4 && lr->pos > lr->keep) {
        size_t n = lr->end - lr->pos;
        memmove(lr->buf + lr->keep, lr->buf + lr->pos, n);
        lr->pos = lr->keep;
        lr->end = lr->keep + n;
    }
    if (lr->end == lr->cap) return READ_FULL;
    int64_t deadline = sf_clock_mono_us() + (int64_t)wait_ms * 1000;
    for (;;) {
        if (!lr->regular) {
            int left = (int)((deadline - sf_clock_mono_us()) / 1000);
            struct pollfd pfd = {.fd = lr->fd, .events = POLLIN};
            int r = poll(&pfd, 1, left > 0 ? left : 0);
            if (r < 0 && errno != EINTR) return READ_ERROR;
            if (r <= 0) return READ_NONE;
        }
        ssize_t got = read(lr->fd, lr->buf + lr->end, lr->cap - lr->end);
        if (got > 0) {
            lr->end += (size_t)got;
            return READ_GOT;
        }
        if (got < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (sf_clock_mono_us() >= deadline) return READ_NONE;
                continue; /* poll again */
            }
            return READ_ERROR;
        }
        if (!(lr->regular && lr->follow)) {
            lr->eof = true;
            return READ_EOF;
        }
        /* Following a regular file: wait for it to grow. */
        int64_t left = (deadline - sf_clock_mono_us()) / 1000;
        if (left <= 0) return READ_NONE;
        for (;;) {
            sf_clock_sleep_ms(left < FOLLOW_INTERVAL_MS ? left : FOLLOW_INTERVAL_MS);
            struct stat st;
            int64_t read_off = lr->off + (int64_t)(lr->end - lr->pos);
            if (fstat(lr->fd, &st) == 0) {
                if (st.st_size > read_off) break;
                if (st.st_size < read_off) lr->shrank = true;
            }
            left = (deadline - sf_clock_mono_us()) / 1000;
            if (left <= 0) return READ_NONE;
        }
    }
}

static void stamp(sf_record *r, int64_t arrival, uint32_t file)
{
    r->arrival_us = arrival;
    r->pos.file = file;
}

/* ---- file: and stdin ---- */

typedef struct file_source {
    sf_source base;
    line_reader lr;
    char *path; /* NULL: stdin */
    notifier nt;
    uint64_t resume_line; /* stdin: the line count the saved position expects */
    int64_t resume_off;
    bool shrank_noticed;
} file_source;

static sf_status read_failed(const notifier *nt, const char *what)
{
    notice(nt, "cannot read %s: %s", what, strerror(errno));
    return SF_ERR_IO;
}

static sf_status file_poll(sf_source *s, sf_record *out, size_t max, int timeout_ms, size_t *n,
                           bool *eof)
{
    file_source *fs = (file_source *)s;
    line_reader *lr = &fs->lr;
    *n = 0;
    *eof = false;
    lr->keep = 0;
    int64_t deadline = sf_clock_mono_us() + (int64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000;
    bool checked = fs->resume_line == 0;
    while (*n < max) {
        int t = lr_take(lr, &out[*n]);
        if (!checked && lr->skipped_off >= 0) {
            checked = true;
            if (lr->skipped_off != fs->resume_off)
                notice(&fs->nt,
                       "stdin: the first %" PRIu64 " lines hold %" PRId64 " bytes, not %" PRId64
                       " as when the position was saved; is it the same input?",
                       fs->resume_line, lr->skipped_off, fs->resume_off);
            fs->resume_line = 0;
        }
        if (t == TAKE_RECORD) {
            stamp(&out[*n], sf_clock_mono_us(), 0);
            (*n)++;
            continue;
        }
        if (t == TAKE_END) {
            if (*n == 0) *eof = true;
            break;
        }
        int wait = *n > 0 ? 0 : (int)((deadline - sf_clock_mono_us()) / 1000);
        int r = lr_read(lr, wait > 0 ? wait : 0);
        if (r == READ_ERROR) {
            *n = 0;
            return read_failed(&fs->nt, fs->path ? fs->path : "stdin");
        }
        if (lr->shrank && !fs->shrank_noticed) {
            notice(&fs->nt,
                   "%s is now shorter than the %" PRId64 " bytes read (truncated?); "
                   "waiting for data after that point",
                   fs->path ? fs->path : "stdin", lr->off + (int64_t)(lr->end - lr->pos));
            fs->shrank_noticed = true;
        }
        if (r == READ_NONE || r == READ_FULL) break;
    }
    return SF_OK;
}

static sf_status position_blob(int64_t off, uint64_t line, sf_source_state *out)
{
    char *b = malloc(64);
    if (!b) return SF_ERR_NO_MEMORY;
    snprintf(b, 64, "file v1\n%" PRId64 " %" PRIu64 "\n", off, line);
    out->blob = b;
    return SF_OK;
}

static sf_status file_state(sf_source *s, sf_source_state *out)
{
    file_source *fs = (file_source *)s;
    out->blob = NULL;
    return position_blob(fs->lr.done_off, fs->lr.done_line, out);
}

static sf_status no_commit(sf_source *s, const sf_source_state *st)
{
    (void)s;
    (void)st;
    return SF_OK;
}

static void file_destroy(sf_source *s)
{
    file_source *fs = (file_source *)s;
    if (!fs) return;
    lr_free(&fs->lr);
    free(fs->path);
    free(fs);
}

static const sf_source_ops file_ops = {
    .poll = file_poll,
    .state = file_state,
    .commit = no_commit,
    .destroy = file_destroy,
};

static bool parse_position(const char *blob, int64_t *off, uint64_t *line)
{
    long long o;
    unsigned long long l;
    int used = 0;
    if (strncmp(blob, "file v1\n", 8) != 0) return false;
    if (sscanf(blob + 8, "%lld %llu%n", &o, &l, &used) != 2 || o < 0) return false;
    const char *rest = blob + 8 + used;
    if (*rest == '\n') rest++;
    if (*rest) return false;
    *off = o;
    *line = l;
    return true;
}

/* Is a saved offset a place where a line starts? */
static bool at_line_start(int fd, int64_t off, int64_t size)
{
    if (off == 0 || off == size) return true;
    char c;
    return pread(fd, &c, 1, off - 1) == 1 && c == '\n';
}

sf_status sf_source_file_open(const sf_source_options *opt, const char *path, sf_source **out,
                              char *err, size_t errlen)
{
    const char *what = path ? path : "stdin";
    int64_t off = 0;
    uint64_t line = 0;
    if (opt->resume && !parse_position(opt->resume, &off, &line)) {
        snprintf(err, errlen,
                 "the saved position for %s is not a file position (was the source "
                 "changed?)",
                 what);
        return SF_ERR_INVALID_ARGUMENT;
    }
    file_source *fs = calloc(1, sizeof *fs);
    if (!fs || !lr_init(&fs->lr) || (path && !(fs->path = strdup(path)))) {
        if (fs) file_destroy(&fs->base);
        return SF_ERR_NO_MEMORY;
    }
    fs->base.ops = &file_ops;
    fs->nt = (notifier){opt->notice, opt->notice_user};
    int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(err, errlen, "cannot open '%s': %s", what, strerror(errno));
        if (fd > STDERR_FILENO) close(fd);
        file_destroy(&fs->base);
        return SF_ERR_IO;
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "'%s' is a directory (use dir:%s to read the files in it)", what,
                 what);
        if (fd > STDERR_FILENO) close(fd);
        file_destroy(&fs->base);
        return SF_ERR_INVALID_ARGUMENT;
    }
    bool regular = S_ISREG(st.st_mode);
    if (path && off > 0) {
        if (!regular || off > st.st_size || !at_line_start(fd, off, st.st_size) ||
            lseek(fd, off, SEEK_SET) != off) {
            snprintf(err, errlen,
                     "cannot resume '%s' at byte %" PRId64 " (line %" PRIu64
                     "): the file is shorter or changed",
                     path, off, line + 1);
            close(fd);
            file_destroy(&fs->base);
            return SF_ERR_INVALID_ARGUMENT;
        }
    }
    if (regular) posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    if (path) {
        lr_attach(&fs->lr, fd, regular, off, line);
    } else {
        lr_attach(&fs->lr, fd, regular, 0, 0);
        fs->lr.skip_lines = line; /* stdin cannot seek */
        fs->resume_line = line;
        fs->resume_off = off;
    }
    fs->lr.follow = opt->follow;
    *out = &fs->base;
    return SF_OK;
}

/* ---- dir: ---- */

typedef struct name_set {
    char **v; /* sorted (strcmp) */
    size_t n, cap;
} name_set;

static bool set_find(const name_set *s, const char *name, size_t *at)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(s->v[mid], name);
        if (c == 0) {
            *at = mid;
            return true;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *at = lo;
    return false;
}

static bool set_add(name_set *s, const char *name)
{
    size_t at;
    if (set_find(s, name, &at)) return true;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        char **v = realloc(s->v, cap * sizeof *v);
        if (!v) return false;
        s->v = v;
        s->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy) return false;
    memmove(s->v + at + 1, s->v + at, (s->n - at) * sizeof *s->v);
    s->v[at] = copy;
    s->n++;
    return true;
}

static void set_clear(name_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    s->n = 0;
}

static void set_free(name_set *s)
{
    set_clear(s);
    free(s->v);
    s->v = NULL;
    s->cap = 0;
}

typedef struct dir_source {
    sf_source base;
    line_reader lr;
    char *dir;
    int dirfd;
    notifier nt;
    char *cur; /* the file being read, or NULL */
    uint32_t cur_ordinal;
    uint32_t next_ordinal;
    name_set done;    /* files read to the end */
    name_set pending; /* the last scan's candidates, in name order */
    size_t pending_i;
    int64_t next_scan_us;
} dir_source;

static bool ignored_name(const char *name)
{
    size_t n = strlen(name);
    if (name[0] == '.') return true;
    if (n >= 4 && strcmp(name + n - 4, ".tmp") == 0) return true;
    if (n >= 5 && strcmp(name + n - 5, ".part") == 0) return true;
    return false;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool name_in(const name_set *s, const char *name)
{
    size_t at;
    return set_find(s, name, &at);
}

/* List the directory: the files not done (nor current) into pending, in
 * name order; forget done files that are gone, which keeps the saved
 * position as small as the directory. */
static sf_status dir_scan(dir_source *ds)
{
    set_clear(&ds->pending);
    ds->pending_i = 0;
    int fd = openat(ds->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        notice(&ds->nt, "cannot list '%s': %s", ds->dir, strerror(errno));
        if (fd >= 0) close(fd);
        return SF_ERR_IO;
    }
    name_set present = {0};
    sf_status st = SF_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (ignored_name(e->d_name)) continue;
        if (e->d_type != DT_REG) {
            struct stat sb;
            if (e->d_type != DT_UNKNOWN && e->d_type != DT_LNK) continue;
            if (fstatat(ds->dirfd, e->d_name, &sb, 0) != 0 || !S_ISREG(sb.st_mode)) continue;
        }
        if (present.n == present.cap) {
            size_t cap = present.cap ? present.cap * 2 : 64;
            char **v = realloc(present.v, cap * sizeof *v);
            if (!v) {
                st = SF_ERR_NO_MEMORY;
                break;
            }
            present.v = v;
            present.cap = cap;
        }
        if (!(present.v[present.n] = strdup(e->d_name))) {
            st = SF_ERR_NO_MEMORY;
            break;
        }
        present.n++;
    }
    closedir(d);
    if (st != SF_OK) {
        set_free(&present);
        return st;
    }
    qsort(present.v, present.n, sizeof *present.v, cmp_names);
    size_t kept = 0;
    for (size_t i = 0; i < ds->done.n; i++) {
        if (name_in(&present, ds->done.v[i]))
            ds->done.v[kept++] = ds->done.v[i];
        else
            free(ds->done.v[i]);
    }
    ds->done.n = kept;
    kept = 0;
    for (size_t i = 0; i < present.n; i++) {
        if (name_in(&ds->done, present.v[i]) || (ds->cur && strcmp(ds->cur, present.v[i]) == 0))
            free(present.v[i]);
        else
            present.v[kept++] = present.v[i];
    }
    present.n = kept;
    set_free(&ds->pending);
    ds->pending = present; /* sorted */
    return SF_OK;
}

enum { OPEN_OK, OPEN_GONE, OPEN_SKIP };

/* Open `name` at (off, line): OPEN_OK; OPEN_GONE when it vanished; OPEN_SKIP
 * when it cannot be read or no longer matches its saved position (reported;
 * the caller counts it as done). */
static int dir_open_file(dir_source *ds, const char *name, int64_t off, uint64_t line,
                         uint32_t ordinal)
{
    int fd = openat(ds->dirfd, name, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        if (fd >= 0) close(fd);
        if (e == ENOENT) return OPEN_GONE;
        notice(&ds->nt, "dir: cannot read '%s/%s': %s; skipping it", ds->dir, name, strerror(e));
        return OPEN_SKIP;
    }
    if (off > 0 && (off > st.st_size || !at_line_start(fd, off, st.st_size) ||
                    lseek(fd, off, SEEK_SET) != off)) {
        notice(&ds->nt,
               "dir: '%s/%s' is shorter than or different from when its position was "
               "saved; treating it as done",
               ds->dir, name);
        close(fd);
        return OPEN_SKIP;
    }
    char *copy = strdup(name);
    if (!copy) {
        close(fd);
        notice(&ds->nt, "dir: out of memory");
        return OPEN_GONE;
    }
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    ds->cur = copy;
    ds->cur_ordinal = ordinal;
    lr_attach(&ds->lr, fd, true, off, line);
    return OPEN_OK;
}

static sf_status dir_finish_file(dir_source *ds)
{
    lr_close(&ds->lr);
    bool ok = set_add(&ds->done, ds->cur);
    free(ds->cur);
    ds->cur = NULL;
    return ok ? SF_OK : SF_ERR_NO_MEMORY;
}

/* Open the next file in name order; *opened false when there is none yet. */
static sf_status dir_next_file(dir_source *ds, bool *opened)
{
    *opened = false;
    for (;;) {
        while (ds->pending_i < ds->pending.n) {
            const char *name = ds->pending.v[ds->pending_i++];
            if (name_in(&ds->done, name)) continue;
            int r = dir_open_file(ds, name, 0, 0, ds->next_ordinal);
            if (r == OPEN_OK) {
                ds->next_ordinal++;
                *opened = true;
                return SF_OK;
            }
            if (r == OPEN_SKIP && !set_add(&ds->done, name)) return SF_ERR_NO_MEMORY;
        }
        int64_t now = sf_clock_mono_us();
        if (now < ds->next_scan_us) return SF_OK;
        ds->next_scan_us = now + DIR_SCAN_INTERVAL_US;
        sf_status st = dir_scan(ds);
        if (st != SF_OK) return st;
        if (ds->pending.n == 0) return SF_OK;
    }
}

static sf_status dir_poll(sf_source *s, sf_record *out, size_t max, int timeout_ms, size_t *n,
                          bool *eof)
{
    dir_source *ds = (dir_source *)s;
    line_reader *lr = &ds->lr;
    *n = 0;
    *eof = false; /* a directory never ends */
    lr->keep = 0;
    int64_t deadline = sf_clock_mono_us() + (int64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000;
    while (*n < max) {
        if (!ds->cur) {
            bool opened;
            sf_status st = dir_next_file(ds, &opened);
            if (st != SF_OK) {
                *n = 0;
                return st;
            }
            if (!opened) {
                int64_t left = (deadline - sf_clock_mono_us()) / 1000;
                if (*n > 0 || left <= 0) break;
                int64_t until_scan = (ds->next_scan_us - sf_clock_mono_us()) / 1000 + 1;
                sf_clock_sleep_ms(left < until_scan ? left : until_scan);
                continue;
            }
        }
        int t = lr_take(lr, &out[*n]);
        if (t == TAKE_RECORD) {
            stamp(&out[*n], sf_clock_mono_us(), ds->cur_ordinal);
            (*n)++;
            continue;
        }
        if (t == TAKE_END) {
            sf_status st = dir_finish_file(ds);
            if (st != SF_OK) {
                *n = 0;
                return st;
            }
            continue;
        }
        int wait = *n > 0 ? 0 : (int)((deadline - sf_clock_mono_us()) / 1000);
        int r = lr_read(lr, wait > 0 ? wait : 0);
        if (r == READ_ERROR) {
            char what[1024];
            snprintf(what, sizeof what, "'%s/%s'", ds->dir, ds->cur);
            *n = 0;
            return read_failed(&ds->nt, what);
        }
        if (r == READ_NONE || r == READ_FULL) break;
    }
    return SF_OK;
}

/* Names in the blob: bytes that would break its lines are written %XX. */
static size_t encode_name(const char *name, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t k = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if (*p <= ' ' || *p == '%' || *p == 0x7f) {
            out[k++] = '%';
            out[k++] = hex[*p >> 4];
            out[k++] = hex[*p & 15];
        } else {
            out[k++] = (char)*p;
        }
    }
    out[k] = '\0';
    return k;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static bool decode_name(const char *in, size_t len, char *out)
{
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        if (in[i] != '%') {
            out[k++] = in[i];
            continue;
        }
        if (i + 2 >= len) return false;
        int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
        if (hi < 0 || lo < 0 || (hi | lo) == 0) return false;
        out[k++] = (char)(hi * 16 + lo);
        i += 2;
    }
    out[k] = '\0';
    return k > 0 && !strchr(out, '/');
}

static sf_status dir_state(sf_source *s, sf_source_state *out)
{
    dir_source *ds = (dir_source *)s;
    out->blob = NULL;
    size_t cap = 128 + (ds->cur ? 3 * strlen(ds->cur) : 0);
    for (size_t i = 0; i < ds->done.n; i++)
        cap += 3 * strlen(ds->done.v[i]) + 8;
    char *b = malloc(cap), *p = b;
    if (!b) return SF_ERR_NO_MEMORY;
    p += sprintf(p, "dir v1\nnext %" PRIu32 "\n", ds->next_ordinal);
    if (ds->cur) {
        p += sprintf(p, "current %" PRIu32 " %" PRId64 " %" PRIu64 " ", ds->cur_ordinal,
                     ds->lr.done_off, ds->lr.done_line);
        p += encode_name(ds->cur, p);
        *p++ = '\n';
    }
    for (size_t i = 0; i < ds->done.n; i++) {
        p += sprintf(p, "done ");
        p += encode_name(ds->done.v[i], p);
        *p++ = '\n';
    }
    *p = '\0';
    out->blob = b;
    return SF_OK;
}

static void dir_destroy(sf_source *s)
{
    dir_source *ds = (dir_source *)s;
    if (!ds) return;
    lr_free(&ds->lr);
    if (ds->dirfd >= 0) close(ds->dirfd);
    set_free(&ds->done);
    set_free(&ds->pending);
    free(ds->cur);
    free(ds->dir);
    free(ds);
}

static const sf_source_ops dir_ops = {
    .poll = dir_poll,
    .state = dir_state,
    .commit = no_commit,
    .destroy = dir_destroy,
};

/* Parse a dir blob: done names, next ordinal, and the current file (opened). */
static sf_status dir_resume(dir_source *ds, const char *blob, char *err, size_t errlen)
{
    if (strncmp(blob, "dir v1\n", 7) != 0) {
        snprintf(err, errlen,
                 "the saved position for dir:%s is not a directory position (was the "
                 "source changed?)",
                 ds->dir);
        return SF_ERR_INVALID_ARGUMENT;
    }
    const char *p = blob + 7;
    char *name = malloc(strlen(blob) + 1);
    if (!name) return SF_ERR_NO_MEMORY;
    bool has_cur = false;
    long long cur_off = 0;
    unsigned long long cur_line = 0;
    unsigned long cur_ord = 0;
    char *cur_name = NULL;
    sf_status st = SF_OK;
    while (*p && st == SF_OK) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        unsigned long v;
        int used = 0;
        if (len > 5 && strncmp(p, "done ", 5) == 0) {
            if (!decode_name(p + 5, len - 5, name))
                st = SF_ERR_INVALID_ARGUMENT;
            else if (!set_add(&ds->done, name))
                st = SF_ERR_NO_MEMORY;
        } else if (sscanf(p, "next %lu%n", &v, &used) == 1 && (size_t)used == len &&
                   v <= UINT32_MAX) {
            ds->next_ordinal = (uint32_t)v;
        } else if (sscanf(p, "current %lu %lld %llu %n", &cur_ord, &cur_off, &cur_line, &used) ==
                       3 &&
                   (size_t)used < len && cur_off >= 0 && cur_ord <= UINT32_MAX && !has_cur) {
            has_cur = true;
            if (!decode_name(p + used, len - (size_t)used, name))
                st = SF_ERR_INVALID_ARGUMENT;
            else if (!(cur_name = strdup(name)))
                st = SF_ERR_NO_MEMORY;
        } else {
            st = SF_ERR_INVALID_ARGUMENT;
        }
        if (st == SF_ERR_INVALID_ARGUMENT)
            snprintf(err, errlen, "the saved position for dir:%s is damaged near '%.*s'", ds->dir,
                     (int)(len > 60 ? 60 : len), p);
        p += len + (eol ? 1 : 0);
    }
    free(name);
    if (st == SF_OK && has_cur) {
        if (!name_in(&ds->done, cur_name) &&
            dir_open_file(ds, cur_name, cur_off, cur_line, (uint32_t)cur_ord) == OPEN_SKIP &&
            !set_add(&ds->done, cur_name))
            st = SF_ERR_NO_MEMORY;
    }
    free(cur_name);
    return st;
}

sf_status sf_source_dir_open(const sf_source_options *opt, const char *path, sf_source **out,
                             char *err, size_t errlen)
{
    dir_source *ds = calloc(1, sizeof *ds);
    if (!ds) return SF_ERR_NO_MEMORY;
    ds->dirfd = -1;
    if (!lr_init(&ds->lr) || !(ds->dir = strdup(path))) {
        dir_destroy(&ds->base);
        return SF_ERR_NO_MEMORY;
    }
    ds->base.ops = &dir_ops;
    ds->nt = (notifier){opt->notice, opt->notice_user};
    ds->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (ds->dirfd < 0) {
        snprintf(err, errlen, "cannot open directory '%s': %s", path, strerror(errno));
        dir_destroy(&ds->base);
        return errno == ENOTDIR ? SF_ERR_INVALID_ARGUMENT : SF_ERR_IO;
    }
    if (opt->resume) {
        sf_status st = dir_resume(ds, opt->resume, err, errlen);
        if (st != SF_OK) {
            dir_destroy(&ds->base);
            return st;
        }
    }
    *out = &ds->base;
    return SF_OK;
}
