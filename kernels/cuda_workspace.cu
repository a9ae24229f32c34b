/*
 * cuda_workspace.cu — the memory every CUDA op draws from: device allocation
 * ordered on a stream, growable device scratch and pinned host buffers, the
 * staging of host parameters onto the device, and the one place where results
 * come back to the host (the only synchronization of the compute stream).
 */
#include <stdarg.h>
#include <stdlib.h>

#include "cuda_backend.cuh"

void sf_cu_logf(const sf_cuda_backend *cb, sf_log_level level, const char *fmt, ...)
{
    if (!cb || !cb->base.log) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cb->base.log(cb->base.log_user, level, msg);
}

static size_t round_up(size_t bytes, size_t granule)
{
    size_t r = (bytes + granule - 1) / granule * granule;
    return r < bytes ? bytes : r; /* overflow: keep the exact size */
}

sf_status sf_cu_dev_alloc(sf_cuda_backend *cb, void **p, size_t bytes, cudaStream_t s)
{
    *p = NULL;
    if (bytes == 0) return SF_OK;
    cudaError_t err =
        cb->pools ? cudaMallocFromPoolAsync(p, bytes, cb->pool, s) : cudaMalloc(p, bytes);
    if (err == cudaErrorMemoryAllocation && cb->pools) {
        /* Memory freed on a stream returns to the pool only once the stream
         * gets there: let both streams drain, hand what the pool keeps back
         * to the driver, then try once more. */
        (void)cudaGetLastError();
        (void)cudaStreamSynchronize(cb->compute);
        (void)cudaStreamSynchronize(cb->copy);
        (void)cudaMemPoolTrimTo(cb->pool, 0);
        err = cudaMallocFromPoolAsync(p, bytes, cb->pool, s);
    }
    if (err == cudaSuccess) return SF_OK;
    *p = NULL;
    if (err == cudaErrorMemoryAllocation) {
        /* Expected under load and recoverable (smaller batches): a warning,
         * and the error is cleared so later launch checks do not see it. */
        (void)cudaGetLastError();
        sf_cu_logf(cb, SF_LOG_WARN, "cuda: out of device memory allocating %.1f MiB",
                   (double)bytes / (1024.0 * 1024.0));
        return SF_ERR_NO_MEMORY;
    }
    return sf_cuda_rt_status(&cb->base, err, cb->pools ? "cudaMallocFromPoolAsync" : "cudaMalloc",
                             __FILE__, __LINE__);
}

void sf_cu_dev_free(sf_cuda_backend *cb, void *p, cudaStream_t s)
{
    if (!p) return;
    /* Stream-ordered: the memory is reused only after the work queued on s
     * before this point, so no device-wide synchronization is needed. */
    if (cb->pools)
        (void)SF_CUDA(&cb->base, cudaFreeAsync(p, s));
    else
        (void)SF_CUDA(&cb->base, cudaFree(p));
}

sf_status sf_cu_reserve_dev(sf_cuda_backend *cb, sf_cu_buffer *buf, size_t bytes)
{
    if (bytes <= buf->cap) return SF_OK;
    sf_cu_dev_free(cb, buf->p, cb->compute);
    buf->p = NULL;
    buf->cap = 0;
    /* Round up so that slightly larger batches do not reallocate every time;
     * when the rounded size does not fit, the exact one may. */
    size_t want = round_up(bytes, (size_t)1 << 20);
    sf_status st = sf_cu_dev_alloc(cb, &buf->p, want, cb->compute);
    if (st == SF_ERR_NO_MEMORY && want > bytes) {
        want = bytes;
        st = sf_cu_dev_alloc(cb, &buf->p, want, cb->compute);
    }
    if (st != SF_OK) return st;
    buf->cap = want;
    return SF_OK;
}

sf_status sf_cu_reserve_host(sf_cuda_backend *cb, sf_cu_buffer *buf, size_t bytes)
{
    if (bytes <= buf->cap) return SF_OK;
    /* Callers make sure no copy from or to the old buffer is still queued. */
    if (buf->p) (void)SF_CUDA(&cb->base, cudaFreeHost(buf->p));
    buf->p = NULL;
    buf->cap = 0;
    size_t want = round_up(bytes, (size_t)1 << 16);
    cudaError_t err = cudaHostAlloc(&buf->p, want, cudaHostAllocDefault);
    if (err != cudaSuccess) {
        buf->p = NULL;
        (void)cudaGetLastError();
        sf_cu_logf(cb, SF_LOG_WARN, "cuda: cannot pin %.1f MiB of host memory (%s)",
                   (double)want / (1024.0 * 1024.0), cudaGetErrorString(err));
        return SF_ERR_NO_MEMORY;
    }
    buf->cap = want;
    return SF_OK;
}

