/*
 * sink_file.c — outputs appended to a file (file:PATH) or written to stdout:
 * one line per record, buffered; a batch of lines goes out at once
 * (write_text, then the buffer is pushed to the file so readers see each
 * batch); flush() pushes the buffer out and, for a file, fsyncs it so a checkpoint taken afterwards
 * never refers to output that a crash could lose.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sink_file.h"

#define SINK_FILE_BUFFER ((size_t)1 << 20)

struct sink_file {
    FILE *f;
    char *path; /* NULL: stdout */
    char *buf;  /* stdio buffer (glibc ignores the size unless we pass one) */
    char error[512];
};

static sf_status failed(sink_file *s, const char *what)
{
    snprintf(s->error, sizeof s->error, "cannot %s %s: %s", what, s->path ? s->path : "stdout",
             strerror(errno));
    return SF_ERR_IO;
}

sf_status sf_sink_file_open(const char *path, sink_file **out, char *err, size_t errlen)
{
    sink_file *s = calloc(1, sizeof *s);
    if (!s || (path && !(s->path = strdup(path)))) {
        free(s);
        return SF_ERR_NO_MEMORY;
    }
    if (path) {
        int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
        s->f = fd >= 0 ? fdopen(fd, "a") : NULL;
        if (!s->f) {
            snprintf(err, errlen, "cannot open '%s' for appending: %s", path, strerror(errno));
            if (fd >= 0) close(fd);
            free(s->path);
            free(s);
            return SF_ERR_IO;
        }
        s->buf = malloc(SINK_FILE_BUFFER);
        if (s->buf) setvbuf(s->f, s->buf, _IOFBF, SINK_FILE_BUFFER);
    } else {
        s->f = stdout;
    }
    *out = s;
    return SF_OK;
}

sf_status sf_sink_file_write(sink_file *s, const char *value, size_t value_len)
{
    if (ferror(s->f)) return SF_ERR_IO;
    /* One lock for the line and its newline: two sinks on stdout written from
     * two threads (predictions, dead letters) never interleave inside a line. */
    flockfile(s->f);
    bool ok = (!value_len || fwrite_unlocked(value, 1, value_len, s->f) == value_len) &&
              putc_unlocked('\n', s->f) != EOF;
    funlockfile(s->f);
    return ok ? SF_OK : failed(s, "write to");
}

sf_status sf_sink_file_write_text(sink_file *s, const char *text, size_t len)
{
    if (ferror(s->f)) return SF_ERR_IO;
    if (len && fwrite(text, 1, len, s->f) != len) return failed(s, "write to");
    if (fflush(s->f) != 0) return failed(s, "write to");
    return SF_OK;
}

sf_status sf_sink_file_flush(sink_file *s)
{
    if (ferror(s->f)) return SF_ERR_IO; /* a write failed: its error stays */
    if (fflush(s->f) != 0) return failed(s, "write to");
    /* Pipes, terminals and special files cannot be synced: nothing to wait for. */
    if (fsync(fileno(s->f)) != 0 && errno != EINVAL && errno != EROFS && errno != ENOTSUP)
        return failed(s, "sync");
    return SF_OK;
}

const char *sf_sink_file_error(const sink_file *s) { return s ? s->error : ""; }

void sf_sink_file_destroy(sink_file *s)
{
    if (!s) return;
    if (s->f == stdout)
        fflush(stdout);
    else if (s->f)
        fclose(s->f);
    free(s->buf); /* after fclose, which still writes from it */
    free(s->path);
    free(s);
}
