/*
 * bench_mpi.c — the mpi:NxT platform of `streamfit bench`, launcher side:
 * `mpirun -np N` of this very binary in its rank mode (`streamfit bench
 * --mpi-worker FILE ...`, bench_mpi_rank.c), OMP_NUM_THREADS and
 * OPENBLAS_NUM_THREADS set to T and passed to every host. Rank 0 writes the
 * result (phases as the slowest rank's, hosts, MPI traffic) to FILE; the
 * launcher's own output goes to a log whose last line explains a failure.
 *
 * startup: the whole mpirun minus what the ranks timed (launch, MPI_Init,
 * context creation). Peak memory: the largest rank's, as wait4 reports the
 * largest resident set among the reaped descendants.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "bench_platform.h"
#include "clock.h"

bool bench_find_mpirun(char *path, size_t len)
{
    const char *dirs = getenv("PATH");
    if (!dirs || !*dirs) return false;
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", dirs);
    for (char *save = NULL, *d = strtok_r(buf, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        if (snprintf(path, len, "%s/mpirun", *d ? d : ".") >= (int)len) continue;
        struct stat sb;
        if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && access(path, X_OK) == 0) return true;
    }
    path[0] = 0;
    return false;
}

/* The argument vector of mpirun; strings live in `store`. */
typedef struct mpi_argv {
    char *v[40];
    int n;
    char store[8][64];
} mpi_argv;

static void push(mpi_argv *a, const char *s)
{
    if (a->n < (int)(sizeof a->v / sizeof a->v[0]) - 1) a->v[a->n++] = (char *)s;
    a->v[a->n] = NULL;
}

static void build_argv(const bench_config *c, const bench_platform *p, const char *mpirun,
                       const char *self, const char *result, mpi_argv *a)
{
    memset(a, 0, sizeof *a);
    push(a, mpirun);
    push(a, "--oversubscribe"); /* more ranks than cores is allowed: timed as it is */
    if (geteuid() == 0) push(a, "--allow-run-as-root");
    push(a, "--bind-to");
    push(a, "none"); /* a rank's T threads may use more than one core */
    push(a, "-x");
    push(a, "OMP_NUM_THREADS");
    push(a, "-x");
    push(a, "OPENBLAS_NUM_THREADS");
    snprintf(a->store[0], sizeof a->store[0], "%d", p->ranks);
    push(a, "-np");
    push(a, a->store[0]);
    push(a, self);
    push(a, "bench");
    push(a, "--mpi-worker");
    push(a, result);
    push(a, "--workload");
    push(a, sf_model_kind_name(c->model));
    push(a, "--input");
    push(a, c->input);
    if (!c->has_header) push(a, "--no-header");
    snprintf(a->store[1], sizeof a->store[1], "%.17g", c->holdout);
    push(a, "--holdout");
    push(a, a->store[1]);
    if (c->model != SF_MODEL_OLS) {
        snprintf(a->store[2], sizeof a->store[2], "%.17g", c->lambda);
        push(a, "--lambda");
        push(a, a->store[2]);
    }
    snprintf(a->store[3], sizeof a->store[3], "%d", c->repeat);
    push(a, "--repeat");
    push(a, a->store[3]);
    snprintf(a->store[4], sizeof a->store[4], "%zu", c->batch_rows);
    push(a, "--batch-rows");
    push(a, a->store[4]);
    push(a, "--platforms");
    push(a, p->name);
}

/* The last non-empty line of the launcher's log, for a failure message. */
static void last_line(const char *path, char *out, size_t len)
{
    out[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (line[0]) snprintf(out, len, "%.300s", line);
    }
    fclose(f);
}

/* Run mpirun with stdout and stderr to `log`; its exit status (-1: could
 * not start) and, through ru, the largest resident set of its tree. */
static int launch(const mpi_argv *a, const bench_platform *p, const char *log, struct rusage *ru,
                  char *why, size_t whylen)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, whylen, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        if (p->threads > 0) {
            char t[16];
            snprintf(t, sizeof t, "%d", p->threads);
            setenv("OMP_NUM_THREADS", t, 1);
            setenv("OPENBLAS_NUM_THREADS", t, 1);
        }
        execv(a->v[0], a->v);
        fprintf(stderr, "cannot run %s: %s\n", a->v[0], strerror(errno));
        _exit(127);
    }
    int status = 0;
    memset(ru, 0, sizeof *ru);
    while (wait4(pid, &status, 0, ru) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static bool read_result(const char *path, bench_result *r)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    bench_result keep = *r;
    bool ok = bench_receive_result(fd, r);
    close(fd);
    if (!ok) *r = keep;
    return ok;
}

/* The part of the run the ranks did not time: launch, MPI_Init, contexts. */
static double untimed(const bench_result *r, double total)
{
    double timed = 0;
    for (int k = 0; k < r->n_rep; k++)
        timed += r->t[k][BENCH_WALL] + r->t[k][BENCH_PREDICT];
    return total > timed ? total - timed : 0;
}

void bench_mpi_run(const bench_config *c, const bench_platform *p, bench_progress *pg,
                   bench_result *r)
{
    (void)pg; /* the ranks draw nothing: their repeats are counted when they end */
    char mpirun[1024], self[1024], dir[512], result[600], log[600], why[400] = "";
    if (!bench_find_mpirun(mpirun, sizeof mpirun)) {
        snprintf(r->status, sizeof r->status, "unavailable: mpirun not found on PATH");
        return;
    }
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        snprintf(r->status, sizeof r->status, "failed: cannot find this program's path");
        return;
    }
    self[n] = 0;
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/streamfit-mpi-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        snprintf(r->status, sizeof r->status, "failed: cannot make a temporary directory: %s",
                 strerror(errno));
        return;
    }
    snprintf(result, sizeof result, "%s/result", dir);
    snprintf(log, sizeof log, "%s/mpirun.log", dir);
    mpi_argv a;
    build_argv(c, p, mpirun, self, result, &a);
    struct rusage ru;
    double t0 = sf_clock_mono_s();
    int rc = launch(&a, p, log, &ru, why, sizeof why);
    double total = sf_clock_mono_s() - t0;
    bool got = rc >= 0 && read_result(result, r);
    if (got && bench_result_ok(r) && rc != 0)
        snprintf(r->status, sizeof r->status, "failed: mpirun exited with status %d", rc);
    if (!got) {
        last_line(log, why + strlen(why), sizeof why - strlen(why));
        snprintf(r->status, sizeof r->status, "failed: mpirun exited with status %d%s%s", rc,
                 why[0] ? ": " : "", why);
    }
    if (got) r->startup_s = untimed(r, total);
    r->peak_mib = (double)ru.ru_maxrss / 1024.0;
    unlink(result);
    unlink(log);
    rmdir(dir);
}
