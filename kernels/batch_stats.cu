/*
 * batch_stats.cu — the least-squares statistics of a device batch, on the
 * GPU: in-place standardization, the batch's mean and centered co-moment
 * (column means with a correcting second pass, centered augmented copy,
 * cublasDsyrk), and the R factor of the centered, scaled augmented rows
 * (cusolverDnXgeqrf). Same formulas as backend_cpu.c; only (d+1)-sized
 * results leave the device (a batch of fewer rows than d + 1 is one of them).
 */
#include <lapacke.h>
#include <stdlib.h>
#include <string.h>

#include "aug_kernels.cuh"
#include "cuda_backend.cuh"

namespace
{

constexpr unsigned kThreads = 256;

__global__ void standardize_kernel(double *X, size_t n, size_t d, const double *shift,
                                   const double *scale)
{
    size_t total = n * d, stride = (size_t)gridDim.x * blockDim.x;
    for (size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += stride) {
        size_t j = idx % d;
        X[idx] = (X[idx] - shift[j]) / scale[j];
    }
}

/* R (p x p) = the upper-trapezoidal first m rows of A (ld lda), zeros elsewhere. */
__global__ void upper_pack_kernel(const double *A, size_t lda, size_t m, size_t p, double *R)
{
    size_t total = p * p, stride = (size_t)gridDim.x * blockDim.x;
    for (size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += stride) {
        size_t r = idx % p, c = idx / p;
        R[idx] = (r <= c && r < m) ? A[c * lda + r] : 0.0;
    }
}

/* Centered (and scaled) column-major augmented copy of the batch. */
sf_status batch_aug_copy(sf_cuda_backend *cb, const sf_dbatch *b, const double *center,
                         const double *scale, double *A)
{
    return launch_aug_copy<double>(&cb->base, cb->compute, b->X, b->y, b->rows, b->d, center, scale,
                                   A);
}

/* Workspace of the 64-bit geqrf (cusolverDnXgeqrf) for an m x n matrix:
 * sizes queried once per shape, the device part in the backend's solver
 * workspace, the host part (usually none) in *host, which the caller frees.
 * The 64-bit API because a batch's n (d + 1) values may pass 2^31. */
sf_status xgeqrf_workspace(sf_cuda_backend *cb, int64_t m, int64_t n, double *A, double *tau,
                           void **dev, size_t *dev_bytes, void **host, size_t *host_bytes)
{
    sf_cu_xlwork *hit = nullptr;
    for (int i = 0; i < SF_CU_LWORK_SLOTS; i++)
        if (cb->geqrf_lwork[i].set && cb->geqrf_lwork[i].m == m && cb->geqrf_lwork[i].n == n)
            hit = &cb->geqrf_lwork[i];
    if (!hit) {
        hit = &cb->geqrf_lwork[cb->geqrf_next++ % SF_CU_LWORK_SLOTS];
        hit->set = false;
        SF_TRY(SF_CUSOLVER(&cb->base, cusolverDnXgeqrf_bufferSize(
                                          cb->solver, cb->solver_params, m, n, CUDA_R_64F, A, m,
                                          CUDA_R_64F, tau, CUDA_R_64F, &hit->dev, &hit->host)));
        hit->m = m;
        hit->n = n;
        hit->set = true;
    }
    SF_TRY(sf_cu_reserve_dev(cb, &cb->solver_work, hit->dev ? hit->dev : 1));
    *dev = cb->solver_work.p;
    *dev_bytes = hit->dev;
    *host_bytes = hit->host;
    *host = nullptr;
    if (hit->host && !(*host = malloc(hit->host))) return SF_ERR_NO_MEMORY;
    return SF_OK;
}

/* cuSOLVER documents geqrf for tall matrices; a batch with fewer rows than
 * columns (fewer than (d+1)^2 values) is factored on the host by LAPACK. */
sf_status wide_qr_on_host(sf_cuda_backend *cb, const double *A, size_t n, size_t p, double *R)
{
    const void *h = nullptr;
    sf_cu_fetch out[] = {{A, sizeof(double) * n * p, nullptr, &h}};
    SF_TRY(sf_cu_fetch_results(cb, out, 1));
    double *a = (double *)malloc(sizeof(double) * (n * p + p));
    if (!a) return SF_ERR_NO_MEMORY;
    double *tau = a + n * p;
    memcpy(a, h, sizeof(double) * n * p);
    lapack_int info =
        LAPACKE_dgeqrf(LAPACK_COL_MAJOR, (lapack_int)n, (lapack_int)p, a, (lapack_int)n, tau);
    if (info == 0)
        for (size_t c = 0; c < p; c++)
            for (size_t r = 0; r <= c && r < n; r++)
                R[c * p + r] = a[c * n + r];
    free(a);
    return info == 0 ? SF_OK : SF_ERR_LAPACK;
}

} // namespace

cudaError_t sf_cu_probe_kernels(void)
{
    cudaFuncAttributes attr;
    return cudaFuncGetAttributes(&attr, standardize_kernel);
}

