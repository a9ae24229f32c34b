/*
 * broker_mock.c — the development broker behind `streamfit broker`: a
 * librdkafka mock cluster (real Kafka protocol, in memory) plus, when a fixed
 * port is asked for, a small TCP forwarder from 127.0.0.1:PORT to the first
 * mock broker, because the mock cluster only listens on ephemeral ports.
 * Clients bootstrap through the forwarder; the metadata then sends them to
 * the mock brokers' own ports on 127.0.0.1.
 *
 * The mock cluster keeps about 5 MiB per partition and silently drops older
 * data: it is for development and tests, never for production.
 */
#ifdef STREAMFIT_HAVE_KAFKA

#include <errno.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker_mock.h"
#include "broker_wake.h"

#define FWD_BUF (64 * 1024) /* bytes in flight per direction per connection */
#define FWD_MAX_CONNS 4096

typedef struct fwd_pipe {
    char buf[FWD_BUF];
    size_t off, len; /* pending bytes: buf[off, len) */
} fwd_pipe;

typedef struct fwd_conn {
    int client, server;
    fwd_pipe up, down; /* client → server, server → client */
    bool closing;      /* one side ended: flush what is pending, then close */
} fwd_conn;

struct sf_broker {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
    sf_mock_waker *waker; /* serves controls the cluster's thread would sleep on */
    int partitions;
    int replication;
    char *bootstrap;
    /* forwarder */
    int listen_fd;
    int wake[2];
    struct sockaddr_storage target;
    socklen_t target_len;
    pthread_t thread;
    bool thread_started;
    fwd_conn **conns;
    size_t nconns;
};

static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    (void)level;
    (void)fac;
    (void)buf;
}

static void set_nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* ---- forwarder ---- */

static void conn_close(sf_broker *b, size_t i)
{
    fwd_conn *c = b->conns[i];
    close(c->client);
    close(c->server);
    free(c);
    b->conns[i] = b->conns[--b->nconns];
}

static void accept_one(sf_broker *b)
{
    int cfd = accept4(b->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0) return;
    if (b->nconns == FWD_MAX_CONNS) {
        close(cfd);
        return;
    }
    int sfd = socket(b->target.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    /* A local connect completes at once; the socket turns non-blocking after. */
    if (sfd < 0 || connect(sfd, (struct sockaddr *)&b->target, b->target_len) != 0) {
        if (sfd >= 0) close(sfd);
        close(cfd);
        return;
    }
    set_nonblocking(sfd);
    int one = 1;
    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fwd_conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(sfd);
        close(cfd);
        return;
    }
    c->client = cfd;
    c->server = sfd;
    b->conns[b->nconns++] = c;
}

/* Move bytes from `from` into p, then on to `to` (both non-blocking).
 * False: the connection is broken. */
static bool pump(int from, int to, fwd_pipe *p, short rev_from, bool *closing)
{
    if ((rev_from & (POLLIN | POLLHUP | POLLERR)) && p->len < FWD_BUF && !*closing) {
        ssize_t n = recv(from, p->buf + p->len, FWD_BUF - p->len, 0);
        if (n > 0)
            p->len += (size_t)n;
        else if (n == 0 || (errno != EAGAIN && errno != EINTR))
            *closing = true;
    }
    if (p->off < p->len) {
        ssize_t n = send(to, p->buf + p->off, p->len - p->off, MSG_NOSIGNAL);
        if (n > 0)
            p->off += (size_t)n;
        else if (n < 0 && errno != EAGAIN && errno != EINTR)
            return false;
        if (p->off == p->len) p->off = p->len = 0;
    }
    return true;
}

