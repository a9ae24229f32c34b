/*
 * http_off.c — streamfit_http.h in a build without libmicrohttpd: nothing
 * listens; sf_http_start and sf_dashboard_load say so.
 */
#include <stdio.h>
#include <string.h>

#include "streamfit_http.h"

bool sf_http_available(void) { return false; }

void sf_http_options_init(sf_http_options *o) { memset(o, 0, sizeof *o); }

sf_status sf_http_start(const sf_http_options *o, sf_http **out, char *err, size_t errlen)
{
    (void)o;
    if (out) *out = NULL;
    snprintf(err, errlen, "http: this build has no HTTP server (libmicrohttpd was not found)");
    return SF_ERR_UNSUPPORTED;
}

const char *sf_http_url(const sf_http *h)
{
    (void)h;
    return "";
}

int sf_http_port(const sf_http *h)
{
    (void)h;
    return -1;
}

void sf_http_attach(sf_http *h, sf_stream_options *o, sf_context *ctx)
{
    (void)h;
    (void)o;
    (void)ctx;
}

void sf_http_set_stream(sf_http *h, sf_stream *s)
{
    (void)h;
    (void)s;
}

void sf_http_run_ended(sf_http *h, sf_status st, const char *message)
{
    (void)h;
    (void)st;
    (void)message;
}

void sf_http_stop(sf_http *h) { (void)h; }

void sf_dashboard_options_init(sf_dashboard_options *o) { memset(o, 0, sizeof *o); }

sf_status sf_dashboard_load(const sf_dashboard_options *o, sf_dashboard **out, char *err,
                            size_t errlen)
{
    (void)o;
    if (out) *out = NULL;
    snprintf(err, errlen, "dashboard: this build has no HTTP server (libmicrohttpd was not found)");
    return SF_ERR_UNSUPPORTED;
}

void sf_dashboard_get_info(const sf_dashboard *d, sf_dashboard_info *info)
{
    (void)d;
    memset(info, 0, sizeof *info);
}

sf_status sf_dashboard_serve(const sf_dashboard *d, const sf_http_options *o, sf_http **out,
                             char *err, size_t errlen)
{
    (void)d;
    return sf_http_start(o, out, err, errlen);
}

sf_status sf_dashboard_export(const sf_dashboard *d, const char *dir, char *err, size_t errlen)
{
    (void)d;
    (void)dir;
    snprintf(err, errlen, "dashboard: this build has no HTTP server (libmicrohttpd was not found)");
    return SF_ERR_UNSUPPORTED;
}

void sf_dashboard_destroy(sf_dashboard *d) { (void)d; }
