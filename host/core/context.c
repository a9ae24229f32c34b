/*
 * context.c — a context owns the backend chosen for a device request, the
 * thread count and the log sink; it also answers `streamfit info`.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

void sf_logf(const sf_context *ctx, sf_log_level level, const char *fmt, ...)
{
    if (!ctx || !ctx->log) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ctx->log(ctx->log_user, level, msg);
}

void sf_context_options_init(sf_context_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->device = SF_DEVICE_AUTO;
}

static int online_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

sf_status sf_context_create(const sf_context_options *opt, sf_context **out)
{
    if (!opt || !out) return SF_ERR_INVALID_ARGUMENT;
    sf_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return SF_ERR_NO_MEMORY;
    ctx->threads = opt->threads > 0 ? opt->threads : online_cores();
    ctx->log = opt->log;
    ctx->log_user = opt->log_user;
    sf_status st = SF_ERR_UNSUPPORTED;
    if (opt->device != SF_DEVICE_CPU) {
#ifdef STREAMFIT_HAVE_CUDA
        char why[256] = "";
        st = sf_backend_cuda_create(ctx->threads, &ctx->be, why, sizeof why);
        if (st != SF_OK && opt->device == SF_DEVICE_CUDA)
            sf_logf(ctx, SF_LOG_ERROR, "CUDA requested but no usable GPU: %s", why);
        else if (st != SF_OK)
            sf_logf(ctx, SF_LOG_WARN, "no usable GPU (%s); using the CPU backend", why);
#else
        if (opt->device == SF_DEVICE_CUDA)
            sf_logf(ctx, SF_LOG_ERROR,
                    "CUDA requested but this build has no CUDA backend (configure with a CUDA "
                    "compiler and STREAMFIT_CUDA=ON)");
        else
            sf_logf(ctx, SF_LOG_INFO, "no CUDA backend in this build; using the CPU backend");
#endif
        if (st != SF_OK && opt->device == SF_DEVICE_CUDA) {
            free(ctx);
            return SF_ERR_DEVICE;
        }
    }
    if (st != SF_OK) st = sf_backend_cpu_create(ctx->threads, &ctx->be);
    if (st != SF_OK) {
        free(ctx);
        return st;
    }
    ctx->be->log = ctx->log;
    ctx->be->log_user = ctx->log_user;
    *out = ctx;
    return SF_OK;
}

void sf_context_destroy(sf_context *ctx)
{
    if (!ctx) return;
    if (ctx->be) ctx->be->ops->destroy(ctx->be);
    free(ctx);
}

const char *sf_context_backend_name(const sf_context *ctx) { return ctx->be->ops->name; }
int sf_context_threads(const sf_context *ctx) { return ctx->threads; }

void sf_get_build_info(sf_build_info *info)
{
    memset(info, 0, sizeof *info);
    info->version = SF_VERSION_STRING;
#ifdef STREAMFIT_HAVE_CUDA
    info->cuda_built = true;
#endif
#ifdef STREAMFIT_HAVE_KAFKA
    info->kafka_built = true;
#endif
    info->blas = openblas_get_config();
    info->blas_threads = openblas_get_num_threads();
    info->cores = online_cores();
}

size_t sf_describe_devices(char *buf, size_t len)
{
    int n = snprintf(buf, len, "cpu: %d cores (OpenBLAS)\n", online_cores());
    size_t used = n > 0 ? (size_t)n : 0;
    if (used >= len) return used;
#ifdef STREAMFIT_HAVE_CUDA
    used += sf_backend_cuda_describe(buf + used, len - used);
#else
    n = snprintf(buf + used, len - used, "cuda: not available (built without CUDA support)\n");
    used += n > 0 ? (size_t)n : 0;
#endif
    return used;
}
