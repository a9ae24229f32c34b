/*
 * logit_kernels.cu — scores and the logistic / softmax objective pieces of a
 * device batch, on the GPU.
 *
 * The classifiers work on the augmented rows v_i = [x_i, 1] (p = d + 1),
 * built once per call, so that theta's blocks [w_k, b_k] are used as stored:
 *   scores   T = theta-blocks^T V                    (cublasDgemv / Dgemm)
 *   rows     sigmoid or softmax, loss (stable log1pexp / logsumexp),
 *            residual e = p - y and IRLS weights      (fused kernels)
 *   gradient V e  (K blocks: V E^T, landing in theta's layout)
 *   Hessian  binary: sum_i s_i v_i v_i^T = (sqrt(s) .* V)(sqrt(s) .* V)^T, one
 *            weighted cublasDsyrk; softmax: (s .* V) V^T per class pair
 *            (cublasDgemm: the off-diagonal blocks are not symmetric)
 * These are the CPU backend's formulas and layouts; its X^T diag(s) X plus the
 * intercept row and column are the same numbers as the p x p product here.
 * Loss sums are reduced per block and then in a fixed order (deterministic).
 */
#include <math.h>
#include <string.h>

#include "cuda_backend.cuh"

namespace
{

constexpr unsigned kThreads = 256; /* the block reductions assume exactly this */

/* Blocks of a reducing kernel: each writes one partial sum. */
unsigned reduce_blocks(size_t n)
{
    size_t b = (n + kThreads - 1) / kThreads;
    if (b < 1) b = 1;
    if (b > 1024) b = 1024;
    return (unsigned)b;
}

__device__ double block_sum(double v)
{
    __shared__ double sh[kThreads];
    sh[threadIdx.x] = v;
    __syncthreads();
    for (unsigned s = kThreads / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
        __syncthreads();
    }
    return sh[0];
}

/* The stable forms of backend_util.h. */
__device__ __forceinline__ double dev_sigmoid(double t)
{
    if (t >= 0) return 1.0 / (1.0 + exp(-t));
    double e = exp(t);
    return e / (1.0 + e);
}

__device__ __forceinline__ double dev_log1pexp(double t)
{
    if (t > 0) return t + log1p(exp(-t));
    return log1p(exp(t));
}

__global__ void fill_bias_kernel(double *T, size_t n, size_t k, const double *bias)
{
    size_t total = n * k, stride = (size_t)gridDim.x * blockDim.x;
    for (size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += stride)
        T[idx] = bias ? bias[idx % k] : 0.0;
}

/* V (row-major n x p) = [X, 1]. */
__global__ void augment_ones_kernel(const double *X, size_t n, size_t d, double *V)
{
    size_t p = d + 1, total = n * p, stride = (size_t)gridDim.x * blockDim.x;
    for (size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += stride) {
        size_t i = idx / p, j = idx % p;
        V[idx] = j < d ? X[i * d + j] : 1.0;
    }
}

/* Per row: p = sigmoid(t), loss log(1+e^t) - y t, e = p - y, s = p (1 - p);
 * one partial loss sum per block. */
__global__ void logistic_rows_kernel(const double *t, const double *y, size_t n, double *e,
                                     double *s, double *partial)
{
    double acc = 0;
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        double ti = t[i], p = dev_sigmoid(ti);
        acc += dev_log1pexp(ti) - y[i] * ti;
        e[i] = p - y[i];
        s[i] = p * (1.0 - p);
    }
    double sum = block_sum(acc);
    if (threadIdx.x == 0) partial[blockIdx.x] = sum;
}

/* Per row of T (row-major n x K): loss logsumexp(t) - t_label, T <- softmax
 * probabilities, E = P - onehot(label). A label outside 0..K-1 (the trainer
 * rejects those) gives a NaN loss instead of an out-of-bounds read. */
