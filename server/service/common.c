/* Service helpers shared by the resource families: page tokens, tag lists, ids, times. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <uuid/uuid.h>

#include "clock.h"
#include "proto/b64url.h"
#include "service/internal.h"

int svc_page_parse(const char *page_limit, const char *page_token, svc_page *out, err_t *e) {
  out->limit = 20;
  out->before = 0;
  if (page_limit) {
    char *end;
    long n = strtol(page_limit, &end, 10);
    if (!*page_limit || *end || n < 1 || n > 100)
      return err_set(e, ERR_BAD_QUERY, "pageLimit: must be an integer from 1 to 100, got '%.40s'", page_limit);
    out->limit = (int)n;
  }
  if (page_token) {
    uint8_t raw[32];
    size_t n = 0;
    char text[33];
    long long v = 0;
    char *end;
    if (!*page_token || strlen(page_token) > 40 || b64url_decode(page_token, strlen(page_token), raw, sizeof raw - 1, &n) ||
        n < 3 || memcmp(raw, "k1:", 3))
      return err_set(e, ERR_BAD_QUERY, "pageNextToken: not a token this server issued");
    memcpy(text, raw + 3, n - 3);
    text[n - 3] = 0;
    v = strtoll(text, &end, 10);
    if (*end || v <= 0) return err_set(e, ERR_BAD_QUERY, "pageNextToken: not a token this server issued");
    out->before = v;
  }
  return 0;
}

static void svc__page_token(int64_t last_seq, char out[48]) {
  char raw[32];
  int n = snprintf(raw, sizeof raw, "k1:%lld", (long long)last_seq);
  b64url_encode((const uint8_t *)raw, (size_t)n, out, 48);
}

void svc__list_add(svc_list_acc *a, json_t *item, int64_t seq) {
  if ((int)json_array_size(a->items) >= a->limit) {
    a->more = true;
    json_decref(item);
    return;
  }
  json_array_append_new(a->items, item);
  a->last = seq;
}

int svc__list_finish(svc_list_acc *a, int rc, int64_t total, json_t **out) {
  if (rc) {
    json_decref(a->items);
    return rc;
  }
  json_t *o = json_pack("{s:o, s:I}", "items", a->items, "total", (json_int_t)total);
  /* A next token only when a row past this page was seen: a full last page has none. */
  if (a->more && a->last > 0) {
    char tok[48];
    svc__page_token(a->last, tok);
    json_object_set_new(o, "pageNextToken", json_string(tok));
  }
  *out = o;
  return 0;
}

/* The waiter armed for this thread's next verb (svc_defer_next). */
static _Thread_local svc_waiter *armed;

static void waiter_done(void *ctx, bool committed) {
  svc_waiter *w = ctx;
  svc__events_log(w->events, committed);
  w->events = NULL;
  w->done(w, committed);
}

void svc_defer_next(svc *s, svc_waiter *w) {
  armed = w;
  if (w) w->deferred = false;
  store_defer_next(s->store, w ? waiter_done : NULL, w);
}

void svc_flush(svc *s) { store_flush(s->store); }

void svc_set_next_hint(svc *s, bool (*at_hand)(void)) { store_set_next_hint(s->store, at_hand); }

void svc_commit_counts(svc *s, uint64_t *commits, uint64_t *deferred) { store_commit_counts(s->store, commits, deferred); }

static const char not_stored[] = "%s was not stored: the store could not commit it (disk full or I/O error); nothing changed";

void svc_waiter_error(const svc_waiter *w, err_t *e) { err_set(e, ERR_INTERNAL, not_stored, w->what); }

int svc__finish(svc *s, int rc, json_t **out, const char *what, err_t *e) {
  svc_waiter *w = armed;
  int end;
  if (w) {
    /* Filled before the store is ended: once it is, another thread may end the group
     * and read them. */
    snprintf(w->what, sizeof w->what, "%s", what);
    w->events = svc__events_take();
    end = store_end_or_defer(s->store, rc == 0);
    if (end == STORE_DEFERRED) {
      /* Answered when the group commits (docs/performance.md); its events wait with it. */
      armed = NULL;
      w->deferred = true;
      return rc;
    }
    svc__events_log(w->events, rc == 0 && end == 0);
    w->events = NULL;
  } else {
    end = store_end(s->store, rc == 0);
  }
  if (end == 0 || rc) return rc;
  if (out) {
    json_decref(*out);
    *out = NULL;
  }
  return err_set(e, ERR_INTERNAL, not_stored, what);
}

