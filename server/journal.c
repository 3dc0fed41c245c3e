/* The request journal: a ring of malloc'd slots, one block per exchange.
 *
 * journal_add builds the slot (one malloc, bounded copies) before taking the lock, so
 * the lock covers only a pointer swap; the evicted slot is freed after the lock is
 * released. The ring's pointer array grows by doubling up to the capacity, so a large
 * --journal-size costs memory only once it fills. Rendering to JSON (base64 of binary
 * bodies, time stamps) happens at query time, never on the request path. */
#include "journal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "proto/b64url.h"

typedef struct {
  int64_t time_ms;
  double duration_ms;
  int status;
  char request_id[24], protocol[8], method[16], device_id[40], team[40], fault[40];
  uint16_t path_len, query_len, req_len, resp_len;
  bool has_query, req_binary, resp_binary, req_cut, resp_cut;
  char data[]; /* path, query, request body, response body, back to back */
} slot;

struct journal {
  pthread_mutex_t lock;
  size_t cap;    /* 0 = off */
  size_t alloc;  /* length of ring */
  size_t count;  /* slots held */
  size_t head;   /* when full: the oldest slot, the next to be replaced */
  slot **ring;
};

journal *journal_new(size_t cap) {
  journal *j = calloc(1, sizeof *j);
  if (!j) return NULL;
  pthread_mutex_init(&j->lock, NULL);
  j->cap = cap;
  return j;
}

void journal_free(journal *j) {
  if (!j) return;
  journal_clear(j);
  free(j->ring);
  pthread_mutex_destroy(&j->lock);
  free(j);
}

bool journal_enabled(const journal *j) { return j && j->cap > 0; }

size_t journal_capacity(const journal *j) { return j ? j->cap : 0; }

size_t journal_count(journal *j) {
  if (!j) return 0;
  pthread_mutex_lock(&j->lock);
  size_t n = j->count;
  pthread_mutex_unlock(&j->lock);
  return n;
}

static void copy_field(char *dst, size_t n, const char *src) { snprintf(dst, n, "%s", src ? src : ""); }

static size_t cut(size_t n, bool *was_cut) {
  *was_cut = n > JOURNAL_CUT;
  return n > JOURNAL_CUT ? JOURNAL_CUT : n;
}

void journal_add(journal *j, const journal_entry *e) {
  if (!journal_enabled(j)) return;
  bool path_cut, query_cut;
  size_t path_len = cut(e->path ? strlen(e->path) : 0, &path_cut);
  size_t query_len = cut(e->query ? strlen(e->query) : 0, &query_cut);
  slot tmp = {0};
  size_t req_len = cut(e->request_body ? e->request_len : 0, &tmp.req_cut);
  size_t resp_len = cut(e->response_body ? e->response_len : 0, &tmp.resp_cut);
  slot *s = malloc(sizeof *s + path_len + query_len + req_len + resp_len);
  if (!s) return;
  *s = tmp;
  s->time_ms = e->time_ms;
  s->duration_ms = e->duration_ms;
  s->status = e->status;
  copy_field(s->request_id, sizeof s->request_id, e->request_id);
  copy_field(s->protocol, sizeof s->protocol, e->protocol);
  copy_field(s->method, sizeof s->method, e->method);
  copy_field(s->device_id, sizeof s->device_id, e->device_id);
  copy_field(s->team, sizeof s->team, e->team);
  copy_field(s->fault, sizeof s->fault, e->fault);
  s->path_len = (uint16_t)path_len;
  s->query_len = (uint16_t)query_len;
  s->has_query = e->query && *e->query;
  s->req_len = (uint16_t)req_len;
  s->resp_len = (uint16_t)resp_len;
  s->req_binary = e->request_binary;
  s->resp_binary = e->response_binary;
  char *p = s->data;
  if (path_len) memcpy(p, e->path, path_len);
  p += path_len;
  if (query_len) memcpy(p, e->query, query_len);
  p += query_len;
  if (req_len) memcpy(p, e->request_body, req_len);
  p += req_len;
  if (resp_len) memcpy(p, e->response_body, resp_len);

  slot *evicted = NULL;
  pthread_mutex_lock(&j->lock);
  if (j->count < j->cap) {
    if (j->count == j->alloc) {
      size_t n = j->alloc ? j->alloc * 2 : 64;
      if (n > j->cap) n = j->cap;
      slot **r = realloc(j->ring, n * sizeof *r);
      if (!r) {
        pthread_mutex_unlock(&j->lock);
        free(s);
        return;
      }
      j->ring = r;
      j->alloc = n;
    }
    j->ring[j->count++] = s;
  } else {
    evicted = j->ring[j->head];
    j->ring[j->head] = s;
    j->head = (j->head + 1) % j->cap;
  }
  pthread_mutex_unlock(&j->lock);
  free(evicted);
}

