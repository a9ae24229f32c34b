/*
 * broker_wake.h — keeps librdkafka's mock cluster answering its controls
 * promptly (topic creation, broker down / up, round-trip time, leader moves,
 * shutdown: every rd_kafka_mock_* call that waits for the cluster's thread).
 *
 * Why: in librdkafka 2.0.2 (and later) the mock cluster's thread serves its
 * control queue and only then drains the pipe that signals it. A control sent
 * in that window, right after the previous one was answered, has its signal
 * drained with the old one, and the thread sleeps in poll() up to 1 s with the
 * control pending: `streamfit broker --topic` x100 took 14-36 s.
 *
 * The waker is a thread that, while a control has waited more than a
 * millisecond, opens and closes a TCP connection to a mock broker: any event
 * on its sockets ends the thread's poll, and the next turn of its loop serves
 * the queue. While every broker is down nothing it polls can be reached from
 * outside; for that case begin() also starts a control no sooner than 200 us
 * after the last answer, time for the thread to finish the turn that sent it,
 * which closes the window in nearly every case (a control that still loses
 * its signal then waits for the 1 s timeout).
 */
#ifndef STREAMFIT_BROKER_WAKE_H
#define STREAMFIT_BROKER_WAKE_H

#include <stddef.h>

#include "streamfit.h"

typedef struct sf_mock_waker sf_mock_waker;

/* `brokers`: the mock cluster's own addresses, "127.0.0.1:PORT[,...]". */
sf_status sf_mock_waker_start(const char *brokers, sf_mock_waker **out, char *err, size_t errlen);
/* Bracket each call of a mock control (thread-safe; calls may overlap). */
void sf_mock_waker_begin(sf_mock_waker *w);
void sf_mock_waker_end(sf_mock_waker *w);
/* Join the thread and free; stop(NULL) does nothing. */
void sf_mock_waker_stop(sf_mock_waker *w);

#endif
