/*
 * bench_platform.c — one platform of `streamfit bench`, run in a child
 * process so that its peak memory (ru_maxrss from wait4) and its BLAS or
 * CUDA state are its own (mpi:NxT runs under mpirun instead: bench_mpi.c).
 * The child parses the CSV (or makes the rows, --in-memory), creates the
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
#include "clock.h"
#include "metrics.h"

static sf_status get_rows(const bench_config *c, int threads, bench_data *d, double *seconds,
                          char *err, size_t errlen)
{
    double t0 = sf_clock_mono_s();
    sf_status st = c->input ? bench_load_input(c, threads, d, err, errlen) : bench_generate(c, d);
    *seconds = sf_clock_mono_s() - t0;
    if (st != SF_OK && !err[0]) snprintf(err, errlen, "%s", sf_strerror(st));
    return st;
}

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

bool bench_send_result(int fd, const bench_result *r)
{
    bench_result copy = *r;
    copy.coef = NULL;
    if (!bench_write_all(fd, &copy, sizeof copy)) return false;
    return !r->n_coef || bench_write_all(fd, r->coef, sizeof(double) * r->n_coef);
}

bool bench_receive_result(int fd, bench_result *r)
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
    got.hosts[sizeof got.hosts - 1] = 0;
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
    bool got = bench_receive_result(fds[0], r);
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
    bench_send_result(fd, &r);
    bench_result_free(&r);
}

void bench_run_platform(const bench_config *c, const bench_platform *p, bench_progress *pg,
                        bench_result *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", p->name);
    snprintf(r->status, sizeof r->status, "ok");
    set_phases(c, r);
    r->procs = p->kind == BENCH_MPI ? p->ranks : 1;
    int base = pg->done;
    char what[64];
    snprintf(what, sizeof what, "%s, preparing", p->name);
    bench_progress_show(pg, what);
    if (p->kind == BENCH_MPI) {
        bench_mpi_run(c, p, pg, r);
    } else {
        bench_result init = *r;
        platform_job job = {.c = c, .p = p, .pg = pg, .init = &init};
        bench_in_child(platform_work, &job, r);
    }
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
    bench_send_result(fd, &r);
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
    bench_send_result(fd, &r);
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
