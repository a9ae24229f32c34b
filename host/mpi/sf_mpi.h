/*
 * sf_mpi.h — the one door to MPI. Every call compiles to a single-rank no-op
 * in a build without MPI (STREAMFIT_MPI=OFF), and behaves as one rank when
 * the program was not started by an MPI launcher (mpirun, srun), so the same
 * binary runs alone or as one rank of many.
 *
 * Only the thread that called sf_mpi_init makes MPI calls (MPI_THREAD_FUNNELED):
 * OpenMP and BLAS threads stay inside a rank. Collective calls must be made by
 * every rank in the same order. Counters of the bytes each rank sent and the
 * time it spent inside MPI calls are kept for reports (sf_mpi_traffic).
 */
#ifndef STREAMFIT_MPI_H
#define STREAMFIT_MPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "streamfit.h"

/* Whether MPI is compiled in. */
bool sf_mpi_built(void);
/* The MPI library's name and version, first line ("" without MPI). */
void sf_mpi_library(char *buf, size_t len);
/* Whether the process runs under an MPI launcher (its environment says so). */
bool sf_mpi_launched(void);
/* Initialize MPI when launched (once; later calls do nothing). Without a
 * launcher or without MPI: one rank, SF_OK. Sets STREAMFIT_CUDA_DEVICE to the
 * local rank unless it is set: the CUDA backend takes GPU (local rank mod
 * device count). */
sf_status sf_mpi_init(int *argc, char ***argv);
/* Finalize MPI if sf_mpi_init initialized it. */
void sf_mpi_finalize(void);
/* Whether MPI is initialized with more than one rank. */
bool sf_mpi_active(void);
int sf_mpi_rank(void);
int sf_mpi_size(void);
/* Rank among the ranks on the same host (0 without MPI). */
int sf_mpi_local_rank(void);
/* How many ranks run on this rank's host (1 without MPI). */
int sf_mpi_local_size(void);
/* This rank's host name. */
void sf_mpi_host(char *buf, size_t len);

/* v[0..n) <- its sum over all ranks (in place), bit-identical on every rank. */
sf_status sf_mpi_allreduce_sum(double *v, size_t n);
/* v[0..n) <- its sum over all ranks, for counters. */
sf_status sf_mpi_allreduce_sum_u64(uint64_t *v, size_t n);
/* v <- its maximum over all ranks. */
sf_status sf_mpi_allreduce_max_u64(uint64_t *v);
/* v[0..n) <- its element-wise maximum over all ranks (times, say). */
sf_status sf_mpi_allreduce_max(double *v, size_t n);
/* The sum of v over the ranks below this one (0 on rank 0). */
sf_status sf_mpi_exscan_sum_u64(uint64_t v, uint64_t *before);
/* v[0..n) on every rank <- root's. */
sf_status sf_mpi_bcast(double *v, size_t n, int root);
/* Every rank's bytes to root (n each); out (size x n) filled on root only. */
sf_status sf_mpi_gather_bytes(const void *v, size_t n, void *out, int root);
/* Every rank's n bytes (n may differ by rank) to root, in rank order: on
 * root *out (malloc'd, the caller frees it) holds them one after another and
 * lens[0..size) their lengths; elsewhere *out is NULL and lens untouched. */
sf_status sf_mpi_gatherv_bytes(const void *v, size_t n, void **out, size_t *lens, int root);
sf_status sf_mpi_barrier(void);
/* Stop every rank of the job with `code` (MPI_Abort); exit(code) without MPI. */
void sf_mpi_abort(int code) __attribute__((noreturn));

/* Pairwise merge tree: each rank holds a packed record of n doubles; after
 * the call every rank holds merge(...merge(merge(r0, r1), r2)...) in rank
 * order (a binomial tree to rank 0, then a broadcast). merge(acc, b, user)
 * folds b into acc, where acc holds lower ranks' rows than b. */
typedef sf_status (*sf_mpi_merge_fn)(double *acc, const double *b, size_t n, void *user);
sf_status sf_mpi_tree_merge(double *rec, size_t n, sf_mpi_merge_fn merge, void *user);

/* Bytes this rank sent and seconds it spent inside MPI calls since start. */
typedef struct sf_mpi_traffic {
    uint64_t bytes_sent;
    uint64_t calls;
    double seconds;
} sf_mpi_traffic;
void sf_mpi_traffic_get(sf_mpi_traffic *t);

#endif
