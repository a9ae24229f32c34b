/*
 * cmd_bench.c — `streamfit bench`: the same fit on several platforms (one
 * CPU thread, all cores, the GPU, N MPI ranks x T threads) and, optionally,
 * on peer libraries (Spark, scikit-learn, Vowpal Wabbit), all reading the
 * same CSV, with each phase timed, peak memory, holdout quality and
 * coefficient agreement, reported as a table, JSON or CSV. This file reads
 * the options and runs the pieces in order (see bench.h); with the hidden
 * --mpi-worker it is one rank of an mpi:NxT platform (bench_mpi_rank.c).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "cli.h"
#include "sf_mpi.h"

static const char bench_help[] =
    "Usage: streamfit bench --workload W (--rows N --features D | --input FILE) [options]\n"
    "\n"
    "Fit the same model on several platforms and compare them: time per phase,\n"
    "rows/s, GB/s, peak memory, holdout quality and coefficient agreement.\n"
    "\n"
    "Workload:\n"
    "  --workload ols|ridge|logistic|softmax   what to fit (required; the streaming\n"
    "                        workload is measured by bench/run_stream_bench.sh)\n"
    "  --rows N              rows to generate: features N(0,1), labels from a known\n"
    "                        model (linear + noise, Bernoulli(sigmoid), or argmax of\n"
    "                        noisy scores)\n"
    "  --features D          features to generate\n"
    "  --classes K           softmax classes (default 3)\n"
    "  --seed S              generator seed (default 42)\n"
    "  --input FILE          read a CSV instead (label in the first column)\n"
    "  --no-header           the CSV has no header line\n"
    "  --lambda X            L2 strength (ridge default 1, logistic and softmax 0;\n"
    "                        not for ols)\n"
    "  --holdout F           fraction of rows, the last ones, held out for quality\n"
    "                        (default 0.2)\n"
    "\n"
    "Platforms:\n"
    "  --platforms LIST      comma-separated, in order (default cpu1,cpu,cuda):\n"
    "                        cpu1   the CPU backend on one thread\n"
    "                        cpu    the CPU backend on all cores\n"
    "                        cuda   the GPU (listed as unavailable without one)\n"
    "                        mpi:N  N MPI ranks (mpirun) sharing each host's cores\n"
    "                        mpi:NxT  N ranks x T threads each; every rank parses\n"
    "                               its part of the CSV, statistics (least\n"
    "                               squares) or each iteration's gradient and\n"
    "                               Hessian (logistic, softmax) summed across\n"
    "                               ranks; hosts and MPI traffic reported\n"
    "                        procsN deprecated: mpi:Nx1\n"
    "  --in-memory           also time cpu1, cpu and cuda on the generated rows\n"
    "                        already in memory (rows labelled '(in memory)')\n"
    "  --repeat R            repeats per platform (default 3); median and min-max\n"
    "  --batch-rows N        rows per micro-batch (default 65536)\n"
    "  --peers LIST          also run peers: spark, sklearn (adds sklearn-sgd), vw,\n"
    "                        via bench/peers/run_peer.sh (installs them on first use)\n"
    "  --peers-dir DIR       where run_peer.sh is (default: found from the binary)\n"
    "\n"
    "Output:\n"
    "  --format table|json|csv   (default table); JSON also names the machine, the\n"
    "                        build, the command line and the date\n"
    "  --out PATH            write there instead of stdout\n"
    "  --machine NAME        name this machine in JSON (\"machine\": {\"label\": NAME});\n"
    "                        streamfit dashboard --bench groups results by it\n"
    "\n"
    "Every platform and peer reads the same CSV: --input, or the generated rows\n"
    "written once to a temporary file. Each platform runs in its own process\n"
    "(peak memory is its own; mpi: the largest rank's). Phases: parse (reading\n"
    "the CSV), transfer (adding the batches: upload and reduce), solve, predict\n"
    "(the held-out rows). wall = parse + transfer + solve (in memory: transfer +\n"
    "solve; mpi: the slowest rank's); data generation and start-up (context;\n"
    "mpi: launch and MPI_Init) are reported apart. Speed-up and coefficient\n"
    "differences are against the first platform that ran. mpi platforms need\n"
    "Open MPI's mpirun on PATH. Exit status: 0 when every platform ran or was\n"
    "unavailable or skipped, 1 when one failed, 2 on bad usage.\n";

enum {
    OPT_WORKLOAD = 5000,
    OPT_ROWS,
    OPT_CLASSES,
    OPT_SEED,
    OPT_PLATFORMS,
    OPT_REPEAT,
    OPT_LAMBDA,
    OPT_HOLDOUT,
    OPT_BATCH_ROWS,
    OPT_OUTPUT_FORMAT,
    OPT_OUT,
    OPT_PEERS,
    OPT_PEERS_DIR,
    OPT_MACHINE,
    OPT_IN_MEMORY,
    OPT_MPI_WORKER,
    OPT_HELP,
};

static const char *cmd = "bench";

#define MPI_MAX_RANKS 1024
#define MPI_MAX_THREADS 1024

/* mpi:N or mpi:NxT (after "mpi:"). */
static bool parse_mpi(const char *s, bench_platform *p)
{
    char ranks[16];
    const char *x = strchr(s, 'x');
    size_t n = x ? (size_t)(x - s) : strlen(s);
    if (n >= sizeof ranks) return false;
    memcpy(ranks, s, n);
    ranks[n] = 0;
    long v;
    if (!cli_parse_long(ranks, 1, MPI_MAX_RANKS, &v)) return false;
    p->ranks = (int)v;
    if (x) {
        if (!cli_parse_long(x + 1, 1, MPI_MAX_THREADS, &v)) return false;
        p->threads = (int)v;
    }
    p->kind = BENCH_MPI;
    return true;
}

