/*
 * bench_data.c — the rows of `streamfit bench`: a seeded generator with a
 * known true model, or a CSV read with the library's parser; the holdout
 * split; and the generated rows written as a CSV for the peers.
 *
 * Generated features are N(0,1) rounded to a 1e-5 grid: each is the double
 * nearest to k / 100000, which is also what a correctly rounded parser reads
 * back from "%.5f", so the CSV the peers read holds exactly the rows the
 * platforms fitted. True models (w_j = (-1)^j / sqrt(j + 1), b = 0.5, as
 * bench/gen_data.py):
 *   ols, ridge   y = x.w + b + N(0, 0.1^2), on the same grid;
 *   logistic     y ~ Bernoulli(sigmoid(x.w + b));
 *   softmax      y = argmax_k (x.W_k + G_k), W_kj ~ N(0,1) / sqrt(j + 1) drawn
 *                from the seed and G_k Gumbel noise, which samples the softmax
 *                of the scores exactly.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "class_labels.h"
#include "parse.h"

#define GRID 100000.0 /* features and regression labels are multiples of 1/GRID */

typedef struct rng {
    uint64_t s;
    bool has_spare;
    double spare;
} rng;

static uint64_t next_u64(rng *r) /* splitmix64 */
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in (0, 1), never 0 or 1. */
static double uniform(rng *r) { return ((double)(next_u64(r) >> 11) + 0.5) * 0x1p-53; }

