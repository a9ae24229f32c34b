/*
 * backend_cuda.cu — the CUDA implementation of the backend interface: finding
 * a usable GPU (or saying why there is none), the backend's streams and
 * library handles, device batches and their uploads, pinned host staging,
 * and the table of ops whose bodies live in the files named there.
 *
 * A batch is one device allocation: X (rows x d, row-major as uploaded) then
 * y. The upload runs on the copy stream and records an event that every op
 * on the batch waits for on the compute stream.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_backend.cuh"
#include "cuda_module.h"

namespace
{

/* The oldest GPUs CUDA 13 supports. */
constexpr int kMinCapability = 75;
/* Largest batch a backend call takes: cuBLAS and cuSOLVER count in int. */
constexpr size_t kMaxRows = INT_MAX;
constexpr size_t kMaxFeatures = (size_t)1 << 20;

void say(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void say(char *buf, size_t len, const char *fmt, ...)
{
    if (!buf || len == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

/* Why the runtime could not even count devices. */
void runtime_reason(cudaError_t err, char *why, size_t len)
{
    int driver = 0, runtime = 0;
    if (cudaDriverGetVersion(&driver) != cudaSuccess) driver = 0;
    if (cudaRuntimeGetVersion(&runtime) != cudaSuccess) runtime = 0;
    (void)cudaGetLastError();
    if (err == cudaErrorInsufficientDriver && driver == 0)
        say(why, len, "no CUDA driver");
    else if (err == cudaErrorInsufficientDriver)
        say(why, len, "CUDA driver %d.%d is older than the runtime %d.%d", driver / 1000,
            driver % 1000 / 10, runtime / 1000, runtime % 1000 / 10);
    else if (err == cudaErrorNoDevice)
        say(why, len, "no CUDA device");
    else
        say(why, len, "%s (%s)", cudaGetErrorString(err), cudaGetErrorName(err));
}

/* The device this process takes: STREAMFIT_CUDA_DEVICE modulo the device
 * count (an MPI rank sets it to its local rank, so that ranks on one node
 * spread over its GPUs), else 0. */
static int chosen_device(int count)
{
    const char *v = getenv("STREAMFIT_CUDA_DEVICE");
    char *end = NULL;
    long i = v ? strtol(v, &end, 10) : 0;
    if (!v || end == v || *end != '\0' || i < 0) i = 0;
    return (int)(i % count);
}

/* The chosen device when it can run this build's kernels, else false and the reason. */
bool usable_device(char *why, size_t len)
{
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
        runtime_reason(err, why, len);
        return false;
    }
    if (count <= 0) {
        say(why, len, "no CUDA device");
        return false;
    }
    int dev = chosen_device(count);
    cudaDeviceProp prop;
    err = cudaGetDeviceProperties(&prop, dev);
    if (err != cudaSuccess) {
        (void)cudaGetLastError();
        say(why, len, "cuda:%d: %s", dev, cudaGetErrorString(err));
        return false;
    }
    if (prop.major * 10 + prop.minor < kMinCapability) {
        say(why, len, "cuda:%d %s: compute capability %d.%d < %d.%d", dev, prop.name, prop.major,
            prop.minor, kMinCapability / 10, kMinCapability % 10);
        return false;
    }
    err = cudaSetDevice(dev);
    if (err == cudaSuccess) err = sf_cu_probe_kernels();
    if (err == cudaErrorNoKernelImageForDevice || err == cudaErrorInvalidDeviceFunction) {
        (void)cudaGetLastError();
        say(why, len,
            "cuda:%d %s: this build has no kernels for compute capability %d.%d (configure with "
            "CMAKE_CUDA_ARCHITECTURES including %d%d)",
            dev, prop.name, prop.major, prop.minor, prop.major, prop.minor);
        return false;
    }
    if (err != cudaSuccess) {
        (void)cudaGetLastError();
        say(why, len, "cuda:%d %s: %s (%s)", dev, prop.name, cudaGetErrorString(err),
            cudaGetErrorName(err));
        return false;
    }
    return true;
}

void cuda_destroy(sf_backend *be)
{
    sf_cuda_backend *cb = sf_cu(be);
    if (!cb) return;
    /* Let queued work finish before its memory and streams go away. */
    if (cb->copy) (void)cudaStreamSynchronize(cb->copy);
    if (cb->compute) (void)cudaStreamSynchronize(cb->compute);
    if (cb->compute) {
        sf_cu_release(cb, &cb->scratch, false);
        sf_cu_release(cb, &cb->solver_work, false);
        sf_cu_release(cb, &cb->d_params, false);
        (void)cudaStreamSynchronize(cb->compute);
    }
    sf_cu_release(cb, &cb->h_params, true);
    sf_cu_release(cb, &cb->h_out, true);
    if (cb->solver_params) cusolverDnDestroyParams(cb->solver_params);
    if (cb->solver) cusolverDnDestroy(cb->solver);
    if (cb->blas) cublasDestroy(cb->blas);
    if (cb->params_copied) (void)cudaEventDestroy(cb->params_copied);
    if (cb->host_wait) (void)cudaEventDestroy(cb->host_wait);
    /* Everything allocated from the pool was freed on the streams above. */
    if (cb->pool) (void)cudaMemPoolDestroy(cb->pool);
    if (cb->copy) (void)cudaStreamDestroy(cb->copy);
    if (cb->compute) (void)cudaStreamDestroy(cb->compute);
    if (cb->cpu) cb->cpu->ops->destroy(cb->cpu);
    (void)cudaGetLastError();
    free(cb);
}

bool is_pinned(const void *p)
{
    if (!p) return false;
    cudaPointerAttributes attr;
    if (cudaPointerGetAttributes(&attr, p) != cudaSuccess) {
        (void)cudaGetLastError();
        return false;
    }
    return attr.type == cudaMemoryTypeHost;
}

void cuda_batch_free(sf_backend *be, sf_dbatch *b)
{
    if (!b) return;
    sf_cuda_backend *cb = sf_cu(be);
    /* Freed in compute-stream order, after the upload and every op queued on
     * the batch (an unsynchronized standardize, say). */
    (void)sf_cu_wait_batch(cb, b);
    sf_cu_dev_free(cb, b->X ? (void *)b->X : (void *)b->y, cb->compute);
    if (b->ready) (void)SF_CUDA(be, cudaEventDestroy(b->ready));
    free(b);
}

sf_status cuda_batch_upload(sf_backend *be, const double *X, const double *y, size_t rows, size_t d,
                            sf_dbatch **out)
{
    sf_cuda_backend *cb = sf_cu(be);
    if (rows > kMaxRows || d > kMaxFeatures) {
        /* Out of reach of one device batch; a smaller one will do. */
        sf_cu_logf(cb, SF_LOG_WARN, "cuda: a batch of %zu rows x %zu features is too large", rows,
                   d);
        return SF_ERR_NO_MEMORY;
    }
    size_t xcount = rows * d;
    if (d && xcount / d != rows) return SF_ERR_NO_MEMORY;
    size_t count = xcount + rows;
    if (count > SIZE_MAX / sizeof(double)) return SF_ERR_NO_MEMORY;
    sf_dbatch *b = (sf_dbatch *)calloc(1, sizeof *b);
    if (!b) return SF_ERR_NO_MEMORY;
    b->rows = rows;
    b->d = d;
    sf_status st = SF_CUDA(be, cudaEventCreateWithFlags(&b->ready, kSfCuHostEventFlags));
    void *mem = nullptr;
    if (st == SF_OK) st = sf_cu_dev_alloc(cb, &mem, count * sizeof(double), cb->copy);
    if (st == SF_OK) {
        b->X = xcount ? (double *)mem : nullptr;
        b->y = rows ? (double *)mem + xcount : nullptr;
        /* From pageable memory the driver stages the data before returning,
         * so the caller may reuse X and y at once and the DMA overlaps later
         * host work. */
        if (xcount)
            st = SF_CUDA(be, cudaMemcpyAsync(b->X, X, xcount * sizeof(double),
                                             cudaMemcpyHostToDevice, cb->copy));
        if (st == SF_OK && rows)
            st = SF_CUDA(be, cudaMemcpyAsync(b->y, y, rows * sizeof(double), cudaMemcpyHostToDevice,
                                             cb->copy));
    }
    if (st == SF_OK) st = SF_CUDA(be, cudaEventRecord(b->ready, cb->copy));
    /* From pinned memory the copy is a true DMA still reading the caller's
     * arrays; the contract is that they are free on return, so wait for it
     * (for this copy only, not for the device). */
    if (st == SF_OK && (is_pinned(X) || is_pinned(y)))
        st = SF_CUDA(be, cudaEventSynchronize(b->ready));
    if (st != SF_OK) {
        if (mem) {
            (void)cudaStreamSynchronize(cb->copy);
            sf_cu_dev_free(cb, mem, cb->copy);
        }
        if (b->ready) (void)cudaEventDestroy(b->ready);
        free(b);
        return st;
    }
    *out = b;
    return SF_OK;
}

size_t cuda_batch_rows(const sf_dbatch *b) { return b->rows; }

/* Every stride-th row of b into a new device batch: two strided
 * device-to-device copies on the compute stream, after everything queued on b
 * (its upload, a standardize); nothing crosses to the host. */
sf_status cuda_batch_sample(sf_backend *be, const sf_dbatch *src, size_t stride, size_t offset,
                            sf_dbatch **out)
{
    sf_cuda_backend *cb = sf_cu(be);
    if (stride == 0) return SF_ERR_INVALID_ARGUMENT;
    size_t rows = src->rows > offset ? (src->rows - offset + stride - 1) / stride : 0, d = src->d;
    sf_dbatch *b = (sf_dbatch *)calloc(1, sizeof *b);
    if (!b) return SF_ERR_NO_MEMORY;
    b->rows = rows;
    b->d = d;
    sf_status st = SF_CUDA(be, cudaEventCreateWithFlags(&b->ready, kSfCuHostEventFlags));
    void *mem = nullptr;
    if (st == SF_OK) st = sf_cu_wait_batch(cb, src);
    if (st == SF_OK)
        st = sf_cu_dev_alloc(cb, &mem, (rows * d + rows + 1) * sizeof(double), cb->compute);
    if (st == SF_OK) {
        b->X = d && rows ? (double *)mem : nullptr;
        b->y = rows ? (double *)mem + rows * d : nullptr;
        if (b->X)
            st = SF_CUDA(be, cudaMemcpy2DAsync(b->X, d * sizeof(double), src->X + offset * d,
                                               stride * d * sizeof(double), d * sizeof(double),
                                               rows, cudaMemcpyDeviceToDevice, cb->compute));
        if (st == SF_OK && b->y)
            st = SF_CUDA(be, cudaMemcpy2DAsync(b->y, sizeof(double), src->y + offset,
                                               stride * sizeof(double), sizeof(double), rows,
                                               cudaMemcpyDeviceToDevice, cb->compute));
    }
    if (st == SF_OK) st = SF_CUDA(be, cudaEventRecord(b->ready, cb->compute));
    if (st != SF_OK) {
        if (mem) {
            (void)cudaStreamSynchronize(cb->compute);
            sf_cu_dev_free(cb, mem, cb->compute);
        }
        if (b->ready) (void)cudaEventDestroy(b->ready);
        free(b);
        return st;
    }
    *out = b;
    return SF_OK;
}

void *cuda_host_alloc(sf_backend *be, size_t bytes)
{
    void *p = nullptr;
    if (bytes == 0) bytes = 1;
    cudaError_t err = cudaHostAlloc(&p, bytes, cudaHostAllocPortable);
    if (err != cudaSuccess) {
        (void)cudaGetLastError();
        sf_cu_logf(sf_cu(be), SF_LOG_WARN, "cuda: cannot pin %zu bytes of host memory (%s)", bytes,
                   cudaGetErrorString(err));
        return nullptr;
    }
    return p;
}

void cuda_host_free(sf_backend *be, void *p)
{
    if (p) (void)SF_CUDA(be, cudaFreeHost(p));
}

const sf_backend_ops cuda_ops = {
    /* name */ "cuda",
    /* destroy */ cuda_destroy,
    /* batch_upload */ cuda_batch_upload,
    /* batch_free */ cuda_batch_free,
    /* batch_rows */ cuda_batch_rows,
    /* batch_standardize */ sf_cu_batch_standardize, /* batch_stats.cu */
    /* batch_moments */ sf_cu_batch_moments,         /* batch_stats.cu */
    /* batch_qr */ sf_cu_batch_qr,                   /* batch_stats.cu */
    /* batch_residuals */ sf_cu_batch_residuals,     /* batch_residuals.cu */
    /* batch_scores */ sf_cu_batch_scores,           /* logit_kernels.cu */
    /* logistic_terms */ sf_cu_logistic_terms,       /* logit_kernels.cu */
    /* softmax_terms */ sf_cu_softmax_terms,         /* logit_kernels.cu */
    /* ftrl_step */ sf_cu_ftrl_step,                 /* ftrl_kernels.cu */
    /* solve_spd */ sf_cu_solve_spd,                 /* dense_solve.cu: GPU */
    /* solve_lstsq */ sf_cu_solve_lstsq,             /* dense_solve.cu: host LAPACK */
    /* solve_triangular */ sf_cu_solve_triangular,   /* dense_solve.cu: host BLAS */
    /* qr_small */ sf_cu_qr_small,                   /* dense_solve.cu: host LAPACK */
    /* host_alloc */ cuda_host_alloc,
    /* host_free */ cuda_host_free,
    /* batch_borrow */ nullptr, /* device batches always hold their own copy */
    /* batch_sample */ cuda_batch_sample,
    /* ring_create */ sf_cu_ring_create, /* staging_ring.cu */
    /* ring_acquire */ sf_cu_ring_acquire,
    /* ring_submit */ sf_cu_ring_submit,
    /* ring_read */ sf_cu_ring_read,
    /* ring_destroy */ sf_cu_ring_destroy,
    /* ring_async */ true,
};

/* One failed step of backend creation: the reason, naming the call. */
bool failed(cudaError_t err, const char *call, char *why, size_t len)
{
    if (err == cudaSuccess) return false;
    (void)cudaGetLastError();
    say(why, len, "cuda:0: %s: %s (%s)", call, cudaGetErrorString(err), cudaGetErrorName(err));
    return true;
}

/* Streams, events, library handles and the host backend of a new backend. */
sf_status init_backend(sf_cuda_backend *cb, int threads, char *why, size_t len)
{
    int pools = 0;
    if (cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, cb->device) != cudaSuccess)
        pools = 0;
    (void)cudaGetLastError();
    if (pools) {
        cudaMemPoolProps props;
        memset(&props, 0, sizeof props);
        props.allocType = cudaMemAllocationTypePinned;
        props.location.type = cudaMemLocationTypeDevice;
        props.location.id = cb->device;
        uint64_t keep_all = UINT64_MAX;
        if (failed(cudaMemPoolCreate(&cb->pool, &props), "cudaMemPoolCreate", why, len) ||
            failed(cudaMemPoolSetAttribute(cb->pool, cudaMemPoolAttrReleaseThreshold, &keep_all),
                   "cudaMemPoolSetAttribute", why, len))
            return SF_ERR_DEVICE;
    }
    cb->pools = pools != 0;
    /* Non-blocking: never serialized behind the legacy default stream that
     * other code in the process might use. */
    if (failed(cudaStreamCreateWithFlags(&cb->compute, cudaStreamNonBlocking),
               "cudaStreamCreateWithFlags", why, len) ||
        failed(cudaStreamCreateWithFlags(&cb->copy, cudaStreamNonBlocking),
               "cudaStreamCreateWithFlags", why, len) ||
        failed(cudaEventCreateWithFlags(&cb->params_copied, kSfCuHostEventFlags),
               "cudaEventCreateWithFlags", why, len) ||
        failed(cudaEventCreateWithFlags(&cb->host_wait, kSfCuHostEventFlags),
               "cudaEventCreateWithFlags", why, len))
        return SF_ERR_DEVICE;
    cublasStatus_t bs = cublasCreate(&cb->blas);
    if (bs == CUBLAS_STATUS_SUCCESS) bs = cublasSetStream(cb->blas, cb->compute);
    if (bs != CUBLAS_STATUS_SUCCESS) {
        say(why, len, "cuda:0: cuBLAS: %s", cublasGetStatusString(bs));
        return SF_ERR_DEVICE;
    }
    cusolverStatus_t ss = cusolverDnCreate(&cb->solver);
    if (ss == CUSOLVER_STATUS_SUCCESS) ss = cusolverDnSetStream(cb->solver, cb->compute);
    if (ss == CUSOLVER_STATUS_SUCCESS) ss = cusolverDnCreateParams(&cb->solver_params);
    if (ss != CUSOLVER_STATUS_SUCCESS) {
        say(why, len, "cuda:0: cuSOLVER: %s", sf_cusolver_status_name(ss));
        return SF_ERR_DEVICE;
    }
    sf_status st = sf_backend_cpu_create(threads, &cb->cpu);
    if (st != SF_OK) say(why, len, "host backend: %s", sf_strerror(st));
    return st;
}

} // namespace

