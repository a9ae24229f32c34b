/*
 * bench_procs.c — the procsN platform of `streamfit bench`: N worker
 * processes each add 1/N of the training rows to a least-squares trainer on
 * the CPU backend (cores / N threads each, at least one) and send back the
 * trainer's statistics; this process merges them exactly and solves once.
 *
 * The statistics are the trainer's streaming state (sf_trainer_save_state):
 * row count, mean and centered co-moment of the augmented rows [x, y]; the
 * library merges them exactly (sf_trainer_merge_state, the pairwise update of
 * Chan, Golub & LeVeque).
 *
 * Timing: transfer is from the first fork to the last worker's statistics
 * (process start-up included: it is part of the price of this platform);
 * solve is merging the states and sf_trainer_fit.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_platform.h"
#include "clock.h"

typedef struct worker_header {
    int status; /* sf_status */
    double transfer_s;
    uint64_t len; /* bytes of state that follow */
    char why[200];
} worker_header;

/* The workers' states, in worker order. */
typedef struct worker_states {
    int n;
    unsigned char **buf;
    size_t *len;
} worker_states;

static void states_free(worker_states *w)
{
    for (int i = 0; w->buf && i < w->n; i++)
        free(w->buf[i]);
    free(w->buf);
    free(w->len);
    memset(w, 0, sizeof *w);
}

static void lsq_params(const bench_config *c, sf_fit_params *fp)
{
    bench_fit_params(c, fp);
    fp->keep_batches = false;
    fp->solver = SF_SOLVER_CHOLESKY; /* no R factor: the state is count, mean, M2 */
}

/* One worker: rows [lo, hi) of the training rows; state to fd. */
static void worker(const bench_config *c, const bench_data *d, size_t lo, size_t hi, int threads,
                   int fd)
{
    worker_header h;
    memset(&h, 0, sizeof h);
    sf_context *ctx = NULL;
    sf_trainer *tr = NULL;
    unsigned char *buf = NULL;
    size_t len = 0;
    sf_fit_params fp;
    lsq_params(c, &fp);
    sf_status st = bench_new_context(threads, SF_DEVICE_CPU, h.why, &ctx);
    if (st == SF_OK) st = sf_trainer_create(ctx, &fp, d->d, 0, &tr);
    double t0 = sf_clock_mono_s();
    for (size_t i = lo; st == SF_OK && i < hi; i += c->batch_rows) {
        size_t rows = hi - i < c->batch_rows ? hi - i : c->batch_rows;
        st = sf_trainer_add_batch(tr, d->X + i * d->d, d->y + i, rows);
    }
    h.transfer_s = sf_clock_mono_s() - t0;
    if (st == SF_OK) st = sf_trainer_save_state(tr, &buf, &len);
    h.status = (int)st;
    h.len = st == SF_OK ? len : 0;
    if (st != SF_OK && !h.why[0]) snprintf(h.why, sizeof h.why, "%s", sf_strerror(st));
    if (bench_write_all(fd, &h, sizeof h) && h.len) bench_write_all(fd, buf, len);
    free(buf);
    sf_trainer_destroy(tr);
    sf_context_destroy(ctx);
}

