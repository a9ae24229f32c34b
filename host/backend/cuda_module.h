/*
 * cuda_module.h — the boundary between the library and its CUDA backend.
 *
 * The CUDA backend is a separate shared module (libstreamfit_cuda.so) that
 * the library opens at run time, only when a CUDA driver is present and a
 * context asks for a GPU. So CPU runs never load cuBLAS/cuSOLVER (hundreds
 * of MiB of libraries, about 0.1 s at every start), and a CUDA build still
 * runs on machines without the CUDA libraries.
 */
#ifndef STREAMFIT_CUDA_MODULE_H
#define STREAMFIT_CUDA_MODULE_H

#include <stddef.h>

#include "backend.h"

#define SF_CUDA_MODULE_FILE "libstreamfit_cuda.so"
#define SF_CUDA_MODULE_EXPORT __attribute__((visibility("default")))

#ifdef __cplusplus
extern "C" {
#endif

/* What the module exports (looked up with dlsym by these names). */
typedef sf_status (*sf_cuda_module_create_fn)(int threads, sf_backend **out, char *why,
                                              size_t whylen);
typedef size_t (*sf_cuda_module_describe_fn)(char *buf, size_t len);
/* SF_BACKEND_INTERFACE_VERSION and sizeof(sf_backend_ops) as the module was
 * built: a module from another build of the library is refused, not called. */
typedef unsigned (*sf_cuda_module_interface_fn)(size_t *ops_size);

#ifdef __cplusplus
}
#endif

#endif