void sf_cu_release(sf_cuda_backend *cb, sf_cu_buffer *buf, bool pinned)
{
    if (buf->p) {
        if (pinned)
            (void)SF_CUDA(&cb->base, cudaFreeHost(buf->p));
        else
            sf_cu_dev_free(cb, buf->p, cb->compute);
    }
    buf->p = NULL;
    buf->cap = 0;
}

static size_t aligned_bytes(size_t bytes) { return (bytes + 255) & ~(size_t)255; }

sf_status sf_cu_push_params(sf_cuda_backend *cb, const sf_cu_param *list, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        *list[i].dev = NULL;
        if (list[i].count && list[i].host) total += aligned_bytes(list[i].count * sizeof(double));
    }
    if (total == 0) return SF_OK;
    /* The previous op's parameters may still be on their way out of the
     * pinned buffer: wait for that copy (not for the whole stream). */
    if (cb->params_pending) {
        SF_TRY(SF_CUDA(&cb->base, cudaEventSynchronize(cb->params_copied)));
        cb->params_pending = false;
    }
    SF_TRY(sf_cu_reserve_host(cb, &cb->h_params, total));
    SF_TRY(sf_cu_reserve_dev(cb, &cb->d_params, total));
    char *h = (char *)cb->h_params.p, *d = (char *)cb->d_params.p;
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        if (!list[i].count || !list[i].host) continue;
        size_t bytes = list[i].count * sizeof(double);
        memcpy(h + off, list[i].host, bytes);
        *list[i].dev = (double *)(d + off);
        off += aligned_bytes(bytes);
    }
    SF_TRY(SF_CUDA(&cb->base, cudaMemcpyAsync(d, h, total, cudaMemcpyHostToDevice, cb->compute)));
    sf_status st = SF_CUDA(&cb->base, cudaEventRecord(cb->params_copied, cb->compute));
    if (st != SF_OK) {
        /* Without the event the next op could not know when the pinned
         * buffer is free again: let the copy finish now. */
        (void)cudaStreamSynchronize(cb->compute);
        cb->params_pending = false;
        return st;
    }
    cb->params_pending = true;
    return SF_OK;
}

/* Results this large (scores of a big batch) go straight to the caller's
 * memory instead of growing the pinned buffer to their size for good. */
static const size_t kDirectFetchBytes = (size_t)64 << 20;

static bool direct(const sf_cu_fetch *f)
{
    return f->host && !f->pinned && f->bytes > kDirectFetchBytes;
}

sf_status sf_cu_fetch_results(sf_cuda_backend *cb, const sf_cu_fetch *list, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        if (!direct(&list[i])) total += aligned_bytes(list[i].bytes);
    /* Every earlier fetch ended with a synchronization, so the pinned buffer
     * is free to be regrown or rewritten. */
    SF_TRY(sf_cu_reserve_host(cb, &cb->h_out, total));
    char *h = (char *)cb->h_out.p;
    size_t off = 0;
    sf_status st = SF_OK;
    for (size_t i = 0; i < n && st == SF_OK; i++) {
        if (!list[i].bytes) continue;
        /* A copy to pageable memory returns once it is done, after the work
         * queued before it: in stream order, like the pinned ones. */
        void *dst = direct(&list[i]) ? list[i].host : h + off;
        st = SF_CUDA(&cb->base, cudaMemcpyAsync(dst, list[i].dev, list[i].bytes,
                                                cudaMemcpyDeviceToHost, cb->compute));
        if (!direct(&list[i])) off += aligned_bytes(list[i].bytes);
    }
    if (st == SF_OK && sf_backend_fault(&cb->base, SF_FAULT_FETCH_RESULTS)) st = SF_ERR_DEVICE;
    if (st != SF_OK) {
        /* Copies already queued still write into the pinned buffer, which the
         * next fetch reuses or frees: let them land before returning. */
        (void)cudaStreamSynchronize(cb->compute);
        cb->params_pending = false;
        return st;
    }
    SF_TRY(sf_cu_host_wait(cb, cb->compute));
    cb->params_pending = false; /* the parameter copy came before, on the same stream */
    off = 0;
    for (size_t i = 0; i < n; i++) {
        if (direct(&list[i]) || !list[i].bytes) continue;
        if (list[i].host) memcpy(list[i].host, h + off, list[i].bytes);
        if (list[i].pinned) *list[i].pinned = h + off;
        off += aligned_bytes(list[i].bytes);
    }
    return SF_OK;
}

sf_status sf_cu_host_wait(sf_cuda_backend *cb, cudaStream_t s)
{
    SF_TRY(SF_CUDA(&cb->base, cudaEventRecord(cb->host_wait, s)));
    return SF_CUDA(&cb->base, cudaEventSynchronize(cb->host_wait));
}

sf_status sf_cu_wait_batch(sf_cuda_backend *cb, const sf_dbatch *b)
{
    return SF_CUDA(&cb->base, cudaStreamWaitEvent(cb->compute, b->ready, 0));
}