__global__ void softmax_rows_kernel(double *T, const double *y, size_t n, size_t K, double *E,
                                    double *partial)
{
    double acc = 0;
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        double *ti = T + i * K;
        double yv = y[i];
        bool valid = yv >= 0 && yv < (double)K && yv == floor(yv);
        size_t label = valid ? (size_t)yv : K;
        double t_label = valid ? ti[label] : NAN;
        double mx = ti[0];
        for (size_t c = 1; c < K; c++)
            if (ti[c] > mx) mx = ti[c];
        double sum = 0;
        for (size_t c = 0; c < K; c++) {
            double ex = exp(ti[c] - mx);
            ti[c] = ex;
            sum += ex;
        }
        acc += (mx + log(sum)) - t_label;
        for (size_t c = 0; c < K; c++) {
            double pc = ti[c] / sum;
            ti[c] = pc;
            E[i * K + c] = pc - (c == label ? 1.0 : 0.0);
        }
    }
    double total = block_sum(acc);
    if (threadIdx.x == 0) partial[blockIdx.x] = total;
}

/* out = sum of the block partials, in order (a handful of values). */
__global__ void sum_partials_kernel(const double *partial, unsigned count, double *out)
{
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    double s = 0;
    for (unsigned i = 0; i < count; i++)
        s += partial[i];
    *out = s;
}

/* Softmax Hessian weights of the class pair (k, l): s_i = P_ik ([k == l] - P_il). */
__global__ void pair_weights_kernel(const double *P, size_t n, size_t K, size_t k, size_t l,
                                    double *s)
{
    double delta = k == l ? 1.0 : 0.0;
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
        s[i] = P[i * K + k] * (delta - P[i * K + l]);
}

/* SV (row-major n x p) = s_i * V_i. */
__global__ void scale_rows_kernel(const double *V, const double *s, size_t n, size_t p, double *SV)
{
    size_t total = n * p, stride = (size_t)gridDim.x * blockDim.x;
    for (size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += stride)
        SV[idx] = s[idx / p] * V[idx];
}

/* RV (row-major n x p) = sqrt(s_i) * V_i, for s_i >= 0 (binary IRLS weights). */
__global__ void sqrt_scale_rows_kernel(const double *V, const double *s, size_t n, size_t p,
                                       double *RV)
{
    size_t total = n * p, stride = (size_t)gridDim.x * blockDim.x;
    for (size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += stride)
        RV[idx] = sqrt(s[idx / p]) * V[idx];
}

sf_status launch_augment(sf_cuda_backend *cb, const sf_dbatch *b, double *V)
{
    size_t total = b->rows * (b->d + 1);
    augment_ones_kernel<<<sf_cu_blocks(total, kThreads), kThreads, 0, cb->compute>>>(b->X, b->rows,
                                                                                     b->d, V);
    return SF_CUDA_LAUNCH(&cb->base, "augment_ones_kernel");
}

/* The p x p block at H (leading dimension ldh) = sum_i s_i v_i v_i^T. */
sf_status weighted_gram(sf_cuda_backend *cb, const double *V, const double *s, size_t n, size_t p,
                        double *SV, double *H, size_t ldh)
{
    scale_rows_kernel<<<sf_cu_blocks(n * p, kThreads), kThreads, 0, cb->compute>>>(V, s, n, p, SV);
    SF_TRY(SF_CUDA_LAUNCH(&cb->base, "scale_rows_kernel"));
    /* Column-major views: SV and V are p x n (ld p); H = SV V^T. */
    const double one = 1.0, zero = 0.0;
    return SF_CUBLAS(&cb->base,
                     cublasDgemm(cb->blas, CUBLAS_OP_N, CUBLAS_OP_T, (int)p, (int)p, (int)n, &one,
                                 SV, (int)p, V, (int)p, &zero, H, (int)ldh));
}

/* The upper triangle of H (p x p) = sum_i s_i v_i v_i^T for weights s_i >= 0,
 * as one SYRK on the rows scaled by sqrt(s_i): half the work of a GEMM. */
sf_status weighted_syrk(sf_cuda_backend *cb, const double *V, const double *s, size_t n, size_t p,
                        double *RV, double *H)
{
    sqrt_scale_rows_kernel<<<sf_cu_blocks(n * p, kThreads), kThreads, 0, cb->compute>>>(V, s, n, p,
                                                                                        RV);
    SF_TRY(SF_CUDA_LAUNCH(&cb->base, "sqrt_scale_rows_kernel"));
    /* Column-major view: RV is p x n (ld p); H = RV RV^T. */
    const double one = 1.0, zero = 0.0;
    return SF_CUBLAS(&cb->base, cublasDsyrk(cb->blas, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_N, (int)p,
                                            (int)n, &one, RV, (int)p, &zero, H, (int)p));
}

