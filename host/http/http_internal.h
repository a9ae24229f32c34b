/*
 * http_internal.h — the server handle (streamfit_http.h) shared by
 * http_server.c (the HTTP side: threads of libmicrohttpd) and http_live.c
 * (the run's side: callbacks that keep the board and publish it).
 *
 * What crosses between them is under `lock`, held only to copy: the
 * published snapshot, the model texts, bad records and warnings.
 */
#ifndef STREAMFIT_HTTP_INTERNAL_H
#define STREAMFIT_HTTP_INTERNAL_H

#include <pthread.h>

#include "http_board.h"
#include "streamfit_http.h"

#define SF_HTTP_PENDING_WARNINGS 8

/* One file of the page, compiled in (http_assets.c, generated from web/). */
typedef struct sf_http_asset {
    const char *path; /* "/", "/app.js", ... */
    const char *content_type;
    const unsigned char *data;
    size_t len;
} sf_http_asset;
extern const sf_http_asset sf_http_assets[];
extern const size_t sf_http_n_assets;

struct sf_http {
    struct MHD_Daemon *daemon;
    char url[160];
    int port;
    char *token;
    sf_log_fn log;
    void *log_user;
    char *command_line;

    /* ---- shared, under lock ---- */
    pthread_mutex_t lock;
    sf_board_snapshot *pub;
    char *model_file;    /* /api/model: the --model-out format */
    char *model_summary; /* the "model" part of /api/status */
    uint64_t model_rows_seen;
    sf_board_bad bad[SF_BOARD_BAD]; /* the last bad records, oldest at bad_head once full */
    size_t n_bad, bad_head;
    uint64_t bad_total;
    char warnings[SF_HTTP_PENDING_WARNINGS][240]; /* log lines waiting for the board */
    size_t n_warnings;
    /* a dashboard (sf_dashboard_serve): fixed data, set once before the URL is given */
    bool dashboard, have_replay;
    char *bench_json; /* /api/bench; NULL: none */

    /* ---- the run's thread ---- */
    sf_board board;
    sf_stream *stream;
    sf_context *ctx;
    void (*prev_on_batch)(void *, const sf_stream_batch_metrics *);
    void (*prev_on_progress)(void *, const sf_stream_progress *);
    void (*prev_on_bad_record)(void *, const char *, const char *);
    void *prev_user;
    sf_log_fn prev_log;
    void *prev_log_user;
    int64_t prev_progress_every_ms;
    double prev_progress_at; /* when the previous on_progress last ran */
    double last_publish, last_model_publish;
};

/* http_live.c: the first publish (state "starting") before serving. */
void sf_http_live_init(sf_http *h);
void sf_http_live_free(sf_http *h);

#endif
