/*
 * stream_http.c — `streamfit stream --http [ADDR:]PORT`: starts the
 * library's HTTP server (streamfit_http.h) around the run, prints its URL,
 * and keeps it up after the run for --http-linger seconds (or until a
 * signal). The command line it shows has every -X value and the token
 * masked.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "stream_http.h"

#define MASK "***"

int stream_http_option(stream_http_args *h, const char *name, const char *arg)
{
    if (strcmp(name, "http") == 0) {
        h->listen = arg;
    } else if (strcmp(name, "http-token") == 0) {
        h->token = arg;
    } else if (strcmp(name, "http-linger") == 0) {
        long v;
        if (!cli_parse_long(arg, 0, 1L << 30, &v))
            return cli_usage_error("stream", "invalid value '%s' for --http-linger", arg);
        h->linger_s = v;
    }
    return SF_EXIT_OK;
}

/* "-X KEY=VALUE" and friends keep the key only; the token is masked. */
static bool secret_flag(const char *a)
{
    return strcmp(a, "-X") == 0 || strcmp(a, "--consumer-X") == 0 ||
           strcmp(a, "--producer-X") == 0 || strcmp(a, "--http-token") == 0;
}

static void append_masked(char *buf, size_t len, const char *arg, bool secret)
{
    size_t used = strlen(buf);
    if (used + 1 >= len) return;
    if (!secret) {
        snprintf(buf + used, len - used, " %s", arg);
        return;
    }
    const char *eq = strchr(arg, '=');
    if (eq)
        snprintf(buf + used, len - used, " %.*s=" MASK, (int)(eq - arg), arg);
    else
        snprintf(buf + used, len - used, " " MASK);
}

void cli_masked_command_line(char *buf, size_t len, const char *cmd, int argc, char **argv)
{
    snprintf(buf, len, "streamfit %s", cmd);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (secret_flag(a) && i + 1 < argc) {
            append_masked(buf, len, a, false);
            append_masked(buf, len, argv[++i], true);
        } else if (strncmp(a, "-X", 2) == 0 && a[2]) { /* -Xkey=value */
            append_masked(buf, len, "-X", false);
            append_masked(buf, len, a + 2, true);
        } else if (strncmp(a, "--consumer-X=", 13) == 0 || strncmp(a, "--producer-X=", 13) == 0 ||
                   strncmp(a, "--http-token=", 13) == 0) {
            append_masked(buf, len, a, true);
        } else {
            append_masked(buf, len, a, false);
        }
    }
}

static void server_log(void *user, sf_log_level level, const char *msg)
{
    (void)user;
    fprintf(stderr, "streamfit: %s%s\n", level <= SF_LOG_WARN ? "warning: " : "", msg);
}

int stream_http_start(stream_http_args *h, sf_stream_options *o, sf_context *ctx, int argc,
                      char **argv)
{
    if (!h->listen) return SF_EXIT_OK;
    const char *token = h->token ? h->token : getenv("STREAMFIT_HTTP_TOKEN");
    char cmd[4096];
    cli_masked_command_line(cmd, sizeof cmd, "stream", argc, argv);
    sf_http_options ho;
    sf_http_options_init(&ho);
    ho.listen = h->listen;
    ho.token = token;
    ho.command_line = cmd;
    ho.log = server_log;
    char err[512] = "";
    sf_status st = sf_http_start(&ho, &h->server, err, sizeof err);
    if (st != SF_OK) {
        cli_error("%s", err[0] ? err : sf_strerror(st));
        return SF_EXIT_FAILURE;
    }
    fprintf(stderr, "streamfit: live page on %s (/metrics, /api/status, /api/model, /healthz)%s\n",
            sf_http_url(h->server), token && token[0] ? "; token required" : "");
    sf_http_attach(h->server, o, ctx);
    return SF_EXIT_OK;
}

void stream_http_finish(stream_http_args *h, sf_status st, const char *message,
                        volatile sig_atomic_t *stop_requested)
{
    if (!h->server) return;
    sf_http_run_ended(h->server, st, message);
    if (h->linger_s > 0 && !*stop_requested) {
        fprintf(stderr, "streamfit: the page shows the final state on %s for %ld s (Ctrl-C ends)\n",
                sf_http_url(h->server), h->linger_s);
        for (long i = 0; i < h->linger_s * 10 && !*stop_requested; i++)
            nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = 100000000}, NULL);
    }
    sf_http_stop(h->server);
    h->server = NULL;
}
