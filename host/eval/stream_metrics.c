/*
 * stream_metrics.c — incremental test-then-train metrics (see the header).
 */
#include "stream_metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "metrics.h"

static size_t ring_width(const sf_stream_metrics *m) { return m->K ? m->K : 1; }

sf_status sf_stream_metrics_init(sf_stream_metrics *m, size_t K, size_t window)
{
    memset(m, 0, sizeof *m);
    m->K = K;
    m->window = window;
    size_t w = K ? K : 1;
    m->ring_y = calloc(window + 1, sizeof(double));
    m->ring_p = calloc(window * w + 1, sizeof(double));
    if (K) {
        m->tp = calloc(3 * K, sizeof(double));
        m->auc_pos = calloc(2 * SF_AUC_BINS, sizeof(double));
    }
    bool auc_ok = K != 2 || sf_auc_window_init(&m->auc_window, window) == SF_OK;
    if (!m->ring_y || !m->ring_p || (K && (!m->tp || !m->auc_pos)) || !auc_ok) {
        sf_stream_metrics_free(m);
        return SF_ERR_NO_MEMORY;
    }
    if (K) {
        m->pred_count = m->tp + K;
        m->true_count = m->tp + 2 * K;
        m->auc_neg = m->auc_pos + SF_AUC_BINS;
    }
    return SF_OK;
}

void sf_stream_metrics_free(sf_stream_metrics *m)
{
    free(m->tp);
    free(m->auc_pos);
    free(m->ring_y);
    free(m->ring_p);
    sf_auc_window_free(&m->auc_window);
    memset(m, 0, sizeof *m);
}

static size_t argmax(const double *p, size_t K)
{
    size_t b = 0;
    for (size_t k = 1; k < K; k++)
        if (p[k] > p[b]) b = k;
    return b;
}

/* A binary window's AUC is counted afresh (one sort of the window) after a
 * batch of at least window / SF_AUC_RECOUNT_DIVISOR rows, and kept up to date
 * record by record after smaller ones. Four tree walks for each record that
 * enters and leaves cost about as much as sorting five records (treap walks
 * over a 10,000-record window miss the cache), so from a fifth of the window
 * on, one sort is cheaper; the value is the same either way. */
#define SF_AUC_RECOUNT_DIVISOR 5

/* The window's trees refilled from the ring after a recount, so that
 * records can enter and leave one at a time again. */
static void refill_auc_trees(sf_stream_metrics *m)
{
    sf_auc_window_clear(&m->auc_window);
    size_t start = (m->ring_head + m->window - m->ring_count) % m->window;
    for (size_t i = 0; i < m->ring_count; i++) {
        size_t r = (start + i) % m->window;
        sf_auc_window_add(&m->auc_window, m->ring_p[r * 2 + 1], m->ring_y[r] == 1);
    }
}

void sf_stream_metrics_add(sf_stream_metrics *m, const double *y, const double *pred,
                           const double *proba, size_t rows)
{
    size_t K = m->K, w = ring_width(m);
    bool auc_window = K == 2 && m->window;
    bool recount = auc_window && rows * SF_AUC_RECOUNT_DIVISOR >= m->window;
    if (auc_window && !recount && m->auc_window.counted_only) refill_auc_trees(m);
    for (size_t i = 0; i < rows; i++) {
        m->n += 1;
        if (!K) { /* Welford for the label's variance; errors summed */
            double dy = y[i] - m->mean_y;
            m->mean_y += dy / m->n;
            m->m2_y += dy * (y[i] - m->mean_y);
            double e = y[i] - pred[i];
            m->sse += e * e;
            m->sae += fabs(e);
        } else {
            const double *p = proba + i * K;
            size_t lab = (size_t)y[i], best = argmax(p, K);
            m->pred_count[best] += 1;
            m->true_count[lab] += 1;
            if (best == lab) {
                m->correct += 1;
                m->tp[best] += 1;
            }
            double pl = p[lab] > 1e-15 ? p[lab] : 1e-15;
            m->log_loss -= log(pl);
            if (K == 2) {
                size_t bin = (size_t)(p[1] * SF_AUC_BINS);
                if (bin >= SF_AUC_BINS) bin = SF_AUC_BINS - 1;
                (lab == 1 ? m->auc_pos : m->auc_neg)[bin] += 1;
            }
        }
        if (m->window) {
            if (K == 2 && !recount) {
                if (m->ring_count == m->window) /* the oldest leaves */
                    sf_auc_window_remove(&m->auc_window, m->ring_p[m->ring_head * 2 + 1],
                                         m->ring_y[m->ring_head] == 1);
                sf_auc_window_add(&m->auc_window, proba[i * 2 + 1], y[i] == 1);
            }
            m->ring_y[m->ring_head] = y[i];
            memcpy(m->ring_p + m->ring_head * w, K ? proba + i * K : pred + i, sizeof(double) * w);
            m->ring_head = (m->ring_head + 1) % m->window;
            if (m->ring_count < m->window) m->ring_count++;
        }
    }
    /* Every slot below ring_count holds a scored row (the ring fills from 0). */
    if (recount) sf_auc_window_recount(&m->auc_window, m->ring_p + 1, 2, m->ring_y, m->ring_count);
}

