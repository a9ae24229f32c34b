/*
 * metrics.c — the evaluator: quality metrics over a set of predictions.
 */
#include "metrics.h"

#include "auc_count.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void sf_metrics_regression(const double *y, const double *pred, size_t n,
                           sf_regression_metrics *out)
{
    memset(out, 0, sizeof *out);
    out->n = n;
    if (n == 0) {
        out->rmse = out->mae = out->r2 = NAN;
        return;
    }
    double mean = 0, sse = 0, sae = 0, sst = 0;
    for (size_t i = 0; i < n; i++)
        mean += y[i];
    mean /= (double)n;
    for (size_t i = 0; i < n; i++) {
        double e = y[i] - pred[i], c = y[i] - mean;
        sse += e * e;
        sae += fabs(e);
        sst += c * c;
    }
    out->rmse = sqrt(sse / (double)n);
    out->mae = sae / (double)n;
    out->r2 = sst > 0 ? 1.0 - sse / sst : (sse == 0 ? 1.0 : 0.0);
}

double sf_binary_auc(const size_t *label, const double *score, size_t n)
{
    double *keys = malloc(sizeof(double) * (n + 1));
    uint64_t *scratch = malloc(sizeof(uint64_t) * (2 * n + 1));
    if (!keys || !scratch) {
        free(keys);
        free(scratch);
        return NAN;
    }
    /* Positives' scores from the front, negatives' from the back; a NaN
     * score ranks below every other. */
    size_t pos = 0, neg = 0;
    for (size_t i = 0; i < n; i++) {
        double s = isnan(score[i]) ? -INFINITY : score[i];
        if (label[i] == 1)
            keys[pos++] = s;
        else
            keys[n - 1 - neg++] = s;
    }
    double pairs2 = pos && neg ? sf_auc_pairs2(keys, pos, keys + pos, neg, scratch) : NAN;
    free(keys);
    free(scratch);
    /* Mann-Whitney: the pairs ordered right, ties counted one half. */
    return 0.5 * pairs2 / ((double)pos * (double)neg);
}

static sf_status classification(const size_t *label, const double *proba, size_t n, size_t K,
                                bool with_auc, sf_classification_metrics *out)
{
    memset(out, 0, sizeof *out);
    out->n = n;
    out->K = K;
    out->auc = NAN;
    size_t *tp = calloc(3 * K, sizeof(size_t));
    out->per_class = calloc(K, sizeof(sf_class_metrics));
    if (!tp || !out->per_class) {
        free(tp);
        sf_classification_metrics_free(out);
        return SF_ERR_NO_MEMORY;
    }
    size_t *pred_count = tp + K, *true_count = pred_count + K, correct = 0;
    double ll = 0;
    for (size_t i = 0; i < n; i++) {
        const double *p = proba + i * K;
        size_t best = 0;
        for (size_t k = 1; k < K; k++)
            if (p[k] > p[best]) best = k;
        pred_count[best]++;
        true_count[label[i]]++;
        if (best == label[i]) {
            tp[best]++;
            correct++;
        }
        double pl = p[label[i]];
        ll -= log(pl > 1e-15 ? pl : 1e-15); /* clipped as scikit-learn does */
    }
    out->accuracy = n ? (double)correct / (double)n : NAN;
    out->log_loss = n ? ll / (double)n : NAN;
    double f1_sum = 0;
    for (size_t k = 0; k < K; k++) {
        sf_class_metrics *c = &out->per_class[k];
        c->support = true_count[k];
        c->precision = pred_count[k] ? (double)tp[k] / (double)pred_count[k] : 0.0;
        c->recall = true_count[k] ? (double)tp[k] / (double)true_count[k] : 0.0;
        double s = c->precision + c->recall;
        c->f1 = s > 0 ? 2 * c->precision * c->recall / s : 0.0;
        f1_sum += c->f1;
    }
    out->macro_f1 = K ? f1_sum / (double)K : NAN;
    free(tp);
    if (K == 2 && with_auc) {
        double *score = malloc(sizeof(double) * (n + 1));
        if (!score) return SF_ERR_NO_MEMORY;
        for (size_t i = 0; i < n; i++)
            score[i] = proba[i * 2 + 1];
        out->auc = sf_binary_auc(label, score, n);
        free(score);
    }
    return SF_OK;
}

sf_status sf_metrics_classification(const size_t *label, const double *proba, size_t n, size_t K,
                                    sf_classification_metrics *out)
{
    return classification(label, proba, n, K, true, out);
}

sf_status sf_metrics_classification_without_auc(const size_t *label, const double *proba, size_t n,
                                                size_t K, sf_classification_metrics *out)
{
    return classification(label, proba, n, K, false, out);
}

void sf_classification_metrics_free(sf_classification_metrics *m)
{
    free(m->per_class);
    m->per_class = NULL;
}
