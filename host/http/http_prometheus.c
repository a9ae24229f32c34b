/*
 * http_prometheus.c — /metrics: a board snapshot in the Prometheus text
 * exposition format (version 0.0.4), named by Prometheus' conventions:
 * counters end in _total, units in the name (_seconds, _records), classic
 * histograms with cumulative le buckets, _sum and _count.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_board.h"

static void head(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void value(FILE *f, double v)
{
    if (isnan(v))
        fputs("NaN", f);
    else if (isinf(v))
        fputs(v > 0 ? "+Inf" : "-Inf", f);
    else
        fprintf(f, "%.17g", v);
}

static void metric(FILE *f, const char *name, const char *type, const char *help, double v)
{
    head(f, name, type, help);
    fputs(name, f);
    fputc(' ', f);
    value(f, v);
    fputc('\n', f);
}

/* A label value with \, " and newline escaped. */
static void label_value(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            fprintf(f, "\\%c", *s);
        else if (*s == '\n')
            fputs("\\n", f);
        else
            fputc(*s, f);
    }
}

static void histogram(FILE *f, const char *name, const char *help, const uint64_t *counts,
                      double sum, bool have_sum)
{
    static const double edges_ms[] = SF_STREAM_LATENCY_EDGES_MS;
    head(f, name, "histogram", help);
    uint64_t cum = 0;
    for (int i = 0; i < SF_STREAM_LATENCY_BUCKETS; i++) {
        cum += counts[i];
        if (i + 1 < SF_STREAM_LATENCY_BUCKETS)
            fprintf(f, "%s_bucket{le=\"%g\"} %llu\n", name, edges_ms[i] / 1000,
                    (unsigned long long)cum);
        else
            fprintf(f, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
    }
    fprintf(f, "%s_sum ", name);
    value(f, have_sum ? sum : NAN);
    fprintf(f, "\n%s_count %llu\n", name, (unsigned long long)cum);
}

static void quality_gauges(FILE *f, const sf_board_snapshot *s)
{
    static const char *const scope_help[] = {"the last batch", "the sliding window",
                                             "the whole run"};
    for (int sc = 0; sc < SF_SCOPES; sc++) {
        for (int i = 0; i < SF_BOARD_Q; i++) {
            const char *q = sf_board_quality_name(s->n_classes, i);
            if (!q) continue;
            char name[96], help[160];
            snprintf(name, sizeof name, "streamfit_%s_%s", sf_board_scope_name(sc), q);
            snprintf(help, sizeof help, "Test-then-train %s over %s.", q, scope_help[sc]);
            metric(f, name, "gauge", help, s->have_last ? s->last.q[sc][i] : NAN);
        }
    }
}

static void lag_gauges(FILE *f, const sf_board_snapshot *s)
{
    if (!s->n_parts) return;
    head(f, "streamfit_consumer_lag_records", "gauge",
         "Records of the partition not yet read: high watermark minus the consumer's position.");
    for (size_t i = 0; i < s->n_parts; i++) {
        const sf_stream_partition *p = &s->parts[i];
        if (p->position < 0 || p->high_watermark < 0) continue;
        fputs("streamfit_consumer_lag_records{topic=\"", f);
        label_value(f, s->topic);
        fprintf(f, "\",partition=\"%d\"} %lld\n", (int)p->partition,
                (long long)(p->high_watermark > p->position ? p->high_watermark - p->position : 0));
    }
}

char *sf_board_prometheus(const sf_board_snapshot *s, uint64_t model_rows_seen)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return NULL;
    metric(f, "streamfit_records_consumed_total", "counter",
           "Records read from the source, the warm-up's included.", (double)s->rows_total);
    metric(f, "streamfit_records_predicted_total", "counter",
           "Records predicted and learned from after the warm-up.", (double)s->rows_predicted);
    metric(f, "streamfit_records_skipped_total", "counter", "Bad records skipped.",
           (double)s->rows_skipped);
    metric(f, "streamfit_records_lost_total", "counter",
           "Records deleted upstream before they were read.", (double)s->rows_lost);
    metric(f, "streamfit_records_dead_lettered_total", "counter",
           "Bad records written to the dead-letter sink.",
           s->dead_letter[0] ? (double)s->rows_skipped : 0.0);
    metric(f, "streamfit_batches_learned_total", "counter", "Micro-batches learned from.",
           (double)s->batches);
    histogram(f, "streamfit_end_to_end_latency_seconds",
              "Record timestamp (Kafka) or arrival to its prediction handed out.", s->e2e_counts,
              s->e2e_sum_s, s->have_latency_sum);
    histogram(f, "streamfit_batch_latency_seconds",
              "Micro-batch complete to its predictions handed out.", s->batch_counts,
              s->batch_sum_s, true);
    metric(f, "streamfit_throughput_records_per_second", "gauge",
           "Records per second since the run started.", s->rps);
    metric(f, "streamfit_model_batches_learned", "gauge",
           "Model version: micro-batches the current model has learned.", (double)s->batches);
    metric(f, "streamfit_model_records_seen", "gauge",
           "Model version: records the current model has seen.", (double)model_rows_seen);
    metric(f, "streamfit_warmup_rows", "gauge", "Rows of the exact warm-up fit (target).",
           (double)s->warmup_rows);
    quality_gauges(f, s);
    lag_gauges(f, s);
    metric(f, "streamfit_source_up", "gauge", "1 while the source's brokers are reachable.",
           s->source_down ? 0.0 : 1.0);
    head(f, "streamfit_run_state", "gauge", "1 for the run's current state.");
    for (int st = SF_BOARD_STARTING; st <= SF_BOARD_FAILED; st++)
        fprintf(f, "streamfit_run_state{state=\"%s\"} %d\n",
                sf_board_state_name((sf_board_state)st), (int)s->state == st);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}
