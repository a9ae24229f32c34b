/*
 * http_board.h — what the live page shows, as plain data: the board the
 * run's thread keeps up to date from metrics lines and callbacks, and the
 * snapshot of it that the server's threads read (copied under a short lock,
 * a few times a second).
 *
 * The board is fed by metrics lines (sf_board_add_line: the --metrics-out
 * format, so that a replay of a metrics file fills it the same way) plus
 * what only a live run has (the batch's rows, the model, bad records, the
 * source's partitions).
 */
#ifndef STREAMFIT_HTTP_BOARD_H
#define STREAMFIT_HTTP_BOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "streamfit_stream.h"

#define SF_BOARD_HISTORY 1200  /* points of the learning curve and the time series */
#define SF_BOARD_RECENT 200    /* regression: predicted vs actual pairs shown */
#define SF_BOARD_BAD 8         /* bad records: the last reasons kept */
#define SF_BOARD_EVENTS 40     /* refits, checkpoints, warnings */
#define SF_BOARD_PARTS 64      /* partitions shown */
#define SF_BOARD_RESID_BINS 30 /* residual histogram */
#define SF_BOARD_CM_CLASSES 16 /* confusion matrix up to this many classes */
#define SF_BOARD_ROC 101       /* ROC curve points */
#define SF_BOARD_WINDOW 5000   /* rows kept for the charts above (at most the metrics window) */

typedef enum sf_board_state {
    SF_BOARD_STARTING = 0,
    SF_BOARD_WARMING,
    SF_BOARD_RUNNING,
    SF_BOARD_FINISHED,
    SF_BOARD_FAILED,
} sf_board_state;

const char *sf_board_state_name(sf_board_state s);

/* Quality figures per scope: regression rmse, mae, r2; classification
 * accuracy, log_loss, auc, f1 (NaN: not known). */
#define SF_BOARD_Q 4
enum { SF_SCOPE_BATCH = 0, SF_SCOPE_WINDOW, SF_SCOPE_CUMULATIVE, SF_SCOPES };
const char *sf_board_quality_name(size_t n_classes, int i); /* NULL past the kind's names */
const char *sf_board_scope_name(int scope);

/* One point of the history: a batch (at most a few per second). */
typedef struct sf_board_point {
    double time; /* wall clock, seconds since the epoch */
    double batch, rows_total, rps, lag, latency_p50_ms, latency_p99_ms, batch_ms;
    double q[SF_SCOPES][SF_BOARD_Q];
    double online_loss, exact_loss; /* a refit here: both window log-losses */
} sf_board_point;

typedef struct sf_board_event {
    double time;
    char kind[16]; /* refit | checkpoint | model_saved | warning | error */
    char text[240];
} sf_board_event;

typedef struct sf_board_bad {
    double time;
    char where[96];
    char why[256];
} sf_board_bad;

/* The whole state of the page, fixed size (no pointers): copied as one. */
typedef struct sf_board_snapshot {
    /* the run */
    sf_board_state state;
    char reason[512];
    double started, updated; /* wall clock */
    bool live;               /* from a running process (false: a replay) */
    char version[32], backend[32], device[256];
    char command_line[4096];
    /* source, sinks, checkpoint */
    char source[512], topic[256], predictions[512], dead_letter[512], metrics_out[512],
        model_out[512], checkpoint_dir[512];
    bool source_down;
    size_t checkpoint_every, save_every, refit_every, window;
    uint64_t last_checkpoint_batch;
    double last_checkpoint_time;
    char model_kind[16];
    char model_version[64]; /* the last metrics line's model_version */
    size_t n_classes;
    /* counters */
    uint64_t rows_total, rows_skipped, rows_lost, rows_predicted, batches;
    uint64_t warmup_rows; /* target */
    double rps, rps_now;
    /* latency: last batch, whole run (p50/p99/max), Prometheus buckets */
    double latency_p50_ms, latency_p99_ms, run_p50_ms, run_p99_ms, run_max_ms;
    uint64_t e2e_counts[SF_STREAM_LATENCY_BUCKETS];
    double e2e_sum_s;
    uint64_t batch_counts[SF_STREAM_LATENCY_BUCKETS];
    double batch_sum_s;
    uint64_t batch_count;
    bool have_latency_sum; /* lines without latency_sum_ms: no _sum */
    /* partitions */
    size_t n_parts;
    sf_stream_partition parts[SF_BOARD_PARTS];
    /* events and history (rings: the oldest at head once full) */
    size_t n_events, events_head;
    sf_board_event events[SF_BOARD_EVENTS];
    size_t n_hist, hist_head;
    sf_board_point hist[SF_BOARD_HISTORY];
    sf_board_point last; /* the newest batch */
    bool have_last;
    /* the window's rows (live runs) */
    size_t window_rows;
    size_t n_recent;
    double recent_actual[SF_BOARD_RECENT], recent_pred[SF_BOARD_RECENT];
    double resid_lo, resid_hi;
    uint64_t resid[SF_BOARD_RESID_BINS];
    size_t cm_classes;
    uint64_t cm[SF_BOARD_CM_CLASSES * SF_BOARD_CM_CLASSES];
    size_t n_roc;
    double roc_fpr[SF_BOARD_ROC], roc_tpr[SF_BOARD_ROC];
    double classes[SF_BOARD_CM_CLASSES];
    /* a replay of a metrics file (streamfit dashboard; live false) */
    char replay_file[512];
    uint64_t replay_lines, replay_malformed; /* metrics lines read; lines that were not one */
    size_t n_replay_bad;
    uint64_t replay_bad_lines[SF_BOARD_BAD]; /* the first malformed lines' numbers */
    bool replay_downsampled;                 /* history: evenly spaced lines, the last kept */
} sf_board_snapshot;

/* The run's side: the snapshot being built, plus the rows behind the
 * window charts. */
typedef struct sf_board {
    sf_board_snapshot s;
    double *win_y, *win_p; /* ring of SF_BOARD_WINDOW rows: y and pred (or K probabilities) */
    size_t win_K, win_head, win_count;
    double last_point_time;
    double prev_rows, prev_time; /* for rps_now */
    bool own_history;            /* the caller picks the history's points (sf_board_add_point) */
} sf_board;

void sf_board_init(sf_board *b);
void sf_board_free(sf_board *b);
/* One metrics line (the --metrics-out JSON); false if it is not one. */
bool sf_board_add_line(sf_board *b, const char *json);
/* A point of the history (with own_history: a replay's evenly spaced lines). */
void sf_board_add_point(sf_board *b, const sf_board_point *p);
/* Live runs: the batch's rows, for the window charts. */
void sf_board_add_rows(sf_board *b, size_t n_classes, const double *y, const double *pred,
                       const double *proba, size_t rows);
/* Recompute the window charts from the rows (before a publish). */
void sf_board_summarize_window(sf_board *b);
void sf_board_event_add(sf_board *b, double time, const char *kind, const char *text);

/* Formatting a snapshot (the server's threads). Both return malloc'ed text.
 * model_summary: the model part of /api/status, JSON text or NULL. */
char *sf_board_status_json(const sf_board_snapshot *s, const char *model_summary,
                           const sf_board_bad *bad, size_t n_bad, uint64_t bad_total);
char *sf_board_prometheus(const sf_board_snapshot *s, uint64_t model_rows_seen);

#endif
