/*
 * bench_peers.c — the peer libraries of `streamfit bench --peers`. Each peer
 * runs through bench/peers/run_peer.sh: once with --setup (it makes
 * bench/.venv-peers and installs what the peer needs; not measured), then on
 * the same CSV, holdout, lambda and repeat count as the platforms. Every line
 * of JSON the peer prints becomes a row of the report (sklearn prints two:
 * the exact solver and 'sklearn-sgd'); its peak memory is the largest
 * process of the run (the JVM for Spark), from wait4.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "bench_json.h"

typedef struct captured {
    char *out; /* stdout, NUL-terminated */
    size_t len;
    int status; /* from wait */
    double peak_mib;
    char last_err[300]; /* the last non-empty line on stderr */
} captured;

static bool runner_at(const char *dir, char *out, size_t len)
{
    if (!dir || !*dir) return false;
    if (snprintf(out, len, "%s/run_peer.sh", dir) >= (int)len) return false;
    return access(out, R_OK) == 0;
}

/* run_peer.sh: --peers-dir, $STREAMFIT_BENCH_PEERS, beside the binary's
 * source tree (build/streamfit -> bench/peers), or ./bench/peers. */
static bool find_runner(const bench_config *c, char *out, size_t len)
{
    if (c->peers_dir) return runner_at(c->peers_dir, out, len);
    if (runner_at(getenv("STREAMFIT_BENCH_PEERS"), out, len)) return true;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 32);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            char dir[PATH_MAX + 32];
            snprintf(dir, sizeof dir, "%s/../bench/peers", exe);
            if (runner_at(dir, out, len)) return true;
            snprintf(dir, sizeof dir, "%s/../../bench/peers", exe);
            if (runner_at(dir, out, len)) return true;
        }
    }
    return runner_at("bench/peers", out, len);
}

static void last_line_of(const char *path, char *out, size_t len)
{
    out[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
            line[--n] = 0;
        if (n) snprintf(out, len, "%s", line);
    }
    fclose(f);
}

/* Run argv (bash and the script first) with stdout captured and stderr in a
 * temporary file; record the exit status and the peak memory. */
static bool run_capture(char *const argv[], captured *cap)
{
    memset(cap, 0, sizeof *cap);
    const char *tmpdir = getenv("TMPDIR");
    char errpath[PATH_MAX];
    snprintf(errpath, sizeof errpath, "%s/streamfit-peer-XXXXXX",
             tmpdir && *tmpdir ? tmpdir : "/tmp");
    int errfd = mkstemp(errpath);
    int fds[2];
    if (errfd < 0 || pipe(fds) != 0) {
        snprintf(cap->last_err, sizeof cap->last_err, "cannot start: %s", strerror(errno));
        if (errfd >= 0) {
            close(errfd);
            unlink(errpath);
        }
        return false;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], STDOUT_FILENO);
        dup2(errfd, STDERR_FILENO);
        close(fds[1]);
        close(errfd);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) dup2(devnull, STDIN_FILENO);
        execvp(argv[0], argv);
        fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    close(errfd);
    size_t cap_len = 0;
    bool ok = pid > 0;
    char chunk[65536];
    while (ok) {
        ssize_t n = read(fds[0], chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        if (cap->len + (size_t)n + 1 > cap_len) {
            size_t nc = cap_len ? 2 * cap_len : sizeof chunk;
            while (nc < cap->len + (size_t)n + 1)
                nc *= 2;
            char *grown = realloc(cap->out, nc);
            if (!grown) {
                ok = false;
                break;
            }
            cap->out = grown;
            cap_len = nc;
        }
        memcpy(cap->out + cap->len, chunk, (size_t)n);
        cap->len += (size_t)n;
        cap->out[cap->len] = 0;
    }
    close(fds[0]);
    if (pid > 0) {
        struct rusage ru;
        memset(&ru, 0, sizeof ru);
        while (wait4(pid, &cap->status, 0, &ru) < 0 && errno == EINTR) {
        }
        cap->peak_mib = (double)ru.ru_maxrss / 1024.0;
    } else {
        snprintf(cap->last_err, sizeof cap->last_err, "fork: %s", strerror(errno));
    }
    if (!cap->last_err[0]) last_line_of(errpath, cap->last_err, sizeof cap->last_err);
    unlink(errpath);
    return ok && pid > 0;
}

static void failed_status(const captured *cap, bench_result *r)
{
    int code = WIFEXITED(cap->status) ? WEXITSTATUS(cap->status) : -1;
    snprintf(r->status, sizeof r->status, "failed: exit %d%s%s", code, cap->last_err[0] ? ": " : "",
             cap->last_err);
}