static void *forward_loop(void *arg)
{
    sf_broker *b = arg;
    struct pollfd *pfd = malloc((2 + 2 * FWD_MAX_CONNS) * sizeof *pfd);
    if (!pfd) return NULL;
    for (;;) {
        pfd[0] = (struct pollfd){.fd = b->wake[0], .events = POLLIN};
        pfd[1] = (struct pollfd){.fd = b->listen_fd, .events = POLLIN};
        for (size_t i = 0; i < b->nconns; i++) {
            fwd_conn *c = b->conns[i];
            short ce = 0, se = 0;
            if (!c->closing && c->up.len < FWD_BUF) ce |= POLLIN;
            if (!c->closing && c->down.len < FWD_BUF) se |= POLLIN;
            if (c->up.off < c->up.len) se |= POLLOUT;
            if (c->down.off < c->down.len) ce |= POLLOUT;
            pfd[2 + 2 * i] = (struct pollfd){.fd = c->client, .events = ce};
            pfd[3 + 2 * i] = (struct pollfd){.fd = c->server, .events = se};
        }
        size_t polled = b->nconns;
        if (poll(pfd, 2 + 2 * polled, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (pfd[0].revents) break;
        /* Walk backwards: conn_close moves the last connection into the gap. */
        for (size_t k = polled; k-- > 0;) {
            fwd_conn *c = b->conns[k];
            short cr = pfd[2 + 2 * k].revents, sr = pfd[3 + 2 * k].revents;
            bool ok = pump(c->client, c->server, &c->up, cr, &c->closing) &&
                      pump(c->server, c->client, &c->down, sr, &c->closing);
            bool drained = c->up.off == c->up.len && c->down.off == c->down.len;
            if (!ok || (c->closing && drained) || ((cr | sr) & POLLNVAL)) conn_close(b, k);
        }
        if (pfd[1].revents & POLLIN) accept_one(b);
    }
    free(pfd);
    return NULL;
}

/* Resolve "HOST:PORT" (the first of a list) into b->target. */
static bool resolve_first(sf_broker *b, const char *list)
{
    char host[256];
    const char *end = strchr(list, ',');
    size_t len = end ? (size_t)(end - list) : strlen(list);
    if (len >= sizeof host) return false;
    memcpy(host, list, len);
    host[len] = '\0';
    char *colon = strrchr(host, ':');
    if (!colon) return false;
    *colon = '\0';
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0 || !ai) return false;
    memcpy(&b->target, ai->ai_addr, ai->ai_addrlen);
    b->target_len = ai->ai_addrlen;
    freeaddrinfo(ai);
    return true;
}

static sf_status start_forwarder(sf_broker *b, int port, char *err, size_t errlen)
{
    if (!resolve_first(b, rd_kafka_mock_cluster_bootstraps(b->mc))) {
        snprintf(err, errlen, "cannot resolve the mock broker address '%s'",
                 rd_kafka_mock_cluster_bootstraps(b->mc));
        return SF_ERR_IO;
    }
    b->conns = calloc(FWD_MAX_CONNS, sizeof *b->conns);
    if (!b->conns) return SF_ERR_NO_MEMORY;
    b->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (b->listen_fd < 0 ||
        setsockopt(b->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(b->listen_fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(b->listen_fd, 128) != 0) {
        snprintf(err, errlen, "cannot listen on 127.0.0.1:%d: %s", port, strerror(errno));
        return SF_ERR_IO;
    }
    if (pipe2(b->wake, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "cannot create a pipe: %s", strerror(errno));
        return SF_ERR_IO;
    }
    int e = pthread_create(&b->thread, NULL, forward_loop, b);
    if (e) {
        snprintf(err, errlen, "cannot start the forwarder thread: %s", strerror(e));
        return SF_ERR_IO;
    }
    b->thread_started = true;
    char buf[64];
    snprintf(buf, sizeof buf, "127.0.0.1:%d", port);
    b->bootstrap = strdup(buf);
    return b->bootstrap ? SF_OK : SF_ERR_NO_MEMORY;
}

/* ---- the broker ---- */

sf_status sf_broker_start(int port, int partitions, int brokers, sf_broker **out, char *err,
                          size_t errlen)
{
    if (err && errlen) err[0] = '\0';
    if (!out) return SF_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (port < 0 || port > 65535 || partitions < 1 || partitions > 100000 || brokers < 1 ||
        brokers > 64) {
        snprintf(err, errlen,
                 "invalid broker settings (port 0-65535, partitions 1-100000, brokers 1-64)");
        return SF_ERR_INVALID_ARGUMENT;
    }
    sf_broker *b = calloc(1, sizeof *b);
    if (!b) return SF_ERR_NO_MEMORY;
    b->listen_fd = b->wake[0] = b->wake[1] = -1;
    b->partitions = partitions;
    b->replication = brokers < 3 ? brokers : 3;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    char errstr[512];
    b->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!b->rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "kafka: cannot create the mock cluster's handle: %s", errstr);
        free(b);
        return SF_ERR_IO;
    }
    b->mc = rd_kafka_mock_cluster_new(b->rk, brokers);
    if (!b->mc) {
        snprintf(err, errlen, "kafka: cannot create the mock cluster");
        sf_broker_stop(b);
        return SF_ERR_IO;
    }
    sf_status st =
        sf_mock_waker_start(rd_kafka_mock_cluster_bootstraps(b->mc), &b->waker, err, errlen);
    if (st == SF_OK && port > 0) {
        st = start_forwarder(b, port, err, errlen);
    } else if (st == SF_OK && !(b->bootstrap = strdup(rd_kafka_mock_cluster_bootstraps(b->mc)))) {
        st = SF_ERR_NO_MEMORY;
    }
    if (st != SF_OK) {
        sf_broker_stop(b);
        return st;
    }
    *out = b;
    return SF_OK;
}

const char *sf_broker_bootstrap(const sf_broker *b) { return b ? b->bootstrap : ""; }

static bool valid_topic(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > 249 || strcmp(t, ".") == 0 || strcmp(t, "..") == 0) return false;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

sf_status sf_broker_create_topic(sf_broker *b, const char *topic, int partitions)
{
    if (!b || !topic || !valid_topic(topic) || partitions < 0 || partitions > 100000)
        return SF_ERR_INVALID_ARGUMENT;
    sf_broker_control_begin(b);
    rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(
        b->mc, topic, partitions ? partitions : b->partitions, b->replication);
    sf_broker_control_end(b);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) return SF_OK;
    if (e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS || e == RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION)
        return SF_ERR_INVALID_ARGUMENT;
    return SF_ERR_IO;
}

