/*
 * backend_cuda_loader.c — sf_backend_cuda_create/describe for the library:
 * find the CUDA driver, then open the CUDA backend module (cuda_module.h)
 * and forward to it. The module is looked for in $STREAMFIT_CUDA_MODULE,
 * next to the running program, in ../lib from it, in the build tree and in
 * the install directory, then on the loader's path.
 */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cuda_module.h"

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static sf_cuda_module_create_fn module_create;
static sf_cuda_module_describe_fn module_describe;
static char load_error[256];

static void *open_module_at(const char *dir)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", dir, SF_CUDA_MODULE_FILE) >= (int)sizeof path)
        return NULL;
    return dlopen(path, RTLD_NOW | RTLD_LOCAL);
}

static void *open_module(void)
{
    const char *env = getenv("STREAMFIT_CUDA_MODULE");
    if (env && *env) return dlopen(env, RTLD_NOW | RTLD_LOCAL);
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 8);
    void *h = NULL;
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        h = open_module_at(exe);
        if (!h && strlen(exe) + 8 < sizeof exe) {
            strcat(exe, "/../lib");
            h = open_module_at(exe);
        }
    }
#ifdef STREAMFIT_CUDA_MODULE_BUILD_DIR
    if (!h) h = open_module_at(STREAMFIT_CUDA_MODULE_BUILD_DIR);
#endif
#ifdef STREAMFIT_CUDA_MODULE_INSTALL_DIR
    if (!h) h = open_module_at(STREAMFIT_CUDA_MODULE_INSTALL_DIR);
#endif
    if (!h) h = dlopen(SF_CUDA_MODULE_FILE, RTLD_NOW | RTLD_LOCAL);
    return h;
}

static void load(void)
{
    /* Without a driver there is nothing the module could do: say so cheaply. */
    if (!dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL)) {
        snprintf(load_error, sizeof load_error, "no CUDA driver");
        return;
    }
    void *h = open_module();
    if (!h) {
        const char *e = dlerror();
        snprintf(load_error, sizeof load_error, "cannot load the CUDA backend %s: %s",
                 SF_CUDA_MODULE_FILE, e ? e : "not found");
        return;
    }
    module_create = (sf_cuda_module_create_fn)(uintptr_t)dlsym(h, "sf_cuda_module_create");
    module_describe = (sf_cuda_module_describe_fn)(uintptr_t)dlsym(h, "sf_cuda_module_describe");
    sf_cuda_module_interface_fn interface =
        (sf_cuda_module_interface_fn)(uintptr_t)dlsym(h, "sf_cuda_module_interface");
    size_t ops_size = 0;
    unsigned version = interface ? interface(&ops_size) : 0;
    if (!module_create || !module_describe || !interface) {
        snprintf(load_error, sizeof load_error, "%s lacks its entry points", SF_CUDA_MODULE_FILE);
    } else if (version != SF_BACKEND_INTERFACE_VERSION || ops_size != sizeof(sf_backend_ops)) {
        snprintf(load_error, sizeof load_error,
                 "%s was built for backend interface %u (%zu-byte table); this library has %u "
                 "(%zu): rebuild them together",
                 SF_CUDA_MODULE_FILE, version, ops_size, (unsigned)SF_BACKEND_INTERFACE_VERSION,
                 sizeof(sf_backend_ops));
    } else {
        return;
    }
    module_create = NULL;
    module_describe = NULL;
}

sf_status sf_backend_cuda_create(int threads, sf_backend **out, char *why, size_t whylen)
{
    pthread_once(&load_once, load);
    if (!module_create) {
        snprintf(why, whylen, "%s", load_error);
        return SF_ERR_DEVICE;
    }
    return module_create(threads, out, why, whylen);
}

size_t sf_backend_cuda_describe(char *buf, size_t len)
{
    pthread_once(&load_once, load);
    if (!module_describe) {
        int n = snprintf(buf, len, "cuda: not available (%s)\n", load_error);
        return n > 0 ? (size_t)n : 0;
    }
    return module_describe(buf, len);
}
