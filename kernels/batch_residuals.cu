/*
 * batch_residuals.cu — least-squares residuals of a device batch in extended
 * precision, for iterative refinement: r_i = y_i - b0 - x_i.w and the sums
 * sum_r, sum_r2, g_j = sum (x_ij - c_j) r_i, sxc_j = sum (x_ij - c_j).
 *
 * The CPU backend uses long double; here every row's residual and every sum
 * is a double-double (dd_arith.cuh), which is at least as accurate. Only the
 * 2(d+1) sums come back to the host: rounded to double, and their low parts
 * when the caller asks.
 */
#include <string.h>

#include "cuda_backend.cuh"
#include "dd_arith.cuh"

namespace
{

constexpr unsigned kThreads = 256;
constexpr unsigned kTile = 32;
constexpr unsigned kTileRows = 8;

/* One thread per row: r_i as a double-double (hi, lo). */
__global__ void resid_rows_kernel(const double *X, const double *y, size_t n, size_t d,
                                  const double *w, double b0, double *r_hi, double *r_lo)
{
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        const double *x = X + i * d;
        sf_dd r = sf_dd_two_sum(y[i], -b0);
        for (size_t j = 0; j < d; j++)
            r = sf_dd_add(r, sf_dd_neg(sf_dd_two_prod(x[j], w[j])));
        r_hi[i] = r.hi;
        r_lo[i] = r.lo;
    }
}

/* Partial double-double sums over one chunk of rows per blockIdx.y, one
 * column j of p = d + 1 per thread column. With u = x_ij - c_j for j < d and
 * u = r_i for j == d, each thread sums u * r_i and u:
 *   j < d:  g_j and sxc_j;   j == d:  sum_r2 and sum_r.
 * partial[(chunk * p + j) * 4 + {0,1,2,3}] = (sum u r).hi, .lo, (sum u).hi, .lo */
__global__ void resid_cols_kernel(const double *X, const double *r_hi, const double *r_lo, size_t n,
                                  size_t d, const double *center, size_t rows_per_chunk,
                                  double *partial)
{
    __shared__ double sh[4][kTileRows][kTile];
    size_t p = d + 1;
    size_t j = (size_t)blockIdx.x * kTile + threadIdx.x;
    size_t r0 = (size_t)blockIdx.y * rows_per_chunk;
    size_t r1 = r0 + rows_per_chunk < n ? r0 + rows_per_chunk : n;
    sf_dd ur = sf_dd_from(0.0), u_sum = sf_dd_from(0.0);
    if (j < p) {
        double c = j < d ? center[j] : 0.0;
        for (size_t i = r0 + threadIdx.y; i < r1; i += kTileRows) {
            sf_dd r = {r_hi[i], r_lo[i]};
            sf_dd u = j < d ? sf_dd_two_sum(X[i * d + j], -c) : r; /* x - c exactly */
            ur = sf_dd_add(ur, sf_dd_mul(u, r));
            u_sum = sf_dd_add(u_sum, u);
        }
    }
    unsigned ty = threadIdx.y, tx = threadIdx.x;
    sh[0][ty][tx] = ur.hi;
    sh[1][ty][tx] = ur.lo;
    sh[2][ty][tx] = u_sum.hi;
    sh[3][ty][tx] = u_sum.lo;
    __syncthreads();
    if (ty == 0 && j < p) {
        for (unsigned t = 1; t < kTileRows; t++) {
            ur = sf_dd_add(ur, sf_dd{sh[0][t][tx], sh[1][t][tx]});
            u_sum = sf_dd_add(u_sum, sf_dd{sh[2][t][tx], sh[3][t][tx]});
        }
        double *out = partial + ((size_t)blockIdx.y * p + j) * 4;
        out[0] = ur.hi;
        out[1] = ur.lo;
        out[2] = u_sum.hi;
        out[3] = u_sum.lo;
    }
}

