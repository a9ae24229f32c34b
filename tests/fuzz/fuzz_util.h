/*
 * fuzz_util.h — what the fuzz targets share: the input as a file (for the
 * loaders that take a path), and a failure that libFuzzer reports as a crash
 * (a broken invariant, not only a sanitizer finding).
 */
#ifndef STREAMFIT_FUZZ_UTIL_H
#define STREAMFIT_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "streamfit.h"

/* A broken invariant: print it and abort, which libFuzzer records as a crash. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz: invariant broken at %s:%d: %s\n", __FILE__, __LINE__, #cond);   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* A private temporary folder of this process (made once). */
static inline const char *fuzz_tmpdir(void)
{
    static char dir[64];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/streamfit-fuzz-XXXXXX");
        if (!mkdtemp(dir)) abort();
    }
    return dir;
}

/* Write bytes to DIR/name (replacing it); the path in `path`. */
static inline void fuzz_write_file(const char *name, const uint8_t *data, size_t size, char *path,
                                   size_t pathlen)
{
    snprintf(path, pathlen, "%s/%s", fuzz_tmpdir(), name);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    if (fclose(f) != 0) abort();
}

/* A context on one CPU thread, for targets that fit or predict. */
static inline sf_context *fuzz_cpu_context(void)
{
    sf_context_options co;
    sf_context_options_init(&co);
    co.device = SF_DEVICE_CPU;
    co.threads = 1;
    sf_context *ctx = NULL;
    if (sf_context_create(&co, &ctx) != SF_OK) abort();
    return ctx;
}

#endif
