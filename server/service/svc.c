/* Service core: construction, teams and API keys, reset. */
#include "svc.h"

#include <mbedtls/sha256.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service/internal.h"
#include "store/teams.h"

void svc_owner_id(const char *api_key, char out[37]) {
  uint8_t h[32];
  mbedtls_sha256_ret((const unsigned char *)api_key, strlen(api_key), h, 0);
  svc__uuid_format(h, out);
}

void svc__uuid_format(const uint8_t b[16], char out[37]) {
  snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
           b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* Load the strict-mode key file: one "key[,team name]" per line; blank lines and
 * lines starting with # are skipped. */
static int load_api_keys(svc *s, const char *path, char *why, size_t whysz) {
  FILE *f = fopen(path, "r");
  if (!f) return snprintf(why, whysz, "--api-keys: cannot open %s", path), -1;
  char line[1024];
  int lineno = 0;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    line[strcspn(line, "\r\n")] = 0;
    char *p = line + strspn(line, " \t");
    if (!*p || *p == '#') continue;
    char *comma = strchr(p, ',');
    if (comma) *comma = 0;
    size_t n = strlen(p);
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t')) p[--n] = 0;
    if (!n) {
      fclose(f);
      return snprintf(why, whysz, "--api-keys: %s line %d: empty key", path, lineno), -1;
    }
    svc_key *k = realloc(s->keys, (s->n_keys + 1) * sizeof *k);
    if (!k) break;
    s->keys = k;
    s->keys[s->n_keys].key = strdup(p);
    s->keys[s->n_keys].name = comma ? strdup(comma + 1 + strspn(comma + 1, " \t")) : NULL;
    s->n_keys++;
  }
  fclose(f);
  if (!s->n_keys) return snprintf(why, whysz, "--api-keys: %s holds no key", path), -1;
  return 0;
}

#define TEAM_CACHE_SIZE 256

int svc_open(svc **out, store *st, pki *p, const svc_config *c, char *why, size_t whysz) {
  svc *s = calloc(1, sizeof *s);
  if (!s) return snprintf(why, whysz, "out of memory"), -1;
  s->store = st;
  s->pki = p;
  s->strict_identity = c->strict_identity;
  s->strict_keys = c->api_keys_file != NULL;
  s->team_cache = calloc(TEAM_CACHE_SIZE, sizeof *s->team_cache);
  pthread_mutex_init(&s->team_lock, NULL);
  if (!s->team_cache || svc__poll_cache_init(s) || svc__view_cache_init(s)) {
    svc_close(s);
    return snprintf(why, whysz, "out of memory"), -1;
  }
  if (c->api_keys_file && load_api_keys(s, c->api_keys_file, why, whysz)) {
    svc_close(s);
    return -1;
  }
  store_on_end(st, svc__events_end, s);
  *out = s;
  return 0;
}

void svc_close(svc *s) {
  if (!s) return;
  if (s->store) store_on_end(s->store, NULL, NULL);
  for (size_t i = 0; i < s->n_keys; i++) {
    free(s->keys[i].key);
    free(s->keys[i].name);
  }
  free(s->keys);
  svc__view_cache_free(s);
  if (s->poll_cache) svc__poll_cache_free(s);
  free(s->team_cache);
  pthread_mutex_destroy(&s->team_lock);
  free(s);
}

static const svc_key *find_key(svc *s, const char *api_key) {
  for (size_t i = 0; i < s->n_keys; i++)
    if (!strcmp(s->keys[i].key, api_key)) return &s->keys[i];
  return NULL;
}

int svc__team(svc *s, const char *api_key, svc_team *out, err_t *e) {
  const svc_key *k = NULL;
  if (s->strict_keys && !(k = find_key(s, api_key)))
    return err_set(e, ERR_UNAUTHORIZED, "API key is not known (strict mode: see --api-keys)");
  svc_owner_id(api_key, out->owner_id);
  if (store_team_ensure(s->store, api_key, out->owner_id, k ? k->name : NULL, &out->id))
    return err_set(e, ERR_INTERNAL, "cannot create the team");
  return 0;
}

static svc_team_entry *team_slot(svc *s, const char *api_key) {
  return &s->team_cache[svc__hash(api_key) % TEAM_CACHE_SIZE];
}

int svc_team_auth(svc *s, const char *api_key, svc_team *out, err_t *e) {
  size_t len = strlen(api_key);
  if (!len) return err_set(e, ERR_UNAUTHORIZED, "API key is empty");
  if (len > 512) return err_set(e, ERR_UNAUTHORIZED, "API key is longer than 512 characters");
  /* Every owner call starts here: a key resolved before, with no reset or restore
   * since, needs neither SHA-256 nor the store. */
  svc_team_entry *slot = len < sizeof slot->key ? team_slot(s, api_key) : NULL;
  if (slot) {
    pthread_mutex_lock(&s->team_lock);
    bool hit = slot->epoch && slot->epoch == store_epoch(s->store) + 1 && !strcmp(slot->key, api_key);
    if (hit) *out = slot->team;
    pthread_mutex_unlock(&s->team_lock);
    if (hit) return 0;
  }
  if (store_begin(s->store)) return err_set(e, ERR_INTERNAL, "store unavailable");
  uint64_t epoch = store_epoch(s->store);
  int rc = svc__team(s, api_key, out, e);
  if (store_end(s->store, rc == 0) && !rc) rc = err_set(e, ERR_INTERNAL, "cannot create the team");
  if (!rc && slot) {
    pthread_mutex_lock(&s->team_lock);
    slot->epoch = epoch + 1; /* + 1 so that 0 means an empty slot */
    snprintf(slot->key, sizeof slot->key, "%s", api_key);
    slot->team = *out;
    pthread_mutex_unlock(&s->team_lock);
  }
  return rc;
}

int svc_reset(svc *s, const char *api_key, err_t *e) {
  char owner[37];
  if (api_key) svc_owner_id(api_key, owner);
  if (store_begin(s->store)) return err_set(e, ERR_INTERNAL, "store unavailable");
  int rc = store_reset(s->store, api_key ? owner : NULL);
  if (store_end(s->store, rc == 0) || rc) return err_set(e, ERR_INTERNAL, "reset failed");
  return 0;
}