/* The sum of a loss over the rows: its block partials, reduced on the device. */
sf_status launch_sum(sf_cuda_backend *cb, const double *partial, unsigned count, double *out)
{
    sum_partials_kernel<<<1, 1, 0, cb->compute>>>(partial, count, out);
    return SF_CUDA_LAUNCH(&cb->base, "sum_partials_kernel");
}

} // namespace

sf_status sf_cu_batch_scores(sf_backend *be, const sf_dbatch *b, const double *W,
                             const double *bias, size_t k, double *T)
{
    sf_cuda_backend *cb = sf_cu(be);
    size_t n = b->rows, d = b->d;
    if (n == 0 || k == 0) return SF_OK;
    SF_TRY(sf_cu_wait_batch(cb, b));
    double *dW = nullptr, *dbias = nullptr, *dT = nullptr;
    sf_cu_param params[] = {{W, k * d, &dW}, {bias, bias ? k : 0, &dbias}};
    SF_TRY(sf_cu_push_params(cb, params, 2));
    SF_TRY(sf_cu_scratch(cb, [&](sf_cu_arena &a) { dT = a.take<double>(n * k); }));
    fill_bias_kernel<<<sf_cu_blocks(n * k, kThreads), kThreads, 0, cb->compute>>>(dT, n, k, dbias);
    SF_TRY(SF_CUDA_LAUNCH(be, "fill_bias_kernel"));
    if (d) {
        /* Column-major views: X is d x n, W is d x k, T is k x n; T += W^T X. */
        const double one = 1.0;
        SF_TRY(SF_CUBLAS(be, cublasDgemm(cb->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)k, (int)n, (int)d,
                                         &one, dW, (int)d, b->X, (int)d, &one, dT, (int)k)));
    }
    sf_cu_fetch out[] = {{dT, sizeof(double) * n * k, T, nullptr}};
    return sf_cu_fetch_results(cb, out, 1);
}

sf_status sf_cu_logistic_terms(sf_backend *be, const sf_dbatch *b, const double *theta,
                               double *loss, double *grad, double *hess)
{
    sf_cuda_backend *cb = sf_cu(be);
    size_t n = b->rows, p = b->d + 1;
    *loss = 0;
    memset(grad, 0, sizeof(double) * p);
    if (hess) memset(hess, 0, sizeof(double) * p * p);
    if (n == 0) return SF_OK;
    SF_TRY(sf_cu_wait_batch(cb, b));
    double *dtheta = nullptr;
    sf_cu_param params[] = {{theta, p, &dtheta}};
    SF_TRY(sf_cu_push_params(cb, params, 1));
    unsigned nb = reduce_blocks(n);
    double *V = nullptr, *t = nullptr, *e = nullptr, *s = nullptr, *partial = nullptr;
    double *dloss = nullptr, *dgrad = nullptr, *H = nullptr, *SV = nullptr;
    SF_TRY(sf_cu_scratch(cb, [&](sf_cu_arena &a) {
        V = a.take<double>(n * p);
        t = a.take<double>(n);
        e = a.take<double>(n);
        s = a.take<double>(n);
        partial = a.take<double>(nb);
        dloss = a.take<double>(1);
        dgrad = a.take<double>(p);
        if (hess) {
            H = a.take<double>(p * p);
            SV = a.take<double>(n * p);
        }
    }));
    SF_TRY(launch_augment(cb, b, V));
    const double one = 1.0, zero = 0.0;
    /* t = V theta: column-major V is p x n, so t = V^T theta there. */
    SF_TRY(SF_CUBLAS(be, cublasDgemv(cb->blas, CUBLAS_OP_T, (int)p, (int)n, &one, V, (int)p, dtheta,
                                     1, &zero, t, 1)));
    logistic_rows_kernel<<<nb, kThreads, 0, cb->compute>>>(t, b->y, n, e, s, partial);
    SF_TRY(SF_CUDA_LAUNCH(be, "logistic_rows_kernel"));
    SF_TRY(launch_sum(cb, partial, nb, dloss));
    /* grad = sum e_i v_i = V e (column-major p x n). */
    SF_TRY(SF_CUBLAS(be, cublasDgemv(cb->blas, CUBLAS_OP_N, (int)p, (int)n, &one, V, (int)p, e, 1,
                                     &zero, dgrad, 1)));
    if (hess) SF_TRY(weighted_syrk(cb, V, s, n, p, SV, H));
    sf_cu_fetch out[] = {{dloss, sizeof(double), loss, nullptr},
                         {dgrad, sizeof(double) * p, grad, nullptr},
                         {H, hess ? sizeof(double) * p * p : 0, hess, nullptr}};
    SF_TRY(sf_cu_fetch_results(cb, out, 3));
    if (hess) /* SYRK filled the upper triangle */
        for (size_t c = 0; c < p; c++)
            for (size_t r = c + 1; r < p; r++)
                hess[c * p + r] = hess[r * p + c];
    return SF_OK;
}

