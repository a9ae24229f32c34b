/*
 * backend.h — the only door to a compute device.
 *
 * A backend is a table of operations on device-resident batches (rows x d
 * features plus labels) and on small dense matrices (d x d). The model code
 * calls only these; `cpu` (OpenBLAS + LAPACKE) and `cuda` (cuBLAS +
 * cuSOLVER) implement them. Every reduction over rows is returned to the host
 * as float64 sums of the batch; merging batches is the caller's job.
 *
 * Small matrices are column-major (LAPACK order); batches are uploaded from
 * row-major host arrays.
 */
#ifndef STREAMFIT_BACKEND_H
#define STREAMFIT_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

#include "streamfit.h"

/* Bumped whenever sf_backend_ops or struct sf_backend change: the CUDA module,
 * built separately, reports the version it was compiled against and the
 * loader refuses a module of another version (backend_cuda_loader.c). */
#define SF_BACKEND_INTERFACE_VERSION 4

typedef struct sf_backend sf_backend;
typedef struct sf_dbatch sf_dbatch; /* a batch living on the backend */
typedef struct sf_ring sf_ring;     /* a staging ring (see ring_create) */

/* Element type of the features a staging ring's host slots hold. */
typedef enum sf_ring_input { SF_RING_F64 = 0, SF_RING_F32 = 1 } sf_ring_input;

/* ring_create flags that leave out one stage, for timing the stages alone
 * (the overlap test and the benchmark); results are then meaningless. */
enum {
    SF_RING_SKIP_COPY = 1u,    /* no host-to-device copy: fold the slot's stale device rows */
    SF_RING_SKIP_COMPUTE = 2u, /* copy only: nothing is folded */
};

/* One host slot of a staging ring: rows x d features (row-major, float or
 * double as the ring was made) and rows labels, for at most `cap` rows. */
typedef struct sf_ring_slot {
    void *X;
    double *y;
    size_t cap;
} sf_ring_slot;

/* Hyper-parameters of one FTRL-Proximal step (ftrl_step). */
typedef struct sf_ftrl_params {
    double alpha, beta; /* per-coordinate learning rate alpha / (beta + sqrt(n)) */
    double l1, l2;      /* on the weights; intercepts get none */
    bool fit_intercept; /* false: intercepts stay as they are */
} sf_ftrl_params;