/* Sum the chunk partials in a fixed order: out[j] = sum u r, out[p + j] = sum u. */
__global__ void resid_finish_kernel(const double *partial, size_t chunks, size_t p, double *out)
{
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t j = (size_t)blockIdx.x * blockDim.x + threadIdx.x; j < p; j += stride) {
        sf_dd ur = sf_dd_from(0.0), u_sum = sf_dd_from(0.0);
        for (size_t c = 0; c < chunks; c++) {
            const double *q = partial + (c * p + j) * 4;
            ur = sf_dd_add(ur, sf_dd{q[0], q[1]});
            u_sum = sf_dd_add(u_sum, sf_dd{q[2], q[3]});
        }
        out[j] = ur.hi; /* a normalized double-double's hi is its value rounded */
        out[p + j] = u_sum.hi;
        out[2 * p + j] = ur.lo;
        out[3 * p + j] = u_sum.lo;
    }
}

} // namespace

sf_status sf_cu_batch_residuals(sf_backend *be, const sf_dbatch *b, const double *w, double b0,
                                const double *center, double *sum_r, double *sum_r2, double *g,
                                double *sxc, double *lo)
{
    sf_cuda_backend *cb = sf_cu(be);
    size_t d = b->d, p = d + 1, n = b->rows;
    *sum_r = 0;
    *sum_r2 = 0;
    if (d) {
        memset(g, 0, sizeof(double) * d);
        memset(sxc, 0, sizeof(double) * d);
    }
    if (lo) memset(lo, 0, sizeof(double) * (2 * d + 1));
    if (n == 0) return SF_OK;
    SF_TRY(sf_cu_wait_batch(cb, b));
    double *dw = nullptr, *dcenter = nullptr;
    sf_cu_param params[] = {{w, d, &dw}, {center, d, &dcenter}};
    SF_TRY(sf_cu_push_params(cb, params, 2));
    size_t chunks, rows_per_chunk;
    sf_cu_row_chunks(n, &chunks, &rows_per_chunk);
    double *r_hi = nullptr, *r_lo = nullptr, *partial = nullptr, *sums = nullptr;
    SF_TRY(sf_cu_scratch(cb, [&](sf_cu_arena &a) {
        r_hi = a.take<double>(n);
        r_lo = a.take<double>(n);
        partial = a.take<double>(chunks * p * 4);
        sums = a.take<double>(4 * p);
    }));
    resid_rows_kernel<<<sf_cu_blocks(n, kThreads), kThreads, 0, cb->compute>>>(b->X, b->y, n, d, dw,
                                                                               b0, r_hi, r_lo);
    SF_TRY(SF_CUDA_LAUNCH(be, "resid_rows_kernel"));
    dim3 block(kTile, kTileRows), grid((unsigned)((p + kTile - 1) / kTile), (unsigned)chunks);
    resid_cols_kernel<<<grid, block, 0, cb->compute>>>(b->X, r_hi, r_lo, n, d, dcenter,
                                                       rows_per_chunk, partial);
    SF_TRY(SF_CUDA_LAUNCH(be, "resid_cols_kernel"));
    resid_finish_kernel<<<sf_cu_blocks(p, kThreads), kThreads, 0, cb->compute>>>(partial, chunks, p,
                                                                                 sums);
    SF_TRY(SF_CUDA_LAUNCH(be, "resid_finish_kernel"));
    const void *h = nullptr;
    sf_cu_fetch out[] = {{sums, sizeof(double) * 4 * p, nullptr, &h}};
    SF_TRY(sf_cu_fetch_results(cb, out, 1));
    const double *s = (const double *)h;
    for (size_t j = 0; j < d; j++) {
        g[j] = s[j];
        sxc[j] = s[p + j];
    }
    *sum_r2 = s[d];
    *sum_r = s[p + d];
    if (lo) {
        lo[0] = s[3 * p + d];
        for (size_t j = 0; j < d; j++) {
            lo[1 + j] = s[2 * p + j];
            lo[1 + d + j] = s[3 * p + j];
        }
    }
    return SF_OK;
}
