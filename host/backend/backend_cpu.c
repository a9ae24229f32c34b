/*
 * backend_cpu.c — the CPU implementation of the backend interface, on
 * OpenBLAS (level-2/3 BLAS, threaded by OpenBLAS) and LAPACKE.
 *
 * Batches stay in host memory, row-major. Products over rows go through BLAS
 * on centered (and, for QR, scaled) copies, so that nothing is squared before
 * it is centered. This backend is also the reference the CUDA backend is
 * tested against.
 */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE /* getloadavg under -std=c17 (also built into the CUDA module) */
#endif
#include <cblas.h>
#include <lapacke.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "backend_util.h"

/* OpenBLAS threads pay off only on wide matrices: with few features the
 * products over rows are memory-bound and the extra threads mostly spin. */
#define SF_CPU_BLAS_THREADS_MIN_D 64
/* Small dense factorizations (the d x d solves of every least-squares
 * snapshot, Newton's P x P step) run on one thread below this order: a
 * 17 x 17 Cholesky is microseconds, waking threads for it is not. */
#define SF_CPU_DENSE_THREADS_MIN_N 256
/* Co-moments of a batch split by rows only from this width: below it the
 * pass is memory-bound (a short micro-run of batch_moments on 65,536 rows,
 * 2 shared cores: d = 4 and 8 took 1.07 / 1.38 ms on 2 threads against
 * 0.97 / 1.27 ms on one, d = 16 2.4 against 3.1 ms), while the logistic
 * terms gain 1.5-1.9x from a second thread at every d up to 16. The figures
 * came from cores shared with other work, so only the direction is solid. */
#define SF_CPU_MOMENTS_SPLIT_MIN_D 16
/* Rows per block in products over a batch (a few hundred KiB of buffers). */
#define SF_CPU_BLOCK_ROWS 4096

/* Only a change is passed on: OpenBLAS restarts a stopped worker pool in
 * openblas_set_num_threads (see sf_backend_cpu_create). */
static void set_blas_threads(int n)
{
    if (openblas_get_num_threads() != n) openblas_set_num_threads(n);
}

static void blas_threads_for(const sf_backend *be, size_t d)
{
    set_blas_threads(d >= SF_CPU_BLAS_THREADS_MIN_D ? be->threads : 1);
}

static void dense_threads_for(const sf_backend *be, size_t n)
{
    set_blas_threads(n >= SF_CPU_DENSE_THREADS_MIN_N ? be->threads : 1);
}

/* Cores not busy with other work, from the 1-minute load average (which
 * counts this process's running thread too, hence the + 1). A pass split
 * across threads waits at its end for the slowest; on cores that other
 * processes keep busy, a thread that is not scheduled makes every pass wait
 * for a time slice (measured on 2 shared cores at load 3.4: a 200k x 16
 * logistic fit took 80-115 ms on 2 threads against about 55 on one). Results
 * do not depend on the thread count (per_block_sums), so this only changes
 * the time. */
static int idle_cores(void)
{
    double load = 0;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (getloadavg(&load, 1) != 1 || online < 1) return INT_MAX;
    long idle = online - (long)(load + 0.5) + 1;
    return idle < 1 ? 1 : (idle > INT_MAX ? INT_MAX : (int)idle);
}

/* Threads for a pass over n rows in blocks: narrow batches are split by rows
 * across the backend's threads (each running single-threaded BLAS on its
 * blocks); wide ones leave the threading to OpenBLAS. Narrow passes keep one
 * partial sum per block and add them in block order, so the result does not
 * depend on the thread count, and threads take blocks as they come (dynamic
 * schedule): on cores shared with other work a thread that is not running
 * holds nothing up but the block it is on. */
static int row_threads(const sf_backend *be, size_t d, size_t n)
{
    size_t blocks = (n + SF_CPU_BLOCK_ROWS - 1) / SF_CPU_BLOCK_ROWS;
    if (d >= SF_CPU_BLAS_THREADS_MIN_D || blocks < 2) return 1;
    int T = be->threads < (int)blocks ? be->threads : (int)blocks;
    int idle = idle_cores();
    return T < idle ? T : idle;
}

