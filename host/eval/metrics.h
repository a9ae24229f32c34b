/*
 * metrics.h — quality metrics of predictions against labels: regression
 * (rmse, mae, r2) and classification (accuracy, log loss, binary AUC,
 * per-class precision / recall / F1).
 */
#ifndef STREAMFIT_METRICS_H
#define STREAMFIT_METRICS_H

#include <stddef.h>

#include "streamfit.h"

typedef struct sf_regression_metrics {
    size_t n;
    double rmse, mae, r2;
} sf_regression_metrics;

void sf_metrics_regression(const double *y, const double *pred, size_t n,
                           sf_regression_metrics *out);

typedef struct sf_class_metrics {
    double precision, recall, f1;
    size_t support;
} sf_class_metrics;

typedef struct sf_classification_metrics {
    size_t n, K;
    double accuracy, log_loss;
    double auc; /* binary only (NaN otherwise or when one class is absent) */
    double macro_f1;
    sf_class_metrics *per_class; /* K entries, owned */
} sf_classification_metrics;

/* label: class indices 0..K-1; proba: n x K probabilities. */
sf_status sf_metrics_classification(const size_t *label, const double *proba, size_t n, size_t K,
                                    sf_classification_metrics *out);
/* The same without the AUC (left NaN), for callers that keep it otherwise. */
sf_status sf_metrics_classification_without_auc(const size_t *label, const double *proba, size_t n,
                                                size_t K, sf_classification_metrics *out);
void sf_classification_metrics_free(sf_classification_metrics *m);

/* Area under the ROC curve of scores for the positive class (ties averaged;
 * a NaN score ranks below every other); NaN when a class is absent. */
double sf_binary_auc(const size_t *label, const double *score, size_t n);

#endif
