/*
 * model_version.c — the version of a model (streamfit.h, sf_model_version):
 * stream batches learned plus a short hash of the parameters, so that a
 * prediction, a metrics line, a checkpoint and a model file can be matched
 * to the model that made or holds them.
 *
 * The hash is FNV-1a (64-bit) over, in this order: the kind's name with its
 * NUL, then n_features, n_outputs and n_classes as little-endian uint64,
 * then the classes, the intercepts and the coefficients (outputs x features,
 * row-major) as little-endian float64 bytes; the two 32-bit halves are
 * XORed and printed as 8 lower-case hex digits. Any changed bit of a
 * parameter changes it (with the usual 1 in 2^32 chance of a collision).
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define FNV_OFFSET 1469598103934665603ULL
#define FNV_PRIME 1099511628211ULL

static uint64_t fnv_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * FNV_PRIME;
    return h;
}

/* Little-endian whatever the host: the version is the same on every machine. */
static uint64_t fnv_u64(uint64_t h, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    return fnv_bytes(h, b, sizeof b);
}

static uint64_t fnv_doubles(uint64_t h, const double *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        uint64_t bits;
        memcpy(&bits, &v[i], sizeof bits);
        h = fnv_u64(h, bits);
    }
    return h;
}

void sf_model_set_batches(sf_model *m, uint64_t batches)
{
    if (m) m->batches = batches;
}

uint64_t sf_model_batches(const sf_model *m) { return m ? m->batches : 0; }

void sf_model_version(const sf_model *m, char *buf, size_t len)
{
    if (!buf || !len) return;
    if (!m) {
        buf[0] = 0;
        return;
    }
    const char *kind = sf_model_kind_name(m->kind);
    uint64_t h = fnv_bytes(FNV_OFFSET, kind, strlen(kind) + 1);
    h = fnv_u64(h, m->d);
    h = fnv_u64(h, m->outputs);
    h = fnv_u64(h, m->K);
    h = fnv_doubles(h, m->classes, m->K);
    h = fnv_doubles(h, m->intercept, m->outputs);
    h = fnv_doubles(h, m->coef, m->outputs * m->d);
    snprintf(buf, len, "b%llu-%08x", (unsigned long long)m->batches,
             (unsigned)((h >> 32) ^ (h & 0xffffffffu)));
}
