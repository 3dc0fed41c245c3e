/* Latency samples, percentiles and the monotonic clock shared by the benchmark tools.
 *
 * For: turning per-operation durations into p50/p99 and medians. Not for: anything the
 * server links; this lives in bench/ only.
 */
#ifndef NRFPROV_BENCH_STATS_H
#define NRFPROV_BENCH_STATS_H

#include <stddef.h>
#include <stdint.h>

/* A growing array of durations in microseconds (capped; later samples are dropped). */
typedef struct {
  uint32_t *v;
  size_t n, cap;
  size_t dropped;
} stats_t;

/* Microseconds on CLOCK_MONOTONIC. */
uint64_t stats_now_us(void);
/* Record one duration; a full array counts the sample as dropped. */
void stats_add(stats_t *s, uint64_t us);
/* The p-th percentile (0..100) of the samples, 0 when there are none; sorts s in place. */
uint64_t stats_percentile(stats_t *s, double p);
/* Release the samples. */
void stats_free(stats_t *s);
/* The median of n doubles (sorted in place), 0 for n == 0. */
double stats_median(double *v, size_t n);

#endif