/* Random bytes for ids, drawn from the kernel 4 KiB at a time per thread: libuuid's
 * uuid_generate_random makes five system calls per id (a 1000-row bulk claim spent a
 * tenth of its time there). */
static _Thread_local struct {
  uint8_t bytes[4096];
  size_t used;
} pool = {.used = sizeof pool.bytes};

void svc__new_uuid(char out[37]) {
  uint8_t u[16];
  if (pool.used + sizeof u > sizeof pool.bytes) {
    size_t got = 0;
    while (got < sizeof pool.bytes) {
      ssize_t n = getrandom(pool.bytes + got, sizeof pool.bytes - got, 0);
      if (n > 0) got += (size_t)n;
      else if (errno != EINTR) break;
    }
    if (got < sizeof pool.bytes) { /* no getrandom: libuuid's own sources */
      uuid_t v;
      uuid_generate_random(v);
      uuid_unparse_lower(v, out);
      return;
    }
    pool.used = 0;
  }
  memcpy(u, pool.bytes + pool.used, sizeof u);
  pool.used += sizeof u;
  u[6] = (uint8_t)((u[6] & 0x0f) | 0x40); /* version 4 (RFC 9562) */
  u[8] = (uint8_t)((u[8] & 0x3f) | 0x80); /* variant 10 */
  uuid_unparse_lower(u, out);
}

void svc__time(int64_t ms, char out[32]) { clock_format_iso(ms, out, 32); }

static bool tag_char(char c) { return isalnum((unsigned char)c) || strchr("._:=/-", c); }

/* Append the comma-separated tags of text to list (trimmed, empties dropped, de-duplicated). */
static int split_tags(const char *field, const char *text, svc_tags *list, err_t *e) {
  const char *p = text;
  while (*p) {
    const char *comma = strchr(p, ',');
    size_t n = comma ? (size_t)(comma - p) : strlen(p);
    const char *a = p, *b = p + n;
    while (a < b && isspace((unsigned char)*a)) a++;
    while (b > a && isspace((unsigned char)b[-1])) b--;
    size_t len = (size_t)(b - a);
    if (len) {
      if (len > 64) return err_set(e, ERR_BAD_FIELD, "%s: tag '%.64s…' is longer than 64 characters", field, a);
      for (const char *q = a; q < b; q++)
        if (!tag_char(*q))
          return err_set(e, ERR_BAD_FIELD, "%s: tag '%.*s' may only hold letters, digits and ._:=/-", field, (int)len, a);
      bool dup = false;
      for (size_t i = 0; i < list->n && !dup; i++) dup = strlen(list->v[i]) == len && !memcmp(list->v[i], a, len);
      if (!dup) {
        if (list->n == SVC_MAX_TAGS) return err_set(e, ERR_BAD_FIELD, "%s: more than %d tags", field, SVC_MAX_TAGS);
        list->v[list->n++] = strndup(a, len);
      }
    }
    p += n + (comma ? 1 : 0);
  }
  return 0;
}

int svc__tags_from_json(const char *field, json_t *v, svc_tags *list, err_t *e) {
  list->n = 0;
  if (!v || json_is_null(v)) return 0;
  if (!json_is_array(v)) return err_set(e, ERR_BAD_FIELD, "%s: must be an array of strings", field);
  size_t i;
  json_t *x;
  json_array_foreach(v, i, x) {
    if (!json_is_string(x)) {
      svc__tags_free(list);
      return err_set(e, ERR_BAD_FIELD, "%s[%zu]: must be a string", field, i);
    }
    int rc = split_tags(field, json_string_value(x), list, e);
    if (rc) {
      svc__tags_free(list);
      return rc;
    }
  }
  return 0;
}

int svc__tags_from_text(const char *field, const char *text, svc_tags *list, err_t *e) {
  list->n = 0;
  int rc = split_tags(field, text, list, e);
  if (rc) svc__tags_free(list);
  return rc;
}

void svc__tags_free(svc_tags *list) {
  for (size_t i = 0; i < list->n; i++) free(list->v[i]);
  list->n = 0;
}

bool svc__empty(json_t *v) {
  return !v || json_is_null(v) || (json_is_string(v) && !json_string_length(v)) ||
         (json_is_array(v) && !json_array_size(v)) || (json_is_object(v) && !json_object_size(v));
}
