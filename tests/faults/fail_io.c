/*
 * fail_io.c — a test-only LD_PRELOAD library that makes file system calls fail
 * on purpose, to prove that streamfit reports a failed write and never leaves
 * a half-written file behind.
 *
 *   SF_FAIL_IO="CALL:PATTERN:AFTER[:ERRNO]"
 *
 * CALL is write, fsync or rename; calls on a path containing PATTERN (for
 * write and fsync the path the file descriptor was opened with; for rename
 * the destination) succeed AFTER times, then fail with ERRNO (ENOSPC for
 * write, EIO otherwise, or a number given). Other calls pass through.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char call[16], pattern[PATH_MAX];
static long remaining = -1;
static int fail_errno;

static void setup(void)
{
    static int done;
    if (done) return;
    done = 1;
    const char *spec = getenv("SF_FAIL_IO");
    if (!spec) return;
    char buf[PATH_MAX + 64];
    snprintf(buf, sizeof buf, "%s", spec);
    char *save = NULL, *c = strtok_r(buf, ":", &save), *p = strtok_r(NULL, ":", &save),
         *a = strtok_r(NULL, ":", &save), *e = strtok_r(NULL, ":", &save);
    if (!c || !p || !a) return;
    snprintf(call, sizeof call, "%s", c);
    snprintf(pattern, sizeof pattern, "%s", p);
    remaining = strtol(a, NULL, 10);
    fail_errno = e ? (int)strtol(e, NULL, 10) : strcmp(call, "write") == 0 ? ENOSPC : EIO;
}

/* Whether this call on `path` is the one to fail. */
static int should_fail(const char *which, const char *path)
{
    setup();
    if (remaining < 0 || strcmp(which, call) != 0 || !path || !strstr(path, pattern)) return 0;
    if (remaining > 0) {
        remaining--;
        return 0;
    }
    return 1;
}

static int fd_path(int fd, char *out, size_t len)
{
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, out, len - 1);
    if (n < 0) return 0;
    out[n] = 0;
    return 1;
}

ssize_t write(int fd, const void *buf, size_t n)
{
    static ssize_t (*real)(int, const void *, size_t);
    if (!real) real = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    setup();
    char path[PATH_MAX];
    if (fd > 2 && remaining >= 0 && fd_path(fd, path, sizeof path) && should_fail("write", path)) {
        errno = fail_errno;
        return -1;
    }
    return real(fd, buf, n);
}

int fsync(int fd)
{
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    char path[PATH_MAX];
    if (fd_path(fd, path, sizeof path) && should_fail("fsync", path)) {
        errno = fail_errno;
        return -1;
    }
    return real(fd);
}

int rename(const char *from, const char *to)
{
    static int (*real)(const char *, const char *);
    if (!real) real = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
    if (should_fail("rename", to)) {
        errno = fail_errno;
        return -1;
    }
    return real(from, to);
}
