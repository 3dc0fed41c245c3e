/* Request counters in a fixed open-addressing table, and the Prometheus text.
 *
 * Routes are patterns, never raw paths, so the series stay few; the table still has a
 * bound, and requests past it are counted under route "other". */
#include "metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "faults.h"
#include "journal.h"
#include "service/control.h"

#define MAX_SERIES 512

typedef struct {
  bool used;
  char protocol[8], route[96], status[8];
  uint64_t count;
} series;

static const char *const protocols[] = {"http", "https", "coap", "coaps"};

struct metrics {
  pthread_mutex_t lock;
  size_t n;
  series table[MAX_SERIES];
  atomic_uint_fast64_t polls[4];
};

metrics *metrics_new(void) {
  metrics *m = calloc(1, sizeof *m);
  if (m) pthread_mutex_init(&m->lock, NULL);
  return m;
}

void metrics_free(metrics *m) {
  if (!m) return;
  pthread_mutex_destroy(&m->lock);
  free(m);
}

static uint64_t fnv(uint64_t h, const char *s) {
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
  return (h ^ 0xff) * 0x100000001b3ull;
}

static bool same(const series *x, const char *protocol, const char *route, const char *status) {
  return !strcmp(x->protocol, protocol) && !strcmp(x->route, route) && !strcmp(x->status, status);
}

void metrics_request(metrics *m, const char *protocol, const char *route, const char *status) {
  if (!m) return;
  if (!route) route = "unmatched";
  if (!status) status = "none";
  pthread_mutex_lock(&m->lock);
  /* The last slots are kept for "other", so a full table still counts everything. */
  for (int attempt = 0; attempt < 2; attempt++) {
    size_t i = fnv(fnv(fnv(0xcbf29ce484222325ull, protocol), route), status) % MAX_SERIES;
    for (size_t probe = 0; probe < MAX_SERIES; probe++, i = (i + 1) % MAX_SERIES) {
      series *x = &m->table[i];
      if (x->used && same(x, protocol, route, status)) {
        x->count++;
        pthread_mutex_unlock(&m->lock);
        return;
      }
      if (!x->used) {
        if (m->n >= MAX_SERIES - 64 && strcmp(route, "other")) break;
        x->used = true;
        snprintf(x->protocol, sizeof x->protocol, "%s", protocol);
        snprintf(x->route, sizeof x->route, "%s", route);
        snprintf(x->status, sizeof x->status, "%s", status);
        x->count = 1;
        m->n++;
        pthread_mutex_unlock(&m->lock);
        return;
      }
    }
    route = "other";
  }
  pthread_mutex_unlock(&m->lock);
}

void metrics_device_poll(metrics *m, const char *protocol) {
  for (int i = 0; m && protocol && i < 4; i++)
    if (!strcmp(protocol, protocols[i])) atomic_fetch_add(&m->polls[i], 1);
}

/* ---- the exposition --------------------------------------------------------------- */

/* A label value with \, " and newline escaped (the 0.0.4 text format). */
static void label(FILE *f, const char *v) {
  for (; *v; v++) {
    if (*v == '\\' || *v == '"') fputc('\\', f), fputc(*v, f);
    else if (*v == '\n') fputs("\\n", f);
    else fputc(*v, f);
  }
}

static int by_labels(const void *a, const void *b) {
  const series *x = a, *y = b;
  int c = strcmp(x->protocol, y->protocol);
  if (!c) c = strcmp(x->route, y->route);
  if (!c) c = strcmp(x->status, y->status);
  return c;
}

static void header(FILE *f, const char *name, const char *type, const char *help) {
  fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

char *metrics_render(metrics *m, const app *a, size_t *len) {
  json_t *commands = NULL;
  int64_t db_bytes = 0;
  err_t e;
  if (svc_stats(a->svc, &commands, &db_bytes, &e)) return NULL;

  series *copy = malloc(sizeof m->table);
  size_t n = 0;
  if (!copy) {
    json_decref(commands);
    return NULL;
  }
  pthread_mutex_lock(&m->lock);
  for (size_t i = 0; i < MAX_SERIES; i++)
    if (m->table[i].used) copy[n++] = m->table[i];
  pthread_mutex_unlock(&m->lock);
  qsort(copy, n, sizeof *copy, by_labels);

  char *text = NULL;
  FILE *f = open_memstream(&text, len);
  if (!f) {
    free(copy);
    json_decref(commands);
    return NULL;
  }
  header(f, "nrfprov_requests_total", "counter", "Requests answered, by protocol, route pattern and status.");
  for (size_t i = 0; i < n; i++) {
    fputs("nrfprov_requests_total{protocol=\"", f);
    label(f, copy[i].protocol);
    fputs("\",route=\"", f);
    label(f, copy[i].route);
    fputs("\",status=\"", f);
    label(f, copy[i].status);
    fprintf(f, "\"} %llu\n", (unsigned long long)copy[i].count);
  }
  free(copy);

  header(f, "nrfprov_device_polls_total", "counter",
         "Device command fetches (HTTP GET /v1/provisioning/commands, CoAP GET p/cmd), by protocol.");
  for (int i = 0; i < 4; i++)
    fprintf(f, "nrfprov_device_polls_total{protocol=\"%s\"} %llu\n", protocols[i], (unsigned long long)atomic_load(&m->polls[i]));

  header(f, "nrfprov_commands", "gauge", "Provisioning commands held, by status.");
  const char *status;
  json_t *count;
  json_object_foreach(commands, status, count) {
    fputs("nrfprov_commands{status=\"", f);
    label(f, status);
    fprintf(f, "\"} %lld\n", (long long)json_integer_value(count));
  }
  json_decref(commands);

  header(f, "nrfprov_faults_fired_total", "counter", "Fault rules fired, by protocol.");
  for (int i = 0; i < 4; i++)
    fprintf(f, "nrfprov_faults_fired_total{protocol=\"%s\"} %llu\n", protocols[i], (unsigned long long)faults_fired(a->faults, protocols[i]));
  header(f, "nrfprov_fault_rules", "gauge", "Fault rules held.");
  fprintf(f, "nrfprov_fault_rules %zu\n", faults_count(a->faults));

  header(f, "nrfprov_journal_entries", "gauge", "Exchanges held in the request journal.");
  fprintf(f, "nrfprov_journal_entries %zu\n", journal_count(a->journal));
  header(f, "nrfprov_journal_capacity", "gauge", "Capacity of the request journal (--journal-size).");
  fprintf(f, "nrfprov_journal_capacity %zu\n", journal_capacity(a->journal));

  header(f, "nrfprov_db_size_bytes", "gauge", "Size of the SQLite database (page_count * page_size).");
  fprintf(f, "nrfprov_db_size_bytes %lld\n", (long long)db_bytes);
  uint64_t commits, deferred;
  svc_commit_counts(a->svc, &commits, &deferred);
  header(f, "nrfprov_store_commits_total", "counter", "Store transactions committed.");
  fprintf(f, "nrfprov_store_commits_total %llu\n", (unsigned long long)commits);
  header(f, "nrfprov_store_grouped_writes_total", "counter",
         "Write requests committed together with a later request's (group commit).");
  fprintf(f, "nrfprov_store_grouped_writes_total %llu\n", (unsigned long long)deferred);
  header(f, "nrfprov_uptime_seconds", "gauge", "Seconds since the server started.");
  fprintf(f, "nrfprov_uptime_seconds %lld\n", (long long)((clock_wall_ms() - a->started_ms) / 1000));
  if (fclose(f)) {
    free(text);
    return NULL;
  }
  return text;
}
