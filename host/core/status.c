/*
 * status.c — status messages and the names of models, solvers and devices.
 */
#include <string.h>

#include "streamfit.h"

const char *sf_strerror(sf_status status)
{
    switch (status) {
    case SF_OK: return "success";
    case SF_ERR_INVALID_ARGUMENT: return "invalid argument";
    case SF_ERR_NO_MEMORY: return "out of memory";
    case SF_ERR_IO: return "input/output error";
    case SF_ERR_PARSE: return "malformed input";
    case SF_ERR_NOT_POSITIVE_DEFINITE: return "matrix is not positive definite";
    case SF_ERR_SINGULAR: return "matrix is singular";
    case SF_ERR_NOT_CONVERGED: return "solver did not converge";
    case SF_ERR_UNSUPPORTED: return "not supported by this build or backend";
    case SF_ERR_DEVICE: return "compute device error";
    case SF_ERR_BAD_MODEL_FILE: return "invalid model file";
    case SF_ERR_EMPTY: return "no data";
    case SF_ERR_BAD_LABEL: return "label is not a valid class";
    case SF_ERR_LAPACK: return "LAPACK reported an error";
    case SF_ERR_NOT_FINITE:
        return "values too large for float64 (statistics or solution not finite): rescale the "
               "columns";
    case SF_ERR_DATA_LOST: return "records were lost before they were read";
    case SF_ERR_UNREACHABLE: return "no broker reachable for longer than the limit";
    }
    return "unknown status";
}

static const char *const model_names[] = {"ols", "ridge", "logistic", "softmax"};
static const char *const solver_names[] = {"auto", "cholesky", "qr", "newton", "lbfgs"};
static const char *const device_names[] = {"auto", "cpu", "cuda"};

static bool lookup(const char *const *names, int n, const char *name, int *out)
{
    for (int i = 0; name && i < n; i++)
        if (strcmp(names[i], name) == 0) {
            *out = i;
            return true;
        }
    return false;
}

const char *sf_model_kind_name(sf_model_kind kind)
{
    return (unsigned)kind < 4 ? model_names[kind] : "unknown";
}

const char *sf_solver_kind_name(sf_solver_kind kind)
{
    return (unsigned)kind < 5 ? solver_names[kind] : "unknown";
}

bool sf_model_kind_parse(const char *name, sf_model_kind *out)
{
    int i;
    if (!lookup(model_names, 4, name, &i)) return false;
    *out = (sf_model_kind)i;
    return true;
}

bool sf_solver_kind_parse(const char *name, sf_solver_kind *out)
{
    int i;
    if (!lookup(solver_names, 5, name, &i)) return false;
    *out = (sf_solver_kind)i;
    return true;
}

bool sf_device_kind_parse(const char *name, sf_device_kind *out)
{
    int i;
    if (!lookup(device_names, 3, name, &i)) return false;
    *out = (sf_device_kind)i;
    return true;
}
