/*
 * staging_ring.cu — the CUDA staging ring (backend.h, "staging ring"): page-
 * locked host slots the caller parses into, one device buffer per slot, and
 * least-squares statistics that stay on the device until ring_read.
 *
 * Per submitted slot s, with no host wait:
 *   copy stream:     wait folded[s] (the device rows of s were read by the
 *                    previous fold), cudaMemcpyAsync X and y, record copied[s]
 *   compute stream:  wait copied[s]; batch mean (two passes), centered
 *                    column-major copy, cublasDsyrk, Chan merge into the
 *                    running mean / co-moment (two small kernels); record
 *                    folded[s]
 * So the copy of slot k+1 runs while slot k is folded, and the caller fills
 * slot k+2 meanwhile. The host waits on copied[s] only before it hands slot
 * s out again (its pinned rows may still be read by the DMA engine), and on
 * the compute stream only in ring_read. Events order everything; nothing
 * calls cudaDeviceSynchronize.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "aug_kernels.cuh"
#include "cuda_backend.cuh"

namespace
{

constexpr unsigned kThreads = 256;
/* A ring that cannot get this many rows per slot is not worth having. */
constexpr size_t kMinRowsPerSlot = 1024;
constexpr size_t kMaxChunks = 1024; /* sf_cu_row_chunks never makes more */

size_t round256(size_t bytes) { return (bytes + 255) & ~(size_t)255; }

/* acc_m2 += C + f (bmean - acc_mean)(bmean - acc_mean)^T for all p x p
 * entries, C holding only its upper triangle (cublasDsyrk). */
__global__ void chan_merge_m2_kernel(size_t p, double f, const double *C, const double *bmean,
                                     const double *acc_mean, double *acc_m2)
{
    size_t total = p * p, stride = (size_t)gridDim.x * blockDim.x;
    for (size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += stride) {
        size_t r = idx % p, c = idx / p;
        double cv = r <= c ? C[c * p + r] : C[r * p + c];
        double dr = bmean[r] - acc_mean[r], dc = bmean[c] - acc_mean[c];
        acc_m2[idx] += cv + f * dr * dc;
    }
}

/* out = in, widened to double. */
__global__ void widen_kernel(const float *in, size_t count, double *out)
{
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += stride)
        out[i] = (double)in[i];
}

/* acc_mean += (bmean - acc_mean) w, after chan_merge_m2_kernel read acc_mean. */
__global__ void chan_merge_mean_kernel(size_t p, double w, const double *bmean, double *acc_mean)
{
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t j = (size_t)blockIdx.x * blockDim.x + threadIdx.x; j < p; j += stride)
        acc_mean[j] += (bmean[j] - acc_mean[j]) * w;
}

} // namespace

/* One slot: its pinned host rows, its device rows and the events between them. */
struct sf_cu_ring_slot {
    void *hX;           /* pinned: cap x d features */
    double *hy;         /* pinned: cap labels */
    void *dmem;         /* device: cap x d features, then cap labels at y_offset */
    cudaEvent_t copied; /* copy stream: the slot's rows have left host memory */
    cudaEvent_t folded; /* compute stream: the fold has read the slot's device rows */
    bool copy_pending;  /* copied recorded, the host has not waited for it yet */
    bool folded_recorded;
};

struct sf_ring {
    size_t d, p, cap, n_slots, next;
    sf_ring_input input;
    unsigned flags;
    size_t esize, y_offset; /* bytes: a feature, and where a slot's labels start */
    sf_cu_ring_slot *slots;
    void *dwork; /* one device allocation: the pieces below */
    double *partial, *bmean, *A, *C, *acc_mean, *acc_m2;
    double acc_n;  /* rows folded since the last read (the host knows every count) */
    double *h_out; /* pinned landing place of ring_read */
    cudaEvent_t copy_tail;
};