static int online_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* Fork the workers and collect their states into *out (the first
 * worker's bytes, statistics replaced). Returns SF_OK or a failure with why. */
static sf_status gather(const bench_config *c, const bench_platform *p, const bench_data *d,
                        int threads, worker_states *out, char *why, size_t whylen)
{
    int n = p->procs;
    pid_t *pid = calloc((size_t)n, sizeof(pid_t));
    int *fd = calloc((size_t)n, sizeof(int));
    out->n = n;
    out->buf = calloc((size_t)n, sizeof(unsigned char *));
    out->len = calloc((size_t)n, sizeof(size_t));
    bool mem = pid && fd && out->buf && out->len;
    sf_status st = mem ? SF_OK : SF_ERR_NO_MEMORY;
    int started = 0;
    fflush(stdout);
    fflush(stderr);
    for (int i = 0; st == SF_OK && i < n; i++) {
        int fds[2];
        if (pipe(fds) != 0) {
            snprintf(why, whylen, "pipe: %s", strerror(errno));
            st = SF_ERR_IO;
            break;
        }
        pid[i] = fork();
        if (pid[i] == 0) {
            close(fds[0]);
            size_t lo = d->n_train * (size_t)i / (size_t)n;
            size_t hi = d->n_train * (size_t)(i + 1) / (size_t)n;
            worker(c, d, lo, hi, threads, fds[1]);
            close(fds[1]);
            _exit(0);
        }
        close(fds[1]);
        if (pid[i] < 0) {
            close(fds[0]);
            snprintf(why, whylen, "fork: %s", strerror(errno));
            st = SF_ERR_IO;
            break;
        }
        fd[i] = fds[0];
        started++;
    }
    for (int i = 0; i < started; i++) {
        worker_header h;
        unsigned char *buf = NULL;
        bool ok = bench_read_all(fd[i], &h, sizeof h);
        if (ok && h.status == SF_OK) {
            buf = malloc(h.len + 1);
            ok = buf && bench_read_all(fd[i], buf, h.len);
        }
        close(fd[i]);
        if (st != SF_OK) {
            free(buf);
            continue;
        }
        if (!ok) {
            snprintf(why, whylen, "worker %d sent no statistics", i + 1);
            st = SF_ERR_IO;
        } else if (h.status != SF_OK) {
            h.why[sizeof h.why - 1] = 0;
            snprintf(why, whylen, "worker %d: %s", i + 1, h.why);
            st = (sf_status)h.status;
        } else {
            out->buf[i] = buf;
            out->len[i] = h.len;
            buf = NULL;
        }
        free(buf);
    }
    for (int i = 0; i < started; i++)
        while (waitpid(pid[i], NULL, 0) < 0 && errno == EINTR) {
        }
    if (st != SF_OK) states_free(out);
    free(pid);
    free(fd);
    return st;
}

/* Merge the workers' statistics into a fresh trainer and solve. */
static sf_status solve_merged(const bench_config *c, sf_context *ctx, const bench_data *d,
                              const worker_states *w, bool last, bench_result *r, double *t)
{
    sf_fit_params fp;
    lsq_params(c, &fp);
    sf_trainer *tr = NULL;
    sf_model *m = NULL;
    double t0 = sf_clock_mono_s();
    sf_status st = sf_trainer_create(ctx, &fp, d->d, 0, &tr);
    for (int i = 0; st == SF_OK && i < w->n; i++)
        st = sf_trainer_merge_state(tr, w->buf[i], w->len[i]);
    if (st == SF_OK) st = sf_trainer_fit(tr, &m);
    t[BENCH_SOLVE] = sf_clock_mono_s() - t0;
    if (st == SF_OK) st = bench_quality(ctx, m, d, r, &t[BENCH_PREDICT]);
    if (st == SF_OK && last) {
        bench_describe_fit(tr, r);
        if (!bench_keep_coefficients(m, r)) st = SF_ERR_NO_MEMORY;
    }
    sf_model_destroy(m);
    sf_trainer_destroy(tr);
    return st;
}

void bench_procs_run(const bench_config *c, const bench_platform *p, bench_progress *pg,
                     bench_result *r)
{
    char log_msg[256] = "", why[512] = "";
    bench_data d;
    memset(&d, 0, sizeof d);
    int threads = online_cores() / p->procs;
    if (threads < 1) threads = 1;
    r->threads = threads * p->procs;
    snprintf(r->backend, sizeof r->backend, "cpu");
    double t0 = sf_clock_mono_s();
    sf_context *ctx = NULL;
    sf_status st = bench_new_context(0, SF_DEVICE_CPU, log_msg, &ctx);
    r->startup_s = sf_clock_mono_s() - t0;
    if (st == SF_OK && !c->input) {
        t0 = sf_clock_mono_s();
        st = bench_generate(c, &d);
        r->generate_s = sf_clock_mono_s() - t0;
    }
    for (int rep = 0; st == SF_OK && rep < c->repeat; rep++) {
        double *t = r->t[rep];
        if (c->input) {
            bench_data_free(&d);
            t0 = sf_clock_mono_s();
            st = bench_load_input(c, 0, &d, why, sizeof why);
            t[BENCH_PARSE] = sf_clock_mono_s() - t0;
            if (st != SF_OK) break;
        }
        worker_states w;
        memset(&w, 0, sizeof w);
        t0 = sf_clock_mono_s();
        st = gather(c, p, &d, threads, &w, why, sizeof why);
        t[BENCH_TRANSFER] = sf_clock_mono_s() - t0;
        if (st == SF_OK) st = solve_merged(c, ctx, &d, &w, rep == c->repeat - 1, r, t);
        states_free(&w);
        if (st != SF_OK) break;
        t[BENCH_WALL] = t[BENCH_PARSE] + t[BENCH_TRANSFER] + t[BENCH_SOLVE];
        r->n_rep = rep + 1;
        char what[64];
        snprintf(what, sizeof what, "%s, repeat %d/%d", p->name, rep + 1, c->repeat);
        bench_progress_step(pg, what);
    }
    if (st != SF_OK)
        snprintf(r->status, sizeof r->status, "failed: %s",
                 why[0] ? why : (log_msg[0] ? log_msg : sf_strerror(st)));
    else
        snprintf(r->detail + strlen(r->detail), sizeof r->detail - strlen(r->detail),
                 "; %d processes x %d threads, statistics merged", p->procs, threads);
    bench_data_free(&d);
    sf_context_destroy(ctx);
}
