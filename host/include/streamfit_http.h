/*
 * streamfit_http.h — a live view of a streaming run over HTTP: a page that
 * updates itself, its JSON (/api/status), the current model (/api/model),
 * a health check (/healthz) and Prometheus metrics (/metrics).
 *
 * The run's thread never waits for the server: on each batch and progress
 * tick it updates a board of its own and, a few times a second, copies it
 * into a published snapshot under a short lock; the server's threads read
 * only published snapshots. The server stays up after the run ends
 * (sf_http_run_ended), showing the final state, until sf_http_stop.
 *
 * Safe by default: 127.0.0.1 unless an address is given (any other address
 * is reported with a warning through the log callback); a token makes
 * every path require "Authorization: Bearer TOKEN" (401 otherwise); only GET
 * and HEAD (405 otherwise); no path reaches the file system (the page is
 * compiled into the library); a cap on connections. The command line shown
 * is the caller's: mask secrets in it first.
 *
 * Built on libmicrohttpd; without it (sf_http_available() false)
 * sf_http_start returns SF_ERR_UNSUPPORTED.
 *
 * Thread safety: sf_http_attach and sf_http_set_stream before the run;
 * sf_http_run_ended after it, on the run's thread; sf_http_stop once, after
 * the run. The server's own threads touch nothing of the stream.
 */
#ifndef STREAMFIT_HTTP_PUBLIC_H
#define STREAMFIT_HTTP_PUBLIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "streamfit.h"
#include "streamfit_stream.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sf_http_options {
    const char *listen;       /* "[ADDR:]PORT"; ADDR 127.0.0.1 by default; PORT 0: a free one */
    const char *token;        /* non-NULL, non-empty: required as a Bearer token */
    unsigned max_connections; /* default 32 */
    const char *command_line; /* shown on the page; secrets masked by the caller */
    sf_log_fn log;            /* messages (the non-loopback warning); NULL: none */
    void *log_user;
} sf_http_options;

typedef struct sf_http sf_http;

/* This library was built with the HTTP server (libmicrohttpd). */
SF_API bool sf_http_available(void);
SF_API void sf_http_options_init(sf_http_options *o);

/* Listen and serve (the page says "starting" until a stream is attached). */
SF_API sf_status sf_http_start(const sf_http_options *o, sf_http **out, char *err, size_t errlen);
/* "http://ADDR:PORT/" with the port actually bound; owned by the server. */
SF_API const char *sf_http_url(const sf_http *h);
SF_API int sf_http_port(const sf_http *h);

/* Before sf_stream_create: hook the server into the options' callbacks
 * (on_batch, on_progress, on_bad_record, log). The callbacks already there
 * keep being called as before; on_progress at its own interval, though the
 * run is asked for progress twice a second. ctx: the stream's context (its
 * backend is shown). */
SF_API void sf_http_attach(sf_http *h, sf_stream_options *o, sf_context *ctx);
/* After sf_stream_create, before sf_stream_run: the stream whose model and
 * source are shown. */
SF_API void sf_http_set_stream(sf_http *h, sf_stream *s);
/* After sf_stream_run returned: the final state (finished, or failed with
 * the message); the stream may then be destroyed. */
SF_API void sf_http_run_ended(sf_http *h, sf_status st, const char *message);
/* Stop serving and free the server. NULL: nothing. */
SF_API void sf_http_stop(sf_http *h);

/* ---- streamfit dashboard: the same page for runs that are over ----
 *
 * A replay of a --metrics-out file (the live page, drawn once from the
 * file's lines), and `streamfit bench --format json` results side by side
 * (wall time per platform by phase, speed-up over Spark MLlib and
 * scikit-learn, quality; one group per machine). Served by the same server
 * (same defaults: loopback, token, GET/HEAD, no file system) or written to
 * a folder as static files that open from disk (the data as a script).
 *
 * A dashboard is read once and never changes: sf_dashboard_serve and
 * sf_dashboard_export may be called from any thread. The server keeps its
 * own copy: the dashboard may be destroyed once sf_dashboard_serve has
 * returned. */
typedef struct sf_dashboard sf_dashboard;

typedef struct sf_dashboard_options {
    const char *metrics;             /* a --metrics-out file to replay, or NULL */
    const char *const *bench;        /* `streamfit bench --format json` files */
    const char *const *bench_labels; /* NULL, or per file: its machine's label (NULL: from the
                                        file's "machine") */
    size_t n_bench;
    const char *command_line; /* shown on the replay page */
    sf_log_fn log;            /* malformed metrics lines, one message each; NULL: none */
    void *log_user;
} sf_dashboard_options;

typedef struct sf_dashboard_info {
    uint64_t metrics_lines;   /* metrics lines replayed */
    uint64_t malformed_lines; /* lines that were not metrics lines (skipped, counted) */
    uint64_t first_malformed; /* the first one's line number (1-based), 0: none */
    size_t points;            /* history points shown (at most 1200, evenly spaced) */
    bool downsampled;         /* fewer points than lines */
    size_t bench_files, bench_platforms;
} sf_dashboard_info;

SF_API void sf_dashboard_options_init(sf_dashboard_options *o);
/* Read the files. SF_ERR_IO: a file cannot be read; SF_ERR_PARSE: a file is
 * not JSON, not a bench result, or holds no metrics line; err says which
 * and why. Malformed metrics lines among good ones are not an error: the
 * caller decides (sf_dashboard_get_info). */
SF_API sf_status sf_dashboard_load(const sf_dashboard_options *o, sf_dashboard **out, char *err,
                                   size_t errlen);
SF_API void sf_dashboard_get_info(const sf_dashboard *d, sf_dashboard_info *info);
/* Serve the dashboard: "/" is the replay (or, with bench results only, the
 * comparison), /bench.html the comparison, /api/status the replay's status
 * JSON, /api/bench the results, /metrics and /healthz as for a live run.
 * Stop with sf_http_stop. */
SF_API sf_status sf_dashboard_serve(const sf_dashboard *d, const sf_http_options *o, sf_http **out,
                                    char *err, size_t errlen);
/* Write the page into dir (created if missing): index.html and the files
 * it loads, the data as scripts (status.js, bench-data.js), openable with
 * file://. With both, index.html is the replay and bench.html the
 * comparison. */
SF_API sf_status sf_dashboard_export(const sf_dashboard *d, const char *dir, char *err,
                                     size_t errlen);
/* NULL: nothing. */
SF_API void sf_dashboard_destroy(sf_dashboard *d);

#ifdef __cplusplus
}
#endif

#endif