/* Whether a pass keeps per-block partial sums (narrow rows: small partials). */
static bool per_block_sums(size_t d) { return d < SF_CPU_BLAS_THREADS_MIN_D; }

/* sum[0..len) = the `parts` partials (len each, in order) added in order. */
static void add_partials(const double *part, size_t parts, size_t len, double *sum)
{
    memset(sum, 0, sizeof(double) * len);
    for (size_t k = 0; k < parts; k++)
        for (size_t j = 0; j < len; j++)
            sum[j] += part[k * len + j];
}

struct sf_dbatch {
    size_t rows, d;
    double *X; /* rows x d row-major */
    double *y;
    bool borrowed; /* X and y belong to the caller */
};

static void cpu_destroy(sf_backend *be) { free(be); }

static sf_status cpu_batch_upload(sf_backend *be, const double *X, const double *y, size_t rows,
                                  size_t d, sf_dbatch **out)
{
    (void)be;
    sf_dbatch *b = calloc(1, sizeof *b);
    if (!b) return SF_ERR_NO_MEMORY;
    b->rows = rows;
    b->d = d;
    b->X = malloc(sizeof(double) * (rows * d + 1));
    b->y = malloc(sizeof(double) * (rows + 1));
    if (!b->X || !b->y) {
        free(b->X);
        free(b->y);
        free(b);
        return SF_ERR_NO_MEMORY;
    }
    if (rows > 0 && d > 0) memcpy(b->X, X, sizeof(double) * rows * d);
    if (rows) memcpy(b->y, y, sizeof(double) * rows);
    *out = b;
    return SF_OK;
}

static void cpu_batch_free(sf_backend *be, sf_dbatch *b)
{
    (void)be;
    if (!b) return;
    if (!b->borrowed) {
        free(b->X);
        free(b->y);
    }
    free(b);
}

static sf_status cpu_batch_borrow(sf_backend *be, const double *X, const double *y, size_t rows,
                                  size_t d, sf_dbatch **out)
{
    (void)be;
    sf_dbatch *b = calloc(1, sizeof *b);
    if (!b) return SF_ERR_NO_MEMORY;
    *b = (sf_dbatch){.rows = rows, .d = d, .X = (double *)X, .y = (double *)y, .borrowed = true};
    *out = b;
    return SF_OK;
}

static size_t cpu_batch_rows(const sf_dbatch *b) { return b->rows; }

static sf_status cpu_batch_sample(sf_backend *be, const sf_dbatch *b, size_t stride, size_t offset,
                                  sf_dbatch **out)
{
    (void)be;
    if (stride == 0) return SF_ERR_INVALID_ARGUMENT;
    size_t rows = b->rows > offset ? (b->rows - offset + stride - 1) / stride : 0, d = b->d;
    sf_dbatch *s = calloc(1, sizeof *s);
    if (!s) return SF_ERR_NO_MEMORY;
    *s = (sf_dbatch){.rows = rows, .d = d};
    s->X = malloc(sizeof(double) * (rows * d + 1));
    s->y = malloc(sizeof(double) * (rows + 1));
    if (!s->X || !s->y) {
        free(s->X);
        free(s->y);
        free(s);
        return SF_ERR_NO_MEMORY;
    }
    for (size_t i = 0; i < rows; i++) {
        size_t src = offset + i * stride;
        memcpy(s->X + i * d, b->X + src * d, sizeof(double) * d);
        s->y[i] = b->y[src];
    }
    *out = s;
    return SF_OK;
}

static sf_status cpu_batch_standardize(sf_backend *be, sf_dbatch *b, const double *shift,
                                       const double *scale)
{
    (void)be;
    for (size_t i = 0; i < b->rows; i++) {
        double *x = b->X + i * b->d;
        for (size_t j = 0; j < b->d; j++)
            x[j] = (x[j] - shift[j]) / scale[j];
    }
    return SF_OK;
}

/* Column-major rows x (d+1) copy of [x, y], each column minus center and
 * divided by scale (scale may be NULL). */
