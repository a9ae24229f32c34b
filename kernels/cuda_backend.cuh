/*
 * cuda_backend.cuh — what the CUDA backend's files share: the backend and
 * batch structures, the device and pinned workspaces every op draws from, and
 * the ops each file implements.
 *
 * Execution model: uploads run on a copy stream and record an event per
 * batch; everything else runs in order on one compute stream that first
 * waits for the batch's event. An op stages its host parameters (theta, w,
 * center, ...) through pinned memory, works in the backend's device scratch,
 * and copies what goes back to the host — (d+1)^2 matrices, vectors and
 * scalars, never n x d — into pinned memory before it synchronizes the
 * compute stream, once. One op at a time: a backend is not shared between
 * threads (the scratch belongs to the backend, not to a call).
 */
#ifndef STREAMFIT_CUDA_BACKEND_CUH
#define STREAMFIT_CUDA_BACKEND_CUH

#include "cuda_check.h"

/* A growable allocation (device or pinned host). */
typedef struct sf_cu_buffer {
    void *p;
    size_t cap;
} sf_cu_buffer;

/* cuSOLVER workspace sizes, queried once per shape. */
typedef struct sf_cu_lwork {
    int m, n, lwork;
} sf_cu_lwork;
#define SF_CU_LWORK_SLOTS 4

/* Workspace sizes of a 64-bit cuSOLVER call (device and host bytes). */
typedef struct sf_cu_xlwork {
    int64_t m, n;
    size_t dev, host;
    bool set;
} sf_cu_xlwork;

typedef struct sf_cuda_backend {
    sf_backend base; /* first member: the sf_backend * handed out points here */
    int device;
    bool pools;           /* stream-ordered allocation (cudaMallocAsync) is supported */
    cudaStream_t compute; /* kernels, cuBLAS, cuSOLVER */
    cudaStream_t copy;    /* batch uploads */
    cublasHandle_t blas;
    cusolverDnHandle_t solver;
    sf_backend *cpu; /* host LAPACK for the small dense ops (see dense_solve.cu) */

    sf_cu_buffer scratch;      /* device work memory of the op in progress */
    sf_cu_buffer solver_work;  /* cuSOLVER workspace */
    sf_cu_buffer d_params;     /* device copy of the op's host parameters */
    sf_cu_buffer h_params;     /* pinned staging of those parameters */
    cudaEvent_t params_copied; /* h_params may be rewritten once this has fired */
    bool params_pending;
    sf_cu_buffer h_out; /* pinned landing place of results */

    sf_cu_xlwork geqrf_lwork[SF_CU_LWORK_SLOTS];
    sf_cu_lwork potrf_lwork[SF_CU_LWORK_SLOTS];
    unsigned geqrf_next, potrf_next;
    cusolverDnParams_t solver_params; /* the 64-bit cuSOLVER API (cusolverDnX*) */
    /* The backend's own stream-ordered memory pool: freed memory stays in it
     * (release threshold: unlimited) instead of going back to the driver at
     * every synchronization and being mapped again for the next batch. */
    cudaMemPool_t pool;
    /* Host waits block the thread (cudaEventBlockingSync) instead of spinning a
     * core that the parser wants: every wait of a stream goes through this. */
    cudaEvent_t host_wait;
} sf_cuda_backend;

struct sf_dbatch {
    size_t rows, d;
    double *X;         /* rows x d row-major = column-major d x rows (ld d), what cuBLAS takes */
    double *y;         /* rows, right after X in the same allocation */
    cudaEvent_t ready; /* recorded on the copy stream after the upload */
};

static inline sf_cuda_backend *sf_cu(sf_backend *be) { return (sf_cuda_backend *)be; }

/* ---- workspaces (cuda_workspace.cu) ---- */

