/*
 * http_dashboard.h — the pieces of `streamfit dashboard` (streamfit_http.h):
 * a metrics file replayed into a board (http_replay.c), bench results
 * gathered into one JSON (http_bench.c), the server showing them
 * (http_server.c) and the page written to a folder (http_export.c).
 */
#ifndef STREAMFIT_HTTP_DASHBOARD_H
#define STREAMFIT_HTTP_DASHBOARD_H

#include "http_board.h"
#include "streamfit_http.h"

struct sf_dashboard {
    sf_board *replay; /* NULL without --metrics */
    char *bench_json; /* NULL without --bench */
    sf_dashboard_info info;
};

/* A --metrics-out file into b (already sf_board_init'ed): every line feeds
 * the counters, at most SF_BOARD_HISTORY evenly spaced lines (the last
 * always) become the history; malformed lines are counted, the first ones
 * logged with their numbers. */
sf_status sf_replay_read(const char *path, sf_board *b, sf_log_fn log, void *log_user, char *err,
                         size_t errlen);

/* `streamfit bench --format json` files side by side: malloc'ed JSON text
 * (schema in host/http/README.md), or NULL with err set. */
char *sf_bench_collect(const char *const *paths, const char *const *labels, size_t n,
                       size_t *n_platforms, sf_status *st, char *err, size_t errlen);

/* http_server.c: serve a dashboard instead of a live run. */
void sf_http_show_dashboard(sf_http *h, const sf_dashboard *d);

/* The compiled-in file served at path, or NULL. */
const struct sf_http_asset *sf_http_asset_find(const char *path);

#endif