static double *augmented_copy(const sf_dbatch *b, const double *center, const double *scale)
{
    size_t p = b->d + 1, n = b->rows;
    double *A = malloc(sizeof(double) * (n * p + 1));
    if (!A) return NULL;
    for (size_t j = 0; j < p; j++) {
        double c = center[j], s = scale ? scale[j] : 1.0;
        double *col = A + j * n;
        if (j < b->d)
            for (size_t i = 0; i < n; i++)
                col[i] = (b->X[i * b->d + j] - c) / s;
        else
            for (size_t i = 0; i < n; i++)
                col[i] = (b->y[i] - c) / s;
    }
    return A;
}

/* Rows [r0, r0 + nb) of [x, y] minus center, row-major nb x (d+1): a block
 * small enough to stay in cache, so nothing n x d is copied or allocated. */
static void centered_block(const sf_dbatch *b, size_t r0, size_t nb, const double *center,
                           double *A)
{
    size_t d = b->d, p = d + 1;
    for (size_t i = 0; i < nb; i++) {
        const double *x = b->X + (r0 + i) * d;
        double *a = A + i * p;
        for (size_t j = 0; j < d; j++)
            a[j] = x[j] - center[j];
        a[d] = b->y[r0 + i] - center[d];
    }
}

/* Column sums of [x - shift, y - shift] over the rows, split across T threads
 * by blocks (one partial per block when per_block_sums) and added in order. */
static sf_status column_sums(const sf_dbatch *b, int T, const double *shift, double *sum)
{
    size_t d = b->d, p = d + 1, n = b->rows;
    long blocks = (long)((n + SF_CPU_BLOCK_ROWS - 1) / SF_CPU_BLOCK_ROWS);
    size_t parts = per_block_sums(d) ? (size_t)blocks : 1;
    double *part = calloc(parts * p + 1, sizeof(double));
    if (!part) return SF_ERR_NO_MEMORY;
#pragma omp parallel for num_threads(T) schedule(dynamic)
    for (long k = 0; k < blocks; k++) {
        double *acc = part + (parts > 1 ? (size_t)k * p : 0);
        size_t r0 = (size_t)k * SF_CPU_BLOCK_ROWS;
        size_t r1 = r0 + SF_CPU_BLOCK_ROWS < n ? r0 + SF_CPU_BLOCK_ROWS : n;
        for (size_t i = r0; i < r1; i++) {
            const double *x = b->X + i * d;
            for (size_t j = 0; j < d; j++)
                acc[j] += x[j] - shift[j];
            acc[d] += b->y[i] - shift[d];
        }
    }
    add_partials(part, parts, p, sum);
    free(part);
    return SF_OK;
}

/* The batch mean, with a second pass that adds the mean of the deviations
 * from the first estimate (what rounding left behind). */
static sf_status column_means(const sf_dbatch *b, int T, double *mean)
{
    size_t p = b->d + 1;
    double zero[p], fix[p];
    memset(zero, 0, sizeof zero);
    sf_status st = column_sums(b, T, zero, mean);
    for (size_t j = 0; j < p; j++)
        mean[j] /= (double)b->rows;
    if (st == SF_OK) st = column_sums(b, T, mean, fix);
    for (size_t j = 0; st == SF_OK && j < p; j++)
        mean[j] += fix[j] / (double)b->rows;
    return st;
}

static sf_status cpu_batch_moments(sf_backend *be, const sf_dbatch *b, double *mean, double *m2)
{
    if (sf_backend_fault(be, SF_FAULT_FETCH_RESULTS)) return SF_ERR_DEVICE;
    blas_threads_for(be, b->d);
    size_t p = b->d + 1, n = b->rows, B = n < SF_CPU_BLOCK_ROWS ? n : SF_CPU_BLOCK_ROWS;
    memset(m2, 0, sizeof(double) * p * p);
    memset(mean, 0, sizeof(double) * p);
    if (n == 0) return SF_OK;
    int T = b->d >= SF_CPU_MOMENTS_SPLIT_MIN_D ? row_threads(be, b->d, n) : 1;
    sf_status st = column_means(b, T, mean);
    if (st != SF_OK) return st;
    long blocks = (long)((n + B - 1) / B);
    size_t parts = per_block_sums(b->d) ? (size_t)blocks : 1;
    double *A = malloc(sizeof(double) * (size_t)T * B * p);
    double *part = calloc(parts * p * p, sizeof(double));
    if (!A || !part) {
        free(A);
        free(part);
        return SF_ERR_NO_MEMORY;
    }
#pragma omp parallel for num_threads(T) schedule(dynamic)
    for (long k = 0; k < blocks; k++) {
        size_t r0 = (size_t)k * B, nb = n - r0 < B ? n - r0 : B;
        double *At = A + (size_t)omp_get_thread_num() * B * p; /* scratch */
        centered_block(b, r0, nb, mean, At);
        /* The block is p x nb column-major: M2 += A A^T. */
        cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, (int)p, (int)nb, 1.0, At, (int)p, 1.0,
                    part + (parts > 1 ? (size_t)k * p * p : 0), (int)p);
    }
    add_partials(part, parts, p * p, m2);
    sf_symmetrize_upper(m2, p);
    free(A);
    free(part);
    return SF_OK;
}