sf_status sf_cu_batch_standardize(sf_backend *be, sf_dbatch *b, const double *shift,
                                  const double *scale)
{
    sf_cuda_backend *cb = sf_cu(be);
    size_t total = b->rows * b->d;
    if (total == 0) return SF_OK;
    SF_TRY(sf_cu_wait_batch(cb, b));
    double *dshift = nullptr, *dscale = nullptr;
    sf_cu_param params[] = {{shift, b->d, &dshift}, {scale, b->d, &dscale}};
    SF_TRY(sf_cu_push_params(cb, params, 2));
    standardize_kernel<<<sf_cu_blocks(total, kThreads), kThreads, 0, cb->compute>>>(
        b->X, b->rows, b->d, dshift, dscale);
    /* No synchronization: later ops on the batch run after it on the stream. */
    return SF_CUDA_LAUNCH(be, "standardize_kernel");
}

sf_status sf_cu_batch_moments(sf_backend *be, const sf_dbatch *b, double *mean, double *m2)
{
    sf_cuda_backend *cb = sf_cu(be);
    size_t p = b->d + 1, n = b->rows;
    memset(m2, 0, sizeof(double) * p * p);
    memset(mean, 0, sizeof(double) * p);
    if (n == 0) return SF_OK;
    SF_TRY(sf_cu_wait_batch(cb, b));
    size_t chunks, rows_per_chunk;
    sf_cu_row_chunks(n, &chunks, &rows_per_chunk);
    double *partial = nullptr, *dmean = nullptr, *A = nullptr, *C = nullptr;
    SF_TRY(sf_cu_scratch(cb, [&](sf_cu_arena &a) {
        partial = a.take<double>(chunks * p);
        dmean = a.take<double>(p);
        A = a.take<double>(n * p);
        C = a.take<double>(p * p);
    }));
    SF_TRY(launch_aug_means<double>(be, cb->compute, b->X, b->y, n, b->d, chunks, rows_per_chunk,
                                    partial, dmean));
    SF_TRY(batch_aug_copy(cb, b, dmean, nullptr, A));
    /* M2 = A^T A on the centered copy: nothing is squared before centering.
     * SYRK fills the upper triangle; the lower is mirrored on the host. */
    const double one = 1.0, zero = 0.0;
    SF_TRY(SF_CUBLAS(be, cublasDsyrk_64(cb->blas, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_T, (int64_t)p,
                                        (int64_t)n, &one, A, (int64_t)n, &zero, C, (int64_t)p)));
    sf_cu_fetch out[] = {{dmean, sizeof(double) * p, mean, nullptr},
                         {C, sizeof(double) * p * p, m2, nullptr}};
    SF_TRY(sf_cu_fetch_results(cb, out, 2));
    for (size_t c = 0; c < p; c++)
        for (size_t r = c + 1; r < p; r++)
            m2[c * p + r] = m2[r * p + c];
    return SF_OK;
}

sf_status sf_cu_batch_qr(sf_backend *be, const sf_dbatch *b, const double *center,
                         const double *scale, double *R)
{
    sf_cuda_backend *cb = sf_cu(be);
    size_t p = b->d + 1, n = b->rows;
    memset(R, 0, sizeof(double) * p * p);
    if (n == 0) return SF_OK;
    SF_TRY(sf_cu_wait_batch(cb, b));
    double *dcenter = nullptr, *dscale = nullptr;
    sf_cu_param params[] = {{center, p, &dcenter}, {scale, p, &dscale}};
    SF_TRY(sf_cu_push_params(cb, params, 2));
    double *A = nullptr, *tau = nullptr, *Rd = nullptr;
    int *info = nullptr;
    SF_TRY(sf_cu_scratch(cb, [&](sf_cu_arena &a) {
        A = a.take<double>(n * p);
        tau = a.take<double>(p);
        Rd = a.take<double>(p * p);
        info = a.take<int>(1);
    }));
    SF_TRY(batch_aug_copy(cb, b, dcenter, dscale, A));
    if (n < p) return wide_qr_on_host(cb, A, n, p, R);
    void *dwork = nullptr, *hwork = nullptr;
    size_t dbytes = 0, hbytes = 0;
    SF_TRY(xgeqrf_workspace(cb, (int64_t)n, (int64_t)p, A, tau, &dwork, &dbytes, &hwork, &hbytes));
    sf_status st =
        SF_CUSOLVER(be, cusolverDnXgeqrf(cb->solver, cb->solver_params, (int64_t)n, (int64_t)p,
                                         CUDA_R_64F, A, (int64_t)n, CUDA_R_64F, tau, CUDA_R_64F,
                                         dwork, dbytes, hwork, hbytes, info));
    /* A host workspace is used by the call itself, which has returned. */
    free(hwork);
    SF_TRY(st);
    upper_pack_kernel<<<sf_cu_blocks(p * p, kThreads), kThreads, 0, cb->compute>>>(
        A, n, n < p ? n : p, p, Rd);
    SF_TRY(SF_CUDA_LAUNCH(be, "upper_pack_kernel"));
    int hinfo = 0;
    sf_cu_fetch out[] = {{Rd, sizeof(double) * p * p, R, nullptr},
                         {info, sizeof(int), &hinfo, nullptr}};
    SF_TRY(sf_cu_fetch_results(cb, out, 2));
    if (hinfo != 0) {
        memset(R, 0, sizeof(double) * p * p);
        sf_cu_logf(cb, SF_LOG_ERROR, "cuda: cusolverDnXgeqrf: info = %d", hinfo);
        return SF_ERR_LAPACK;
    }
    return SF_OK;
}
