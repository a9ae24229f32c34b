/*
 * mpi_stats.h — the least-squares statistics of all ranks combined: the
 * same pairwise merges one process applies batch after batch, applied along
 * sf_mpi_tree_merge's tree in rank order. Single-rank no-ops without MPI.
 */
#ifndef STREAMFIT_MPI_STATS_H
#define STREAMFIT_MPI_STATS_H

#include "internal.h"

/* m <- the merge of every rank's (n, mean, m2), on every rank (R, when kept,
 * is not touched: see sf_mpi_reduce_r). */
sf_status sf_mpi_reduce_moments(sf_backend *be, sf_moments *m);
/* R (p x p upper, column-major, every rank's rows centered and scaled
 * alike) <- the R factor of all ranks' rows stacked, on every rank. */
sf_status sf_mpi_reduce_r(sf_backend *be, size_t p, double *R);

#endif