static sf_status cpu_batch_qr(sf_backend *be, const sf_dbatch *b, const double *center,
                              const double *scale, double *R)
{
    blas_threads_for(be, b->d);
    (void)be;
    size_t p = b->d + 1, n = b->rows;
    memset(R, 0, sizeof(double) * p * p);
    if (n == 0) return SF_OK;
    double *A = augmented_copy(b, center, scale);
    double *tau = malloc(sizeof(double) * p);
    if (!A || !tau) {
        free(A);
        free(tau);
        return SF_ERR_NO_MEMORY;
    }
    lapack_int info =
        LAPACKE_dgeqrf(LAPACK_COL_MAJOR, (lapack_int)n, (lapack_int)p, A, (lapack_int)n, tau);
    if (info == 0) sf_copy_upper(A, n, n < p ? n : p, p, R, p);
    free(A);
    free(tau);
    return info == 0 ? SF_OK : SF_ERR_LAPACK;
}

static sf_status cpu_batch_residuals(sf_backend *be, const sf_dbatch *b, const double *w, double b0,
                                     const double *center, double *sum_r, double *sum_r2, double *g,
                                     double *sxc, double *lo)
{
    (void)be;
    size_t d = b->d;
    long double *lg = calloc(2 * d + 1, sizeof(long double));
    if (!lg) return SF_ERR_NO_MEMORY;
    long double *lsxc = lg + d, sr = 0, sr2 = 0;
    for (size_t i = 0; i < b->rows; i++) {
        const double *x = b->X + i * d;
        long double r = (long double)b->y[i] - b0;
        for (size_t j = 0; j < d; j++)
            r -= (long double)x[j] * w[j];
        sr += r;
        sr2 += r * r;
        for (size_t j = 0; j < d; j++) {
            long double xc = (long double)x[j] - center[j];
            lg[j] += xc * r;
            lsxc[j] += xc;
        }
    }
    *sum_r = (double)sr;
    *sum_r2 = (double)sr2;
    for (size_t j = 0; j < d; j++) {
        g[j] = (double)lg[j];
        sxc[j] = (double)lsxc[j];
    }
    if (lo) { /* the long double's bits past the double: exact differences */
        lo[0] = (double)(sr - (long double)*sum_r);
        for (size_t j = 0; j < d; j++) {
            lo[1 + j] = (double)(lg[j] - (long double)g[j]);
            lo[1 + d + j] = (double)(lsxc[j] - (long double)sxc[j]);
        }
    }
    free(lg);
    return SF_OK;
}

static sf_status cpu_batch_scores(sf_backend *be, const sf_dbatch *b, const double *W,
                                  const double *bias, size_t k, double *T)
{
    blas_threads_for(be, b->d);
    (void)be;
    size_t n = b->rows, d = b->d;
    if (n == 0) return SF_OK;
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < k; c++)
            T[i * k + c] = bias ? bias[c] : 0.0;
    if (d == 0) return SF_OK;
    /* Column-major views: X is d x n, W is d x k, T is k x n. */
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)k, (int)n, (int)d, 1.0, W, (int)d,
                b->X, (int)d, 1.0, T, (int)k);
    return SF_OK;
}

/* sum_i s_i v_i v_i^T for v_i = [x_i, 1], written into the p x p block at H
 * (leading dimension ldh), s_i >= 0 not required. */
