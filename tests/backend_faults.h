/*
 * backend_faults.h — error paths of a backend, made to happen through its
 * fault points (backend.h) and checked the same way on every backend: the
 * CPU backend in test_staging, the CUDA backend in test_gpu_staging.
 */
#ifndef STREAMFIT_TEST_BACKEND_FAULTS_H
#define STREAMFIT_TEST_BACKEND_FAULTS_H

#include "backend.h"

/* ring_submit whose copy fails, with and without a kept batch: the submit
 * returns SF_ERR_DEVICE, hands out no batch, folds nothing, and the ring goes
 * on: its statistics equal those of a ring fed only the other slots (within
 * tol; 0 asks for bit-identical), float64 and float32 slots. */
void check_fault_ring_submit_copy(sf_backend *be, double tol);

/* An op whose results fail on their way back (after the device copies were
 * queued, where the backend queues any): batch_moments returns
 * SF_ERR_DEVICE; the next op returns the right results, bit-identical to
 * those before the fault (results of in-flight copies must not leak into
 * it), and the backend keeps working for other ops. */
void check_fault_fetch_results(sf_backend *be);

#endif
