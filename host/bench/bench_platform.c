/*
 * bench_platform.c — one platform of `streamfit bench`, run in a child
 * process so that its peak memory (ru_maxrss from wait4) and its BLAS or
 * CUDA state are its own. The child makes or parses the rows, creates the
 * context (a missing GPU makes the platform 'unavailable', with the reason
 * the library logged), and for each repeat times: parse (--input only),
 * transfer (sf_trainer_add_batch: upload and reduce), solve (sf_trainer_fit)
 * and predict (sf_predict on the held-out rows). It sends its result back
 * through a pipe.
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
static sf_status get_rows(const bench_config *c, int threads, bench_data *d, double *seconds,
                          char *err, size_t errlen)
{
    double t0 = sf_clock_mono_s();
    sf_status st = c->input ? bench_load_input(c, threads, d, err, errlen) : bench_generate(c, d);
    *seconds = sf_clock_mono_s() - t0;
    if (st != SF_OK && !err[0]) snprintf(err, errlen, "%s", sf_strerror(st));
    return st;
}

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
static sf_status one_repeat(const bench_config *c, sf_context *ctx, const bench_data *d, bool last,
                            bench_result *r, double *t)
{
    sf_fit_params fp;
    bench_fit_params(c, &fp);
    sf_trainer *tr = NULL;
    sf_model *m = NULL;
    sf_status st = sf_trainer_create(ctx, &fp, d->d, d->K, &tr);
    double t0 = sf_clock_mono_s();
    for (size_t i = 0; st == SF_OK && i < d->n_train; i += c->batch_rows) {
        size_t rows = d->n_train - i < c->batch_rows ? d->n_train - i : c->batch_rows;
        st = sf_trainer_add_batch(tr, d->X + i * d->d, d->y + i, rows);
    }
    double t1 = sf_clock_mono_s();
    if (st == SF_OK) st = sf_trainer_fit(tr, &m);
    double t2 = sf_clock_mono_s();
    t[BENCH_TRANSFER] = t1 - t0;
    t[BENCH_SOLVE] = t2 - t1;
    if (st == SF_OK) st = bench_quality(ctx, m, d, r, &t[BENCH_PREDICT]);
    if (st == SF_OK && last) {
        bench_describe_fit(tr, r);
        if (!bench_keep_coefficients(m, r)) st = SF_ERR_NO_MEMORY;
    }
    sf_model_destroy(m);
    sf_trainer_destroy(tr);
    return st;
}

static int platform_threads(const bench_platform *p)
{
    return p->kind == BENCH_CPU1 ? 1 : 0; /* 0: all cores */
}

/* The child's work; fills r (status and numbers). */
static void platform_child(const bench_config *c, const bench_platform *p, bench_progress *pg,
                           bench_result *r)
{
    char log_msg[256] = "", err[512] = "";
    sf_context *ctx = NULL;
    bench_data d;
    memset(&d, 0, sizeof d);
    if (p->kind == BENCH_PROCS) {
        bench_procs_run(c, p, pg, r);
        return;
    }
    double t0 = sf_clock_mono_s();
    sf_status st = bench_new_context(
        platform_threads(p), p->kind == BENCH_CUDA ? SF_DEVICE_CUDA : SF_DEVICE_CPU, log_msg, &ctx);
    r->startup_s = sf_clock_mono_s() - t0;
    if (st != SF_OK) {
        if (st == SF_ERR_DEVICE)
            snprintf(r->status, sizeof r->status, "unavailable: %s",
                     log_msg[0] ? log_msg : "no usable GPU");
        else
            snprintf(r->status, sizeof r->status, "failed: cannot start a backend: %s",
                     log_msg[0] ? log_msg : sf_strerror(st));
        return;
    }
    snprintf(r->backend, sizeof r->backend, "%s", sf_context_backend_name(ctx));
    r->threads = sf_context_threads(ctx);
    int parse_threads = platform_threads(p);
    double made = 0;
    if (!c->input) {
        st = get_rows(c, parse_threads, &d, &made, err, sizeof err);
        r->generate_s = made;
    }
    for (int rep = 0; st == SF_OK && rep < c->repeat; rep++) {
        double *t = r->t[rep];
        if (c->input) {
            bench_data_free(&d);
            st = get_rows(c, parse_threads, &d, &t[BENCH_PARSE], err, sizeof err);
            if (st != SF_OK) break;
        }
        st = one_repeat(c, ctx, &d, rep == c->repeat - 1, r, t);
        if (st != SF_OK) break;
        t[BENCH_WALL] = t[BENCH_PARSE] + t[BENCH_TRANSFER] + t[BENCH_SOLVE];
        r->n_rep = rep + 1;
        char what[64];
        snprintf(what, sizeof what, "%s, repeat %d/%d", p->name, rep + 1, c->repeat);
        bench_progress_step(pg, what);
    }
    if (st != SF_OK)
        snprintf(r->status, sizeof r->status, "failed: %s",
                 err[0] ? err : (log_msg[0] ? log_msg : sf_strerror(st)));
    bench_data_free(&d);
    sf_context_destroy(ctx);
}