static double binned_auc(const double *pos, const double *neg)
{
    double np = 0, nn = 0, area = 0, neg_below = 0;
    for (size_t b = 0; b < SF_AUC_BINS; b++) {
        np += pos[b];
        nn += neg[b];
    }
    if (np == 0 || nn == 0) return NAN;
    for (size_t b = 0; b < SF_AUC_BINS; b++) { /* ties within a bin count half */
        area += pos[b] * (neg_below + 0.5 * neg[b]);
        neg_below += neg[b];
    }
    return area / (np * nn);
}

static void put_num(FILE *f, const char *key, double v, bool last)
{
    if (isfinite(v))
        fprintf(f, "\"%s\":%.10g%s", key, v, last ? "" : ",");
    else
        fprintf(f, "\"%s\":null%s", key, last ? "" : ",");
}

static double f1_of(const double *tp, const double *pc, const double *tc, size_t K)
{
    /* binary: F1 of class 1; multiclass: macro F1 */
    double sum = 0;
    size_t from = K == 2 ? 1 : 0;
    for (size_t k = from; k < K; k++) {
        double p = pc[k] > 0 ? tp[k] / pc[k] : 0, r = tc[k] > 0 ? tp[k] / tc[k] : 0;
        sum += (p + r) > 0 ? 2 * p * r / (p + r) : 0;
    }
    return sum / (double)(K - from);
}

void sf_stream_metrics_write_cumulative(const sf_stream_metrics *m, FILE *f)
{
    fputc('{', f);
    put_num(f, "rows", m->n, false);
    if (!m->K) {
        put_num(f, "rmse", m->n ? sqrt(m->sse / m->n) : NAN, false);
        put_num(f, "mae", m->n ? m->sae / m->n : NAN, false);
        put_num(f, "r2", m->m2_y > 0 ? 1 - m->sse / m->m2_y : NAN, true);
    } else {
        put_num(f, "accuracy", m->n ? m->correct / m->n : NAN, false);
        put_num(f, "log_loss", m->n ? m->log_loss / m->n : NAN, false);
        put_num(f, "auc", m->K == 2 ? binned_auc(m->auc_pos, m->auc_neg) : NAN, false);
        put_num(f, "f1", m->n ? f1_of(m->tp, m->pred_count, m->true_count, m->K) : NAN, true);
    }
    fputc('}', f);
}

/* Metrics of rows given as arrays (a batch, or the window unrolled). */
static void write_arrays(size_t K, const double *y, const double *pred, const double *proba,
                         size_t rows, const sf_auc_window *auc, FILE *f)
{
    fputc('{', f);
    put_num(f, "rows", (double)rows, false);
    if (!K) {
        sf_regression_metrics r;
        sf_metrics_regression(y, pred, rows, &r);
        put_num(f, "rmse", r.rmse, false);
        put_num(f, "mae", r.mae, false);
        put_num(f, "r2", r.r2, true);
        fputc('}', f);
        return;
    }
    size_t *lab = malloc(sizeof(size_t) * (rows + 1));
    sf_classification_metrics c;
    if (!lab) {
        fputs("\"error\":\"out of memory\"}", f);
        return;
    }
    for (size_t i = 0; i < rows; i++)
        lab[i] = (size_t)y[i];
    sf_status st = auc ? sf_metrics_classification_without_auc(lab, proba, rows, K, &c)
                       : sf_metrics_classification(lab, proba, rows, K, &c);
    if (auc) c.auc = K == 2 ? sf_auc_window_value(auc) : NAN;
    if (st != SF_OK) {
        free(lab);
        fputs("\"error\":\"out of memory\"}", f);
        return;
    }
    put_num(f, "accuracy", c.accuracy, false);
    put_num(f, "log_loss", c.log_loss, false);
    put_num(f, "auc", c.auc, false);
    put_num(f, "f1", K == 2 ? c.per_class[1].f1 : c.macro_f1, true);
    fputc('}', f);
    sf_classification_metrics_free(&c);
    free(lab);
}

void sf_stream_metrics_write_batch(size_t K, const double *y, const double *pred,
                                   const double *proba, size_t rows, FILE *f)
{
    write_arrays(K, y, pred, proba, rows, NULL, f);
}