static bool parse_platform(const char *s, bench_platform *p)
{
    memset(p, 0, sizeof *p);
    long n;
    if (strcmp(s, "cpu1") == 0)
        p->kind = BENCH_CPU1;
    else if (strcmp(s, "cpu") == 0)
        p->kind = BENCH_CPU;
    else if (strcmp(s, "cuda") == 0)
        p->kind = BENCH_CUDA;
    else if (strncmp(s, "mpi:", 4) == 0)
        return parse_mpi(s + 4, p) && snprintf(p->name, sizeof p->name, "%s", s) > 0;
    else if (strncmp(s, "procs", 5) == 0 && cli_parse_long(s + 5, 1, MPI_MAX_RANKS, &n)) {
        fprintf(stderr, "streamfit bench: '%s' is deprecated: it runs as mpi:%ldx1\n", s, n);
        p->kind = BENCH_MPI;
        p->ranks = (int)n;
        p->threads = 1;
        snprintf(p->name, sizeof p->name, "mpi:%ldx1", n);
        return true;
    } else
        return false;
    snprintf(p->name, sizeof p->name, "%s", s);
    return true;
}

static int parse_platforms(bench_config *c, const char *arg)
{
    char buf[512];
    if (snprintf(buf, sizeof buf, "%s", arg) >= (int)sizeof buf)
        return cli_usage_error(cmd, "--platforms list too long");
    c->n_platforms = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (c->n_platforms == BENCH_MAX_PLATFORMS)
            return cli_usage_error(cmd, "at most %d platforms", BENCH_MAX_PLATFORMS);
        if (strncmp(t, "mpi:", 4) == 0 && !parse_platform(t, &c->platforms[c->n_platforms]))
            return cli_usage_error(cmd,
                                   "bad platform '%s': mpi:N or mpi:NxT, N ranks (1..%d) of T "
                                   "threads (1..%d)",
                                   t, MPI_MAX_RANKS, MPI_MAX_THREADS);
        if (!parse_platform(t, &c->platforms[c->n_platforms]))
            return cli_usage_error(cmd, "unknown platform '%s' (cpu1, cpu, cuda, mpi:N, mpi:NxT)",
                                   t);
        c->n_platforms++;
    }
    if (c->n_platforms == 0) return cli_usage_error(cmd, "--platforms needs at least one platform");
    return SF_EXIT_OK;
}

