/*
 * bench_platform.h — what the platform runners of `streamfit bench` share
 * (bench_platform.c for one process, bench_mpi.c and bench_mpi_rank.c for
 * N MPI ranks):
 * contexts whose log is captured, fitting parameters, holdout quality,
 * coefficients (bench_measure.c), and running work in a child process.
 */
#ifndef STREAMFIT_BENCH_PLATFORM_H
#define STREAMFIT_BENCH_PLATFORM_H

#include "bench.h"

/* A context whose warnings and errors land in log_msg (256 bytes). */
sf_status bench_new_context(int threads, sf_device_kind device, char *log_msg, sf_context **ctx);
void bench_fit_params(const bench_config *c, sf_fit_params *p);
/* Predict the held-out rows (timed into *predict_s) and score them into r. */
sf_status bench_quality(sf_context *ctx, const sf_model *m, const bench_data *d, bench_result *r,
                        double *predict_s);
bool bench_keep_coefficients(sf_model *m, bench_result *r);
void bench_describe_fit(const sf_trainer *tr, bench_result *r);

/* Fork; the child runs work(arg, fd) and writes a bench_result to fd; the
 * parent reads it into r and records the child's peak memory. */
void bench_in_child(void (*work)(const void *arg, int fd), const void *arg, bench_result *r);

/* A result through a pipe or file: the fixed part, then the coefficients. */
bool bench_send_result(int fd, const bench_result *r);
bool bench_receive_result(int fd, bench_result *r);

#endif