extern "C" SF_CUDA_MODULE_EXPORT sf_status sf_cuda_module_create(int threads, sf_backend **out,
                                                                 char *why, size_t whylen)
{
    say(why, whylen, "%s", "");
    if (!out) return SF_ERR_INVALID_ARGUMENT;
    if (!usable_device(why, whylen)) return SF_ERR_DEVICE;
    sf_cuda_backend *cb = (sf_cuda_backend *)calloc(1, sizeof *cb);
    if (!cb) return SF_ERR_NO_MEMORY;
    cb->base.ops = &cuda_ops;
    cb->base.threads = threads;
    cb->device = 0;
    sf_status st = init_backend(cb, threads, why, whylen);
    if (st != SF_OK) {
        cuda_destroy(&cb->base);
        return st;
    }
    *out = &cb->base;
    return SF_OK;
}

extern "C" SF_CUDA_MODULE_EXPORT unsigned sf_cuda_module_interface(size_t *ops_size)
{
    if (ops_size) *ops_size = sizeof(sf_backend_ops);
    return SF_BACKEND_INTERFACE_VERSION;
}

extern "C" SF_CUDA_MODULE_EXPORT size_t sf_cuda_module_describe(char *buf, size_t len)
{
    size_t used = 0;
    auto add = [&](const char *fmt, auto... args) {
        int n =
            snprintf(used < len ? buf + used : nullptr, used < len ? len - used : 0, fmt, args...);
        if (n > 0) used += (size_t)n;
    };
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess || count <= 0) {
        char why[200] = "no CUDA device";
        if (err != cudaSuccess) runtime_reason(err, why, sizeof why);
        add("cuda: not available (%s)\n", why);
        return used;
    }
    for (int i = 0; i < count; i++) {
        cudaDeviceProp prop;
        err = cudaGetDeviceProperties(&prop, i);
        if (err != cudaSuccess) {
            (void)cudaGetLastError();
            add("cuda:%d: %s\n", i, cudaGetErrorString(err));
            continue;
        }
        bool too_old = prop.major * 10 + prop.minor < kMinCapability;
        add("cuda:%d %s, %.1f GiB, compute capability %d.%d%s\n", i, prop.name,
            (double)prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0), prop.major, prop.minor,
            too_old ? " (unsupported: below 7.5)" : "");
    }
    return used;
}