static sf_status weighted_gram(const sf_dbatch *b, const double *s, double *H, size_t ldh)
{
    size_t n = b->rows, d = b->d;
    double *SX = malloc(sizeof(double) * (n * d + 1));
    if (!SX) return SF_ERR_NO_MEMORY;
    double sum_s = 0;
    for (size_t i = 0; i < n; i++) {
        sum_s += s[i];
        for (size_t j = 0; j < d; j++)
            SX[i * d + j] = s[i] * b->X[i * d + j];
    }
    /* H_xx = X^T diag(s) X: column-major views X (d x n), SX (d x n). */
    if (d)
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, (int)d, (int)d, (int)n, 1.0, SX,
                    (int)d, b->X, (int)d, 0.0, H, (int)ldh);
    double *colsum = calloc(d + 1, sizeof(double));
    if (!colsum) {
        free(SX);
        return SF_ERR_NO_MEMORY;
    }
    for (size_t i = 0; i < n; i++) /* row order: one pass over SX */
        for (size_t j = 0; j < d; j++)
            colsum[j] += SX[i * d + j];
    for (size_t j = 0; j < d; j++) {
        H[d * ldh + j] = colsum[j];
        H[j * ldh + d] = colsum[j];
    }
    free(colsum);
    H[d * ldh + d] = sum_s;
    free(SX);
    return SF_OK;
}

/* Logistic pieces of rows [r0, r0 + nb): loss and gradient added to acc
 * (d + 2: loss, then the d + 1 gradient), sqrt-weighted rows into S and
 * their Gram matrix added to hess (p x p upper) when hess is not NULL; the
 * rows' scores into scores[r0 ..) when scores is not NULL. */
static void logistic_block(const sf_dbatch *b, const double *theta, size_t r0, size_t nb, double *t,
                           double *e, double *S, double *acc, double *hess, double *scores)
{
    size_t d = b->d, p = d + 1;
    const double *Xb = b->X + r0 * d, *yb = b->y + r0;
    for (size_t i = 0; i < nb; i++)
        t[i] = theta[d];
    if (d)
        cblas_dgemv(CblasColMajor, CblasTrans, (int)d, (int)nb, 1.0, Xb, (int)d, theta, 1, 1.0, t,
                    1);
    if (scores) memcpy(scores + r0, t, sizeof(double) * nb);
    double loss = 0, gb = 0;
    for (size_t i = 0; i < nb; i++) {
        double l1pe, pr = sf_sigmoid_log1pexp(t[i], &l1pe);
        loss += l1pe - yb[i] * t[i];
        e[i] = pr - yb[i];
        gb += e[i];
        if (hess) { /* sqrt of the IRLS weight times [x, 1] */
            double sw = sqrt(pr * (1.0 - pr));
            for (size_t j = 0; j < d; j++)
                S[i * p + j] = sw * Xb[i * d + j];
            S[i * p + d] = sw;
        }
    }
    acc[0] += loss;
    if (d)
        cblas_dgemv(CblasColMajor, CblasNoTrans, (int)d, (int)nb, 1.0, Xb, (int)d, e, 1, 1.0,
                    acc + 1, 1);
    acc[1 + d] += gb;
    if (hess)
        cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, (int)p, (int)nb, 1.0, S, (int)p, 1.0,
                    hess, (int)p);
}

