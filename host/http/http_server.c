/*
 * http_server.c — the HTTP side of streamfit_http.h on libmicrohttpd: binds
 * (loopback unless told), checks the token and the method, and answers the
 * fixed set of paths from the published snapshot or the compiled-in page;
 * for a dashboard (streamfit dashboard), from its fixed data. No path
 * reaches the file system. Runs on libmicrohttpd's thread.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "http_dashboard.h"
#include "http_internal.h"

#define DEFAULT_MAX_CONNECTIONS 32
#define CONNECTION_TIMEOUT_S 30

bool sf_http_available(void) { return true; }

void sf_http_options_init(sf_http_options *o)
{
    memset(o, 0, sizeof *o);
    o->listen = "0";
    o->max_connections = DEFAULT_MAX_CONNECTIONS;
}

static void say(const sf_http_options *o, sf_log_level level, const char *fmt, const char *a)
{
    if (!o->log) return;
    char msg[512];
    snprintf(msg, sizeof msg, fmt, a);
    o->log(o->log_user, level, msg);
}

/* ---- responses ---- */

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned code, const char *type,
                                 char *body, size_t len, enum MHD_ResponseMemoryMode mode,
                                 const char *allow)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE) free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                            "img-src 'self' data:; connect-src 'self'");
    if (allow) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    if (code == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"streamfit\"");
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_const(struct MHD_Connection *c, unsigned code, const char *text,
                                  const char *allow)
{
    return send_text(c, code, "text/plain; charset=utf-8", (char *)text, strlen(text),
                     MHD_RESPMEM_PERSISTENT, allow);
}

