/* The two clocks of the server: the wall clock, in milliseconds since the epoch (the
 * time unit of every stored stamp and of the journal), and the monotonic clock, in
 * microseconds (durations and deadlines, immune to clock steps). Header-only: they sit
 * on every request's path. Not a timer or a scheduler. */
#ifndef NRFPROV_CLOCK_H
#define NRFPROV_CLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* Milliseconds since the epoch (wall clock). */
static inline int64_t clock_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Microseconds on the monotonic clock (only differences mean anything). */
static inline int64_t clock_mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Format wall-clock ms as ISO 8601 UTC with milliseconds into buf (>= 25 bytes). */
static inline void clock_format_iso(int64_t ms, char *buf, size_t n) {
  time_t sec = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&sec, &tm);
  size_t k = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + k, n - k, ".%03dZ", (int)(ms % 1000));
}

#endif