/* logistic_terms, and the scores of the same pass when scores is not NULL. */
static sf_status logistic_terms_scored(sf_backend *be, const sf_dbatch *b, const double *theta,
                                       double *loss, double *grad, double *hess, double *scores)
{
    blas_threads_for(be, b->d);
    size_t n = b->rows, d = b->d, p = d + 1, B = n < SF_CPU_BLOCK_ROWS ? n : SF_CPU_BLOCK_ROWS;
    memset(grad, 0, sizeof(double) * p);
    if (hess) memset(hess, 0, sizeof(double) * p * p);
    *loss = 0;
    if (n == 0) return SF_OK;
    int T = row_threads(be, d, n);
    long blocks = (long)((n + B - 1) / B);
    size_t parts = per_block_sums(d) ? (size_t)blocks : 1;
    size_t per_thread = 2 * B + (hess ? B * p : 0), acc_len = 1 + p + (hess ? p * p : 0);
    double *work = malloc(sizeof(double) * (size_t)T * per_thread);
    double *acc = calloc(parts * acc_len, sizeof(double));
    double *sum = malloc(sizeof(double) * acc_len);
    if (!work || !acc || !sum) {
        free(work);
        free(acc);
        free(sum);
        return SF_ERR_NO_MEMORY;
    }
#pragma omp parallel for num_threads(T) schedule(dynamic)
    for (long k = 0; k < blocks; k++) { /* row blocks: buffers stay in cache */
        size_t r0 = (size_t)k * B, nb = n - r0 < B ? n - r0 : B;
        double *w = work + (size_t)omp_get_thread_num() * per_thread; /* scratch */
        double *a = acc + (parts > 1 ? (size_t)k * acc_len : 0);
        logistic_block(b, theta, r0, nb, w, w + B, w + 2 * B, a, hess ? a + 1 + p : NULL, scores);
    }
    add_partials(acc, parts, acc_len, sum); /* in block order: reproducible */
    *loss = sum[0];
    memcpy(grad, sum + 1, sizeof(double) * p);
    if (hess) {
        memcpy(hess, sum + 1 + p, sizeof(double) * p * p);
        sf_symmetrize_upper(hess, p);
    }
    free(sum);
    free(work);
    free(acc);
    return SF_OK;
}

static sf_status cpu_logistic_terms(sf_backend *be, const sf_dbatch *b, const double *theta,
                                    double *loss, double *grad, double *hess)
{
    return logistic_terms_scored(be, b, theta, loss, grad, hess, NULL);
}

/* softmax_terms, and the scores (n x K) of the same pass when scores is not NULL. */
static sf_status softmax_terms_scored(sf_backend *be, const sf_dbatch *b, const double *theta,
                                      size_t K, double *loss, double *grad, double *hess,
                                      double *scores)
{
    blas_threads_for(be, b->d);
    size_t n = b->rows, d = b->d, p = d + 1, P = K * p;
    double *W = malloc(sizeof(double) * (K * d + K + 2 * n * K + n + 1));
    if (!W) return SF_ERR_NO_MEMORY;
    double *bias = W + K * d, *T = bias + K, *E = T + n * K, *s = E + n * K;
    for (size_t k = 0; k < K; k++) {
        memcpy(W + k * d, theta + k * p, sizeof(double) * d);
        bias[k] = theta[k * p + d];
    }
    sf_status st = cpu_batch_scores(be, b, W, bias, K, T);
    if (scores && n) memcpy(scores, T, sizeof(double) * n * K);
    double acc = 0;
    for (size_t i = 0; i < n; i++) {
        double *ti = T + i * K;
        size_t yi = (size_t)b->y[i];
        double t_label = ti[yi];
        acc += sf_softmax_inplace(ti, K) - t_label; /* ti <- probabilities */
        for (size_t k = 0; k < K; k++)
            E[i * K + k] = ti[k] - (k == yi ? 1.0 : 0.0);
    }
    *loss = acc;
    /* Gradient block k: X^T E_k and sum_i E_ik. */
    double *G = malloc(sizeof(double) * (d * K + 1));
    if (!G) {
        free(W);
        return SF_ERR_NO_MEMORY;
    }
    memset(G, 0, sizeof(double) * (d * K + 1));
    if (n && d)
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, (int)d, (int)K, (int)n, 1.0, b->X,
                    (int)d, E, (int)K, 0.0, G, (int)d);
    for (size_t k = 0; k < K; k++) {
        memcpy(grad + k * p, G + k * d, sizeof(double) * d);
        double gb = 0;
        for (size_t i = 0; i < n; i++)
            gb += E[i * K + k];
        grad[k * p + d] = gb;
    }
    free(G);
    if (hess && st == SF_OK) {
        for (size_t k = 0; k < K && st == SF_OK; k++)
            for (size_t l = k; l < K && st == SF_OK; l++) {
                for (size_t i = 0; i < n; i++) {
                    const double *pi = T + i * K;
                    s[i] = pi[k] * ((k == l ? 1.0 : 0.0) - pi[l]);
                }
                st = weighted_gram(b, s, hess + (l * p) * P + k * p, P);
                if (st == SF_OK && l != k)
                    for (size_t a = 0; a < p; a++)
                        for (size_t c = 0; c < p; c++)
                            hess[(k * p + c) * P + l * p + a] = hess[(l * p + a) * P + k * p + c];
            }
    }
    free(W);
    return st;
}

