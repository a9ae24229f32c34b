/*
 * latency_histogram.c — log-linear latency buckets (see the header).
 * Values below 64 us have a bucket each; a value v >= 64 with its highest
 * bit at e falls in one of 64 buckets of width 2^(e-6) between 2^e and 2^(e+1).
 */
#include "latency_histogram.h"
#include "streamfit_stream.h"

#include <string.h>

static int bucket_of(int64_t us)
{
    if (us < 0) us = 0;
    uint64_t v = (uint64_t)us;
    if (v < SF_LATENCY_SUB) return (int)v;
    int e = 63 - __builtin_clzll(v);
    if (e >= SF_LATENCY_MAX_BITS) return SF_LATENCY_BUCKETS - 1;
    int sub = (int)((v >> (e - SF_LATENCY_SUB_BITS)) & (SF_LATENCY_SUB - 1));
    return SF_LATENCY_SUB * (e - SF_LATENCY_SUB_BITS + 1) + sub;
}

/* The lowest value of bucket b and its width. */
static void bucket_range(int b, int64_t *lo, int64_t *width)
{
    if (b < SF_LATENCY_SUB) {
        *lo = b;
        *width = 1;
        return;
    }
    int e = b / SF_LATENCY_SUB + SF_LATENCY_SUB_BITS - 1, sub = b % SF_LATENCY_SUB;
    *width = (int64_t)1 << (e - SF_LATENCY_SUB_BITS);
    *lo = ((int64_t)1 << e) + sub * *width;
}

void sf_latency_histogram_reset(sf_latency_histogram *h)
{
    memset(h->counts, 0, sizeof h->counts);
    h->total = 0;
    h->max_us = -1;
}

void sf_latency_histogram_add(sf_latency_histogram *h, int64_t us)
{
    if (us < 0) us = 0;
    h->counts[bucket_of(us)]++;
    h->total++;
    if (us > h->max_us) h->max_us = us;
}

int64_t sf_latency_histogram_quantile(const sf_latency_histogram *h, double q)
{
    if (h->total == 0) return -1;
    if (q > 1) q = 1;
    uint64_t rank = (uint64_t)((double)h->total * q + 0.999999999); /* ceil, nearest rank */
    if (rank < 1) rank = 1;
    if (rank > h->total) rank = h->total;
    uint64_t seen = 0;
    for (int b = 0; b < SF_LATENCY_BUCKETS; b++) {
        seen += h->counts[b];
        if (seen < rank) continue;
        if (b == SF_LATENCY_BUCKETS - 1) return h->max_us; /* the open-ended top */
        int64_t lo, width;
        bucket_range(b, &lo, &width);
        int64_t mid = lo + width / 2;
        return mid < h->max_us ? mid : h->max_us;
    }
    return h->max_us;
}

int64_t sf_latency_histogram_resolution(int64_t us)
{
    int64_t lo, width;
    bucket_range(bucket_of(us), &lo, &width);
    return width;
}

int sf_latency_edge_bucket(int64_t us)
{
    static const int64_t edges_ms[] = SF_STREAM_LATENCY_EDGES_MS;
    int i = 0;
    while (i < (int)(sizeof edges_ms / sizeof edges_ms[0]) && us > edges_ms[i] * 1000)
        i++;
    return i;
}
