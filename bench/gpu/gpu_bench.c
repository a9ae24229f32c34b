/*
 * gpu_bench.c — streamfit_gpu_bench: the backends' throughput on rows that
 * are already in host memory (float32 features, float64 labels), per feature
 * count d:
 *
 *   h2d        the pinned host-to-device bandwidth the staging ring gets:
 *              slots filled once, then only copied (SF_RING_SKIP_COMPUTE)
 *   ols        the least-squares update through the staging ring: each slot
 *              filled from the in-memory rows (all cores), copied and folded
 *              into the device statistics, then the statistics read back
 *              once; rows/s, GB/s of input, and the fraction of h2d
 *   logistic   one Newton epoch over device-resident float64 batches (at most
 *              --logistic-max-gb of them: fewer rows for d = 1024): loss,
 *              gradient and Hessian (logistic_terms); uploads not timed
 *
 * on each device asked for (cuda, cpu: the CPU backend on all cores). Every
 * figure is the median of --repeat runs. One JSON object per line goes to
 * --out (or nowhere), a Markdown table to stdout.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"

#define MAX_DIMS 16
#define MAX_REPEAT 50

typedef struct options {
    size_t dims[MAX_DIMS], n_dims;
    size_t rows, slot_rows, logistic_rows_cap;
    int repeat, threads;
    bool cuda, cpu;
    const char *out;
} options;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: streamfit_gpu_bench [--features 16,64,256,1024] [--rows 10000000]\n"
            "         [--slot-rows 65536] [--logistic-max-gb 24] [--repeat 3] [--threads N]\n"
            "         [--devices cuda,cpu] [--out results.jsonl]\n");
}

static bool parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v == 0) return false;
    *out = (size_t)v;
    return true;
}

static int parse_args(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof *o);
    size_t dflt[] = {16, 64, 256, 1024};
    memcpy(o->dims, dflt, sizeof dflt);
    o->n_dims = 4;
    o->rows = 10000000;
    o->slot_rows = 65536;
    o->logistic_rows_cap = (size_t)24 << 30; /* float64 rows on the device: d = 256 fits whole */
    o->repeat = 3;
    o->cuda = o->cpu = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        size_t n = 0;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage();
            exit(0);
        }
        if (!v) {
            fprintf(stderr, "streamfit_gpu_bench: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--features")) {
            o->n_dims = 0;
            char *copy = strdup(v), *save = NULL;
            for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                if (o->n_dims == MAX_DIMS || !parse_size(t, &o->dims[o->n_dims])) {
                    free(copy);
                    fprintf(stderr, "streamfit_gpu_bench: bad --features '%s'\n", v);
                    return 2;
                }
                o->n_dims++;
            }
            free(copy);
        } else if (!strcmp(a, "--rows") && parse_size(v, &n)) {
            o->rows = n;
        } else if (!strcmp(a, "--slot-rows") && parse_size(v, &n)) {
            o->slot_rows = n;
        } else if (!strcmp(a, "--logistic-max-gb") && parse_size(v, &n)) {
            o->logistic_rows_cap = n << 30;
        } else if (!strcmp(a, "--repeat") && parse_size(v, &n) && n <= MAX_REPEAT) {
            o->repeat = (int)n;
        } else if (!strcmp(a, "--threads") && parse_size(v, &n) && n < 4096) {
            o->threads = (int)n;
        } else if (!strcmp(a, "--devices")) {
            o->cuda = strstr(v, "cuda") != NULL;
            o->cpu = strstr(v, "cpu") != NULL;
            if (!o->cuda && !o->cpu) {
                fprintf(stderr, "streamfit_gpu_bench: --devices takes cuda and/or cpu\n");
                return 2;
            }
        } else if (!strcmp(a, "--out")) {
            o->out = v;
        } else {
            fprintf(stderr, "streamfit_gpu_bench: bad option or value: %s %s\n", a, v);
            usage();
            return 2;
        }
    }
    if (o->n_dims == 0) return 2;
    return 0;
}

/* ---- the rows in memory ---- */

typedef struct rows_in_memory {
    size_t n, d;
    float *X;
    double *y;
} rows_in_memory;

