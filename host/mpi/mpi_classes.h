/*
 * mpi_classes.h — the classes of labels spread over the MPI ranks: the one
 * class-label policy (class_labels.h) applied to the union of every rank's
 * distinct values, so that every rank maps its labels alike. One rank, or a
 * build without MPI: the policy on the local labels.
 */
#ifndef STREAMFIT_MPI_CLASSES_H
#define STREAMFIT_MPI_CLASSES_H

#include <stddef.h>

#include "streamfit.h"

/* Collective. *classes (caller frees) sorted, *K their count, the same on
 * every rank; why holds one line when the policy refuses the labels. */
sf_status sf_mpi_class_labels(sf_model_kind model, const double *y, size_t n, double **classes,
                              size_t *K, char *why, size_t whylen);

#endif