/* Numbers of a JSON array (or one number) into out; returns how many. */
static size_t numbers_of(const bench_json *v, double *out, size_t max)
{
    if (!v) return 0;
    if (v->type == BENCH_JSON_NUMBER) {
        if (max) out[0] = v->number;
        return max ? 1 : 0;
    }
    if (v->type != BENCH_JSON_ARRAY) return 0;
    size_t n = 0;
    for (size_t i = 0; i < v->n && n < max; i++)
        out[n++] = v->items[i].type == BENCH_JSON_NUMBER ? v->items[i].number : NAN;
    return n;
}

/* coefficients: [[w_1..w_d] per output] (or one flat row); intercept: a list
 * or a number. Stored as the platforms store them: each row, then its b. */
static void coefficients_of(const bench_json *o, bench_result *r)
{
    const bench_json *w = bench_json_get(o, "coefficients");
    const bench_json *b = bench_json_get(o, "intercept");
    if (!w || w->type != BENCH_JSON_ARRAY || w->n == 0) return;
    bool nested = w->items[0].type == BENCH_JSON_ARRAY;
    size_t outs = nested ? w->n : 1, d = nested ? w->items[0].n : w->n;
    double *bs = malloc(sizeof(double) * (outs + 1));
    r->coef = malloc(sizeof(double) * outs * (d + 1));
    if (!bs || !r->coef) {
        free(bs);
        free(r->coef);
        r->coef = NULL;
        return;
    }
    size_t nb = numbers_of(b, bs, outs);
    for (size_t k = 0; k < outs; k++) {
        const bench_json *row = nested ? &w->items[k] : w;
        size_t got = numbers_of(row, r->coef + k * (d + 1), d);
        for (size_t j = got; j < d; j++)
            r->coef[k * (d + 1) + j] = NAN;
        r->coef[k * (d + 1) + d] = k < nb ? bs[k] : 0.0;
    }
    r->n_coef = outs * (d + 1);
    free(bs);
}

static void times_of(const bench_json *o, bench_result *r)
{
    const bench_json *t = bench_json_get(o, "times");
    double read[BENCH_MAX_REPEAT], fit[BENCH_MAX_REPEAT], pred[BENCH_MAX_REPEAT];
    size_t nr = numbers_of(bench_json_get(t, "read_s"), read, BENCH_MAX_REPEAT);
    size_t nf = numbers_of(bench_json_get(t, "fit_s"), fit, BENCH_MAX_REPEAT);
    size_t np = numbers_of(bench_json_get(t, "predict_s"), pred, BENCH_MAX_REPEAT);
    if (nf == 0) { /* one number each */
        nf = numbers_of(bench_json_get(o, "fit_s"), fit, 1);
        nr = numbers_of(bench_json_get(o, "read_s"), read, 1);
        np = numbers_of(bench_json_get(o, "predict_s"), pred, 1);
    }
    r->n_rep = (int)nf;
    for (size_t i = 0; i < nf; i++) {
        r->t[i][BENCH_PARSE] = i < nr ? read[i] : 0.0;
        r->t[i][BENCH_SOLVE] = fit[i];
        r->t[i][BENCH_PREDICT] = i < np ? pred[i] : NAN;
        r->t[i][BENCH_WALL] = r->t[i][BENCH_PARSE] + fit[i];
    }
    r->has_phase[BENCH_PARSE] = nr > 0;
    r->has_phase[BENCH_SOLVE] = true;
    r->has_phase[BENCH_PREDICT] = np > 0;
    r->has_phase[BENCH_WALL] = true;
}

static void quality_of(const bench_json *o, bench_result *r)
{
    const bench_json *q = bench_json_get(o, "quality");
    if (!q) return;
    double a = bench_json_number(q, "rmse"), b = bench_json_number(q, "r2");
    if (isnan(a)) {
        a = bench_json_number(q, "accuracy");
        b = bench_json_number(q, "log_loss");
    }
    if (isnan(a)) return;
    r->has_quality = true;
    r->q[0] = a;
    r->q[1] = b;
}

static void result_of(const bench_json *o, const char *peer, double peak, bench_result *r)
{
    memset(r, 0, sizeof *r);
    r->peer = true;
    r->procs = 1;
    const char *name = bench_json_string(o, "name");
    const char *status = bench_json_string(o, "status");
    const char *est = bench_json_string(o, "estimator");
    const char *lib = bench_json_string(o, "library");
    snprintf(r->name, sizeof r->name, "%s", name ? name : peer);
    snprintf(r->status, sizeof r->status, "%s", status ? status : "ok");
    snprintf(r->detail, sizeof r->detail, "%s%s%s%s", est ? est : "", est && lib ? " (" : "",
             lib ? lib : "", est && lib ? ")" : "");
    snprintf(r->backend, sizeof r->backend, "%s", peer);
    double threads = bench_json_number(o, "threads");
    r->threads = isfinite(threads) ? (int)threads : 0;
    double s = bench_json_number(o, "startup_s");
    r->startup_s = isfinite(s) ? s : 0.0;
    double own = bench_json_number(o, "peak_mib"); /* a process wait4 cannot see (the JVM) */
    r->peak_mib = isfinite(own) && own > peak ? own : peak;
    if (!bench_result_ok(r)) return;
    times_of(o, r);
    quality_of(o, r);
    coefficients_of(o, r);
    if (r->n_rep == 0) snprintf(r->status, sizeof r->status, "failed: the peer reported no times");
}