static sf_status cpu_softmax_terms(sf_backend *be, const sf_dbatch *b, const double *theta,
                                   size_t K, double *loss, double *grad, double *hess)
{
    return softmax_terms_scored(be, b, theta, K, loss, grad, hess, NULL);
}

/* sf_ftrl_step_host's operations in the same order (so the same results, bit
 * for bit), with the scores taken from the pass that computes the gradient
 * instead of a pass of their own. */
static sf_status cpu_ftrl_step(sf_backend *be, sf_dbatch *b, size_t d, size_t K,
                               const double *shift, const double *scale, const sf_ftrl_params *prm,
                               double *theta, double *z, double *n, double *loss, double *scores)
{
    size_t P = (K ? K : 1) * (d + 1);
    double sum_loss = 0;
    if (loss) *loss = 0;
    if (b->rows == 0) return SF_OK;
    if (d != b->d) return SF_ERR_INVALID_ARGUMENT;
    if (shift) cpu_batch_standardize(be, b, shift, scale);
    double *g = malloc(sizeof(double) * P);
    if (!g) return SF_ERR_NO_MEMORY;
    sf_status st = K ? softmax_terms_scored(be, b, theta, K, &sum_loss, g, NULL, scores)
                     : logistic_terms_scored(be, b, theta, &sum_loss, g, NULL, scores);
    if (st == SF_OK) sf_ftrl_apply_host(prm, d, P, g, (double)b->rows, theta, z, n);
    if (st == SF_OK && loss) *loss = sum_loss;
    free(g);
    return st;
}

static sf_status cpu_solve_spd(sf_backend *be, size_t n, double *A, double *B, size_t nrhs,
                               double *rcond)
{
    dense_threads_for(be, n);
    double anorm = LAPACKE_dlansy(LAPACK_COL_MAJOR, '1', 'U', (lapack_int)n, A, (lapack_int)n);
    lapack_int info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'U', (lapack_int)n, A, (lapack_int)n);
    if (info > 0) return SF_ERR_NOT_POSITIVE_DEFINITE;
    if (info < 0) return SF_ERR_LAPACK;
    if (rcond) {
        double rc = 0;
        if (LAPACKE_dpocon(LAPACK_COL_MAJOR, 'U', (lapack_int)n, A, (lapack_int)n, anorm, &rc))
            rc = 0;
        *rcond = rc;
    }
    info = LAPACKE_dpotrs(LAPACK_COL_MAJOR, 'U', (lapack_int)n, (lapack_int)nrhs, A, (lapack_int)n,
                          B, (lapack_int)n);
    return info == 0 ? SF_OK : SF_ERR_LAPACK;
}

static sf_status cpu_solve_lstsq(sf_backend *be, size_t m, size_t n, double *A, double *b,
                                 double rcond, int *rank)
{
    dense_threads_for(be, n);
    /* dgelsd's SVD iterates forever on a NaN or an infinity: refuse them. */
    if (!sf_all_finite(A, m * n) || !sf_all_finite(b, m)) return SF_ERR_NOT_FINITE;
    size_t ldb = m > n ? m : n;
    double *bb = calloc(ldb, sizeof(double));
    double *sv = malloc(sizeof(double) * (n + 1));
    if (!bb || !sv) {
        free(bb);
        free(sv);
        return SF_ERR_NO_MEMORY;
    }
    memcpy(bb, b, sizeof(double) * m);
    lapack_int rk = 0;
    lapack_int info = LAPACKE_dgelsd(LAPACK_COL_MAJOR, (lapack_int)m, (lapack_int)n, 1, A,
                                     (lapack_int)m, bb, (lapack_int)ldb, sv, rcond, &rk);
    if (info == 0) memcpy(b, bb, sizeof(double) * n);
    if (rank) *rank = (int)rk;
    free(bb);
    free(sv);
    return info == 0 ? SF_OK : (info > 0 ? SF_ERR_SINGULAR : SF_ERR_LAPACK);
}

