/*
 * bench.h — `streamfit bench`: what the pieces of the platform comparison
 * share. The command (cmd_bench.c) reads the options; bench_data.c makes or
 * reads the rows; bench_platform.c runs one platform in a child process and
 * times its phases (bench_mpi.c: the mpi:NxT platform under mpirun, whose
 * ranks run bench_mpi_rank.c; bench_measure.c: what they lean on);
 * bench_peers.c runs the peer libraries through bench/peers/run_peer.sh;
 * bench_report.c prints the table, JSON or CSV.
 *
 * Every platform and every peer reads the same CSV (--input, or the
 * generated rows written once), its parse timed as a phase of its own;
 * --in-memory adds rows timed from the generated rows already in memory.
 */
#ifndef STREAMFIT_BENCH_H
#define STREAMFIT_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "streamfit.h"

#define BENCH_MAX_REPEAT 100
#define BENCH_MAX_PLATFORMS 16
#define BENCH_MAX_PEERS 8

typedef enum bench_output { BENCH_OUT_TABLE, BENCH_OUT_JSON, BENCH_OUT_CSV } bench_output;

typedef enum bench_platform_kind {
    BENCH_CPU1, /* the CPU backend on one thread */
    BENCH_CPU,  /* the CPU backend on all cores */
    BENCH_CUDA, /* the CUDA backend */
    BENCH_MPI,  /* N MPI ranks (mpirun) x T threads, each parsing its part */
} bench_platform_kind;

typedef struct bench_platform {
    bench_platform_kind kind;
    int ranks;   /* BENCH_MPI: N */
    int threads; /* BENCH_MPI: T per rank (0: the host's cores shared by its ranks) */
    char name[32];
} bench_platform;

typedef struct bench_config {
    sf_model_kind model;
    size_t rows, d, K; /* generator: rows, features; K classes (0: least squares) */
    uint64_t seed;
    const char *input; /* CSV with the label first, or NULL: generate */
    bool has_header;
    double lambda;
    double holdout; /* fraction of rows (the last ones) kept for quality */
    int repeat;
    size_t batch_rows;
    bench_platform platforms[BENCH_MAX_PLATFORMS];
    size_t n_platforms;
    char peers[BENCH_MAX_PEERS][16];
    size_t n_peers;
    const char *peers_dir;
    bench_output format;
    const char *out;
    const char *machine;    /* --machine: the machine's label in JSON (streamfit dashboard) */
    bool in_memory;         /* --in-memory: also time the generated rows in memory */
    const char *mpi_worker; /* set in the ranks mpirun starts: where rank 0 writes */
} bench_config;

/* ---- rows ---- */

typedef struct bench_data {
    size_t n, d, K;         /* all rows, features, classes (0: regression) */
    size_t n_train, n_hold; /* the first n_train rows train, the rest are held out */
    double *X, *y;          /* n x d row-major; labels (class indices when K > 0) */
    uint64_t bad_rows;      /* input: records the parser skipped */
} bench_data;

/* Rows held out of n: floor(n * fraction), as the peers compute it. */
size_t bench_holdout_rows(size_t n, double fraction);
/* The seeded workload: features N(0,1) (on a 1e-5 grid, so that a CSV holds
 * them exactly), labels from a known model. */
sf_status bench_generate(const bench_config *c, bench_data *out);
/* Parse --input with `threads` threads and map class labels to indices. */
sf_status bench_load_input(const bench_config *c, int threads, bench_data *out, char *err,
                           size_t errlen);
void bench_data_free(bench_data *d);
/* Generated rows as a CSV with a header (y,x1..xd) for the peers. */
bool bench_write_csv(const bench_data *d, const char *path, char *err, size_t errlen);

/* ---- results ---- */

enum { BENCH_PARSE, BENCH_TRANSFER, BENCH_SOLVE, BENCH_PREDICT, BENCH_WALL, BENCH_PHASES };

typedef struct bench_result {
    char name[32];
    bool peer;
    char status[400]; /* "ok", "unavailable: why", "skipped: why", "failed: why" */
    char backend[16];
    char detail[200]; /* solver and iterations; a peer's library and estimator */
    int threads;      /* 0: not known */
    int procs;
    double generate_s; /* making the rows (not in wall) */
    double startup_s;  /* context creation; a peer's interpreter/JVM start (not in wall) */
    int n_rep;
    double t[BENCH_MAX_REPEAT][BENCH_PHASES];
    bool has_phase[BENCH_PHASES];
    double peak_mib; /* largest resident set of the process (tree) */
    bool has_quality;
    double q[2];   /* rmse, r2 (regression) or accuracy, log_loss */
    size_t n_coef; /* outputs x (d + 1): each row's coefficients, then its intercept */
    double *coef;  /* owned */
    /* mpi:NxT: the ranks' hosts and, for the last repeat's add + fit, the
     * bytes all ranks sent, rank 0's MPI calls, the most seconds one rank
     * spent inside MPI calls, the solver's iterations and the d^2 bound of
     * bytes one rank sends per iteration. */
    char hosts[160];
    bool has_mpi;
    uint64_t mpi_bytes, mpi_calls;
    double mpi_seconds;
    int mpi_iterations;
    double mpi_bound_bytes;
} bench_result;

bool bench_result_ok(const bench_result *r);
void bench_result_free(bench_result *r);

/* A progress bar on stderr (only when it is a terminal). */
typedef struct bench_progress {
    bool on;
    int done, total;
} bench_progress;
/* Draw the bar with a label; step: count one more unit done first. */
void bench_progress_show(const bench_progress *p, const char *what);
void bench_progress_step(bench_progress *p, const char *what);
void bench_progress_end(bench_progress *p);

/* Run one platform in a child process (its peak memory its own). */
void bench_run_platform(const bench_config *c, const bench_platform *p, bench_progress *pg,
                        bench_result *r);

/* Shape of the rows without keeping them in this process: generated, or
 * parsed in a child. Returns false with a message in err. */
bool bench_probe(const bench_config *c, bench_data *shape, char *err, size_t errlen);
/* Write the generated rows as a CSV, in a child process. */
bool bench_write_csv_child(const bench_config *c, const char *path, char *err, size_t errlen);

/* mpirun on PATH (Open MPI's flags are used); false when absent. */
bool bench_find_mpirun(char *path, size_t len);
/* The mpi:NxT platform: mpirun -np N of this binary in the rank mode. */
void bench_mpi_run(const bench_config *c, const bench_platform *p, bench_progress *pg,
                   bench_result *r);
/* One rank of mpi:NxT (c->mpi_worker set); returns the exit status. */
int bench_mpi_rank_main(const bench_config *c);

/* Run the peers on `csv`; appends results to res (grown with realloc). */
void bench_run_peers(const bench_config *c, const char *csv, bench_progress *pg, bench_result **res,
                     size_t *n_res);

/* ---- reports ---- */

typedef struct bench_run_info {
    const char *command_line;
    char date[32];
    double load_avg[3];
    const bench_data *shape;
} bench_run_info;

bool bench_report(const bench_config *c, const bench_run_info *info, bench_result *res,
                  size_t n_res, FILE *f);

/* ---- small helpers shared by the bench files ---- */

/* write/read all bytes (retrying on EINTR and short counts). */
bool bench_write_all(int fd, const void *buf, size_t len);
bool bench_read_all(int fd, void *buf, size_t len);
double bench_median(double *v, size_t n);

#endif