static int parse_peers(bench_config *c, const char *arg)
{
    char buf[256];
    if (snprintf(buf, sizeof buf, "%s", arg) >= (int)sizeof buf)
        return cli_usage_error(cmd, "--peers list too long");
    c->n_peers = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (strcmp(t, "spark") != 0 && strcmp(t, "sklearn") != 0 && strcmp(t, "vw") != 0)
            return cli_usage_error(cmd, "unknown peer '%s' (spark, sklearn, vw)", t);
        if (c->n_peers == BENCH_MAX_PEERS) return cli_usage_error(cmd, "too many peers");
        snprintf(c->peers[c->n_peers++], sizeof c->peers[0], "%s", t);
    }
    return SF_EXIT_OK;
}

typedef struct seen {
    bool workload, rows, features, classes, seed, lambda;
} seen;

static int parse_workload(bench_config *c, const char *arg)
{
    if (strcmp(arg, "stream") == 0)
        return cli_usage_error(cmd, "the streaming workload is not measured by 'streamfit bench': "
                                    "use bench/run_stream_bench.sh to measure streaming");
    if (!sf_model_kind_parse(arg, &c->model))
        return cli_usage_error(cmd, "unknown --workload '%s' (ols, ridge, logistic, softmax)", arg);
    return SF_EXIT_OK;
}

static int parse_option(bench_config *c, seen *s, int opt, const char *arg, char **argv)
{
    long v;
    switch (opt) {
    case OPT_WORKLOAD: s->workload = true; return parse_workload(c, arg);
    case OPT_ROWS:
        if (!cli_parse_long(arg, 1, 1L << 40, &v))
            return cli_usage_error(cmd, "--rows needs a positive integer, not '%s'", arg);
        c->rows = (size_t)v;
        s->rows = true;
        return SF_EXIT_OK;
    case OPT_FEATURES:
        if (!cli_parse_long(arg, 1, 100000, &v))
            return cli_usage_error(cmd, "--features needs an integer in 1..100000, not '%s'", arg);
        c->d = (size_t)v;
        s->features = true;
        return SF_EXIT_OK;
    case OPT_CLASSES:
        if (!cli_parse_long(arg, 2, 1000, &v))
            return cli_usage_error(cmd, "--classes needs an integer in 2..1000, not '%s'", arg);
        c->K = (size_t)v;
        s->classes = true;
        return SF_EXIT_OK;
    case OPT_SEED: {
        char *end;
        unsigned long long seed = strtoull(arg, &end, 10);
        if (!*arg || *end || arg[0] == '-')
            return cli_usage_error(cmd, "--seed needs a non-negative integer, not '%s'", arg);
        c->seed = seed;
        s->seed = true;
        return SF_EXIT_OK;
    }
    case OPT_INPUT: c->input = arg; return SF_EXIT_OK;
    case OPT_NO_HEADER: c->has_header = false; return SF_EXIT_OK;
    case OPT_PLATFORMS: return parse_platforms(c, arg);
    case OPT_REPEAT:
        if (!cli_parse_long(arg, 1, BENCH_MAX_REPEAT, &v))
            return cli_usage_error(cmd, "--repeat needs an integer in 1..%d, not '%s'",
                                   BENCH_MAX_REPEAT, arg);
        c->repeat = (int)v;
        return SF_EXIT_OK;
    case OPT_LAMBDA:
        if (!cli_parse_double(arg, &c->lambda) || c->lambda < 0)
            return cli_usage_error(cmd, "--lambda needs a number >= 0, not '%s'", arg);
        s->lambda = true;
        return SF_EXIT_OK;
    case OPT_HOLDOUT:
        if (!cli_parse_double(arg, &c->holdout) || c->holdout < 0 || c->holdout >= 1)
            return cli_usage_error(cmd, "--holdout needs a fraction in [0, 1), not '%s'", arg);
        return SF_EXIT_OK;
    case OPT_BATCH_ROWS:
        if (!cli_parse_long(arg, 1, 1L << 30, &v))
            return cli_usage_error(cmd, "--batch-rows needs a positive integer, not '%s'", arg);
        c->batch_rows = (size_t)v;
        return SF_EXIT_OK;
    case OPT_OUTPUT_FORMAT:
        if (strcmp(arg, "table") == 0)
            c->format = BENCH_OUT_TABLE;
        else if (strcmp(arg, "json") == 0)
            c->format = BENCH_OUT_JSON;
        else if (strcmp(arg, "csv") == 0)
            c->format = BENCH_OUT_CSV;
        else
            return cli_usage_error(cmd, "unknown --format '%s' (table, json, csv)", arg);
        return SF_EXIT_OK;
    case OPT_OUT: c->out = arg; return SF_EXIT_OK;
    case OPT_PEERS: return parse_peers(c, arg);
    case OPT_PEERS_DIR: c->peers_dir = arg; return SF_EXIT_OK;
    case OPT_MACHINE:
        if (!arg[0]) return cli_usage_error(cmd, "--machine needs a name");
        c->machine = arg;
        return SF_EXIT_OK;
    case OPT_IN_MEMORY: c->in_memory = true; return SF_EXIT_OK;
    case OPT_MPI_WORKER: c->mpi_worker = arg; return SF_EXIT_OK;
    default:
        if (optopt || opt == '?')
            return cli_usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
        return cli_usage_error(cmd, "bad option");
    }
}