static sf_status cpu_solve_triangular(sf_backend *be, size_t n, const double *U, double *B,
                                      size_t nrhs, bool trans)
{
    dense_threads_for(be, n);
    cblas_dtrsm(CblasColMajor, CblasLeft, CblasUpper, trans ? CblasTrans : CblasNoTrans,
                CblasNonUnit, (int)n, (int)nrhs, 1.0, U, (int)n, B, (int)n);
    return SF_OK;
}

static sf_status cpu_qr_small(sf_backend *be, size_t m, size_t n, double *A, double *R)
{
    dense_threads_for(be, n);
    double *tau = malloc(sizeof(double) * (n + 1));
    if (!tau) return SF_ERR_NO_MEMORY;
    lapack_int info =
        LAPACKE_dgeqrf(LAPACK_COL_MAJOR, (lapack_int)m, (lapack_int)n, A, (lapack_int)m, tau);
    free(tau);
    if (info != 0) return SF_ERR_LAPACK;
    memset(R, 0, sizeof(double) * n * n);
    sf_copy_upper(A, m, m < n ? m : n, n, R, n);
    return SF_OK;
}

static const sf_backend_ops cpu_ops = {
    .name = "cpu",
    .destroy = cpu_destroy,
    .batch_upload = cpu_batch_upload,
    .batch_free = cpu_batch_free,
    .batch_rows = cpu_batch_rows,
    .batch_standardize = cpu_batch_standardize,
    .batch_moments = cpu_batch_moments,
    .batch_qr = cpu_batch_qr,
    .batch_residuals = cpu_batch_residuals,
    .batch_scores = cpu_batch_scores,
    .logistic_terms = cpu_logistic_terms,
    .softmax_terms = cpu_softmax_terms,
    .ftrl_step = cpu_ftrl_step,
    .solve_spd = cpu_solve_spd,
    .solve_lstsq = cpu_solve_lstsq,
    .solve_triangular = cpu_solve_triangular,
    .qr_small = cpu_qr_small,
    .batch_borrow = cpu_batch_borrow,
    .batch_sample = cpu_batch_sample,
    .ring_create = sf_ring_host_create,
    .ring_acquire = sf_ring_host_acquire,
    .ring_submit = sf_ring_host_submit,
    .ring_read = sf_ring_host_read,
    .ring_destroy = sf_ring_host_destroy,
    .ring_async = false,
};

/* OpenBLAS's pthreads build starts its worker threads when it is loaded, and
 * an idle worker spins on sched_yield for about 2^28 cycles (~0.1 s) before it
 * sleeps: the whole of a short fit. On 2 cores it takes turns with the
 * backend's own row threads: a 200,000 x 16 logistic fit took 27 ms or 80 ms
 * from run to run (27 ms every time with OPENBLAS_THREAD_TIMEOUT=4, which only
 * works from the environment, read when the library loads). Its fork handler,
 * blas_thread_shutdown_, stops the workers; OpenBLAS starts them again (as in
 * a forked child) at the next openblas_set_num_threads or threaded call, so
 * the backend asks for them only where they pay (set_blas_threads). Weak:
 * another BLAS without it is left as it is. */
extern int blas_thread_shutdown_(void) __attribute__((weak));

/* The pool is stopped as soon as the library is loaded too: a program parses
 * its input before it makes a backend, and the parse's threads would take
 * turns with the spinning workers. */
__attribute__((constructor)) static void stop_blas_pool_at_load(void)
{
    if (blas_thread_shutdown_) blas_thread_shutdown_();
}

sf_status sf_backend_cpu_create(int threads, sf_backend **out)
{
    sf_backend *be = calloc(1, sizeof *be);
    if (!be) return SF_ERR_NO_MEMORY;
    be->ops = &cpu_ops;
    be->threads = threads > 0 ? threads : openblas_get_num_procs();
    set_blas_threads(1); /* each operation sets what it needs */
    if (blas_thread_shutdown_) blas_thread_shutdown_();
    *out = be;
    return SF_OK;
}