namespace
{

void free_ring(sf_cuda_backend *cb, sf_ring *r)
{
    /* Work still queued on the ring's memory finishes first. */
    (void)cudaStreamSynchronize(cb->copy);
    (void)cudaStreamSynchronize(cb->compute);
    for (size_t s = 0; r->slots && s < r->n_slots; s++) {
        sf_cu_ring_slot *sl = &r->slots[s];
        if (sl->hX) (void)SF_CUDA(&cb->base, cudaFreeHost(sl->hX));
        if (sl->hy) (void)SF_CUDA(&cb->base, cudaFreeHost(sl->hy));
        sf_cu_dev_free(cb, sl->dmem, cb->compute);
        if (sl->copied) (void)cudaEventDestroy(sl->copied);
        if (sl->folded) (void)cudaEventDestroy(sl->folded);
    }
    sf_cu_dev_free(cb, r->dwork, cb->compute);
    if (r->h_out) (void)SF_CUDA(&cb->base, cudaFreeHost(r->h_out));
    if (r->copy_tail) (void)cudaEventDestroy(r->copy_tail);
    (void)cudaStreamSynchronize(cb->compute);
    free(r->slots);
    free(r);
}

sf_status pin(sf_cuda_backend *cb, void **p, size_t bytes)
{
    cudaError_t err = cudaHostAlloc(p, bytes ? bytes : 1, cudaHostAllocPortable);
    if (err == cudaSuccess) return SF_OK;
    *p = nullptr;
    (void)cudaGetLastError();
    if (err == cudaErrorMemoryAllocation) return SF_ERR_NO_MEMORY;
    return sf_cuda_rt_status(&cb->base, err, "cudaHostAlloc", __FILE__, __LINE__);
}

/* Everything a ring of `cap` rows per slot needs; SF_ERR_NO_MEMORY when some
 * of it does not fit (the caller tries fewer rows). */
sf_status alloc_ring(sf_cuda_backend *cb, sf_ring *r, size_t cap)
{
    size_t d = r->d, p = r->p;
    r->cap = cap;
    r->y_offset = round256(cap * d * r->esize);
    size_t slot_bytes = r->y_offset + cap * sizeof(double);
    r->slots = (sf_cu_ring_slot *)calloc(r->n_slots, sizeof *r->slots);
    if (!r->slots) return SF_ERR_NO_MEMORY;
    for (size_t s = 0; s < r->n_slots; s++) {
        sf_cu_ring_slot *sl = &r->slots[s];
        SF_TRY(pin(cb, &sl->hX, cap * d * r->esize));
        SF_TRY(pin(cb, (void **)&sl->hy, cap * sizeof(double)));
        SF_TRY(sf_cu_dev_alloc(cb, &sl->dmem, slot_bytes, cb->compute));
        /* Defined contents for a ring that skips the copies (timing). */
        SF_TRY(SF_CUDA(&cb->base, cudaMemsetAsync(sl->dmem, 0, slot_bytes, cb->compute)));
        SF_TRY(SF_CUDA(&cb->base, cudaEventCreateWithFlags(&sl->copied, kSfCuHostEventFlags)));
        SF_TRY(SF_CUDA(&cb->base, cudaEventCreateWithFlags(&sl->folded, cudaEventDisableTiming)));
    }
    sf_cu_arena plan = {nullptr, 0};
    auto carve = [&](sf_cu_arena &a) {
        r->partial = a.take<double>(kMaxChunks * p);
        r->bmean = a.take<double>(p);
        r->A = a.take<double>(cap * p);
        r->C = a.take<double>(p * p);
        r->acc_mean = a.take<double>(p);
        r->acc_m2 = a.take<double>(p * p);
    };
    carve(plan);
    SF_TRY(sf_cu_dev_alloc(cb, &r->dwork, plan.used, cb->compute));
    sf_cu_arena take = {(char *)r->dwork, 0};
    carve(take);
    SF_TRY(SF_CUDA(&cb->base, cudaMemsetAsync(r->dwork, 0, plan.used, cb->compute)));
    SF_TRY(pin(cb, (void **)&r->h_out, sizeof(double) * (p + p * p)));
    SF_TRY(SF_CUDA(&cb->base, cudaEventCreateWithFlags(&r->copy_tail, cudaEventDisableTiming)));
    /* Memory made on the compute stream, used on the copy stream too. */
    return SF_CUDA(&cb->base, cudaStreamSynchronize(cb->compute));
}

/* Queue the host-to-device copy of `rows` rows of slot sl into X / y. */
sf_status queue_copy(sf_cuda_backend *cb, sf_ring *r, sf_cu_ring_slot *sl, size_t rows, void *X,
                     double *y)
{
    sf_backend *be = &cb->base;
    if (sl->folded_recorded && X == sl->dmem)
        SF_TRY(SF_CUDA(be, cudaStreamWaitEvent(cb->copy, sl->folded, 0)));
    SF_TRY(SF_CUDA(
        be, cudaMemcpyAsync(X, sl->hX, rows * r->d * r->esize, cudaMemcpyHostToDevice, cb->copy)));
    return SF_CUDA(
        be, cudaMemcpyAsync(y, sl->hy, rows * sizeof(double), cudaMemcpyHostToDevice, cb->copy));
}

/* Fold `rows` device rows into the running statistics, on the compute stream. */
template <class T>
sf_status queue_fold(sf_cuda_backend *cb, sf_ring *r, const T *X, const double *y, size_t rows)
{
    sf_backend *be = &cb->base;
    size_t p = r->p, chunks, rows_per_chunk;
    sf_cu_row_chunks(rows, &chunks, &rows_per_chunk);
    SF_TRY(launch_aug_means<T>(be, cb->compute, X, y, rows, r->d, chunks, rows_per_chunk,
                               r->partial, r->bmean));
    SF_TRY(launch_aug_copy<T>(be, cb->compute, X, y, rows, r->d, r->bmean, nullptr, r->A));
    /* The batch's M2 from its centered copy: nothing squared before centering. */
    const double one = 1.0, zero = 0.0;
    SF_TRY(SF_CUBLAS(be, cublasDsyrk(cb->blas, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_T, (int)p,
                                     (int)rows, &one, r->A, (int)rows, &zero, r->C, (int)p)));
    double nb = (double)rows, n = r->acc_n + nb;
    chan_merge_m2_kernel<<<sf_cu_blocks(p * p, kThreads), kThreads, 0, cb->compute>>>(
        p, r->acc_n * nb / n, r->C, r->bmean, r->acc_mean, r->acc_m2);
    SF_TRY(SF_CUDA_LAUNCH(be, "chan_merge_m2_kernel"));
    chan_merge_mean_kernel<<<sf_cu_blocks(p, kThreads), kThreads, 0, cb->compute>>>(
        p, nb / n, r->bmean, r->acc_mean);
    SF_TRY(SF_CUDA_LAUNCH(be, "chan_merge_mean_kernel"));
    r->acc_n = n;
    return SF_OK;
}

/* A device batch of its own for `rows` rows, for ring_submit's `keep`. */
sf_status new_kept_batch(sf_cuda_backend *cb, size_t rows, size_t d, sf_dbatch **out)
{
    sf_dbatch *b = (sf_dbatch *)calloc(1, sizeof *b);
    if (!b) return SF_ERR_NO_MEMORY;
    b->rows = rows;
    b->d = d;
    void *mem = nullptr;
    sf_status st = SF_CUDA(&cb->base, cudaEventCreateWithFlags(&b->ready, cudaEventDisableTiming));
    if (st == SF_OK) st = sf_cu_dev_alloc(cb, &mem, sizeof(double) * rows * (d + 1), cb->copy);
    /* The memory exists in copy-stream order: until the copy records `ready`
     * again, this is what a free on the compute stream (batch_free after a
     * failed submit) waits for. */
    if (st == SF_OK) st = SF_CUDA(&cb->base, cudaEventRecord(b->ready, cb->copy));
    if (st != SF_OK) {
        if (mem) {
            (void)cudaStreamSynchronize(cb->copy);
            sf_cu_dev_free(cb, mem, cb->copy);
        }
        if (b->ready) (void)cudaEventDestroy(b->ready);
        free(b);
        return st;
    }
    b->X = (double *)mem;
    b->y = (double *)mem + rows * d;
    *out = b;
    return SF_OK;
}

} // namespace

