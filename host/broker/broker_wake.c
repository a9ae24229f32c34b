/*
 * broker_wake.c — the mock cluster's waker (see broker_wake.h): while a
 * control is pending past a short grace period, poke the cluster's thread
 * with a connection to one of its brokers, then again at growing intervals
 * until the control is answered.
 */
#ifdef STREAMFIT_HAVE_KAFKA

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "broker_wake.h"
#include "clock.h"

/* A control the cluster's thread saw is answered within microseconds; one
 * still pending after this long lost its signal. Later pokes back off, so
 * that a cluster with every broker down is not flooded with refused
 * connections for the second it sleeps. */
#define WAKE_GRACE_MS 1
#define WAKE_MAX_INTERVAL_MS 64
#define WAKE_CONNECT_MS 10 /* a loopback connect completes at once */
/* The lost signal needs a control sent while the thread that answered the
 * previous one has not finished its turn (it often has not even run again:
 * the answer woke the caller in its place). Waiting this long after an answer
 * before the next control lets it finish in nearly every case, which matters
 * while every broker is down and no poke can reach it. */
#define WAKE_PACE_NS 200000

struct sf_mock_waker {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned pending;    /* controls begun and not yet ended */
    unsigned long begun; /* controls begun so far: a new one restarts the grace */
    int64_t last_end_ns; /* when the last control was answered (monotonic) */
    bool stop;
    pthread_t thread;
    struct sockaddr_storage *brokers;
    socklen_t *lens;
    size_t nbrokers;
};

/* Connect to one broker and close: the broker's listening socket (polled by
 * the cluster's thread while the broker is up) turns readable. True when the
 * connection was made. */
static bool poke_one(const struct sockaddr_storage *addr, socklen_t len)
{
    int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    bool made = connect(fd, (const struct sockaddr *)addr, len) == 0;
    if (!made && errno == EINPROGRESS) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        made = poll(&pfd, 1, WAKE_CONNECT_MS) == 1 &&
               getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0;
    }
    close(fd);
    return made;
}

/* A broker that is down refuses; the first one up is enough. */
static void poke(const sf_mock_waker *w)
{
    for (size_t i = 0; i < w->nbrokers; i++)
        if (poke_one(&w->brokers[i], w->lens[i])) return;
}

static void deadline_in_ms(struct timespec *ts, int ms)
{
    int64_t ns = sf_clock_mono_ns() + (int64_t)ms * 1000000;
    ts->tv_sec = (time_t)(ns / 1000000000);
    ts->tv_nsec = (long)(ns % 1000000000);
}

static void *wake_loop(void *arg)
{
    sf_mock_waker *w = arg;
    unsigned long seen = 0;
    int interval = WAKE_GRACE_MS;
    pthread_mutex_lock(&w->lock);
    while (!w->stop) {
        if (!w->pending) {
            pthread_cond_wait(&w->cond, &w->lock);
            continue;
        }
        if (w->begun != seen) { /* a new control: start from the grace period */
            seen = w->begun;
            interval = WAKE_GRACE_MS;
        }
        struct timespec until;
        deadline_in_ms(&until, interval);
        int rc = pthread_cond_timedwait(&w->cond, &w->lock, &until);
        if (rc != ETIMEDOUT || w->stop || !w->pending) continue;
        pthread_mutex_unlock(&w->lock);
        poke(w);
        pthread_mutex_lock(&w->lock);
        interval = interval < WAKE_MAX_INTERVAL_MS ? 2 * interval : WAKE_MAX_INTERVAL_MS;
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* "HOST:PORT,..." into w->brokers. */
static bool parse_brokers(sf_mock_waker *w, const char *list)
{
    size_t n = 1;
    for (const char *p = list; *p; p++)
        n += *p == ',';
    w->brokers = calloc(n, sizeof *w->brokers);
    w->lens = calloc(n, sizeof *w->lens);
    if (!w->brokers || !w->lens) return false;
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        char host[256];
        if (len >= sizeof host) return false;
        memcpy(host, p, len);
        host[len] = '\0';
        p += len + (p[len] == ',');
        char *colon = strrchr(host, ':');
        if (!colon) return false;
        *colon = '\0';
        struct addrinfo hints = {.ai_family = AF_UNSPEC,
                                 .ai_socktype = SOCK_STREAM,
                                 .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV},
                        *ai = NULL;
        if (getaddrinfo(host, colon + 1, &hints, &ai) != 0 || !ai) return false;
        memcpy(&w->brokers[w->nbrokers], ai->ai_addr, ai->ai_addrlen);
        w->lens[w->nbrokers++] = ai->ai_addrlen;
        freeaddrinfo(ai);
    }
    return w->nbrokers > 0;
}

sf_status sf_mock_waker_start(const char *brokers, sf_mock_waker **out, char *err, size_t errlen)
{
    *out = NULL;
    sf_mock_waker *w = calloc(1, sizeof *w);
    if (!w) return SF_ERR_NO_MEMORY;
    if (!brokers || !parse_brokers(w, brokers)) {
        snprintf(err, errlen, "cannot parse the mock broker addresses '%s'",
                 brokers ? brokers : "");
        free(w->brokers);
        free(w->lens);
        free(w);
        return SF_ERR_IO;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* deadlines from sf_clock_mono_ns */
    pthread_cond_init(&w->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&w->lock, NULL);
    int e = pthread_create(&w->thread, NULL, wake_loop, w);
    if (e) {
        snprintf(err, errlen, "cannot start the mock cluster's waker thread: %s", strerror(e));
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->lock);
        free(w->brokers);
        free(w->lens);
        free(w);
        return SF_ERR_IO;
    }
    *out = w;
    return SF_OK;
}

void sf_mock_waker_begin(sf_mock_waker *w)
{
    if (!w) return;
    pthread_mutex_lock(&w->lock);
    int64_t pace_until = w->last_end_ns + WAKE_PACE_NS;
    pthread_mutex_unlock(&w->lock);
    if (sf_clock_mono_ns() < pace_until) sf_clock_sleep_until_ns(pace_until);
    pthread_mutex_lock(&w->lock);
    w->pending++;
    w->begun++;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

void sf_mock_waker_end(sf_mock_waker *w)
{
    if (!w) return;
    pthread_mutex_lock(&w->lock);
    w->pending--;
    w->last_end_ns = sf_clock_mono_ns();
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

void sf_mock_waker_stop(sf_mock_waker *w)
{
    if (!w) return;
    pthread_mutex_lock(&w->lock);
    w->stop = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w->brokers);
    free(w->lens);
    free(w);
}

#else
typedef int sf_broker_wake_absent; /* this build has no Kafka support */
#endif /* STREAMFIT_HAVE_KAFKA */
