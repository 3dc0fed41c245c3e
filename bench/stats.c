/* Latency samples and percentiles for the benchmark tools (see stats.h). Not for the
 * server: its metrics live in /_mock/metrics. */
#include "stats.h"

#include <stdlib.h>
#include <time.h>

/* 16 M samples (64 MiB) is more than any bounded run here produces; past it we drop. */
#define STATS_MAX_SAMPLES ((size_t)16 << 20)

uint64_t stats_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void stats_add(stats_t *s, uint64_t us) {
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 4096;
    uint32_t *v = cap <= STATS_MAX_SAMPLES ? realloc(s->v, cap * sizeof *v) : NULL;
    if (!v) {
      s->dropped++;
      return;
    }
    s->v = v;
    s->cap = cap;
  }
  s->v[s->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return (x > y) - (x < y);
}

uint64_t stats_percentile(stats_t *s, double p) {
  if (s->n == 0) return 0;
  qsort(s->v, s->n, sizeof *s->v, cmp_u32);
  size_t i = (size_t)(p / 100.0 * (double)(s->n - 1) + 0.5);
  return s->v[i < s->n ? i : s->n - 1];
}

void stats_free(stats_t *s) {
  free(s->v);
  s->v = NULL;
  s->n = s->cap = s->dropped = 0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double stats_median(double *v, size_t n) {
  if (n == 0) return 0;
  qsort(v, n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