struct rd_kafka_mock_cluster_s *sf_broker_cluster(sf_broker *b) { return b ? b->mc : NULL; }

void sf_broker_control_begin(sf_broker *b)
{
    if (b) sf_mock_waker_begin(b->waker);
}

void sf_broker_control_end(sf_broker *b)
{
    if (b) sf_mock_waker_end(b->waker);
}

void sf_broker_stop(sf_broker *b)
{
    if (!b) return;
    if (b->thread_started) {
        ssize_t w;
        do
            w = write(b->wake[1], "x", 1);
        while (w < 0 && errno == EINTR);
        pthread_join(b->thread, NULL);
    }
    while (b->nconns)
        conn_close(b, b->nconns - 1);
    free(b->conns);
    if (b->listen_fd >= 0) close(b->listen_fd);
    if (b->wake[0] >= 0) close(b->wake[0]);
    if (b->wake[1] >= 0) close(b->wake[1]);
    if (b->mc) {
        sf_broker_control_begin(b); /* the shutdown is a control too */
        rd_kafka_mock_cluster_destroy(b->mc);
        sf_broker_control_end(b);
    }
    sf_mock_waker_stop(b->waker);
    if (b->rk) rd_kafka_destroy(b->rk);
    free(b->bootstrap);
    free(b);
}

#else
typedef int sf_broker_mock_absent; /* this build has no Kafka support */
#endif /* STREAMFIT_HAVE_KAFKA */