static bool make_rows(size_t n, size_t d, rows_in_memory *r)
{
    r->n = n;
    r->d = d;
    r->X = malloc(sizeof(float) * n * d);
    r->y = malloc(sizeof(double) * n);
    if (!r->X || !r->y) return false;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        uint64_t s = 0x9E3779B97F4A7C15ull * (i + 1);
        double t = 0;
        for (size_t j = 0; j < d; j++) {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            float x = (float)((double)(s >> 11) * 0x1.0p-53 * 2.0 - 1.0);
            r->X[i * d + j] = x;
            t += (j % 2 ? -0.5 : 1.0) * x;
        }
        r->y[i] = t;
    }
    return true;
}

static void free_rows(rows_in_memory *r)
{
    free(r->X);
    free(r->y);
}

/* ---- measurements ---- */

/* Parallel copy of rows [at, at + n) into a float32 slot (the "parse" stage). */
static void fill_slot(const rows_in_memory *r, size_t at, size_t n, const sf_ring_slot *s)
{
    float *X = s->X;
    size_t d = r->d, chunk = 4096;
#pragma omp parallel for schedule(static)
    for (size_t c = 0; c < (n + chunk - 1) / chunk; c++) {
        size_t i0 = c * chunk, m = n - i0 < chunk ? n - i0 : chunk;
        memcpy(X + i0 * d, r->X + (at + i0) * d, sizeof(float) * m * d);
        memcpy(s->y + i0, r->y + at + i0, sizeof(double) * m);
    }
}

/* Seconds to stream all rows through a float32 ring; `fill`: from memory
 * into each slot (else slots filled once and only resubmitted). */
static double ring_pass(sf_backend *be, const rows_in_memory *r, size_t slot_rows, unsigned flags,
                        bool fill)
{
    sf_ring *ring = NULL;
    sf_status st = be->ops->ring_create(be, r->d, slot_rows, 3, SF_RING_F32, flags, &ring);
    if (st != SF_OK) {
        fprintf(stderr, "streamfit_gpu_bench: ring_create: %s\n", sf_strerror(st));
        exit(1);
    }
    size_t p = r->d + 1;
    double n = 0, *mean = malloc(sizeof(double) * p), *m2 = malloc(sizeof(double) * p * p);
    sf_ring_slot slot;
    size_t cap = slot_rows;
    for (int s = 0; s < 3; s++) { /* every slot filled once, and a warm-up pass */
        if (be->ops->ring_acquire(be, ring, &slot) != SF_OK) exit(1);
        cap = slot.cap;
        fill_slot(r, 0, cap < r->n ? cap : r->n, &slot);
        if (be->ops->ring_submit(be, ring, cap < r->n ? cap : r->n, NULL) != SF_OK) exit(1);
    }
    if (be->ops->ring_read(be, ring, &n, mean, m2) != SF_OK) exit(1);
    double t0 = now_s();
    for (size_t at = 0; at < r->n; at += cap) {
        size_t k = r->n - at < cap ? r->n - at : cap;
        if (be->ops->ring_acquire(be, ring, &slot) != SF_OK) exit(1);
        if (fill) fill_slot(r, at, k, &slot);
        if (be->ops->ring_submit(be, ring, k, NULL) != SF_OK) exit(1);
    }
    st = be->ops->ring_read(be, ring, &n, mean, m2);
    double t = now_s() - t0;
    if (st != SF_OK || (!(flags & SF_RING_SKIP_COMPUTE) && n != (double)r->n)) {
        fprintf(stderr, "streamfit_gpu_bench: ring_read: %s (%.0f rows)\n", sf_strerror(st), n);
        exit(1);
    }
    be->ops->ring_destroy(be, ring);
    free(mean);
    free(m2);
    return t;
}

/* Seconds of one logistic Newton epoch (loss, gradient, Hessian) over the
 * first `n` rows, held on the backend as float64 batches of slot_rows
 * (borrowed from host memory by a host backend, uploaded by a device one). */
