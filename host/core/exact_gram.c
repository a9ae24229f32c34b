/*
 * exact_gram.c — exact (double-double) sums of a stream's shifted augmented
 * rows; see exact_gram.h. About p^2 / 2 double-double multiply-adds a row:
 * the trainer keeps them only for streams that need them.
 */
#include "exact_gram.h"

#include <stdlib.h>
#include <string.h>

static size_t packed(size_t p) { return p * (p + 1) / 2; }

static size_t at(size_t i, size_t j) { return j * (j + 1) / 2 + i; } /* i <= j */

sf_exact_gram *sf_exact_gram_create(size_t d)
{
    if (d > SF_EXACT_GRAM_MAX_FEATURES) return NULL;
    sf_exact_gram *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->p = d + 1;
    g->shift = calloc(g->p, sizeof(double));
    g->s1 = calloc(g->p, sizeof(sf_dd));
    g->s2 = calloc(packed(g->p), sizeof(sf_dd));
    if (!g->shift || !g->s1 || !g->s2) {
        sf_exact_gram_destroy(g);
        return NULL;
    }
    return g;
}

void sf_exact_gram_destroy(sf_exact_gram *g)
{
    if (!g) return;
    free(g->shift);
    free(g->s1);
    free(g->s2);
    free(g);
}

/* acc += a b, the product split exactly. */
static void add_product(sf_dd *acc, double a, double b)
{
    *acc = sf_dd_add(*acc, sf_dd_two_prod(a, b));
}

void sf_exact_gram_add_rows(sf_exact_gram *g, const double *X, const double *y, size_t rows)
{
    size_t p = g->p, d = p - 1;
    if (rows == 0) return;
    if (!g->shifted) {
        memcpy(g->shift, X, sizeof(double) * d);
        g->shift[d] = y[0];
        g->shifted = true;
    }
    double a[SF_EXACT_GRAM_MAX_FEATURES + 1];
    for (size_t i = 0; i < rows; i++) {
        for (size_t j = 0; j < d; j++)
            a[j] = X[i * d + j] - g->shift[j];
        a[d] = y[i] - g->shift[d];
        g->n = sf_dd_add(g->n, sf_dd_of(1.0));
        for (size_t j = 0; j < p; j++) {
            g->s1[j] = sf_dd_add(g->s1[j], sf_dd_of(a[j]));
            sf_dd *col = g->s2 + at(0, j);
            for (size_t k = 0; k <= j; k++)
                add_product(&col[k], a[k], a[j]);
        }
    }
}

void sf_exact_gram_scale(sf_exact_gram *g, double f)
{
    g->n = sf_dd_mul_d(g->n, f);
    for (size_t j = 0; j < g->p; j++)
        g->s1[j] = sf_dd_mul_d(g->s1[j], f);
    for (size_t k = 0; k < packed(g->p); k++)
        g->s2[k] = sf_dd_mul_d(g->s2[k], f);
}

void sf_exact_gram_merge(sf_exact_gram *g, const sf_exact_gram *o)
{
    size_t p = g->p;
    if (!o->shifted) return;
    if (!g->shifted) {
        memcpy(g->shift, o->shift, sizeof(double) * p);
        g->shifted = true;
    }
    /* o's rows about g's shift: a + delta, delta = o.shift - g.shift (exact). */
    sf_dd delta[SF_EXACT_GRAM_MAX_FEATURES + 1];
    for (size_t j = 0; j < p; j++)
        delta[j] = sf_dd_two_sum(o->shift[j], -g->shift[j]);
    for (size_t j = 0; j < p; j++)
        for (size_t i = 0; i <= j; i++) {
            sf_dd s = o->s2[at(i, j)];
            s = sf_dd_add(s, sf_dd_mul(delta[i], o->s1[j]));
            s = sf_dd_add(s, sf_dd_mul(o->s1[i], delta[j]));
            s = sf_dd_add(s, sf_dd_mul(o->n, sf_dd_mul(delta[i], delta[j])));
            g->s2[at(i, j)] = sf_dd_add(g->s2[at(i, j)], s);
        }
    for (size_t j = 0; j < p; j++)
        g->s1[j] = sf_dd_add(g->s1[j], sf_dd_add(o->s1[j], sf_dd_mul(o->n, delta[j])));
    g->n = sf_dd_add(g->n, o->n);
}

void sf_exact_gram_moments(const sf_exact_gram *g, bool centered, sf_dd *mean, sf_dd *M)
{
    size_t p = g->p;
    sf_dd n = g->n;
    for (size_t j = 0; j < p; j++) {
        sf_dd m1 = n.hi > 0 ? sf_dd_div(g->s1[j], n) : sf_dd_of(0.0); /* mean of a */
        mean[j] = sf_dd_add(sf_dd_of(g->shift[j]), m1);
    }
    for (size_t j = 0; j < p; j++)
        for (size_t i = 0; i <= j; i++) {
            sf_dd s = g->s2[at(i, j)];
            if (centered && n.hi > 0) { /* S2 - S1 S1^T / n */
                s = sf_dd_sub(s, sf_dd_div(sf_dd_mul(g->s1[i], g->s1[j]), n));
            } else if (!centered) { /* + c S1^T + S1 c^T + n c c^T */
                double ci = g->shift[i], cj = g->shift[j];
                s = sf_dd_add(s, sf_dd_mul_d(g->s1[j], ci));
                s = sf_dd_add(s, sf_dd_mul_d(g->s1[i], cj));
                s = sf_dd_add(s, sf_dd_mul(n, sf_dd_two_prod(ci, cj)));
            }
            M[j * p + i] = M[i * p + j] = s;
        }
}

size_t sf_exact_gram_doubles(size_t p) { return 3 + p + 2 * p + 2 * packed(p); }

void sf_exact_gram_pack(const sf_exact_gram *g, double *out)
{
    size_t p = g->p;
    *out++ = g->shifted ? 1.0 : 0.0;
    *out++ = g->n.hi;
    *out++ = g->n.lo;
    for (size_t j = 0; j < p; j++)
        *out++ = g->shift[j];
    for (size_t j = 0; j < p; j++) {
        *out++ = g->s1[j].hi;
        *out++ = g->s1[j].lo;
    }
    for (size_t k = 0; k < packed(p); k++) {
        *out++ = g->s2[k].hi;
        *out++ = g->s2[k].lo;
    }
}

bool sf_exact_gram_unpack(sf_exact_gram *g, const double *in)
{
    size_t p = g->p;
    if (in[0] != 0.0 && in[0] != 1.0) return false;
    g->shifted = *in++ != 0.0;
    g->n = (sf_dd){in[0], in[1]};
    in += 2;
    for (size_t j = 0; j < p; j++)
        g->shift[j] = *in++;
    for (size_t j = 0; j < p; j++, in += 2)
        g->s1[j] = (sf_dd){in[0], in[1]};
    for (size_t k = 0; k < packed(p); k++, in += 2)
        g->s2[k] = (sf_dd){in[0], in[1]};
    return true;
}

static bool dd_finite(const sf_dd *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(a[i].hi) || !isfinite(a[i].lo)) return false;
    return true;
}

bool sf_exact_gram_finite(const sf_exact_gram *g)
{
    for (size_t j = 0; j < g->p; j++)
        if (!isfinite(g->shift[j])) return false;
    return dd_finite(&g->n, 1) && dd_finite(g->s1, g->p) && dd_finite(g->s2, packed(g->p));
}