/* The combinations that make sense, and the defaults that depend on them. */
static int check_args(bench_config *c, const seen *s)
{
    if (!s->workload) return cli_usage_error(cmd, "--workload is required");
    if (c->input) {
        if (s->rows || s->features || s->classes || s->seed)
            return cli_usage_error(cmd, "--rows, --features, --classes and --seed describe "
                                        "generated data, not --input");
    } else {
        if (!s->rows || !s->features)
            return cli_usage_error(cmd, "--rows and --features are required without --input");
        if (!c->has_header) return cli_usage_error(cmd, "--no-header applies to --input");
        size_t train = c->rows - bench_holdout_rows(c->rows, c->holdout);
        if (train < 2) return cli_usage_error(cmd, "too few rows left to train on");
    }
    if (c->in_memory && c->input)
        return cli_usage_error(cmd, "--in-memory applies to generated rows, not --input");
    if (c->mpi_worker && (!c->input || c->n_platforms != 1 || c->platforms[0].kind != BENCH_MPI))
        return cli_usage_error(cmd, "--mpi-worker is the rank mode of an mpi platform");
    if (!c->mpi_worker && sf_mpi_size() > 1)
        return cli_usage_error(cmd, "run 'streamfit bench' without mpirun: the mpi:N platforms "
                                    "start it");
    int mpi = 0;
    for (size_t i = 0; i < c->n_platforms; i++)
        mpi += c->platforms[i].kind == BENCH_MPI;
    char mpirun[1024];
    if (mpi && !c->mpi_worker && !sf_mpi_built())
        return cli_usage_error(cmd, "the mpi platforms need a streamfit built with MPI "
                                    "(STREAMFIT_MPI)");
    if (mpi && !c->mpi_worker && !bench_find_mpirun(mpirun, sizeof mpirun))
        return cli_usage_error(cmd, "the mpi platforms need mpirun on PATH (Open MPI: "
                                    "apt-get install openmpi-bin)");
    if (s->classes && c->model != SF_MODEL_SOFTMAX)
        return cli_usage_error(cmd, "--classes applies to softmax");
    if (c->model == SF_MODEL_OLS && s->lambda && c->lambda > 0)
        return cli_usage_error(cmd, "--lambda applies to ridge, logistic and softmax, not ols");
    if (!s->lambda) c->lambda = c->model == SF_MODEL_RIDGE ? 1.0 : 0.0;
    if (!c->input)
        c->K = c->model == SF_MODEL_SOFTMAX    ? (s->classes ? c->K : 3)
               : c->model == SF_MODEL_LOGISTIC ? 2
                                               : 0;
    return SF_EXIT_OK;
}