static double logistic_epoch(sf_backend *be, const rows_in_memory *r, size_t n, size_t slot_rows)
{
    size_t d = r->d, p = d + 1, nb = (n + slot_rows - 1) / slot_rows;
    double *X = malloc(sizeof(double) * n * d), *y = malloc(sizeof(double) * n);
    sf_dbatch **b = calloc(nb, sizeof *b);
    double *theta = malloc(sizeof(double) * p), *g = malloc(sizeof(double) * p),
           *H = malloc(sizeof(double) * p * p), loss = 0;
    if (!X || !y || !b || !theta || !g || !H) {
        fprintf(stderr, "streamfit_gpu_bench: out of host memory (logistic, d = %zu)\n", d);
        exit(1);
    }
#pragma omp parallel for schedule(static)
    for (size_t q = 0; q < n * d; q++)
        X[q] = r->X[q];
    for (size_t i = 0; i < n; i++)
        y[i] = r->y[i] > 0 ? 1.0 : 0.0;
    for (size_t k = 0; k < nb; k++) {
        size_t at = k * slot_rows, m = n - at < slot_rows ? n - at : slot_rows;
        sf_status st = be->ops->batch_borrow
                           ? be->ops->batch_borrow(be, X + at * d, y + at, m, d, &b[k])
                           : be->ops->batch_upload(be, X + at * d, y + at, m, d, &b[k]);
        if (st != SF_OK) {
            fprintf(stderr, "streamfit_gpu_bench: batch of %zu x %zu: %s\n", m, d, sf_strerror(st));
            exit(1);
        }
    }
    for (size_t j = 0; j < p; j++)
        theta[j] = 0.01 * (double)(j % 5);
    /* A warm-up call (workspaces, library start-up), then the timed epoch. */
    if (be->ops->logistic_terms(be, b[0], theta, &loss, g, H) != SF_OK) exit(1);
    double t0 = now_s();
    for (size_t k = 0; k < nb; k++)
        if (be->ops->logistic_terms(be, b[k], theta, &loss, g, H) != SF_OK) exit(1);
    double t = now_s() - t0;
    for (size_t k = 0; k < nb; k++)
        be->ops->batch_free(be, b[k]);
    free(b);
    free(X);
    free(y);
    free(theta);
    free(g);
    free(H);
    return t;
}

/* ---- one device, one d ---- */

typedef struct result {
    const char *device;
    size_t d, rows, logistic_rows;
    double h2d_s, ols_s, logistic_s; /* medians; h2d_s 0: not measured (host backend) */
} result;

static void measure(sf_backend *be, const options *o, const rows_in_memory *r, result *res)
{
    double h2d[MAX_REPEAT], ols[MAX_REPEAT], lg[MAX_REPEAT];
    bool device = be->ops->ring_async;
    size_t lrows = o->logistic_rows_cap / (sizeof(double) * (r->d + 1));
    if (lrows > r->n) lrows = r->n;
    for (int k = 0; k < o->repeat; k++) {
        h2d[k] = device ? ring_pass(be, r, o->slot_rows, SF_RING_SKIP_COMPUTE, false) : 0;
        ols[k] = ring_pass(be, r, o->slot_rows, 0, true);
        lg[k] = logistic_epoch(be, r, lrows, o->slot_rows);
    }
    res->device = be->ops->name;
    res->d = r->d;
    res->rows = r->n;
    res->logistic_rows = lrows;
    res->h2d_s = median(h2d, o->repeat);
    res->ols_s = median(ols, o->repeat);
    res->logistic_s = median(lg, o->repeat);
}

static double row_bytes(size_t d) { return (double)d * sizeof(float) + sizeof(double); }

static void print_json(FILE *f, const result *r, int threads)
{
    double gb = (double)r->rows * row_bytes(r->d) / 1e9;
    char h2d[32] = "null", frac[32] = "null"; /* not measured on a host backend */
    if (r->h2d_s > 0) {
        snprintf(h2d, sizeof h2d, "%.4g", gb / r->h2d_s);
        snprintf(frac, sizeof frac, "%.4g", r->h2d_s / r->ols_s);
    }
    fprintf(f,
            "{\"device\": \"%s\", \"threads\": %d, \"d\": %zu, \"rows\": %zu, "
            "\"h2d_gbps\": %s, \"ols_rows_per_s\": %.6g, \"ols_gbps\": %.4g, "
            "\"ols_fraction_of_h2d\": %s, \"logistic_rows\": %zu, "
            "\"logistic_epoch_rows_per_s\": %.6g, \"logistic_epoch_gbps\": %.4g}\n",
            r->device, threads, r->d, r->rows, h2d, (double)r->rows / r->ols_s, gb / r->ols_s, frac,
            r->logistic_rows, (double)r->logistic_rows / r->logistic_s,
            (double)r->logistic_rows * (double)(r->d + 1) * sizeof(double) / 1e9 / r->logistic_s);
}