static enum MHD_Result send_owned(struct MHD_Connection *c, unsigned code, const char *type,
                                  char *body)
{
    if (!body) return send_const(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n", NULL);
    return send_text(c, code, type, body, strlen(body), MHD_RESPMEM_MUST_FREE, NULL);
}

/* ---- reading the published state ---- */

/* The snapshot copied under the lock (the only time the lock is held here). */
static sf_board_snapshot *copy_snapshot(sf_http *h, char **summary, sf_board_bad *bad,
                                        size_t *n_bad, uint64_t *bad_total, uint64_t *seen)
{
    sf_board_snapshot *s = malloc(sizeof *s);
    if (!s) return NULL;
    pthread_mutex_lock(&h->lock);
    *s = *h->pub;
    if (summary) *summary = h->model_summary ? strdup(h->model_summary) : NULL;
    if (bad) {
        *n_bad = h->n_bad;
        for (size_t i = 0; i < h->n_bad; i++)
            bad[i] = h->bad[(h->bad_head + i) % SF_BOARD_BAD];
        *bad_total = h->bad_total;
    }
    if (seen) *seen = h->model_rows_seen;
    pthread_mutex_unlock(&h->lock);
    return s;
}

static enum MHD_Result serve_status(sf_http *h, struct MHD_Connection *c)
{
    char *summary = NULL;
    sf_board_bad bad[SF_BOARD_BAD];
    size_t n_bad = 0;
    uint64_t bad_total = 0;
    sf_board_snapshot *s = copy_snapshot(h, &summary, bad, &n_bad, &bad_total, NULL);
    char *text = s ? sf_board_status_json(s, summary, bad, n_bad, bad_total) : NULL;
    free(s);
    free(summary);
    return send_owned(c, MHD_HTTP_OK, "application/json", text);
}

static enum MHD_Result serve_metrics(sf_http *h, struct MHD_Connection *c)
{
    uint64_t seen = 0;
    sf_board_snapshot *s = copy_snapshot(h, NULL, NULL, NULL, NULL, &seen);
    char *text = s ? sf_board_prometheus(s, seen) : NULL;
    free(s);
    return send_owned(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text);
}

static enum MHD_Result serve_model(sf_http *h, struct MHD_Connection *c)
{
    pthread_mutex_lock(&h->lock);
    bool dashboard = h->dashboard;
    char *text = h->model_file ? strdup(h->model_file) : NULL;
    bool have = h->model_file != NULL;
    pthread_mutex_unlock(&h->lock);
    if (dashboard) {
        free(text); /* NULL: a dashboard never publishes a model */
        return send_const(c, MHD_HTTP_NOT_FOUND, "a dashboard has no model\n", NULL);
    }
    if (!have)
        return send_const(c, MHD_HTTP_SERVICE_UNAVAILABLE, "no model yet (warming up)\n", NULL);
    return send_owned(c, MHD_HTTP_OK, "application/json", text);
}

static enum MHD_Result serve_health(sf_http *h, struct MHD_Connection *c)
{
    sf_board_snapshot *s = copy_snapshot(h, NULL, NULL, NULL, NULL, NULL);
    if (!s) return send_const(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n", NULL);
    char buf[700];
    unsigned code = MHD_HTTP_OK;
    if (s->state == SF_BOARD_FAILED) {
        code = MHD_HTTP_SERVICE_UNAVAILABLE;
        snprintf(buf, sizeof buf, "failed: %s\n", s->reason);
    } else if (s->source_down) {
        code = MHD_HTTP_SERVICE_UNAVAILABLE;
        snprintf(buf, sizeof buf, "source unreachable: %s\n", s->source);
    } else {
        snprintf(buf, sizeof buf, "ok: %s\n", sf_board_state_name(s->state));
    }
    free(s);
    return send_owned(c, code, "text/plain; charset=utf-8", strdup(buf));
}

/* ---- a dashboard (streamfit dashboard) ---- */

void sf_http_show_dashboard(sf_http *h, const sf_dashboard *d)
{
    char *bench = d->bench_json ? strdup(d->bench_json) : NULL;
    pthread_mutex_lock(&h->lock);
    h->dashboard = true;
    h->have_replay = d->replay != NULL;
    if (d->replay)
        *h->pub = d->replay->s;
    else
        h->pub->state = SF_BOARD_FINISHED; /* /healthz: results, nothing running */
    free(h->bench_json);
    h->bench_json = bench;
    pthread_mutex_unlock(&h->lock);
}

const sf_http_asset *sf_http_asset_find(const char *path)
{
    for (size_t i = 0; i < sf_http_n_assets; i++)
        if (strcmp(path, sf_http_assets[i].path) == 0) return &sf_http_assets[i];
    return NULL;
}

/* What a dashboard does not have: 404 with the reason; NULL: served.
 * *bench_home: bench results only, so "/" is the comparison. */
static const char *dashboard_lacks(sf_http *h, const char *url, const char **bench,
                                   bool *bench_home)
{
    pthread_mutex_lock(&h->lock);
    bool dashboard = h->dashboard, replay = h->have_replay;
    *bench = h->bench_json; /* set once, freed only by sf_http_stop */
    pthread_mutex_unlock(&h->lock);
    *bench_home = dashboard && !replay;
    if (strcmp(url, "/api/bench") == 0 && !*bench) return "no bench results here\n";
    if (!*bench_home) return NULL;
    if (strcmp(url, "/api/status") == 0 || strcmp(url, "/metrics") == 0)
        return "no metrics file in this dashboard (see /api/bench)\n";
    return NULL;
}

/* ---- the request ---- */

/* Constant-time comparison, so that the time taken says nothing of the token. */
static bool same_secret(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < la; i++)
        diff |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    return diff == 0;
}

static bool authorized(const sf_http *h, struct MHD_Connection *c)
{
    if (!h->token) return true;
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    return v && strncmp(v, "Bearer ", 7) == 0 && same_secret(v + 7, h->token);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    (void)version;
    (void)upload;
    (void)con_cls;
    sf_http *h = cls;
    if (*upload_size) *upload_size = 0; /* bodies are never read */
    if (!authorized(h, c)) return send_const(c, MHD_HTTP_UNAUTHORIZED, "unauthorized\n", NULL);
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return send_const(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n", "GET, HEAD");
    const char *bench = NULL;
    bool bench_home = false;
    const char *lacks = dashboard_lacks(h, url, &bench, &bench_home);
    if (lacks) return send_const(c, MHD_HTTP_NOT_FOUND, lacks, NULL);
    if (strcmp(url, "/api/bench") == 0)
        return send_text(c, MHD_HTTP_OK, "application/json", (char *)bench, strlen(bench),
                         MHD_RESPMEM_PERSISTENT, NULL);
    /* with bench results only, the comparison is the home page */
    if (bench_home && strcmp(url, "/") == 0) url = "/bench.html";
    if (strcmp(url, "/api/status") == 0) return serve_status(h, c);
    if (strcmp(url, "/metrics") == 0) return serve_metrics(h, c);
    if (strcmp(url, "/api/model") == 0) return serve_model(h, c);
    if (strcmp(url, "/healthz") == 0) return serve_health(h, c);
    const sf_http_asset *a = sf_http_asset_find(url);
    if (a)
        return send_text(c, MHD_HTTP_OK, a->content_type, (char *)a->data, a->len,
                         MHD_RESPMEM_PERSISTENT, NULL);
    return send_const(c, MHD_HTTP_NOT_FOUND, "not found\n", NULL);
}

/* ---- binding ---- */

typedef struct bind_addr {
    struct sockaddr_storage sa;
    bool v6, loopback;
    char host[64];
    int port;
} bind_addr;

/* "PORT", "ADDR:PORT" or "[V6ADDR]:PORT"; ADDR numeric or "localhost". */
static bool parse_listen(const char *listen, bind_addr *b)
{
    memset(b, 0, sizeof *b);
    char host[64] = "127.0.0.1";
    const char *port = listen;
    if (listen[0] == '[') {
        const char *end = strchr(listen, ']');
        if (!end || end[1] != ':' || (size_t)(end - listen - 1) >= sizeof host) return false;
        memcpy(host, listen + 1, (size_t)(end - listen - 1));
        host[end - listen - 1] = 0;
        port = end + 2;
    } else if (strrchr(listen, ':')) {
        const char *colon = strrchr(listen, ':');
        if ((size_t)(colon - listen) >= sizeof host) return false;
        memcpy(host, listen, (size_t)(colon - listen));
        host[colon - listen] = 0;
        port = colon + 1;
    }
    char *end = NULL;
    long p = strtol(port, &end, 10);
    if (!*port || *end || p < 0 || p > 65535) return false;
    b->port = (int)p;
    if (strcmp(host, "localhost") == 0) snprintf(host, sizeof host, "127.0.0.1");
    struct sockaddr_in *a4 = (struct sockaddr_in *)&b->sa;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&b->sa;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)p);
        b->loopback = (ntohl(a4->sin_addr.s_addr) >> 24) == 127;
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)p);
        b->v6 = true;
        b->loopback = IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr);
    } else {
        return false;
    }
    snprintf(b->host, sizeof b->host, "%s", host);
    return true;
}

