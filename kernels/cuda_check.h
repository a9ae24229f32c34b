/*
 * cuda_check.h — turns a failed CUDA runtime, cuBLAS or cuSOLVER call into an
 * sf_status and one log line "file:line: call: error string" through the
 * backend's log callback (which may be NULL: then nothing is printed).
 *
 * Each macro is an expression worth SF_OK on success, so calls chain:
 *     SF_TRY(SF_CUDA(be, cudaMemcpyAsync(...)));
 * Running out of device memory (cudaErrorMemoryAllocation,
 * CUBLAS_STATUS_ALLOC_FAILED, CUSOLVER_STATUS_ALLOC_FAILED) is
 * SF_ERR_NO_MEMORY, so that a caller can retry with smaller batches; every
 * other failure is SF_ERR_DEVICE.
 */
#ifndef STREAMFIT_CUDA_CHECK_H
#define STREAMFIT_CUDA_CHECK_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "streamfit.h"
extern "C" { /* backend.h is a C header without C++ guards */
#include "backend.h"
}

/* Return from the calling function with the status of `expr` unless it is SF_OK. */
#define SF_TRY(expr)                                                                               \
    do {                                                                                           \
        sf_status sf_try_st_ = (expr);                                                             \
        if (sf_try_st_ != SF_OK) return sf_try_st_;                                                \
    } while (0)

#define SF_CUDA(be, call) sf_cuda_rt_status((be), (call), #call, __FILE__, __LINE__)
#define SF_CUBLAS(be, call) sf_cublas_status((be), (call), #call, __FILE__, __LINE__)
#define SF_CUSOLVER(be, call) sf_cusolver_status((be), (call), #call, __FILE__, __LINE__)
/* After a kernel launch: `what` names the kernel in the log line. */
#define SF_CUDA_LAUNCH(be, what)                                                                   \
    sf_cuda_rt_status((be), cudaGetLastError(), what, __FILE__, __LINE__)

static inline sf_status sf_cuda_log_failure(const sf_backend *be, const char *file, int line,
                                            const char *call, const char *what, sf_status st)
{
    if (be && be->log) {
        char msg[512];
        const char *base = strrchr(file, '/');
        snprintf(msg, sizeof msg, "%s:%d: %s: %s", base ? base + 1 : file, line, call, what);
        be->log(be->log_user, SF_LOG_ERROR, msg);
    }
    return st;
}

static inline sf_status sf_cuda_rt_status(const sf_backend *be, cudaError_t err, const char *call,
                                          const char *file, int line)
{
    if (err == cudaSuccess) return SF_OK;
    /* A failed runtime call also sets the thread's "last error"; clear it (it
     * stays only when sticky) so that the next launch check does not report
     * this failure a second time. */
    (void)cudaGetLastError();
    char what[200];
    snprintf(what, sizeof what, "%s (%s)", cudaGetErrorString(err), cudaGetErrorName(err));
    return sf_cuda_log_failure(be, file, line, call, what,
                               err == cudaErrorMemoryAllocation ? SF_ERR_NO_MEMORY : SF_ERR_DEVICE);
}

static inline sf_status sf_cublas_status(const sf_backend *be, cublasStatus_t s, const char *call,
                                         const char *file, int line)
{
    if (s == CUBLAS_STATUS_SUCCESS) return SF_OK;
    char what[200];
    snprintf(what, sizeof what, "%s (%s)", cublasGetStatusString(s), cublasGetStatusName(s));
    return sf_cuda_log_failure(be, file, line, call, what,
                               s == CUBLAS_STATUS_ALLOC_FAILED ? SF_ERR_NO_MEMORY : SF_ERR_DEVICE);
}

/* cuSOLVER has no status-to-string function. */
static inline const char *sf_cusolver_status_name(cusolverStatus_t s)
{
    switch (s) {
    case CUSOLVER_STATUS_SUCCESS: return "CUSOLVER_STATUS_SUCCESS";
    case CUSOLVER_STATUS_NOT_INITIALIZED: return "CUSOLVER_STATUS_NOT_INITIALIZED";
    case CUSOLVER_STATUS_ALLOC_FAILED: return "CUSOLVER_STATUS_ALLOC_FAILED";
    case CUSOLVER_STATUS_INVALID_VALUE: return "CUSOLVER_STATUS_INVALID_VALUE";
    case CUSOLVER_STATUS_ARCH_MISMATCH: return "CUSOLVER_STATUS_ARCH_MISMATCH";
    case CUSOLVER_STATUS_MAPPING_ERROR: return "CUSOLVER_STATUS_MAPPING_ERROR";
    case CUSOLVER_STATUS_EXECUTION_FAILED: return "CUSOLVER_STATUS_EXECUTION_FAILED";
    case CUSOLVER_STATUS_INTERNAL_ERROR: return "CUSOLVER_STATUS_INTERNAL_ERROR";
    case CUSOLVER_STATUS_MATRIX_TYPE_NOT_SUPPORTED:
        return "CUSOLVER_STATUS_MATRIX_TYPE_NOT_SUPPORTED";
    case CUSOLVER_STATUS_NOT_SUPPORTED: return "CUSOLVER_STATUS_NOT_SUPPORTED";
    case CUSOLVER_STATUS_INVALID_WORKSPACE: return "CUSOLVER_STATUS_INVALID_WORKSPACE";
    default: return "cuSOLVER error";
    }
}

static inline sf_status sf_cusolver_status(const sf_backend *be, cusolverStatus_t s,
                                           const char *call, const char *file, int line)
{
    if (s == CUSOLVER_STATUS_SUCCESS) return SF_OK;
    char what[200];
    snprintf(what, sizeof what, "%s (status %d)", sf_cusolver_status_name(s), (int)s);
    return sf_cuda_log_failure(be, file, line, call, what,
                               s == CUSOLVER_STATUS_ALLOC_FAILED ? SF_ERR_NO_MEMORY
                                                                 : SF_ERR_DEVICE);
}

#endif
