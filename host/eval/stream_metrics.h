/*
 * stream_metrics.h — test-then-train quality, kept as the stream goes:
 * cumulative (since the start, restored across restarts) and over a sliding
 * window of the last N scored records; plus the per-batch metrics.
 * Cumulative AUC uses 1000 score bins per class (exact AUC needs every
 * score); window and batch AUC are exact, the window's kept up to date as
 * records enter and leave, or counted afresh after a batch of a fifth of the
 * window or more (auc_window.h).
 */
#ifndef STREAMFIT_STREAM_METRICS_H
#define STREAMFIT_STREAM_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "auc_window.h"
#include "streamfit.h"

#define SF_AUC_BINS 1000

typedef struct sf_stream_metrics {
    size_t K; /* classes (0: regression) */
    size_t window;
    /* cumulative, regression */
    double n, mean_y, m2_y, sse, sae;
    /* cumulative, classification */
    double correct, log_loss;
    double *tp, *pred_count, *true_count; /* K each */
    double *auc_pos, *auc_neg;            /* SF_AUC_BINS each (binary) */
    /* window ring: y (class index or value) and the K probabilities or the prediction */
    double *ring_y, *ring_p;
    size_t ring_head, ring_count;
    sf_auc_window auc_window; /* binary: the window's AUC */
} sf_stream_metrics;

sf_status sf_stream_metrics_init(sf_stream_metrics *m, size_t K, size_t window);
void sf_stream_metrics_free(sf_stream_metrics *m);

/* Score a batch: y are labels (class indices for classifiers), pred the
 * predictions (regression) and proba rows x K (classifiers). */
void sf_stream_metrics_add(sf_stream_metrics *m, const double *y, const double *pred,
                           const double *proba, size_t rows);

/* Write {"rmse":..,"mae":..,"r2":..} or {"accuracy":..,"log_loss":..,"auc":..,"f1":..}
 * for the cumulative metrics, the window, or a batch given as arrays. */
void sf_stream_metrics_write_cumulative(const sf_stream_metrics *m, FILE *f);
void sf_stream_metrics_write_window(const sf_stream_metrics *m, FILE *f);
void sf_stream_metrics_write_batch(size_t K, const double *y, const double *pred,
                                   const double *proba, size_t rows, FILE *f);
/* The headline number for a status line: cumulative rmse or accuracy. */
double sf_stream_metrics_headline(const sf_stream_metrics *m);
/* The same figure over the window, and over one batch given as arrays. */
double sf_stream_metrics_window_headline(const sf_stream_metrics *m);
double sf_stream_metrics_batch_headline(size_t K, const double *y, const double *pred,
                                        const double *proba, size_t rows);

/* Checkpoint form: bytes appended to / read from a buffer. */
sf_status sf_stream_metrics_save(const sf_stream_metrics *m, unsigned char **buf, size_t *len);
sf_status sf_stream_metrics_load(sf_stream_metrics *m, const unsigned char *buf, size_t len);

#endif