/* A message through the backend's log callback (nothing when it is NULL). */
void sf_cu_logf(const sf_cuda_backend *cb, sf_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Device allocation ordered on stream s (plain cudaMalloc/cudaFree when the
 * device has no memory pools). */
sf_status sf_cu_dev_alloc(sf_cuda_backend *cb, void **p, size_t bytes, cudaStream_t s);
void sf_cu_dev_free(sf_cuda_backend *cb, void *p, cudaStream_t s);
/* Grow a device / pinned buffer to at least `bytes` (contents are not kept). */
sf_status sf_cu_reserve_dev(sf_cuda_backend *cb, sf_cu_buffer *buf, size_t bytes);
sf_status sf_cu_reserve_host(sf_cuda_backend *cb, sf_cu_buffer *buf, size_t bytes);
void sf_cu_release(sf_cuda_backend *cb, sf_cu_buffer *buf, bool pinned);

/* Carves 256-byte aligned pieces out of one allocation. With base NULL it only
 * measures: a plan runs once to size the scratch, once to hand out pointers. */
typedef struct sf_cu_arena {
    char *base;
    size_t used;
    template <class T> T *take(size_t count)
    {
        size_t off = (used + 255) & ~(size_t)255;
        used = off + count * sizeof(T);
        return base ? reinterpret_cast<T *>(base + off) : nullptr;
    }
} sf_cu_arena;

template <class Plan> sf_status sf_cu_scratch(sf_cuda_backend *cb, Plan plan)
{
    sf_cu_arena measure = {nullptr, 0};
    plan(measure);
    SF_TRY(sf_cu_reserve_dev(cb, &cb->scratch, measure.used));
    sf_cu_arena carve = {(char *)cb->scratch.p, 0};
    plan(carve);
    return SF_OK;
}

/* Host parameters to the device on the compute stream: each `host` array of
 * `count` doubles (count 0: skipped, *dev = NULL) lands at *dev, valid for
 * the rest of the op. */
typedef struct sf_cu_param {
    const double *host;
    size_t count;
    double **dev;
} sf_cu_param;
sf_status sf_cu_push_params(sf_cuda_backend *cb, const sf_cu_param *list, size_t n);

/* Device results to the host: all copies are queued into pinned memory, the
 * compute stream is synchronized once, then each result is copied to `host`
 * (if not NULL) and/or its pinned address stored in *pinned (if not NULL;
 * valid until the next op). A result of more than 64 MiB with only a `host`
 * destination (the scores of a large batch) is copied there directly. */
typedef struct sf_cu_fetch {
    const void *dev;
    size_t bytes;
    void *host;
    const void **pinned;
} sf_cu_fetch;
sf_status sf_cu_fetch_results(sf_cuda_backend *cb, const sf_cu_fetch *list, size_t n);

/* Block the calling thread (without spinning) until the work queued on s so
 * far is done. */
sf_status sf_cu_host_wait(sf_cuda_backend *cb, cudaStream_t s);

/* Event flags of every event the host waits on. */
constexpr unsigned kSfCuHostEventFlags = cudaEventDisableTiming | cudaEventBlockingSync;

/* Make the compute stream wait for the batch's upload. */
sf_status sf_cu_wait_batch(sf_cuda_backend *cb, const sf_dbatch *b);

/* Grid size for a grid-stride loop over `work` items. */
static inline unsigned sf_cu_blocks(size_t work, unsigned threads)
{
    size_t b = (work + threads - 1) / threads;
    if (b < 1) b = 1;
    if (b > 16384) b = 16384;
    return (unsigned)b;
}

/* Rows split into at most 1024 chunks of at least 256 rows: column
 * reductions write one partial result per chunk and column, summed in a fixed
 * order afterwards, so that results do not depend on scheduling. */
static inline void sf_cu_row_chunks(size_t n, size_t *chunks, size_t *rows_per_chunk)
{
    size_t c = (n + 255) / 256;
    if (c < 1) c = 1;
    if (c > 1024) c = 1024;
    *chunks = c;
    *rows_per_chunk = (n + c - 1) / c;
}

/* Cached cuSOLVER workspace size for shape (m, n); false when not cached. */
static inline bool sf_cu_lwork_get(const sf_cu_lwork *cache, int m, int n, int *lwork)
{
    for (int i = 0; i < SF_CU_LWORK_SLOTS; i++)
        if (cache[i].m == m && cache[i].n == n && cache[i].lwork > 0) {
            *lwork = cache[i].lwork;
            return true;
        }
    return false;
}

static inline void sf_cu_lwork_put(sf_cu_lwork *cache, unsigned *next, int m, int n, int lwork)
{
    sf_cu_lwork *slot = &cache[*next % SF_CU_LWORK_SLOTS];
    *next += 1;
    slot->m = m;
    slot->n = n;
    slot->lwork = lwork > 0 ? lwork : 1;
}

/* ---- ops, one file per group ---- */

/* batch_stats.cu */
sf_status sf_cu_batch_standardize(sf_backend *be, sf_dbatch *b, const double *shift,
                                  const double *scale);
sf_status sf_cu_batch_moments(sf_backend *be, const sf_dbatch *b, double *mean, double *m2);
sf_status sf_cu_batch_qr(sf_backend *be, const sf_dbatch *b, const double *center,
                         const double *scale, double *R);
/* cudaSuccess when this build holds a kernel image the current device can run. */
cudaError_t sf_cu_probe_kernels(void);

/* batch_residuals.cu */
sf_status sf_cu_batch_residuals(sf_backend *be, const sf_dbatch *b, const double *w, double b0,
                                const double *center, double *sum_r, double *sum_r2, double *g,
                                double *sxc, double *lo);

/* logit_kernels.cu */
sf_status sf_cu_batch_scores(sf_backend *be, const sf_dbatch *b, const double *W,
                             const double *bias, size_t k, double *T);
sf_status sf_cu_logistic_terms(sf_backend *be, const sf_dbatch *b, const double *theta,
                               double *loss, double *grad, double *hess);
sf_status sf_cu_softmax_terms(sf_backend *be, const sf_dbatch *b, const double *theta, size_t K,
                              double *loss, double *grad, double *hess);

/* dense_solve.cu */
sf_status sf_cu_solve_spd(sf_backend *be, size_t n, double *A, double *B, size_t nrhs,
                          double *rcond);
sf_status sf_cu_solve_lstsq(sf_backend *be, size_t m, size_t n, double *A, double *b, double rcond,
                            int *rank);
sf_status sf_cu_solve_triangular(sf_backend *be, size_t n, const double *U, double *B, size_t nrhs,
                                 bool trans);
sf_status sf_cu_qr_small(sf_backend *be, size_t m, size_t n, double *A, double *R);

/* ftrl_kernels.cu */
sf_status sf_cu_ftrl_step(sf_backend *be, sf_dbatch *b, size_t d, size_t K, const double *shift,
                          const double *scale, const sf_ftrl_params *prm, double *theta, double *z,
                          double *n, double *loss, double *scores);

/* staging_ring.cu */
sf_status sf_cu_ring_create(sf_backend *be, size_t d, size_t rows_per_slot, size_t slots,
                            sf_ring_input input, unsigned flags, sf_ring **out);
sf_status sf_cu_ring_acquire(sf_backend *be, sf_ring *r, sf_ring_slot *slot);
sf_status sf_cu_ring_submit(sf_backend *be, sf_ring *r, size_t rows, sf_dbatch **keep);
sf_status sf_cu_ring_read(sf_backend *be, sf_ring *r, double *n, double *mean, double *m2);
void sf_cu_ring_destroy(sf_backend *be, sf_ring *r);

#endif
