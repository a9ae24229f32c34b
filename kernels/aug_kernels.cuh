/*
 * aug_kernels.cuh — the kernels behind a batch's least-squares statistics,
 * shared by the batch ops (batch_stats.cu) and the staging ring
 * (staging_ring.cu): column means of the augmented rows v = [x, y] with a
 * correcting second pass, and their centered (and scaled) column-major copy
 * that cublasDsyrk / cusolverDnXgeqrf take. Templated on the feature type
 * (double, or float from a float32 ring); every sum is in double.
 */
#ifndef STREAMFIT_AUG_KERNELS_CUH
#define STREAMFIT_AUG_KERNELS_CUH

#include "cuda_backend.cuh"

namespace /* each file that includes this gets its own kernels */
{

constexpr unsigned kAugTile = 32;    /* columns (and rows) of a tile */
constexpr unsigned kAugTileRows = 8; /* thread rows of a tile block */

/* Augmented column j of row i: feature j, or the label when j == d. */
template <class T>
__device__ __forceinline__ double aug_value(const T *X, const double *y, size_t i, size_t d,
                                            size_t j)
{
    return j < d ? (double)X[i * d + j] : y[i];
}

/* Partial sums of (v_ij - center_j) (center NULL: of v_ij) over one chunk of
 * rows per blockIdx.y, one column per thread column: partial[chunk * p + j].
 * Threads of a warp read consecutive columns of a row (coalesced). */
template <class T>
__global__ void aug_col_sums_kernel(const T *X, const double *y, size_t n, size_t d,
                                    const double *center, size_t rows_per_chunk, double *partial)
{
    __shared__ double sh[kAugTileRows][kAugTile];
    size_t p = d + 1;
    size_t j = (size_t)blockIdx.x * kAugTile + threadIdx.x;
    size_t r0 = (size_t)blockIdx.y * rows_per_chunk;
    size_t r1 = r0 + rows_per_chunk < n ? r0 + rows_per_chunk : n;
    double acc = 0;
    if (j < p) {
        double c = center ? center[j] : 0.0;
        for (size_t i = r0 + threadIdx.y; i < r1; i += kAugTileRows)
            acc += aug_value(X, y, i, d, j) - c;
    }
    sh[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && j < p) {
        for (unsigned t = 1; t < kAugTileRows; t++)
            acc += sh[t][threadIdx.x];
        partial[(size_t)blockIdx.y * p + j] = acc;
    }
}

/* mean_j = (correct ? mean_j : 0) + (sum of the chunk partials) / n: the first
 * pass gives the mean, the second adds the mean deviation (sf_column_means). */
template <class Unused = void>
__global__ void mean_finish_kernel(const double *partial, size_t chunks, size_t p, double n,
                                   double *mean, bool correct)
{
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t j = (size_t)blockIdx.x * blockDim.x + threadIdx.x; j < p; j += stride) {
        double s = 0;
        for (size_t c = 0; c < chunks; c++)
            s += partial[c * p + j];
        mean[j] = (correct ? mean[j] : 0.0) + s / n;
    }
}

/* A (column-major n x p) = (v_ij - center_j) / scale_j (scale NULL: 1), a
 * transpose of the row-major batch through a shared tile so that both the
 * reads and the writes are coalesced. Block (32, 8), grid (n/32, p/32). */
template <class T>
__global__ void aug_center_transpose_kernel(const T *X, const double *y, size_t n, size_t d,
                                            const double *center, const double *scale, double *A)
{
    __shared__ double tile[kAugTile][kAugTile + 1];
    size_t p = d + 1;
    size_t i0 = (size_t)blockIdx.x * kAugTile, j0 = (size_t)blockIdx.y * kAugTile;
    for (unsigned k = 0; k < kAugTile; k += kAugTileRows) {
        size_t i = i0 + threadIdx.y + k, j = j0 + threadIdx.x;
        if (i < n && j < p) {
            double v = aug_value(X, y, i, d, j) - center[j];
            tile[threadIdx.y + k][threadIdx.x] = scale ? v / scale[j] : v;
        }
    }
    __syncthreads();
    for (unsigned k = 0; k < kAugTile; k += kAugTileRows) {
        size_t j = j0 + threadIdx.y + k, i = i0 + threadIdx.x;
        if (i < n && j < p) A[j * n + i] = tile[threadIdx.x][threadIdx.y + k];
    }
}

inline unsigned aug_tiles(size_t count) { return (unsigned)((count + kAugTile - 1) / kAugTile); }

/* Centered (and scaled) column-major augmented copy A of n rows on stream s. */
template <class T>
sf_status launch_aug_copy(sf_backend *be, cudaStream_t s, const T *X, const double *y, size_t n,
                          size_t d, const double *center, const double *scale, double *A)
{
    dim3 block(kAugTile, kAugTileRows), grid(aug_tiles(n), aug_tiles(d + 1));
    aug_center_transpose_kernel<T><<<grid, block, 0, s>>>(X, y, n, d, center, scale, A);
    return SF_CUDA_LAUNCH(be, "aug_center_transpose_kernel");
}

/* Column means of n augmented rows with the correcting second pass, on
 * stream s; partial holds chunks x (d + 1) doubles (sf_cu_row_chunks). */
template <class T>
sf_status launch_aug_means(sf_backend *be, cudaStream_t s, const T *X, const double *y, size_t n,
                           size_t d, size_t chunks, size_t rows_per_chunk, double *partial,
                           double *mean)
{
    size_t p = d + 1;
    dim3 block(kAugTile, kAugTileRows), grid(aug_tiles(p), (unsigned)chunks);
    for (int pass = 0; pass < 2; pass++) {
        aug_col_sums_kernel<T>
            <<<grid, block, 0, s>>>(X, y, n, d, pass ? mean : nullptr, rows_per_chunk, partial);
        SF_TRY(SF_CUDA_LAUNCH(be, "aug_col_sums_kernel"));
        mean_finish_kernel<<<sf_cu_blocks(p, 256), 256, 0, s>>>(partial, chunks, p, (double)n, mean,
                                                                pass == 1);
        SF_TRY(SF_CUDA_LAUNCH(be, "mean_finish_kernel"));
    }
    return SF_OK;
}

} // namespace

#endif
