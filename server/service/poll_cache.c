/* The poll cache: what the device endpoints last learned about a device, tagged with the
 * store generation it was learned at (store_generation()). A device polling with
 * nothing to do — the common case by far — is then answered without touching SQLite,
 * and any committed change anywhere makes every entry stale at once, so the cache can
 * never answer from an outdated state. Direct-mapped: a collision just evicts. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service/internal.h"

#define POLL_CACHE_SIZE 4096

unsigned svc__hash(const char *key) {
  unsigned h = 2166136261u; /* FNV-1a */
  for (const char *p = key; *p; p++) h = (h ^ (unsigned char)*p) * 16777619u;
  return h;
}

static unsigned slot_of(const char *device_id) { return svc__hash(device_id) % POLL_CACHE_SIZE; }

int svc__poll_cache_init(svc *s) {
  s->poll_cache = calloc(POLL_CACHE_SIZE, sizeof *s->poll_cache);
  pthread_mutex_init(&s->poll_lock, NULL);
  return s->poll_cache ? 0 : -1;
}

void svc__poll_cache_free(svc *s) {
  free(s->poll_cache);
  pthread_mutex_destroy(&s->poll_lock);
}

bool svc__poll_lookup(svc *s, const char *device_id, uint64_t gen, svc_poll_entry *out) {
  svc_poll_entry *e = &s->poll_cache[slot_of(device_id)];
  pthread_mutex_lock(&s->poll_lock);
  bool hit = e->gen == gen && e->gen != 0 && !strcmp(e->device_id, device_id);
  if (hit) *out = *e;
  pthread_mutex_unlock(&s->poll_lock);
  return hit;
}

void svc__poll_remember(svc *s, const char *device_id, uint64_t gen, int no_identity, svc_poll_state state) {
  svc_poll_entry *e = &s->poll_cache[slot_of(device_id)];
  pthread_mutex_lock(&s->poll_lock);
  if (e->gen != gen || strcmp(e->device_id, device_id)) {
    /* A new generation or another device: start over, knowing nothing else. */
    memset(e, 0, sizeof *e);
    snprintf(e->device_id, sizeof e->device_id, "%s", device_id);
    e->gen = gen;
    e->no_identity = -1;
  }
  if (no_identity >= 0) e->no_identity = no_identity;
  if (state != POLL_UNKNOWN) e->state = state;
  pthread_mutex_unlock(&s->poll_lock);
}

/* ---- the view cache ----------------------------------------------------------------
 * The owner reads that clients poll while they wait (a device, a command) keep their
 * rendered object for the generation it was read at. jansson's reference counts are
 * atomic, so a cached object is shared read-only by the threads that answer with it. */

#define VIEW_CACHE_SIZE 1024

typedef struct {
  uint64_t gen; /* 0 = empty */
  char key[112];
  json_t *view;
} view_entry;

static view_entry *view_slot(svc *s, const char *key) {
  return &((view_entry *)s->view_cache)[svc__hash(key) % VIEW_CACHE_SIZE];
}

int svc__view_cache_init(svc *s) {
  s->view_cache = calloc(VIEW_CACHE_SIZE, sizeof(view_entry));
  return s->view_cache ? 0 : -1;
}

void svc__view_cache_free(svc *s) {
  view_entry *v = s->view_cache;
  for (size_t i = 0; v && i < VIEW_CACHE_SIZE; i++) json_decref(v[i].view);
  free(v);
}

json_t *svc__view_get(svc *s, const char *key, uint64_t gen) {
  view_entry *v = view_slot(s, key);
  json_t *hit = NULL;
  pthread_mutex_lock(&s->poll_lock);
  if (v->gen == gen && v->view && !strcmp(v->key, key)) hit = json_incref(v->view);
  pthread_mutex_unlock(&s->poll_lock);
  return hit;
}

void svc__view_put(svc *s, const char *key, uint64_t gen, json_t *view) {
  if (strlen(key) >= sizeof ((view_entry *)0)->key) return;
  view_entry *v = view_slot(s, key);
  json_t *old;
  pthread_mutex_lock(&s->poll_lock);
  old = v->view;
  v->gen = gen;
  snprintf(v->key, sizeof v->key, "%s", key);
  v->view = json_incref(view);
  pthread_mutex_unlock(&s->poll_lock);
  json_decref(old);
}