static int parse_bench_args(int argc, char **argv, bench_config *c)
{
    static const struct option longopts[] = {
        {"workload", required_argument, 0, OPT_WORKLOAD},
        {"rows", required_argument, 0, OPT_ROWS},
        {"features", required_argument, 0, OPT_FEATURES},
        {"classes", required_argument, 0, OPT_CLASSES},
        {"seed", required_argument, 0, OPT_SEED},
        {"input", required_argument, 0, OPT_INPUT},
        {"no-header", no_argument, 0, OPT_NO_HEADER},
        {"platforms", required_argument, 0, OPT_PLATFORMS},
        {"repeat", required_argument, 0, OPT_REPEAT},
        {"lambda", required_argument, 0, OPT_LAMBDA},
        {"holdout", required_argument, 0, OPT_HOLDOUT},
        {"batch-rows", required_argument, 0, OPT_BATCH_ROWS},
        {"format", required_argument, 0, OPT_OUTPUT_FORMAT},
        {"out", required_argument, 0, OPT_OUT},
        {"peers", required_argument, 0, OPT_PEERS},
        {"peers-dir", required_argument, 0, OPT_PEERS_DIR},
        {"machine", required_argument, 0, OPT_MACHINE},
        {"in-memory", no_argument, 0, OPT_IN_MEMORY},
        {"mpi-worker", required_argument, 0, OPT_MPI_WORKER},
        {"help", no_argument, 0, OPT_HELP},
        {0, 0, 0, 0},
    };
    seen s;
    memset(&s, 0, sizeof s);
    int opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (opt == 'h' || opt == OPT_HELP) {
            fputs(bench_help, stdout);
            return -1;
        }
        int rc = parse_option(c, &s, opt, optarg, argv);
        if (rc != SF_EXIT_OK) return rc;
    }
    if (optind < argc) return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    return check_args(c, &s);
}

static void default_config(bench_config *c)
{
    memset(c, 0, sizeof *c);
    c->seed = 42;
    c->has_header = true;
    c->holdout = 0.2;
    c->repeat = 3;
    c->batch_rows = 65536;
    c->format = BENCH_OUT_TABLE;
    parse_platform("cpu1", &c->platforms[0]);
    parse_platform("cpu", &c->platforms[1]);
    parse_platform("cuda", &c->platforms[2]);
    c->n_platforms = 3;
}

/* The exact command line, from /proc/self/cmdline (arguments quoted for a
 * shell where needed); argv as a fallback. */
static char *command_line(int argc, char **argv)
{
    char raw[16384];
    size_t n = 0;
    FILE *f = fopen("/proc/self/cmdline", "rb");
    if (f) {
        n = fread(raw, 1, sizeof raw - 1, f);
        fclose(f);
    }
    if (n == 0) { /* rebuild: streamfit bench ARGS */
        n = (size_t)snprintf(raw, sizeof raw, "streamfit") + 1;
        for (int i = 0; i < argc && n < sizeof raw - 1; i++) {
            int w = snprintf(raw + n, sizeof raw - n, "%s", argv[i]);
            if (w < 0 || (size_t)w >= sizeof raw - n) break;
            n += (size_t)w + 1;
        }
    }
    raw[n] = 0;
    char *out = malloc(4 * n + 16), *w = out;
    if (!out) return NULL;
    for (size_t i = 0; i < n;) {
        const char *arg = raw + i;
        size_t len = strlen(arg);
        bool quote = len == 0 || strpbrk(arg, " \t\n'\"\\$`*?[]{}()<>|&;#~!") != NULL;
        if (w != out) *w++ = ' ';
        if (quote) *w++ = '\'';
        for (const char *p = arg; *p; p++) {
            if (*p == '\'') {
                memcpy(w, "'\\''", 4);
                w += 4;
            } else {
                *w++ = *p;
            }
        }
        if (quote) *w++ = '\'';
        i += len + 1;
    }
    *w = 0;
    return out;
}

/* The CSV every platform and peer reads: --input itself, or the generated
 * rows written once in a temp dir. */
static bool data_csv(const bench_config *c, char *dir, size_t dlen, char *path, size_t plen)
{
    dir[0] = 0;
    if (c->input) {
        snprintf(path, plen, "%s", c->input);
        return true;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, dlen, "%s/streamfit-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        cli_error("cannot make a temporary directory for the CSV");
        dir[0] = 0;
        return false;
    }
    snprintf(path, plen, "%s/%s_%zux%zu.csv", dir, sf_model_kind_name(c->model), c->rows, c->d);
    char err[400];
    if (!bench_write_csv_child(c, path, err, sizeof err)) {
        cli_error("%s", err);
        unlink(path);
        return false;
    }
    return true;
}

/* Opened before the runs, so that a bad --out fails at once. */
static FILE *open_report(const bench_config *c)
{
    if (!c->out || strcmp(c->out, "-") == 0) return stdout;
    FILE *f = fopen(c->out, "we"); /* close-on-exec: the peers need not hold it */
    if (!f) cli_error("cannot write %s: %s", c->out, strerror(errno));
    return f;
}

