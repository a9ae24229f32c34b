/*
 * auc_count.c — exact AUC counts by sorting (see the header).
 */
#include "auc_count.h"

#include <stdint.h>
#include <string.h>

/* The double's bits as an unsigned integer of the same order (negatives
 * flipped, positives with the sign bit set), and back. */
static uint64_t to_ordered(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return (u >> 63) ? ~u : u | ((uint64_t)1 << 63);
}

static double from_ordered(uint64_t u)
{
    u = (u >> 63) ? u & ~((uint64_t)1 << 63) : ~u;
    double x;
    memcpy(&x, &u, sizeof x);
    return x;
}

void sf_sort_doubles(double *v, size_t n, uint64_t *scratch)
{
    if (n < 2) return;
    /* LSD radix sort, 8 digits of 8 bits, all histograms in one pass; a
     * digit every key shares (the high bits of probabilities) is skipped. */
    size_t count[8][256];
    memset(count, 0, sizeof count);
    uint64_t *a = scratch, *b = scratch + n;
    for (size_t i = 0; i < n; i++) {
        uint64_t u = to_ordered(v[i]);
        a[i] = u;
        for (int k = 0; k < 8; k++)
            count[k][(u >> (8 * k)) & 0xff]++;
    }
    for (int k = 0; k < 8; k++) {
        size_t *c = count[k];
        if (c[(a[0] >> (8 * k)) & 0xff] == n) continue;
        size_t sum = 0;
        for (int j = 0; j < 256; j++) {
            size_t t = c[j];
            c[j] = sum;
            sum += t;
        }
        for (size_t i = 0; i < n; i++)
            b[c[(a[i] >> (8 * k)) & 0xff]++] = a[i];
        uint64_t *t = a;
        a = b;
        b = t;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = from_ordered(a[i]);
}

double sf_auc_pairs2(double *pos, size_t np, double *neg, size_t nn, uint64_t *scratch)
{
    sf_sort_doubles(pos, np, scratch);
    sf_sort_doubles(neg, nn, scratch);
    /* Each positive adds 2 #(neg below) + #(neg equal): every term is an
     * integer, so the sum is exact in any order. */
    size_t below = 0, upto = 0;
    double pairs = 0;
    for (size_t i = 0; i < np; i++) {
        while (below < nn && neg[below] < pos[i])
            below++;
        if (upto < below) upto = below;
        while (upto < nn && neg[upto] <= pos[i])
            upto++;
        pairs += 2.0 * (double)below + (double)(upto - below);
    }
    return pairs;
}
