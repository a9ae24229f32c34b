/*
 * stream_http.h — `streamfit stream --http`: the flags, the command line
 * shown on the page (secrets masked), and the server around the run
 * (streamfit_http.h).
 */
#ifndef STREAMFIT_CLI_STREAM_HTTP_H
#define STREAMFIT_CLI_STREAM_HTTP_H

#include <signal.h>
#include <stdbool.h>

#include "streamfit_http.h"

typedef struct stream_http_args {
    const char *listen; /* --http [ADDR:]PORT, NULL: no server */
    const char *token;  /* --http-token, or STREAMFIT_HTTP_TOKEN */
    long linger_s;      /* --http-linger: keep serving the final state this long */
    sf_http *server;
} stream_http_args;

/* "streamfit CMD ARGS..." as shown on a page: every -X value and the token
 * masked (KEY=***). */
void cli_masked_command_line(char *buf, size_t len, const char *cmd, int argc, char **argv);
/* --http, --http-token, --http-linger: SF_EXIT_OK, or a usage error's status. */
int stream_http_option(stream_http_args *h, const char *name, const char *arg);
/* Before sf_stream_create: start the server, print its URL, hook it into o. */
int stream_http_start(stream_http_args *h, sf_stream_options *o, sf_context *ctx, int argc,
                      char **argv);
/* After the run: show the final state, linger, stop. stop_requested: a
 * signal asks to leave now. */
void stream_http_finish(stream_http_args *h, sf_status st, const char *message,
                        volatile sig_atomic_t *stop_requested);

#endif
