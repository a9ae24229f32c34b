/*
 * bytes.h — a growable byte buffer for the binary state the library writes
 * (trainer state, stream metrics, checkpoints): append, and remember whether
 * memory ran out so that callers check once at the end.
 */
#ifndef STREAMFIT_BYTES_H
#define STREAMFIT_BYTES_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct sf_bytes {
    unsigned char *p;
    size_t len, cap;
    bool failed;
} sf_bytes;

static inline void sf_bytes_put(sf_bytes *b, const void *src, size_t n)
{
    if (b->failed || n == 0) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *q = realloc(b->p, cap);
        if (!q) {
            b->failed = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

#endif
