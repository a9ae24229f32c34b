/*
 * metrics.c — the evaluator: quality metrics over a set of predictions.
 */
#include "metrics.h"

#include <math.h>
#include <stdbool.h>
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

typedef struct scored {
    double score;
    size_t label;
} scored;

static int by_score(const void *a, const void *b)
{
    double x = ((const scored *)a)->score, y = ((const scored *)b)->score;
    return (x > y) - (x < y);
}

double sf_binary_auc(const size_t *label, const double *score, size_t n)
{
    scored *s = malloc(sizeof *s * (n + 1));
    if (!s) return NAN;
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        s[i].score = score[i];
        s[i].label = label[i];
        pos += label[i] == 1;
    }
    size_t neg = n - pos;
    if (pos == 0 || neg == 0) {
        free(s);
        return NAN;
    }
    qsort(s, n, sizeof *s, by_score);
    /* Mann-Whitney: sum of the positives' ranks, ties given their mean rank. */
    double rank_sum = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && s[j].score == s[i].score)
            j++;
        double mid = 0.5 * (double)(i + 1 + j);
        for (size_t k = i; k < j; k++)
            if (s[k].label == 1) rank_sum += mid;
        i = j;
    }
    free(s);
    return (rank_sum - 0.5 * (double)pos * (double)(pos + 1)) / ((double)pos * (double)neg);
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