sf_status sf_cu_ring_create(sf_backend *be, size_t d, size_t rows_per_slot, size_t slots,
                            sf_ring_input input, unsigned flags, sf_ring **out)
{
    sf_cuda_backend *cb = sf_cu(be);
    if (!out || d == 0 || d > ((size_t)1 << 20) || rows_per_slot == 0 || slots < 3 ||
        (input != SF_RING_F64 && input != SF_RING_F32))
        return SF_ERR_INVALID_ARGUMENT;
    size_t cap = rows_per_slot < (size_t)INT_MAX ? rows_per_slot : (size_t)INT_MAX;
    size_t floor_rows = cap < kMinRowsPerSlot ? cap : kMinRowsPerSlot;
    for (;;) {
        sf_ring *r = (sf_ring *)calloc(1, sizeof *r);
        if (!r) return SF_ERR_NO_MEMORY;
        r->d = d;
        r->p = d + 1;
        r->n_slots = slots;
        r->input = input;
        r->flags = flags;
        r->esize = input == SF_RING_F32 ? sizeof(float) : sizeof(double);
        sf_status st = SF_OK;
        if (cap > SIZE_MAX / sizeof(double) / (d + 1))
            st = SF_ERR_NO_MEMORY;
        else
            st = alloc_ring(cb, r, cap);
        if (st == SF_OK) {
            if (cap < rows_per_slot)
                sf_cu_logf(
                    cb, SF_LOG_WARN,
                    "cuda: staging ring holds %zu rows per slot (%zu asked; memory is short)", cap,
                    rows_per_slot);
            *out = r;
            return SF_OK;
        }
        free_ring(cb, r);
        /* Out of (device or pinned) memory: smaller slots, down to a floor. */
        if (st != SF_ERR_NO_MEMORY || cap <= floor_rows) return st;
        cap = cap / 2 > floor_rows ? cap / 2 : floor_rows;
    }
}

