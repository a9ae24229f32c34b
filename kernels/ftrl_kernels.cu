/*
 * ftrl_kernels.cu — the streaming classifier update (ftrl_step) on the GPU
 * in two kernels per batch:
 *
 *   ftrl_grad_kernel   one warp per row: scores t_k = z.w_k + b_k of the row
 *                      z (standardized on the fly), sigmoid or softmax, the
 *                      loss, and the row's gradient e_k [z, 1] added to its
 *                      warp's running sums in shared memory (each lane owns
 *                      its columns: no atomics); each block then writes the
 *                      sum of its warps, in warp order; the row's scores
 *                      written out when asked (the batch's prediction)
 *   ftrl_apply_kernel  one thread per parameter: the blocks' sums in block
 *                      order, divided by the rows (the mean gradient), and
 *                      the FTRL-Proximal rule of ftrl_rule.h on theta, z, n
 *
 * Every sum runs in a fixed order, so results do not depend on scheduling.
 * theta, z and n travel to the device and back once per batch, with the
 * loss (P + P + P + 1 values), and the scores when asked (rows x K). When the per-warp sums do not
 * fit in shared memory (K (d + 1) > kMaxSharedParams) or there are more than kMaxClasses classes,
 * the step falls back to the batch ops and the rule on the host.
 */
#include <math.h>

#include "cuda_backend.cuh"
#include "ftrl_rule.h"

namespace
{

constexpr unsigned kWarps = 4, kThreads = kWarps * 32;
constexpr size_t kMaxClasses = 16;
/* kWarps x K (d + 1) doubles of dynamic shared memory, plus the kernel's
 * static array, within the 48 KiB a block gets without opting in. */
constexpr size_t kMaxSharedParams = (48 * 1024 - 256) / sizeof(double) / kWarps;
constexpr unsigned kMaxBlocks = 512;

__device__ __forceinline__ double warp_sum(double v)
{
    for (int off = 16; off > 0; off >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, off);
    return v; /* every lane holds the total */
}

__device__ __forceinline__ double feature(const double *xi, size_t j, const double *shift,
                                          const double *scale)
{
    return shift ? (xi[j] - shift[j]) / scale[j] : xi[j];
}

/* K == 1: binary logistic (labels 0/1); K >= 2: softmax (labels 0..K-1, any
 * other label gives a NaN loss). partial: gridDim.x x K p; loss_partial:
 * gridDim.x; scores (NULL: not asked for): n x K. Dynamic shared memory:
 * kWarps x K p doubles. */
__global__ void ftrl_grad_kernel(const double *X, const double *y, size_t n, size_t d, size_t K,
                                 const double *theta, const double *shift, const double *scale,
                                 double *partial, double *loss_partial, double *scores)
{
    extern __shared__ double sh[];
    __shared__ double warp_loss[kWarps];
    const size_t p = d + 1, P = K * p;
    const unsigned warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    for (size_t q = threadIdx.x; q < kWarps * P; q += blockDim.x)
        sh[q] = 0;
    __syncthreads();
    double *acc = sh + warp * P, loss = 0;
    for (size_t i = (size_t)blockIdx.x * kWarps + warp; i < n; i += (size_t)gridDim.x * kWarps) {
        const double *xi = X + i * d;
        double t[kMaxClasses], e[kMaxClasses];
        for (size_t k = 0; k < K; k++) {
            double s = 0;
            for (size_t j = lane; j < d; j += 32)
                s += feature(xi, j, shift, scale) * theta[k * p + j];
            t[k] = warp_sum(s) + theta[k * p + d];
            if (scores && lane == 0) scores[i * K + k] = t[k];
        }
        double yi = y[i];
        if (K == 1) {
            double e0 = exp(-fabs(t[0]));
            double prob = t[0] >= 0 ? 1.0 / (1.0 + e0) : e0 / (1.0 + e0);
            loss += (t[0] > 0 ? t[0] : 0.0) + log1p(e0) - yi * t[0];
            e[0] = prob - yi;
        } else {
            bool valid = yi >= 0 && yi < (double)K && yi == floor(yi);
            size_t label = valid ? (size_t)yi : K;
            double mx = t[0];
            for (size_t k = 1; k < K; k++)
                mx = t[k] > mx ? t[k] : mx;
            double sum = 0;
            for (size_t k = 0; k < K; k++)
                sum += exp(t[k] - mx);
            loss += (mx + log(sum)) - (valid ? t[label] : NAN);
            for (size_t k = 0; k < K; k++)
                e[k] = exp(t[k] - mx) / sum - (k == label ? 1.0 : 0.0);
        }
        /* Each lane adds to its own columns of the warp's sums. */
        for (size_t k = 0; k < K; k++)
            for (size_t j = lane; j < p; j += 32)
                acc[k * p + j] += e[k] * (j < d ? feature(xi, j, shift, scale) : 1.0);
    }
    if (lane == 0) warp_loss[warp] = loss;
    __syncwarp();
    __syncthreads();
    for (size_t q = threadIdx.x; q < P; q += blockDim.x) {
        double s = 0;
        for (unsigned w = 0; w < kWarps; w++)
            s += sh[w * P + q];
        partial[(size_t)blockIdx.x * P + q] = s;
    }
    if (threadIdx.x == 0) {
        double s = 0;
        for (unsigned w = 0; w < kWarps; w++)
            s += warp_loss[w];
        loss_partial[blockIdx.x] = s;
    }
}

__global__ void ftrl_apply_kernel(const double *partial, unsigned blocks, size_t P, size_t p,
                                  double inv_rows, sf_ftrl_params prm, double *theta, double *z,
                                  double *nacc, const double *loss_partial, double *loss)
{
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t q = (size_t)blockIdx.x * blockDim.x + threadIdx.x; q < P; q += stride) {
        bool icpt = q % p == p - 1;
        if (icpt && !prm.fit_intercept) continue;
        double g = 0;
        for (unsigned b = 0; b < blocks; b++)
            g += partial[(size_t)b * P + q];
        theta[q] = sf_ftrl_rule(g * inv_rows, theta[q], &z[q], &nacc[q], prm.alpha, prm.beta,
                                icpt ? 0.0 : prm.l1, icpt ? 0.0 : prm.l2);
    }
    if (blockIdx.x == 0 && threadIdx.x == 0) {
        double s = 0;
        for (unsigned b = 0; b < blocks; b++)
            s += loss_partial[b];
        *loss = s;
    }
}

} // namespace