static void free_server(sf_http *h)
{
    if (!h) return;
    sf_http_live_free(h);
    free(h->pub);
    free(h->model_file);
    free(h->model_summary);
    free(h->token);
    free(h->command_line);
    free(h->bench_json);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

sf_status sf_http_start(const sf_http_options *o, sf_http **out, char *err, size_t errlen)
{
    if (!o || !out) return SF_ERR_INVALID_ARGUMENT;
    *out = NULL;
    bind_addr b;
    if (!o->listen || !parse_listen(o->listen, &b)) {
        snprintf(err, errlen, "http: '%s' is not [ADDR:]PORT (a numeric address)",
                 o->listen ? o->listen : "");
        return SF_ERR_INVALID_ARGUMENT;
    }
    sf_http *h = calloc(1, sizeof *h);
    if (!h || pthread_mutex_init(&h->lock, NULL) != 0) {
        free(h);
        return SF_ERR_NO_MEMORY;
    }
    h->pub = calloc(1, sizeof *h->pub);
    h->token = o->token && o->token[0] ? strdup(o->token) : NULL;
    h->command_line = strdup(o->command_line ? o->command_line : "");
    if (!h->pub || !h->command_line || (o->token && o->token[0] && !h->token)) {
        free_server(h);
        return SF_ERR_NO_MEMORY;
    }
    h->log = o->log;
    h->log_user = o->log_user;
    sf_http_live_init(h);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
    if (b.v6) flags |= MHD_USE_IPv6;
    unsigned cap = o->max_connections ? o->max_connections : DEFAULT_MAX_CONNECTIONS;
    h->daemon = MHD_start_daemon(flags, (uint16_t)b.port, NULL, NULL, handle, h,
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&b.sa,
                                 MHD_OPTION_CONNECTION_LIMIT, cap, MHD_OPTION_CONNECTION_TIMEOUT,
                                 (unsigned)CONNECTION_TIMEOUT_S, MHD_OPTION_END);
    if (!h->daemon) {
        snprintf(err, errlen, "http: cannot listen on %s (address in use or not available)",
                 o->listen);
        free_server(h);
        return SF_ERR_IO;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : b.port;
    snprintf(h->url, sizeof h->url, b.v6 ? "http://[%s]:%d/" : "http://%s:%d/", b.host, h->port);
    if (!b.loopback)
        say(o, SF_LOG_WARN,
            "http: listening on %s, which is not a loopback address: anyone who can reach it "
            "sees the run (use --http-token to require a token)",
            h->url);
    *out = h;
    return SF_OK;
}

const char *sf_http_url(const sf_http *h) { return h ? h->url : ""; }
int sf_http_port(const sf_http *h) { return h ? h->port : -1; }

void sf_http_stop(sf_http *h)
{
    if (!h) return;
    if (h->daemon) MHD_stop_daemon(h->daemon);
    free_server(h);
}