int main(int argc, char **argv)
{
    options o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc;
    int threads = o.threads > 0 ? o.threads : omp_get_num_procs();
    omp_set_num_threads(threads);
    sf_backend *cuda = NULL, *cpu = NULL;
    if (o.cuda) {
        char why[256] = "";
        if (sf_backend_cuda_create(threads, &cuda, why, sizeof why) != SF_OK) {
            fprintf(stderr, "streamfit_gpu_bench: no GPU measurements: %s\n", why);
            cuda = NULL;
        }
    }
    if (o.cpu && sf_backend_cpu_create(threads, &cpu) != SF_OK) return 1;
    if (!cuda && !cpu) return 1;
    FILE *out = o.out ? fopen(o.out, "w") : NULL;
    if (o.out && !out) {
        fprintf(stderr, "streamfit_gpu_bench: cannot write %s: %s\n", o.out, strerror(errno));
        return 1;
    }
    result res[2 * MAX_DIMS];
    size_t n_res = 0;
    for (size_t k = 0; k < o.n_dims; k++) {
        rows_in_memory r;
        if (!make_rows(o.rows, o.dims[k], &r)) {
            fprintf(stderr, "streamfit_gpu_bench: no memory for %zu x %zu rows\n", o.rows,
                    o.dims[k]);
            return 1;
        }
        sf_backend *bes[2] = {cuda, cpu};
        for (int b = 0; b < 2; b++) {
            if (!bes[b]) continue;
            fprintf(stderr, "streamfit_gpu_bench: %s, d = %zu ...\n", bes[b]->ops->name, r.d);
            measure(bes[b], &o, &r, &res[n_res]);
            if (out) print_json(out, &res[n_res], threads);
            n_res++;
        }
        free_rows(&r);
    }
    printf("| device | d | rows | H2D GB/s | OLS update rows/s | OLS GB/s | OLS / H2D | "
           "logistic epoch rows/s (rows) |\n|---|---|---|---|---|---|---|---|\n");
    for (size_t k = 0; k < n_res; k++) {
        const result *r = &res[k];
        double gb = (double)r->rows * row_bytes(r->d) / 1e9;
        char h2d[32] = "-", frac[32] = "-";
        if (r->h2d_s > 0) {
            snprintf(h2d, sizeof h2d, "%.1f", gb / r->h2d_s);
            snprintf(frac, sizeof frac, "%.0f%%", 100.0 * r->h2d_s / r->ols_s);
        }
        printf("| %s (%d threads) | %zu | %zu | %s | %.3g | %.1f | %s | %.3g (%zu) |\n", r->device,
               threads, r->d, r->rows, h2d, (double)r->rows / r->ols_s, gb / r->ols_s, frac,
               (double)r->logistic_rows / r->logistic_s, r->logistic_rows);
    }
    /* GPU over CPU, where both ran. */
    for (size_t k = 0; k + 1 < n_res; k++)
        if (!strcmp(res[k].device, "cuda") && !strcmp(res[k + 1].device, "cpu") &&
            res[k].d == res[k + 1].d)
            printf("d = %zu: cuda / cpu: OLS update %.1fx, logistic epoch %.1fx\n", res[k].d,
                   res[k + 1].ols_s / res[k].ols_s,
                   (res[k + 1].logistic_s / (double)res[k + 1].logistic_rows) /
                       (res[k].logistic_s / (double)res[k].logistic_rows));
    if (out) fclose(out);
    if (cuda) cuda->ops->destroy(cuda);
    if (cpu) cpu->ops->destroy(cpu);
    return 0;
}