void sf_cu_ring_destroy(sf_backend *be, sf_ring *r)
{
    if (r) free_ring(sf_cu(be), r);
}

sf_status sf_cu_ring_acquire(sf_backend *be, sf_ring *r, sf_ring_slot *slot)
{
    if (!r || !slot) return SF_ERR_INVALID_ARGUMENT;
    sf_cu_ring_slot *sl = &r->slots[r->next];
    /* Back-pressure: the DMA engine may still be reading the slot's rows. */
    if (sl->copy_pending) {
        SF_TRY(SF_CUDA(be, cudaEventSynchronize(sl->copied)));
        sl->copy_pending = false;
    }
    slot->X = sl->hX;
    slot->y = sl->hy;
    slot->cap = r->cap;
    return SF_OK;
}

sf_status sf_cu_ring_submit(sf_backend *be, sf_ring *r, size_t rows, sf_dbatch **keep)
{
    sf_cuda_backend *cb = sf_cu(be);
    if (!r || rows > r->cap) return SF_ERR_INVALID_ARGUMENT;
    if (keep) *keep = nullptr;
    sf_cu_ring_slot *sl = &r->slots[r->next];
    if (sl->copy_pending) { /* submitted without ring_acquire: still in flight */
        SF_TRY(SF_CUDA(be, cudaEventSynchronize(sl->copied)));
        sl->copy_pending = false;
    }
    r->next = (r->next + 1) % r->n_slots;
    if (rows == 0) return SF_OK;
    bool copy = !(r->flags & SF_RING_SKIP_COPY), fold = !(r->flags & SF_RING_SKIP_COMPUTE);

    /* Where the rows go: the slot's device buffer, or a batch the caller
     * keeps. Float features of a kept batch land in the slot and are widened
     * into the batch on the device. */
    bool widen = keep && r->input == SF_RING_F32;
    sf_dbatch *b = nullptr;
    void *X = sl->dmem;
    double *y = (double *)((char *)sl->dmem + r->y_offset);
    if (keep) {
        SF_TRY(new_kept_batch(cb, rows, r->d, &b));
        if (!widen) X = b->X;
        y = b->y;
    }
    sf_status st = SF_OK;
    if ((copy || keep) && sf_backend_fault(be, SF_FAULT_RING_SUBMIT_COPY)) st = SF_ERR_DEVICE;
    if (st == SF_OK && (copy || keep)) {
        st = queue_copy(cb, r, sl, rows, X, y);
        if (st == SF_OK) st = SF_CUDA(be, cudaEventRecord(sl->copied, cb->copy));
        if (st == SF_OK && b && !widen) st = SF_CUDA(be, cudaEventRecord(b->ready, cb->copy));
        if (st == SF_OK) {
            sl->copy_pending = true;
            st = SF_CUDA(be, cudaStreamWaitEvent(cb->compute, sl->copied, 0));
        }
    }
    if (st == SF_OK && widen) {
        size_t count = rows * r->d;
        widen_kernel<<<sf_cu_blocks(count, kThreads), kThreads, 0, cb->compute>>>((const float *)X,
                                                                                  count, b->X);
        st = SF_CUDA_LAUNCH(be, "widen_kernel");
        if (st == SF_OK) st = SF_CUDA(be, cudaEventRecord(b->ready, cb->compute));
    }
    if (st == SF_OK && fold)
        st = r->input == SF_RING_F32 ? queue_fold<float>(cb, r, (const float *)X, y, rows)
                                     : queue_fold<double>(cb, r, (const double *)X, y, rows);
    if (st == SF_OK && X == sl->dmem) { /* the slot's device rows are free after this */
        st = SF_CUDA(be, cudaEventRecord(sl->folded, cb->compute));
        sl->folded_recorded = st == SF_OK;
    }
    if (st != SF_OK) {
        /* Copies may be queued, from the slot's pinned rows (which the caller
         * refills next) into the kept batch (freed below): let them land. */
        (void)cudaStreamSynchronize(cb->copy);
        sl->copy_pending = false;
        if (b) be->ops->batch_free(be, b);
        return st;
    }
    if (keep) *keep = b;
    return SF_OK;
}

