/*
 * http_window.c — the window charts of the live page from the rows the
 * board keeps (http_board.h): regression, the last predicted/actual pairs
 * and the residuals' histogram; classification, the confusion matrix and
 * (two classes) the ROC curve. Run before each publish, a few times a
 * second at most, on the run's thread.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "http_board.h"

/* Row i of the window, oldest first. */
static size_t slot(const sf_board *b, size_t i)
{
    size_t cap = b->s.window && b->s.window < SF_BOARD_WINDOW ? b->s.window : SF_BOARD_WINDOW;
    return (b->win_head + cap - b->win_count + i) % cap;
}

static void summarize_regression(sf_board *b)
{
    sf_board_snapshot *s = &b->s;
    size_t n = b->win_count;
    size_t recent = n < SF_BOARD_RECENT ? n : SF_BOARD_RECENT;
    for (size_t i = 0; i < recent; i++) {
        size_t k = slot(b, n - recent + i);
        s->recent_actual[i] = b->win_y[k];
        s->recent_pred[i] = b->win_p[k];
    }
    s->n_recent = recent;
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        double r = b->win_y[i] - b->win_p[i];
        if (!isfinite(r)) continue;
        lo = r < lo ? r : lo;
        hi = r > hi ? r : hi;
    }
    memset(s->resid, 0, sizeof s->resid);
    if (!(hi >= lo)) {
        s->resid_lo = s->resid_hi = NAN;
        return;
    }
    if (hi == lo) hi = lo + 1;
    s->resid_lo = lo;
    s->resid_hi = hi;
    for (size_t i = 0; i < n; i++) {
        double r = b->win_y[i] - b->win_p[i];
        if (!isfinite(r)) continue;
        size_t bin = (size_t)((r - lo) / (hi - lo) * SF_BOARD_RESID_BINS);
        s->resid[bin < SF_BOARD_RESID_BINS ? bin : SF_BOARD_RESID_BINS - 1]++;
    }
}

typedef struct scored {
    double p;
    int pos;
} scored;

static int by_score_desc(const void *a, const void *b)
{
    double x = ((const scored *)a)->p, y = ((const scored *)b)->p;
    return (x < y) - (x > y);
}

/* ROC of class 1 against class 0, thinned to SF_BOARD_ROC points. */
static void summarize_roc(sf_board *b, scored *v)
{
    sf_board_snapshot *s = &b->s;
    size_t n = b->win_count, P = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = slot(b, i);
        v[i].p = b->win_p[k * 2 + 1];
        v[i].pos = b->win_y[k] == 1.0;
        P += (size_t)v[i].pos;
    }
    s->n_roc = 0;
    if (P == 0 || P == n) return;
    qsort(v, n, sizeof *v, by_score_desc);
    size_t N = n - P, tp = 0, fp = 0, next = 0;
    s->roc_fpr[s->n_roc] = 0;
    s->roc_tpr[s->n_roc++] = 0;
    for (size_t i = 0; i < n; i++) {
        tp += (size_t)v[i].pos;
        fp += (size_t)!v[i].pos;
        bool tie = i + 1 < n && v[i + 1].p == v[i].p;
        if (tie) continue;
        /* keep about SF_BOARD_ROC - 2 evenly spaced thresholds, and the end */
        if (i + 1 < n && i < next) continue;
        next = i + n / (SF_BOARD_ROC - 2) + 1;
        if (s->n_roc < SF_BOARD_ROC) {
            s->roc_fpr[s->n_roc] = (double)fp / (double)N;
            s->roc_tpr[s->n_roc++] = (double)tp / (double)P;
        }
    }
}

static void summarize_classes(sf_board *b)
{
    sf_board_snapshot *s = &b->s;
    size_t K = b->win_K, n = b->win_count;
    s->cm_classes = K <= SF_BOARD_CM_CLASSES ? K : 0;
    memset(s->cm, 0, sizeof s->cm);
    for (size_t i = 0; s->cm_classes && i < n; i++) {
        size_t k = slot(b, i), best = 0;
        const double *p = b->win_p + k * K;
        for (size_t c = 1; c < K; c++)
            if (p[c] > p[best]) best = c;
        size_t t = (size_t)b->win_y[k];
        if (t < K) s->cm[t * SF_BOARD_CM_CLASSES + best]++;
    }
    s->n_roc = 0;
    if (K != 2) return;
    scored *v = malloc(sizeof *v * (n + 1));
    if (!v) return;
    summarize_roc(b, v);
    free(v);
}

void sf_board_summarize_window(sf_board *b)
{
    b->s.window_rows = b->win_count;
    if (!b->win_y || b->win_count == 0) return;
    if (b->s.n_classes)
        summarize_classes(b);
    else
        summarize_regression(b);
}