void sf_stream_metrics_write_window(const sf_stream_metrics *m, FILE *f)
{
    size_t w = ring_width(m), n = m->ring_count;
    double *y = malloc(sizeof(double) * (n + 1)), *p = malloc(sizeof(double) * (n * w + 1));
    if (!y || !p) {
        free(y);
        free(p);
        fputs("null", f);
        return;
    }
    size_t start = (m->ring_head + m->window - n) % (m->window ? m->window : 1);
    for (size_t i = 0; i < n; i++) { /* oldest first */
        size_t r = (start + i) % m->window;
        y[i] = m->ring_y[r];
        memcpy(p + i * w, m->ring_p + r * w, sizeof(double) * w);
    }
    write_arrays(m->K, y, m->K ? NULL : p, m->K ? p : NULL, n, m->K == 2 ? &m->auc_window : NULL,
                 f);
    free(y);
    free(p);
}

double sf_stream_metrics_headline(const sf_stream_metrics *m)
{
    if (m->n == 0) return NAN;
    return m->K ? m->correct / m->n : sqrt(m->sse / m->n);
}

/* Accuracy or rmse of n rows: p holds K probabilities a row (classifiers)
 * or the prediction (K = 0); row i is at p + i * stride. */
static double headline_of(size_t K, const double *y, const double *p, size_t n, size_t stride)
{
    if (n == 0) return NAN;
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        const double *pi = p + i * stride;
        if (K) {
            sum += (double)(argmax(pi, K) == (size_t)y[i]);
        } else {
            double e = y[i] - pi[0];
            sum += e * e;
        }
    }
    return K ? sum / (double)n : sqrt(sum / (double)n);
}

double sf_stream_metrics_window_headline(const sf_stream_metrics *m)
{
    /* Every slot below ring_count holds a scored row (the ring fills from 0). */
    return headline_of(m->K, m->ring_y, m->ring_p, m->ring_count, ring_width(m));
}

double sf_stream_metrics_batch_headline(size_t K, const double *y, const double *pred,
                                        const double *proba, size_t rows)
{
    return headline_of(K, y, K ? proba : pred, rows, K ? K : 1);
}

/* ---- checkpoint form ---- */

typedef sf_bytes blob;

static void put(blob *b, const void *src, size_t n) { sf_bytes_put(b, src, n); }

sf_status sf_stream_metrics_save(const sf_stream_metrics *m, unsigned char **buf, size_t *len)
{
    blob b = {0};
    size_t w = ring_width(m);
    uint64_t hdr[4] = {m->K, m->window, m->ring_head, m->ring_count};
    put(&b, hdr, sizeof hdr);
    double cum[7] = {m->n, m->mean_y, m->m2_y, m->sse, m->sae, m->correct, m->log_loss};
    put(&b, cum, sizeof cum);
    if (m->K) {
        put(&b, m->tp, 3 * m->K * sizeof(double));
        put(&b, m->auc_pos, 2 * SF_AUC_BINS * sizeof(double));
    }
    put(&b, m->ring_y, m->window * sizeof(double));
    put(&b, m->ring_p, m->window * w * sizeof(double));
    if (b.failed) {
        free(b.p);
        return SF_ERR_NO_MEMORY;
    }
    *buf = b.p;
    *len = b.len;
    return SF_OK;
}

sf_status sf_stream_metrics_load(sf_stream_metrics *m, const unsigned char *buf, size_t len)
{
    size_t w = ring_width(m);
    size_t need = 4 * sizeof(uint64_t) + 7 * sizeof(double) +
                  (m->K ? (3 * m->K + 2 * SF_AUC_BINS) * sizeof(double) : 0) +
                  m->window * (1 + w) * sizeof(double);
    uint64_t hdr[4];
    if (len != need) return SF_ERR_BAD_MODEL_FILE;
    memcpy(hdr, buf, sizeof hdr);
    if (hdr[0] != m->K || hdr[1] != m->window || hdr[3] > m->window ||
        (m->window && hdr[2] >= m->window))
        return SF_ERR_BAD_MODEL_FILE; /* a checkpoint of another configuration */
    const unsigned char *p = buf + sizeof hdr;
    double cum[7];
    memcpy(cum, p, sizeof cum);
    p += sizeof cum;
    m->n = cum[0];
    m->mean_y = cum[1];
    m->m2_y = cum[2];
    m->sse = cum[3];
    m->sae = cum[4];
    m->correct = cum[5];
    m->log_loss = cum[6];
    if (m->K) {
        memcpy(m->tp, p, 3 * m->K * sizeof(double));
        p += 3 * m->K * sizeof(double);
        memcpy(m->auc_pos, p, 2 * SF_AUC_BINS * sizeof(double));
        p += 2 * SF_AUC_BINS * sizeof(double);
    }
    memcpy(m->ring_y, p, m->window * sizeof(double));
    p += m->window * sizeof(double);
    memcpy(m->ring_p, p, m->window * w * sizeof(double));
    m->ring_head = hdr[2];
    m->ring_count = hdr[3];
    if (m->K == 2 && m->window) /* the window's AUC from the restored window */
        refill_auc_trees(m);
    return SF_OK;
}