static double normal(rng *r) /* Marsaglia's polar method */
{
    if (r->has_spare) {
        r->has_spare = false;
        return r->spare;
    }
    double u, v, s;
    do {
        u = 2.0 * uniform(r) - 1.0;
        v = 2.0 * uniform(r) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    double f = sqrt(-2.0 * log(s) / s);
    r->spare = v * f;
    r->has_spare = true;
    return u * f;
}

static double on_grid(double v) { return round(v * GRID) / GRID; }

size_t bench_holdout_rows(size_t n, double fraction)
{
    double h = floor((double)n * fraction);
    return h < 0 ? 0 : (size_t)h;
}

static void set_split(const bench_config *c, bench_data *d)
{
    d->n_hold = bench_holdout_rows(d->n, c->holdout);
    d->n_train = d->n - d->n_hold;
}

void bench_data_free(bench_data *d)
{
    if (!d) return;
    free(d->X);
    free(d->y);
    memset(d, 0, sizeof *d);
}

sf_status bench_generate(const bench_config *c, bench_data *out)
{
    memset(out, 0, sizeof *out);
    size_t n = c->rows, d = c->d, K = c->K;
    size_t outs = c->model == SF_MODEL_SOFTMAX ? K : 1;
    out->X = malloc(sizeof(double) * n * d);
    out->y = malloc(sizeof(double) * n);
    double *W = malloc(sizeof(double) * (outs * d + K + 1));
    if (!out->X || !out->y || !W) {
        free(W);
        bench_data_free(out);
        return SF_ERR_NO_MEMORY;
    }
    out->n = n;
    out->d = d;
    out->K = K;
    set_split(c, out);
    rng model_rng = {.s = c->seed ^ 0x5EEDF00Dull};
    for (size_t k = 0; k < outs; k++)
        for (size_t j = 0; j < d; j++)
            W[k * d + j] = c->model == SF_MODEL_SOFTMAX
                               ? normal(&model_rng) / sqrt((double)j + 1.0)
                               : ((j % 2) ? -1.0 : 1.0) / sqrt((double)j + 1.0);
    double *score = W + outs * d;
    rng r = {.s = c->seed};
    for (size_t i = 0; i < n; i++) {
        double *x = out->X + i * d;
        for (size_t j = 0; j < d; j++)
            x[j] = on_grid(normal(&r));
        for (size_t k = 0; k < outs; k++) {
            double t = c->model == SF_MODEL_SOFTMAX ? 0.0 : 0.5;
            for (size_t j = 0; j < d; j++)
                t += W[k * d + j] * x[j];
            score[k] = t;
        }
        switch (c->model) {
        case SF_MODEL_OLS:
        case SF_MODEL_RIDGE: out->y[i] = on_grid(score[0] + 0.1 * normal(&r)); break;
        case SF_MODEL_LOGISTIC:
            out->y[i] = uniform(&r) < 1.0 / (1.0 + exp(-score[0])) ? 1.0 : 0.0;
            break;
        case SF_MODEL_SOFTMAX: {
            size_t best = 0;
            double top = -INFINITY;
            for (size_t k = 0; k < K; k++) {
                double g = score[k] - log(-log(uniform(&r)));
                if (g > top) {
                    top = g;
                    best = k;
                }
            }
            out->y[i] = (double)best;
            break;
        }
        }
    }
    free(W);
    return SF_OK;
}

/* Labels to class indices under the library's class-label policy
 * (class_labels.h). A benchmark input must be clean: a label that is no
 * class is an error here, not a skipped row. */
static bool map_labels(const bench_config *c, bench_data *d, char *err, size_t errlen)
{
    if (c->model != SF_MODEL_LOGISTIC && c->model != SF_MODEL_SOFTMAX) return true;
    double *cls = NULL;
    size_t K = 0;
    sf_status st = sf_class_labels_choose(c->model, d->y, d->n, &cls, &K, err, errlen);
    if (st == SF_ERR_NO_MEMORY) snprintf(err, errlen, "out of memory");
    if (st != SF_OK) return false;
    for (size_t i = 0; i < d->n; i++) {
        long k = sf_class_index(cls, K, d->y[i]);
        if (k < 0) {
            snprintf(err, errlen, "row %zu: label %.17g is no %s class (%s)", i + 1, d->y[i],
                     sf_model_kind_name(c->model),
                     c->model == SF_MODEL_SOFTMAX ? "classes are integers"
                                                  : "logistic classes are 0 and 1 unless the "
                                                    "label has exactly two values");
            free(cls);
            return false;
        }
        d->y[i] = (double)k;
    }
    d->K = K;
    free(cls);
    return true;
}

sf_status bench_load_input(const bench_config *c, int threads, bench_data *out, char *err,
                           size_t errlen)
{
    memset(out, 0, sizeof *out);
    sf_parse_options opt;
    sf_parse_options_init(&opt);
    opt.has_header = c->has_header;
    opt.threads = threads;
    sf_table t;
    memset(&t, 0, sizeof t);
    err[0] = 0;
    sf_status st = sf_parse_file(c->input, &opt, &t, err, errlen);
    if (st != SF_OK) {
        if (!err[0]) snprintf(err, errlen, "%s: %s", c->input, sf_strerror(st));
        sf_table_free(&t);
        return st;
    }
    if (t.rows == 0 || !t.has_label) {
        snprintf(err, errlen, "%s: no labelled rows", c->input);
        sf_table_free(&t);
        return SF_ERR_EMPTY;
    }
    out->n = t.rows;
    out->d = t.d;
    out->X = t.X;
    out->y = t.y;
    out->bad_rows = t.bad_rows;
    t.X = t.y = NULL; /* now owned by out */
    sf_table_free(&t);
    set_split(c, out);
    if (!map_labels(c, out, err, errlen)) {
        bench_data_free(out);
        return SF_ERR_BAD_LABEL;
    }
    if (out->n_train == 0) {
        snprintf(err, errlen, "%s: no rows left to train on after the holdout", c->input);
        bench_data_free(out);
        return SF_ERR_EMPTY;
    }
    return SF_OK;
}

/* v is k / GRID for an integer k: print it exactly with 5 decimals. */
static char *put_grid(char *p, double v)
{
    long long k = llround(v * GRID);
    if (k < 0) {
        *p++ = '-';
        k = -k;
    }
    p += sprintf(p, "%lld.%05lld", k / 100000, k % 100000);
    return p;
}

bool bench_write_csv(const bench_data *d, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return false;
    }
    fputs("y", f);
    for (size_t j = 0; j < d->d; j++)
        fprintf(f, ",x%zu", j + 1);
    fputc('\n', f);
    char *line = malloc(32 * (d->d + 1) + 2);
    bool ok = line != NULL;
    for (size_t i = 0; ok && i < d->n; i++) {
        char *p = line;
        if (d->K)
            p += sprintf(p, "%lld", (long long)d->y[i]);
        else
            p = put_grid(p, d->y[i]);
        for (size_t j = 0; j < d->d; j++) {
            *p++ = ',';
            p = put_grid(p, d->X[i * d->d + j]);
        }
        *p++ = '\n';
        ok = fwrite(line, 1, (size_t)(p - line), f) == (size_t)(p - line);
    }
    free(line);
    if (fclose(f) != 0) ok = false;
    if (!ok) snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
    return ok;
}