sf_status sf_cu_softmax_terms(sf_backend *be, const sf_dbatch *b, const double *theta, size_t K,
                              double *loss, double *grad, double *hess)
{
    sf_cuda_backend *cb = sf_cu(be);
    size_t n = b->rows, d = b->d, p = d + 1, P = K * p;
    *loss = 0;
    memset(grad, 0, sizeof(double) * P);
    if (hess) memset(hess, 0, sizeof(double) * P * P);
    if (n == 0 || K == 0) return SF_OK;
    SF_TRY(sf_cu_wait_batch(cb, b));
    double *dtheta = nullptr;
    sf_cu_param params[] = {{theta, P, &dtheta}};
    SF_TRY(sf_cu_push_params(cb, params, 1));
    unsigned nb = reduce_blocks(n);
    double *V = nullptr, *T = nullptr, *E = nullptr, *partial = nullptr, *dloss = nullptr;
    double *G = nullptr, *H = nullptr, *s = nullptr, *SV = nullptr;
    SF_TRY(sf_cu_scratch(cb, [&](sf_cu_arena &a) {
        V = a.take<double>(n * p);
        T = a.take<double>(n * K);
        E = a.take<double>(n * K);
        partial = a.take<double>(nb);
        dloss = a.take<double>(1);
        G = a.take<double>(P);
        if (hess) {
            H = a.take<double>(P * P);
            s = a.take<double>(n);
            SV = a.take<double>(n * p);
        }
    }));
    SF_TRY(launch_augment(cb, b, V));
    const double one = 1.0, zero = 0.0;
    /* Column-major views: theta is p x K (block k = column k), V is p x n,
     * T is K x n; T = theta^T V. */
    SF_TRY(SF_CUBLAS(be, cublasDgemm(cb->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)K, (int)n, (int)p,
                                     &one, dtheta, (int)p, V, (int)p, &zero, T, (int)K)));
    softmax_rows_kernel<<<nb, kThreads, 0, cb->compute>>>(T, b->y, n, K, E, partial);
    SF_TRY(SF_CUDA_LAUNCH(be, "softmax_rows_kernel"));
    SF_TRY(launch_sum(cb, partial, nb, dloss));
    /* G (p x K, column k = gradient block k) = V E^T, E being K x n. */
    SF_TRY(SF_CUBLAS(be, cublasDgemm(cb->blas, CUBLAS_OP_N, CUBLAS_OP_T, (int)p, (int)K, (int)n,
                                     &one, V, (int)p, E, (int)K, &zero, G, (int)p)));
    if (hess) {
        /* Upper block triangle on the device: block (k, l), l >= k, at rows
         * k p.., columns l p..; the lower blocks are mirrored on the host. */
        for (size_t k = 0; k < K; k++)
            for (size_t l = k; l < K; l++) {
                pair_weights_kernel<<<sf_cu_blocks(n, kThreads), kThreads, 0, cb->compute>>>(
                    T, n, K, k, l, s);
                SF_TRY(SF_CUDA_LAUNCH(be, "pair_weights_kernel"));
                SF_TRY(weighted_gram(cb, V, s, n, p, SV, H + (l * p) * P + k * p, P));
            }
    }
    sf_cu_fetch out[] = {{dloss, sizeof(double), loss, nullptr},
                         {G, sizeof(double) * P, grad, nullptr},
                         {H, hess ? sizeof(double) * P * P : 0, hess, nullptr}};
    SF_TRY(sf_cu_fetch_results(cb, out, 3));
    if (hess)
        for (size_t k = 0; k < K; k++)
            for (size_t l = k + 1; l < K; l++)
                for (size_t a = 0; a < p; a++)
                    for (size_t c = 0; c < p; c++)
                        hess[(k * p + c) * P + l * p + a] = hess[(l * p + a) * P + k * p + c];
    return SF_OK;
}