static bool append(bench_result **res, size_t *n, const bench_result *r)
{
    bench_result *grown = realloc(*res, (*n + 1) * sizeof *grown);
    if (!grown) return false;
    *res = grown;
    grown[(*n)++] = *r;
    return true;
}

static void add_status_row(bench_result **res, size_t *n, const char *peer, const char *status)
{
    bench_result r;
    memset(&r, 0, sizeof r);
    r.peer = true;
    snprintf(r.name, sizeof r.name, "%s", peer);
    snprintf(r.status, sizeof r.status, "%s", status);
    snprintf(r.backend, sizeof r.backend, "%s", peer);
    append(res, n, &r);
}

/* Every JSON line of the output as a row; returns how many. */
static size_t rows_of(const captured *cap, const char *peer, bench_result **res, size_t *n)
{
    size_t added = 0;
    char *line = cap->out;
    while (line && *line) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        bench_json o;
        if (line[0] == '{' && bench_json_parse(line, &o)) {
            bench_result r;
            result_of(&o, peer, cap->peak_mib, &r);
            if (append(res, n, &r))
                added++;
            else
                bench_result_free(&r);
            bench_json_free(&o);
        }
        line = nl ? nl + 1 : NULL;
    }
    return added;
}

static void run_one(const bench_config *c, const char *runner, const char *peer, const char *csv,
                    bench_result **res, size_t *n)
{
    char *setup[] = {"bash", (char *)runner, (char *)peer, "--setup", NULL};
    captured cap;
    bool ran = run_capture(setup, &cap);
    bench_json o;
    const char *status = NULL;
    bool parsed = ran && cap.out && bench_json_parse(cap.out, &o);
    if (parsed) status = bench_json_string(&o, "status");
    if (!ran || !parsed || !status || strcmp(status, "ok") != 0) {
        char why[400];
        if (status)
            snprintf(why, sizeof why, "%s", status);
        else
            snprintf(why, sizeof why, "unavailable: setup failed%s%s", cap.last_err[0] ? ": " : "",
                     cap.last_err);
        add_status_row(res, n, peer, why);
        if (parsed) bench_json_free(&o);
        free(cap.out);
        return;
    }
    bench_json_free(&o);
    free(cap.out);
    char holdout[40], lambda[40], repeat[16];
    snprintf(holdout, sizeof holdout, "%.17g", c->holdout);
    snprintf(lambda, sizeof lambda, "%.17g", c->model == SF_MODEL_OLS ? 0.0 : c->lambda);
    snprintf(repeat, sizeof repeat, "%d", c->repeat);
    char *argv[] = {"bash",
                    (char *)runner,
                    (char *)peer,
                    "--task",
                    (char *)sf_model_kind_name(c->model),
                    "--input",
                    (char *)csv,
                    "--holdout",
                    holdout,
                    "--lambda",
                    lambda,
                    "--repeat",
                    repeat,
                    c->has_header ? NULL : "--no-header",
                    NULL};
    ran = run_capture(argv, &cap);
    size_t rows = ran ? rows_of(&cap, peer, res, n) : 0;
    if (rows == 0) {
        bench_result r;
        memset(&r, 0, sizeof r);
        failed_status(&cap, &r);
        add_status_row(res, n, peer, r.status);
    }
    free(cap.out);
}

void bench_run_peers(const bench_config *c, const char *csv, bench_progress *pg, bench_result **res,
                     size_t *n_res)
{
    char runner[PATH_MAX];
    bool found = find_runner(c, runner, sizeof runner);
    for (size_t i = 0; i < c->n_peers; i++) {
        const char *peer = c->peers[i];
        char what[64];
        snprintf(what, sizeof what, "peer %s", peer);
        bench_progress_show(pg, what);
        if (!found)
            add_status_row(res, n_res, peer,
                           "unavailable: bench/peers/run_peer.sh not found (use --peers-dir)");
        else
            run_one(c, runner, peer, csv, res, n_res);
        bench_progress_step(pg, what);
    }
}
