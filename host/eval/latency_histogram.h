/*
 * latency_histogram.h — latencies in microseconds counted in log-linear
 * buckets (64 per power of two, so a bucket is at most 1/64 of its values
 * wide), for streaming quantiles without keeping or sorting the values.
 */
#ifndef STREAMFIT_LATENCY_HISTOGRAM_H
#define STREAMFIT_LATENCY_HISTOGRAM_H

#include <stdint.h>

#define SF_LATENCY_SUB_BITS 6
#define SF_LATENCY_SUB (1 << SF_LATENCY_SUB_BITS)
#define SF_LATENCY_MAX_BITS 40 /* values up to 2^40 us (12.7 days); above: the top bucket */
#define SF_LATENCY_BUCKETS (SF_LATENCY_SUB * (SF_LATENCY_MAX_BITS - SF_LATENCY_SUB_BITS + 1))

typedef struct sf_latency_histogram {
    uint64_t counts[SF_LATENCY_BUCKETS];
    uint64_t total;
    int64_t max_us; /* the largest value added (-1: none) */
} sf_latency_histogram;

void sf_latency_histogram_reset(sf_latency_histogram *h);
/* Negative values (clocks of different hosts) count as 0. */
void sf_latency_histogram_add(sf_latency_histogram *h, int64_t us);
/* The q-quantile (0 < q <= 1, nearest rank): the middle of the bucket that
 * holds it, capped at the largest value; -1 when empty. */
int64_t sf_latency_histogram_quantile(const sf_latency_histogram *h, double q);
/* The width of the bucket that holds `us` (the quantile's resolution there). */
int64_t sf_latency_histogram_resolution(int64_t us);

/* Which of the SF_STREAM_LATENCY_EDGES_MS buckets (streamfit_stream.h)
 * `us` falls in: 0 up to 1 ms, ..., the last above 5 s. */
int sf_latency_edge_bucket(int64_t us);

#endif
