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

#ifdef __cplusplus
}
#endif

#endif