sf_status sf_cu_ftrl_step(sf_backend *be, sf_dbatch *b, size_t d, size_t K, const double *shift,
                          const double *scale, const sf_ftrl_params *prm, double *theta, double *z,
                          double *n, double *loss, double *scores)
{
    sf_cuda_backend *cb = sf_cu(be);
    size_t outs = K ? K : 1, p = d + 1, P = outs * p, rows = b->rows;
    if (outs > kMaxClasses || P > kMaxSharedParams || d != b->d)
        return sf_ftrl_step_host(be, b, d, K, shift, scale, prm, theta, z, n, loss, scores);
    if (loss) *loss = 0;
    if (rows == 0) return SF_OK;
    SF_TRY(sf_cu_wait_batch(cb, b));
    double *dtheta = nullptr, *dz = nullptr, *dn = nullptr, *dshift = nullptr, *dscale = nullptr;
    sf_cu_param params[] = {{theta, P, &dtheta},
                            {z, P, &dz},
                            {n, P, &dn},
                            {shift, shift ? d : 0, &dshift},
                            {scale, shift ? d : 0, &dscale}};
    SF_TRY(sf_cu_push_params(cb, params, 5));
    size_t want = (rows + 8 * kWarps - 1) / (8 * kWarps); /* about 8 rows per warp */
    unsigned blocks = (unsigned)(want < 1 ? 1 : want > kMaxBlocks ? kMaxBlocks : want);
    double *partial = nullptr, *loss_partial = nullptr, *dloss = nullptr, *dscores = nullptr;
    SF_TRY(sf_cu_scratch(cb, [&](sf_cu_arena &a) {
        partial = a.take<double>((size_t)blocks * P);
        loss_partial = a.take<double>(blocks);
        dloss = a.take<double>(1);
        if (scores) dscores = a.take<double>(rows * outs);
    }));
    ftrl_grad_kernel<<<blocks, kThreads, sizeof(double) * kWarps * P, cb->compute>>>(
        b->X, b->y, rows, d, outs, dtheta, dshift, dscale, partial, loss_partial, dscores);
    SF_TRY(SF_CUDA_LAUNCH(be, "ftrl_grad_kernel"));
    unsigned apply_blocks = sf_cu_blocks(P, 256);
    ftrl_apply_kernel<<<apply_blocks, 256, 0, cb->compute>>>(
        partial, blocks, P, p, 1.0 / (double)rows, *prm, dtheta, dz, dn, loss_partial, dloss);
    SF_TRY(SF_CUDA_LAUNCH(be, "ftrl_apply_kernel"));
    double hloss = 0;
    sf_cu_fetch out[] = {{dtheta, sizeof(double) * P, theta, nullptr},
                         {dz, sizeof(double) * P, z, nullptr},
                         {dn, sizeof(double) * P, n, nullptr},
                         {dloss, sizeof(double), &hloss, nullptr},
                         {dscores, scores ? sizeof(double) * rows * outs : 0, scores, nullptr}};
    SF_TRY(sf_cu_fetch_results(cb, out, 5));
    if (loss) *loss = hloss;
    return SF_OK;
}