static void set_phases(const bench_config *c, bench_result *r)
{
    r->has_phase[BENCH_PARSE] = c->input != NULL;
    r->has_phase[BENCH_TRANSFER] = true;
    r->has_phase[BENCH_SOLVE] = true;
    r->has_phase[BENCH_PREDICT] = true;
    r->has_phase[BENCH_WALL] = true;
}

/* Send the result (fixed part, then the coefficients) to the parent. */
static void send_result(int fd, const bench_result *r)
{
    bench_result copy = *r;
    copy.coef = NULL;
    if (!bench_write_all(fd, &copy, sizeof copy)) return;
    if (r->n_coef) bench_write_all(fd, r->coef, sizeof(double) * r->n_coef);
}

static bool receive_result(int fd, bench_result *r)
{
    bench_result got;
    if (!bench_read_all(fd, &got, sizeof got)) return false;
    got.coef = NULL;
    if (got.n_coef > ((size_t)1 << 26)) return false;
    if (got.n_coef) {
        got.coef = malloc(sizeof(double) * got.n_coef);
        if (!got.coef || !bench_read_all(fd, got.coef, sizeof(double) * got.n_coef)) {
            free(got.coef);
            return false;
        }
    }
    got.status[sizeof got.status - 1] = 0;
    got.detail[sizeof got.detail - 1] = 0;
    *r = got;
    return true;
}

/* Fork, run `work` in the child with a pipe for its result, wait for it and
 * record its peak memory. */