typedef struct sf_backend_ops {
    const char *name;
    void (*destroy)(sf_backend *be);

    /* Copy rows x d features (row-major) and rows labels to the device. */
    sf_status (*batch_upload)(sf_backend *be, const double *X, const double *y, size_t rows,
                              size_t d, sf_dbatch **out);
    void (*batch_free)(sf_backend *be, sf_dbatch *b);
    size_t (*batch_rows)(const sf_dbatch *b);

    /* In place: x_j <- (x_j - shift_j) / scale_j. */
    sf_status (*batch_standardize)(sf_backend *be, sf_dbatch *b, const double *shift,
                                   const double *scale);

    /* Mean (d+1: features then label) and co-moment M2 = sum (v - mean)(v - mean)^T
     * ((d+1)^2, column-major, full) of the batch's augmented rows v = [x, y],
     * centered by the batch's own mean before any product is formed. */
    sf_status (*batch_moments)(sf_backend *be, const sf_dbatch *b, double *mean, double *m2);

    /* R ((d+1)^2, column-major upper triangle, zeros below) of the QR
     * factorization of the augmented rows ([x, y] - center) / scale. */
    sf_status (*batch_qr)(sf_backend *be, const sf_dbatch *b, const double *center,
                          const double *scale, double *R);

    /* Least-squares residuals r_i = y_i - b0 - x_i.w in extended precision:
     * sum_r = sum r_i, sum_r2 = sum r_i^2, g_j = sum (x_ij - center_j) r_i,
     * sxc_j = sum (x_ij - center_j). lo (NULL: not wanted) receives what
     * rounding the sums to double dropped, [sum_r, g (d), sxc (d)], so that
     * sums of several batches or ranks, which cancel, keep their digits. */
    sf_status (*batch_residuals)(sf_backend *be, const sf_dbatch *b, const double *w, double b0,
                                 const double *center, double *sum_r, double *sum_r2, double *g,
                                 double *sxc, double *lo);

    /* Scores T = X W^T + bias (rows x k, row-major), W k x d row-major. */
    sf_status (*batch_scores)(sf_backend *be, const sf_dbatch *b, const double *W,
                              const double *bias, size_t k, double *T);

    /* Binary logistic pieces over the batch for parameters theta = [w (d), b]:
     * loss = sum [log(1+exp(t)) - y t], grad (d+1) = sum (p - y)[x, 1],
     * hess ((d+1)^2 column-major, NULL: skip) = sum p(1-p)[x,1][x,1]^T. */
    sf_status (*logistic_terms)(sf_backend *be, const sf_dbatch *b, const double *theta,
                                double *loss, double *grad, double *hess);

    /* Softmax pieces for theta = K blocks of [w_k (d), b_k]:
     * loss = sum [logsumexp(t_i) - t_{i,y_i}], grad (K(d+1)), hess
     * ((K(d+1))^2 column-major, NULL: skip). Labels are class indices. */
    sf_status (*softmax_terms)(sf_backend *be, const sf_dbatch *b, const double *theta, size_t K,
                               double *loss, double *grad, double *hess);

    /* One FTRL-Proximal step on the batch's mean gradient of the logistic
     * (K = 0) or softmax (K >= 2 classes) loss at theta (d features the
     * batch's; P = max(K, 1) (d+1)
     * parameters, layout as in logistic_terms / softmax_terms), the rows
     * standardized by (x - shift) / scale first when shift is not NULL (the
     * batch may be left standardized). theta, z and n (P each, host arrays)
     * are updated in place by sf_ftrl_rule; loss (may be NULL) gets the
     * batch's summed loss at the old theta. scores (may be NULL; a host
     * array of rows x max(K, 1), row-major) gets the scores that pass
     * computed, t_k = [z, 1].theta_k at the old theta with z the row as
     * standardized: the test-then-train prediction of the batch comes from
     * the same pass over it as the step (trainer.c). */
    sf_status (*ftrl_step)(sf_backend *be, sf_dbatch *b, size_t d, size_t K, const double *shift,
                           const double *scale, const sf_ftrl_params *prm, double *theta, double *z,
                           double *n, double *loss, double *scores);

    /* Solve A X = B for symmetric positive definite A (n x n), B n x nrhs, in
     * place (B <- X, A <- its Cholesky factor). SF_ERR_NOT_POSITIVE_DEFINITE
     * when it is not. rcond (may be NULL) gets the reciprocal condition estimate. */
    sf_status (*solve_spd)(sf_backend *be, size_t n, double *A, double *B, size_t nrhs,
                           double *rcond);

    /* Minimum-norm least-squares solution of A x = b (A m x n, rank-revealing,
     * relative singular-value cut-off rcond); x returned in b[0..n). */
    sf_status (*solve_lstsq)(sf_backend *be, size_t m, size_t n, double *A, double *b, double rcond,
                             int *rank);

    /* Solve U X = B (trans = false) or U^T X = B (trans = true) for upper
     * triangular U (n x n, column-major), B n x nrhs in place. */
    sf_status (*solve_triangular)(sf_backend *be, size_t n, const double *U, double *B, size_t nrhs,
                                  bool trans);

    /* QR of a small m x n (m >= n) column-major matrix: R (n x n, upper). */
    sf_status (*qr_small)(sf_backend *be, size_t m, size_t n, double *A, double *R);

    /* Page-locked host memory for staging batches (cuda: cudaHostAlloc /
     * cudaFreeHost); NULL in a backend without it (cpu), meaning malloc/free.
     * batch_upload from such memory copies at full DMA speed; it still returns
     * only once X and y may be reused. host_alloc returns NULL on failure. */
    void *(*host_alloc)(sf_backend *be, size_t bytes);
    void (*host_free)(sf_backend *be, void *p);

    /* Optional (NULL: not offered): a batch over the caller's own host arrays,
     * without a copy. The caller keeps them alive and unchanged until
     * batch_free, and must not standardize such a batch. */
    sf_status (*batch_borrow)(sf_backend *be, const double *X, const double *y, size_t rows,
                              size_t d, sf_dbatch **out);

    /* Optional (NULL: not offered): a new batch holding every stride-th row of
     * b (labels too), starting at row `offset`, as b holds them now (e.g.
     * standardized). For solving a subsample first (model_logit.c). */
    sf_status (*batch_sample)(sf_backend *be, const sf_dbatch *b, size_t stride, size_t offset,
                              sf_dbatch **out);

    /* ---- staging ring: the least-squares feed that never waits ----
     *
     * A ring of `slots` (>= 3) host buffers (page-locked on cuda) that the
     * caller fills, in turn, while the backend copies the previous slot to the
     * device and folds the one before into running statistics (count, mean,
     * co-moment of [x, y], float64, Chan merge) that stay on the device. So
     * filling (parsing) batch k+2, copying k+1 and computing on k overlap.
     * The caller waits only in ring_acquire, when the slot it is about to
     * overwrite is still being copied (back-pressure), and in ring_read.
     *
     * ring_create may give slots of fewer rows than asked for when memory is
     * short (slot.cap says how many); it fails only when even a small slot
     * does not fit. ring_acquire returns the slot to fill next (the same one
     * until it is submitted). ring_submit hands its first `rows` rows over
     * and returns at once; with `keep` the rows also stay on the device as
     * a (float64) batch the caller owns (batch_free). ring_read
     * waits for everything submitted, returns the statistics of all rows
     * submitted since the last read (n = 0: none) and starts afresh. */
    sf_status (*ring_create)(sf_backend *be, size_t d, size_t rows_per_slot, size_t slots,
                             sf_ring_input input, unsigned flags, sf_ring **out);
    sf_status (*ring_acquire)(sf_backend *be, sf_ring *r, sf_ring_slot *slot);
    sf_status (*ring_submit)(sf_backend *be, sf_ring *r, size_t rows, sf_dbatch **keep);
    sf_status (*ring_read)(sf_backend *be, sf_ring *r, double *n, double *mean, double *m2);
    void (*ring_destroy)(sf_backend *be, sf_ring *r);
    /* The ring really overlaps with the caller's work (a device backend);
     * false: ring_submit does the work before it returns (host backends). */
    bool ring_async;
} sf_backend_ops;

