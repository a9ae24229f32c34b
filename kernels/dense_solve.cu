/*
 * dense_solve.cu — the small dense ops of the CUDA backend (matrices of the
 * model's size, d x d or K(d+1) square, never of the batch's).
 *
 * solve_spd runs on the GPU: cusolverDnDpotrf + potrs, devInfo read after the
 * one synchronization; its condition estimate (LAPACKE_dpocon on the factor
 * that comes back anyway) and the norm it needs are computed on the host.
 *
 * solve_lstsq, solve_triangular and qr_small are handed to the CPU backend
 * (OpenBLAS/LAPACKE) on the host arrays they are given: they are at most a
 * few thousand square, arrive in host memory and are needed there at once,
 * so a round trip to the device would cost more than the work; and the
 * minimum-norm solve uses LAPACK's dgelsd, which cuSOLVER does not have.
 */
#include <lapacke.h>
#include <limits.h>

#include "cuda_backend.cuh"

namespace
{

/* cuSOLVER's potrf workspace for order n, queried once per size. */
sf_status potrf_workspace(sf_cuda_backend *cb, int n, double *A, double **work, int *lwork)
{
    if (!sf_cu_lwork_get(cb->potrf_lwork, n, n, lwork)) {
        int lw = 0;
        SF_TRY(SF_CUSOLVER(&cb->base, cusolverDnDpotrf_bufferSize(
                                          cb->solver, CUBLAS_FILL_MODE_UPPER, n, A, n, &lw)));
        sf_cu_lwork_put(cb->potrf_lwork, &cb->potrf_next, n, n, lw);
        sf_cu_lwork_get(cb->potrf_lwork, n, n, lwork);
    }
    SF_TRY(sf_cu_reserve_dev(cb, &cb->solver_work, (size_t)*lwork * sizeof(double)));
    *work = (double *)cb->solver_work.p;
    return SF_OK;
}

} // namespace

sf_status sf_cu_solve_spd(sf_backend *be, size_t n, double *A, double *B, size_t nrhs,
                          double *rcond)
{
    sf_cuda_backend *cb = sf_cu(be);
    if (n == 0) return cb->cpu->ops->solve_spd(cb->cpu, n, A, B, nrhs, rcond);
    if (n > INT_MAX || nrhs > INT_MAX) return SF_ERR_INVALID_ARGUMENT;
    int ni = (int)n, nr = (int)nrhs;
    /* The 1-norm of A is needed for the condition estimate, before A is factored. */
    double anorm = rcond ? LAPACKE_dlansy(LAPACK_COL_MAJOR, '1', 'U', ni, A, ni) : 0.0;
    double *dA = nullptr, *dB = nullptr;
    sf_cu_param params[] = {{A, n * n, &dA}, {B, n * nrhs, &dB}};
    SF_TRY(sf_cu_push_params(cb, params, 2));
    int *info = nullptr;
    SF_TRY(sf_cu_scratch(cb, [&](sf_cu_arena &a) { info = a.take<int>(2); }));
    double *work = nullptr;
    int lwork = 0;
    SF_TRY(potrf_workspace(cb, ni, dA, &work, &lwork));
    SF_TRY(SF_CUSOLVER(
        be, cusolverDnDpotrf(cb->solver, CUBLAS_FILL_MODE_UPPER, ni, dA, ni, work, lwork, info)));
    /* Queued right behind the factorization; when that failed its result is
     * simply not used, which saves a second synchronization. */
    if (nrhs)
        SF_TRY(SF_CUSOLVER(be, cusolverDnDpotrs(cb->solver, CUBLAS_FILL_MODE_UPPER, ni, nr, dA, ni,
                                                dB, ni, info + 1)));
    int hinfo[2] = {0, 0};
    const void *hA = nullptr, *hB = nullptr;
    sf_cu_fetch out[] = {{info, sizeof(int) * (nrhs ? 2 : 1), hinfo, nullptr},
                         {dA, sizeof(double) * n * n, nullptr, &hA},
                         {dB, sizeof(double) * n * nrhs, nullptr, &hB}};
    SF_TRY(sf_cu_fetch_results(cb, out, 3));
    if (hinfo[0] < 0 || hinfo[1] != 0) {
        sf_cu_logf(cb, SF_LOG_ERROR, "cuda: cusolverDnDpotrf/potrs: info = %d, %d", hinfo[0],
                   hinfo[1]);
        return SF_ERR_LAPACK;
    }
    /* A <- the factor, upper triangle only: like LAPACK, the strictly lower
     * part of the caller's A is left as it was (also after a failure, where
     * the factor is partial, as LAPACK leaves it). */
    const double *F = (const double *)hA;
    for (size_t c = 0; c < n; c++)
        for (size_t r = 0; r <= c; r++)
            A[c * n + r] = F[c * n + r];
    if (hinfo[0] > 0) return SF_ERR_NOT_POSITIVE_DEFINITE;
    if (nrhs) memcpy(B, hB, sizeof(double) * n * nrhs);
    if (rcond) {
        double rc = 0;
        if (LAPACKE_dpocon(LAPACK_COL_MAJOR, 'U', ni, A, ni, anorm, &rc)) rc = 0;
        *rcond = rc;
    }
    return SF_OK;
}

sf_status sf_cu_solve_lstsq(sf_backend *be, size_t m, size_t n, double *A, double *b, double rcond,
                            int *rank)
{
    sf_backend *cpu = sf_cu(be)->cpu;
    return cpu->ops->solve_lstsq(cpu, m, n, A, b, rcond, rank);
}

sf_status sf_cu_solve_triangular(sf_backend *be, size_t n, const double *U, double *B, size_t nrhs,
                                 bool trans)
{
    sf_backend *cpu = sf_cu(be)->cpu;
    return cpu->ops->solve_triangular(cpu, n, U, B, nrhs, trans);
}

sf_status sf_cu_qr_small(sf_backend *be, size_t m, size_t n, double *A, double *R)
{
    sf_backend *cpu = sf_cu(be)->cpu;
    return cpu->ops->qr_small(cpu, m, n, A, R);
}