void journal_clear(journal *j) {
  if (!j) return;
  pthread_mutex_lock(&j->lock);
  slot **ring = j->ring;
  size_t n = j->count;
  j->ring = NULL;
  j->alloc = j->count = j->head = 0;
  pthread_mutex_unlock(&j->lock);
  for (size_t i = 0; i < n; i++) free(ring[i]);
  free(ring);
}

/* ---- rendering -------------------------------------------------------------------- */

static void format_time(int64_t ms, char out[32]) {
  time_t sec = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&sec, &tm);
  size_t k = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out + k, 32 - k, ".%03dZ", (int)(ms % 1000));
}

/* The length of p[0..n) without a UTF-8 sequence the cut left incomplete at its end. */
static size_t utf8_complete(const uint8_t *p, size_t n) {
  size_t i = n, cont = 0;
  while (i > 0 && cont < 3 && (p[i - 1] & 0xC0) == 0x80) i--, cont++;
  if (i == 0 || p[i - 1] < 0xC0) return n;
  size_t need = p[i - 1] >= 0xF0 ? 3 : p[i - 1] >= 0xE0 ? 2 : 1;
  return cont < need ? i - 1 : n;
}

static json_t *base64(const uint8_t *p, size_t n) {
  size_t cap = (n + 2) / 3 * 4 + 1;
  char *text = malloc(cap);
  json_t *v = text && b64_std_encode(p, n, text, cap) >= 0 ? json_string(text) : json_null();
  free(text);
  return v;
}

/* A body as JSON: null when empty, text when it is UTF-8 and not marked binary, else
 * standard base64 of the bytes kept. */
static json_t *body_json(const char *p, size_t n, bool binary, bool was_cut) {
  if (!n) return json_null();
  if (!binary) {
    json_t *v = json_stringn(p, was_cut ? utf8_complete((const uint8_t *)p, n) : n);
    if (v) return v;
  }
  return base64((const uint8_t *)p, n);
}

static json_t *text_or_null(const char *s) { return *s ? json_string(s) : json_null(); }

static json_t *slot_json(const slot *s) {
  char time[32];
  format_time(s->time_ms, time);
  const char *path = s->data, *query = path + s->path_len, *req = query + s->query_len, *resp = req + s->req_len;
  json_t *status;
  if (!s->status) status = json_null();
  else if (!strncmp(s->protocol, "coap", 4)) {
    char code[16];
    snprintf(code, sizeof code, "%d.%02d", s->status / 100, s->status % 100);
    status = json_string(code);
  } else {
    status = json_integer(s->status);
  }
  json_t *o = json_object();
  json_object_set_new(o, "time", json_string(time));
  json_object_set_new(o, "requestId", text_or_null(s->request_id));
  json_object_set_new(o, "protocol", text_or_null(s->protocol));
  json_object_set_new(o, "method", text_or_null(s->method));
  json_t *pv = json_stringn(path, utf8_complete((const uint8_t *)path, s->path_len));
  json_object_set_new(o, "path", pv ? pv : json_string(""));
  json_t *qv = s->has_query ? json_stringn(query, utf8_complete((const uint8_t *)query, s->query_len)) : NULL;
  json_object_set_new(o, "query", qv ? qv : json_null());
  json_object_set_new(o, "status", status);
  json_object_set_new(o, "deviceId", text_or_null(s->device_id));
  json_object_set_new(o, "team", text_or_null(s->team));
  json_object_set_new(o, "durationMs", json_real((double)(int64_t)(s->duration_ms * 1000.0 + 0.5) / 1000.0));
  json_object_set_new(o, "requestBody", body_json(req, s->req_len, s->req_binary, s->req_cut));
  json_object_set_new(o, "responseBody", body_json(resp, s->resp_len, s->resp_binary, s->resp_cut));
  json_object_set_new(o, "fault", text_or_null(s->fault));
  return o;
}

static bool matches(const slot *s, const char *prefix, size_t prefix_len, const char *device_id) {
  if (device_id && strcasecmp(s->device_id, device_id)) return false;
  if (prefix_len) {
    const char *p = s->data;
    size_t n = s->path_len;
    if (n && *p == '/') p++, n--;
    if (n < prefix_len || memcmp(p, prefix, prefix_len)) return false;
  }
  return true;
}

json_t *journal_query(journal *j, int limit, const char *path_prefix, const char *device_id, int *total) {
  json_t *items = json_array();
  *total = 0;
  if (!journal_enabled(j)) return items;
  if (path_prefix && *path_prefix == '/') path_prefix++;
  size_t prefix_len = path_prefix ? strlen(path_prefix) : 0;
  pthread_mutex_lock(&j->lock);
  size_t n = j->count;
  /* Newest first: the slot before head when full, else the last one appended. */
  for (size_t k = 0; k < n; k++) {
    size_t i = j->count < j->cap ? n - 1 - k : (j->head + j->cap - 1 - k) % j->cap;
    const slot *s = j->ring[i];
    if (!matches(s, path_prefix, prefix_len, device_id)) continue;
    if (*total < limit) json_array_append_new(items, slot_json(s));
    (*total)++;
  }
  pthread_mutex_unlock(&j->lock);
  return items;
}