void bench_in_child(void (*work)(const void *arg, int fd), const void *arg, bench_result *r)
{
    int fds[2];
    if (pipe(fds) != 0) {
        snprintf(r->status, sizeof r->status, "failed: pipe: %s", strerror(errno));
        return;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(r->status, sizeof r->status, "failed: fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return;
    }
    if (pid == 0) {
        close(fds[0]);
        work(arg, fds[1]);
        close(fds[1]);
        _exit(0);
    }
    close(fds[1]);
    bench_result keep = *r;
    bool got = receive_result(fds[0], r);
    close(fds[0]);
    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
    }
    if (!got) {
        *r = keep;
        if (WIFSIGNALED(status))
            snprintf(r->status, sizeof r->status, "failed: the benchmark process died (%s)",
                     strsignal(WTERMSIG(status)));
        else
            snprintf(r->status, sizeof r->status,
                     "failed: the benchmark process exited with status %d and no result",
                     WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    r->peak_mib = (double)ru.ru_maxrss / 1024.0;
}

typedef struct platform_job {
    const bench_config *c;
    const bench_platform *p;
    bench_progress *pg;
    const bench_result *init;
} platform_job;

static void platform_work(const void *arg, int fd)
{
    const platform_job *job = arg;
    bench_result r = *job->init;
    platform_child(job->c, job->p, job->pg, &r);
    send_result(fd, &r);
    bench_result_free(&r);
}

void bench_run_platform(const bench_config *c, const bench_platform *p, bench_progress *pg,
                        bench_result *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", p->name);
    snprintf(r->status, sizeof r->status, "ok");
    set_phases(c, r);
    r->procs = p->kind == BENCH_PROCS ? p->procs : 1;
    if (p->kind == BENCH_PROCS && c->model != SF_MODEL_OLS && c->model != SF_MODEL_RIDGE) {
        snprintf(r->status, sizeof r->status,
                 "skipped: not supported for this workload (only least-squares statistics merge "
                 "exactly)");
        pg->done += c->repeat - 1;
        bench_progress_step(pg, p->name);
        return;
    }
    int base = pg->done;
    char what[64];
    snprintf(what, sizeof what, "%s, preparing", p->name);
    bench_progress_show(pg, what);
    bench_result init = *r;
    platform_job job = {.c = c, .p = p, .pg = pg, .init = &init};
    bench_in_child(platform_work, &job, r);
    pg->done = base + c->repeat - 1; /* the child drew its own steps */
    bench_progress_step(pg, p->name);
}

/* ---- the shape of the rows, and the peers' CSV, in children ---- */

typedef struct probe_job {
    const bench_config *c;
} probe_job;

/* The shape travels back in the coefficient slots: n, d, K, bad rows. */
static void probe_work(const void *arg, int fd)
{
    const probe_job *job = arg;
    bench_result r;
    memset(&r, 0, sizeof r);
    bench_data d;
    char err[400] = "";
    sf_status st = bench_load_input(job->c, 0, &d, err, sizeof err);
    if (st == SF_OK) {
        snprintf(r.status, sizeof r.status, "ok");
        r.n_coef = 4;
        r.coef = malloc(sizeof(double) * 4);
        if (r.coef) {
            r.coef[0] = (double)d.n;
            r.coef[1] = (double)d.d;
            r.coef[2] = (double)d.K;
            r.coef[3] = (double)d.bad_rows;
        } else {
            r.n_coef = 0;
        }
        bench_data_free(&d);
    } else {
        snprintf(r.status, sizeof r.status, "%s", err[0] ? err : sf_strerror(st));
    }
    send_result(fd, &r);
    free(r.coef);
}

bool bench_probe(const bench_config *c, bench_data *shape, char *err, size_t errlen)
{
    memset(shape, 0, sizeof *shape);
    if (!c->input) {
        shape->n = c->rows;
        shape->d = c->d;
        shape->K = c->K;
    } else {
        bench_result r;
        memset(&r, 0, sizeof r);
        probe_job job = {.c = c};
        bench_in_child(probe_work, &job, &r);
        if (!bench_result_ok(&r) || r.n_coef != 4) {
            snprintf(err, errlen, "%s", r.status[0] ? r.status : "cannot read the input");
            bench_result_free(&r);
            return false;
        }
        shape->n = (size_t)r.coef[0];
        shape->d = (size_t)r.coef[1];
        shape->K = (size_t)r.coef[2];
        shape->bad_rows = (uint64_t)r.coef[3];
        bench_result_free(&r);
    }
    shape->n_hold = bench_holdout_rows(shape->n, c->holdout);
    shape->n_train = shape->n - shape->n_hold;
    return true;
}

typedef struct csv_job {
    const bench_config *c;
    const char *path;
} csv_job;

static void csv_work(const void *arg, int fd)
{
    const csv_job *job = arg;
    bench_result r;
    memset(&r, 0, sizeof r);
    bench_data d;
    sf_status st = bench_generate(job->c, &d);
    char err[300] = "";
    if (st != SF_OK)
        snprintf(r.status, sizeof r.status, "%s", sf_strerror(st));
    else if (bench_write_csv(&d, job->path, err, sizeof err))
        snprintf(r.status, sizeof r.status, "ok");
    else
        snprintf(r.status, sizeof r.status, "%s", err);
    bench_data_free(&d);
    send_result(fd, &r);
}

bool bench_write_csv_child(const bench_config *c, const char *path, char *err, size_t errlen)
{
    bench_result r;
    memset(&r, 0, sizeof r);
    csv_job job = {.c = c, .path = path};
    bench_in_child(csv_work, &job, &r);
    bool ok = bench_result_ok(&r);
    if (!ok) snprintf(err, errlen, "%s", r.status);
    bench_result_free(&r);
    return ok;
}
