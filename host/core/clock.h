/*
 * clock.h — the library's one clock helper. Durations, deadlines and
 * latencies use the monotonic clock (never steps with the wall clock);
 * timestamps meant for people and files use the wall clock.
 */
#ifndef STREAMFIT_CLOCK_H
#define STREAMFIT_CLOCK_H

#include <stdint.h>

int64_t sf_clock_mono_ns(void);
int64_t sf_clock_mono_us(void);
int64_t sf_clock_mono_ms(void);
double sf_clock_mono_s(void);

int64_t sf_clock_wall_ms(void); /* since the epoch */
int64_t sf_clock_wall_us(void); /* since the epoch (Kafka timestamps against the monotonic clock) */
double sf_clock_wall_s(void);   /* since the epoch, with fractions */

/* Sleeps that run their full length: a signal handled meanwhile does not cut
 * them short (a caller that must wake on a signal sleeps on its own). */
void sf_clock_sleep_ms(int64_t ms);
void sf_clock_sleep_until_ns(int64_t mono_ns); /* until sf_clock_mono_ns() reaches it */

#endif