sf_status sf_cu_ring_read(sf_backend *be, sf_ring *r, double *n, double *mean, double *m2)
{
    sf_cuda_backend *cb = sf_cu(be);
    if (!r || !n || !mean || !m2) return SF_ERR_INVALID_ARGUMENT;
    size_t p = r->p;
    /* Everything submitted, copies included (a copy-only ring folds nothing). */
    SF_TRY(SF_CUDA(be, cudaEventRecord(r->copy_tail, cb->copy)));
    SF_TRY(SF_CUDA(be, cudaStreamWaitEvent(cb->compute, r->copy_tail, 0)));
    SF_TRY(SF_CUDA(be, cudaMemcpyAsync(r->h_out, r->acc_mean, sizeof(double) * p,
                                       cudaMemcpyDeviceToHost, cb->compute)));
    SF_TRY(SF_CUDA(be, cudaMemcpyAsync(r->h_out + p, r->acc_m2, sizeof(double) * p * p,
                                       cudaMemcpyDeviceToHost, cb->compute)));
    /* The one wait of the ring: the statistics are handed back. */
    SF_TRY(sf_cu_host_wait(cb, cb->compute));
    *n = r->acc_n;
    memcpy(mean, r->h_out, sizeof(double) * p);
    memcpy(m2, r->h_out + p, sizeof(double) * p * p);
    r->acc_n = 0;
    SF_TRY(SF_CUDA(be, cudaMemsetAsync(r->acc_mean, 0, sizeof(double) * p, cb->compute)));
    return SF_CUDA(be, cudaMemsetAsync(r->acc_m2, 0, sizeof(double) * p * p, cb->compute));
}