static int write_report(const bench_config *c, const bench_run_info *info, bench_result *res,
                        size_t n, FILE *f)
{
    bool ok = bench_report(c, info, res, n, f);
    if (f != stdout)
        ok = fclose(f) == 0 && ok;
    else
        ok = fflush(f) == 0 && ok;
    if (!ok) {
        cli_error("cannot write the report%s%s", c->out ? " to " : "", c->out ? c->out : "");
        return SF_EXIT_FAILURE;
    }
    return SF_EXIT_OK;
}

/* --in-memory: the platforms that can also start from the generated rows. */
static size_t in_memory_runs(const bench_config *c)
{
    size_t k = 0;
    for (size_t i = 0; c->in_memory && i < c->n_platforms; i++)
        k += c->platforms[i].kind != BENCH_MPI;
    return k;
}

/* Every platform from the CSV, then (--in-memory) from the generated rows,
 * then the peers from the CSV. */
static void run_all(const bench_config *c, const char *csv, bench_progress *pg, bench_result **res,
                    size_t *n)
{
    *res = calloc(c->n_platforms + in_memory_runs(c) + 1, sizeof **res);
    *n = 0;
    if (!*res) return;
    bench_config from_csv = *c;
    from_csv.input = csv;
    for (size_t i = 0; i < c->n_platforms; i++)
        bench_run_platform(&from_csv, &c->platforms[i], pg, &(*res)[(*n)++]);
    for (size_t i = 0; c->in_memory && i < c->n_platforms; i++) {
        if (c->platforms[i].kind == BENCH_MPI) continue;
        bench_platform p = c->platforms[i];
        snprintf(p.name, sizeof p.name, "%.18s (in memory)", c->platforms[i].name);
        bench_run_platform(c, &p, pg, &(*res)[(*n)++]);
    }
    if (c->n_peers) bench_run_peers(c, csv, pg, res, n);
}

int cmd_bench(int argc, char **argv)
{
    bench_config c;
    default_config(&c);
    int rc = parse_bench_args(argc, argv, &c);
    if (rc != SF_EXIT_OK) return rc < 0 ? SF_EXIT_OK : rc;
    if (c.mpi_worker) return bench_mpi_rank_main(&c);
    bench_data shape;
    char err[512];
    if (!bench_probe(&c, &shape, err, sizeof err)) {
        cli_error("%s", err);
        return SF_EXIT_FAILURE;
    }
    if (c.input) c.K = shape.K;
    FILE *report = open_report(&c);
    if (!report) return SF_EXIT_FAILURE;
    bench_run_info info;
    memset(&info, 0, sizeof info);
    info.shape = &shape;
    if (getloadavg(info.load_avg, 3) != 3)
        info.load_avg[0] = info.load_avg[1] = info.load_avg[2] = NAN;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(info.date, sizeof info.date, "%Y-%m-%dT%H:%M:%SZ", &tm);
    char *cmdline = command_line(argc, argv);
    info.command_line = cmdline;
    char dir[512], csv[1024];
    if (!data_csv(&c, dir, sizeof dir, csv, sizeof csv)) {
        if (dir[0]) rmdir(dir);
        if (report != stdout) fclose(report);
        free(cmdline);
        return SF_EXIT_FAILURE;
    }
    bench_progress pg = {.on = isatty(STDERR_FILENO) != 0,
                         .total =
                             (int)(c.n_platforms + in_memory_runs(&c)) * c.repeat + (int)c.n_peers};
    bench_result *res = NULL;
    size_t n = 0;
    run_all(&c, csv, &pg, &res, &n);
    if (dir[0]) {
        unlink(csv);
        rmdir(dir);
    }
    bench_progress_end(&pg);
    if (res) {
        rc = write_report(&c, &info, res, n, report);
    } else {
        cli_error("out of memory");
        if (report != stdout) fclose(report);
        rc = SF_EXIT_FAILURE;
    }
    for (size_t i = 0; i < n; i++) {
        if (!res[i].peer && strncmp(res[i].status, "failed", 6) == 0) {
            cli_error("%s: %s", res[i].name, res[i].status);
            rc = SF_EXIT_FAILURE;
        }
        bench_result_free(&res[i]);
    }
    free(res);
    free(cmdline);
    return rc;
}