/* Fault points: error paths that tests make happen on demand, the same way on
 * every backend. A backend checks sf_backend_fault(be, SF_FAULT_X) where the
 * step can fail for real (a queued copy, a results fetch); when a test has
 * armed that point, the step fails with SF_ERR_DEVICE instead of running. */
typedef enum sf_fault_point {
    SF_FAULT_NONE = 0,
    SF_FAULT_RING_SUBMIT_COPY, /* ring_submit: the copy of a slot into its (kept) batch */
    SF_FAULT_FETCH_RESULTS,    /* an op's results on their way back to the host */
} sf_fault_point;

typedef struct sf_fault {
    sf_fault_point point; /* armed point (SF_FAULT_NONE: none) */
    unsigned skip;        /* passes through it that still succeed first */
    unsigned fired;       /* how many times it failed */
} sf_fault;

struct sf_backend {
    const sf_backend_ops *ops;
    int threads;
    sf_log_fn log;
    void *log_user;
    sf_fault fault; /* tests only; zero (disarmed) otherwise */
};

/* Whether an armed fault point fails now (once; it then disarms itself). */
static inline bool sf_backend_fault(sf_backend *be, sf_fault_point point)
{
    if (!be || be->fault.point == SF_FAULT_NONE || be->fault.point != point) return false;
    if (be->fault.skip > 0) {
        be->fault.skip--;
        return false;
    }
    be->fault.point = SF_FAULT_NONE;
    be->fault.fired++;
    return true;
}

sf_status sf_backend_cpu_create(int threads, sf_backend **out);

/* The staging ring of a host backend (ring_host.c): plain memory, and each
 * submit folds its slot with the backend's own batch ops before returning. */
/* ftrl_step with the backend's own batch ops (batch_standardize,
 * logistic_terms / softmax_terms) and the rule applied on the host
 * (ftrl_host.c): the CPU backend's ftrl_step, and the CUDA fallback. */
sf_status sf_ftrl_step_host(sf_backend *be, sf_dbatch *b, size_t d, size_t K, const double *shift,
                            const double *scale, const sf_ftrl_params *prm, double *theta,
                            double *z, double *n, double *loss, double *scores);
/* The rule of ftrl_step applied on the host to every parameter, from the
 * batch's summed gradient g (P = max(K, 1) (d + 1)) over `rows` rows. */
void sf_ftrl_apply_host(const sf_ftrl_params *prm, size_t d, size_t P, const double *g, double rows,
                        double *theta, double *z, double *n);

sf_status sf_ring_host_create(sf_backend *be, size_t d, size_t rows_per_slot, size_t slots,
                              sf_ring_input input, unsigned flags, sf_ring **out);
sf_status sf_ring_host_acquire(sf_backend *be, sf_ring *r, sf_ring_slot *slot);
sf_status sf_ring_host_submit(sf_backend *be, sf_ring *r, size_t rows, sf_dbatch **keep);
sf_status sf_ring_host_read(sf_backend *be, sf_ring *r, double *n, double *mean, double *m2);
void sf_ring_host_destroy(sf_backend *be, sf_ring *r);

/* Built only with STREAMFIT_CUDA; `why` receives the reason when no GPU is usable. */
sf_status sf_backend_cuda_create(int threads, sf_backend **out, char *why, size_t whylen);
size_t sf_backend_cuda_describe(char *buf, size_t len);

#endif
