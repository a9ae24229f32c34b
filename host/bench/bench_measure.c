/*
 * bench_measure.c — what every platform runner of `streamfit bench` leans
 * on (bench_platform.c for one process, bench_mpi_rank.c for the ranks):
 * whole reads and writes on pipes, the progress line, contexts whose log is
 * captured, fitting parameters, holdout quality, coefficients and a
 * description of the fit.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "bench_platform.h"
#include "clock.h"
#include "metrics.h"

bool bench_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

bool bench_read_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

bool bench_result_ok(const bench_result *r) { return strcmp(r->status, "ok") == 0; }

void bench_result_free(bench_result *r)
{
    if (!r) return;
    free(r->coef);
    r->coef = NULL;
    r->n_coef = 0;
}

void bench_progress_show(const bench_progress *p, const char *what)
{
    if (!p || !p->on) return;
    int width = 30, fill = p->total ? p->done * width / p->total : width;
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr, "\r\033[K[%s] %d/%d %s", bar, p->done, p->total, what);
    fflush(stderr);
}

void bench_progress_step(bench_progress *p, const char *what)
{
    if (!p || !p->on) return;
    if (p->done < p->total) p->done++;
    bench_progress_show(p, what);
}

void bench_progress_end(bench_progress *p)
{
    if (!p || !p->on) return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
}

/* The library's log messages, kept so that a failure can say why. */
static void capture_log(void *user, sf_log_level level, const char *msg)
{
    char *keep = user;
    if (level > SF_LOG_WARN) return;
    const char *prefix = "--device cuda: ";
    if (strncmp(msg, prefix, strlen(prefix)) == 0) msg += strlen(prefix);
    snprintf(keep, 256, "%s", msg);
}

sf_status bench_new_context(int threads, sf_device_kind device, char *log_msg, sf_context **ctx)
{
    sf_context_options o;
    sf_context_options_init(&o);
    o.device = device;
    o.threads = threads;
    o.log = capture_log;
    o.log_user = log_msg;
    return sf_context_create(&o, ctx);
}

/* Obtain the rows in the child: generated once, or parsed (timed). */
sf_status bench_quality(sf_context *ctx, const sf_model *m, const bench_data *d, bench_result *r,
                        double *predict_s)
{
    size_t h = d->n_hold, K = d->K;
    const double *X = d->X + d->n_train * d->d, *y = d->y + d->n_train;
    double *value = malloc(sizeof(double) * (h + 1));
    double *proba = K ? malloc(sizeof(double) * (h * K + 1)) : NULL;
    size_t *label = K ? malloc(sizeof(size_t) * (h + 1)) : NULL;
    if (!value || (K && (!proba || !label))) {
        free(value);
        free(proba);
        free(label);
        return SF_ERR_NO_MEMORY;
    }
    double t0 = sf_clock_mono_s();
    sf_status st = sf_predict(ctx, m, X, h, value, proba);
    *predict_s = sf_clock_mono_s() - t0;
    if (st == SF_OK && h > 0) {
        r->has_quality = true;
        if (K == 0) {
            sf_regression_metrics q;
            sf_metrics_regression(y, value, h, &q);
            r->q[0] = q.rmse;
            r->q[1] = q.r2;
        } else {
            for (size_t i = 0; i < h; i++)
                label[i] = (size_t)y[i];
            sf_classification_metrics q;
            st = sf_metrics_classification(label, proba, h, K, &q);
            if (st == SF_OK) {
                r->q[0] = q.accuracy;
                r->q[1] = q.log_loss;
                sf_classification_metrics_free(&q);
            }
        }
    }
    free(value);
    free(proba);
    free(label);
    return st;
}

bool bench_keep_coefficients(sf_model *m, bench_result *r)
{
    size_t outs = sf_model_n_outputs(m), d = sf_model_n_features(m);
    free(r->coef);
    r->n_coef = outs * (d + 1);
    r->coef = malloc(sizeof(double) * r->n_coef);
    if (!r->coef) return false;
    const double *b = sf_model_intercepts(m);
    for (size_t k = 0; k < outs; k++) {
        memcpy(r->coef + k * (d + 1), sf_model_coefficients(m, k), sizeof(double) * d);
        r->coef[k * (d + 1) + d] = b[k];
    }
    return true;
}

void bench_describe_fit(const sf_trainer *tr, bench_result *r)
{
    sf_fit_report rep;
    sf_trainer_report(tr, &rep);
    if (rep.iterations > 0)
        snprintf(r->detail, sizeof r->detail, "%s, %d iterations, gradient norm %.1e",
                 sf_solver_kind_name(rep.solver_used), rep.iterations, rep.grad_norm);
    else
        snprintf(r->detail, sizeof r->detail, "%s, rcond %.2g%s",
                 sf_solver_kind_name(rep.solver_used), rep.rcond,
                 rep.refinement_steps ? ", refined" : "");
}

void bench_fit_params(const bench_config *c, sf_fit_params *p)
{
    sf_fit_params_init(p);
    p->model = c->model;
    p->lambda = c->model == SF_MODEL_OLS ? 0.0 : c->lambda;
    p->borrow_rows = true; /* the generated or parsed rows outlive each trainer */
}

/* One repeat on a single context: add the training rows in batches, fit,
 * predict the holdout. */
