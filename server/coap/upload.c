/* Block1 reassembly (RFC 7959) for the CoAP listeners, with the limits of
 * docs/control-api.md §5: a body is at most COAPSRV_MAX_BODY bytes, refused as soon as its
 * Size1 or its running size passes that (before the block is kept); a transfer starts at
 * block 0 and has no gaps; a handler only ever sees a whole body.
 *
 * libcoap's own reassembly (COAP_BLOCK_SINGLE_BODY) keeps everything before any check
 * can run and trusts Size1 for its buffer, so the listener hands each block here
 * instead. A transfer is one (session, resource, Request-Tag); a session keeps at most
 * UPLOAD_PER_SESSION of them, and all transfers of a listener together hold at most
 * UPLOAD_BUDGET bytes: past either bound the transfer idle the longest is dropped (its
 * next block then answers 4.08). No libcoap types here: server.c reads the options. */
#include <stdlib.h>
#include <string.h>

#include "route.h"

/* Transfers of one session at once, and bytes held by all transfers of a listener. */
#define UPLOAD_PER_SESSION 4
#define UPLOAD_BUDGET (8 * 1024 * 1024)

struct coapsrv_upload {
  struct coapsrv_upload *prev, *next;  /* the listener's list, most recently active first */
  struct coapsrv_upload *peer_next;    /* the session's transfers */
  coapsrv_peer *peer;
  const char *path;                 /* the route's path (static) */
  uint8_t rtag[8];                  /* Request-Tag (RFC 9175: 0 to 8 bytes) */
  size_t rtag_len;
  uint8_t *data;
  size_t len, cap;
};

static void unlink_lru(coapsrv_uploads *u, coapsrv_upload *t) {
  if (t->prev) t->prev->next = t->next;
  else u->head = t->next;
  if (t->next) t->next->prev = t->prev;
  else u->tail = t->prev;
  t->prev = t->next = NULL;
}

static void push_lru(coapsrv_uploads *u, coapsrv_upload *t) {
  t->next = u->head;
  if (u->head) u->head->prev = t;
  u->head = t;
  if (!u->tail) u->tail = t;
}

/* Forget t and free what it holds. */
static void drop(coapsrv_uploads *u, coapsrv_upload *t) {
  unlink_lru(u, t);
  for (coapsrv_upload **link = &t->peer->uploads; *link; link = &(*link)->peer_next)
    if (*link == t) {
      *link = t->peer_next;
      break;
    }
  t->peer->n_uploads--;
  u->held -= t->cap;
  u->count--;
  free(t->data);
  free(t);
}

void coapsrv__upload_done(coapsrv_uploads *u, coapsrv_upload *t) {
  if (t) drop(u, t);
}

void coapsrv__upload_drop_peer(coapsrv_uploads *u, coapsrv_peer *p) {
  while (p->uploads) drop(u, p->uploads);
}

void coapsrv__upload_free_all(coapsrv_uploads *u) {
  while (u->head) drop(u, u->head);
}

static coapsrv_upload *find(const coapsrv_peer *p, const coapsrv_upload_block *b) {
  for (coapsrv_upload *t = p->uploads; t; t = t->peer_next)
    if (t->path == b->path && t->rtag_len == b->rtag_len && !memcmp(t->rtag, b->rtag, b->rtag_len)) return t;
  return NULL;
}

/* Room for n more bytes in t, within the budget: the transfers idle the longest (never
 * t) are dropped first. False when even then there is none. */
static bool reserve(coapsrv_uploads *u, coapsrv_upload *t, size_t n) {
  if (t->len + n <= t->cap) return true;
  size_t cap = t->cap ? t->cap : 1024;
  while (cap < t->len + n) cap *= 2;
  if (cap > COAPSRV_MAX_BODY) cap = COAPSRV_MAX_BODY;
  while (u->held - t->cap + cap > UPLOAD_BUDGET && u->tail && u->tail != t) drop(u, u->tail);
  if (u->held - t->cap + cap > UPLOAD_BUDGET) return false;
  uint8_t *d = realloc(t->data, cap);
  if (!d) return false;
  u->held += cap - t->cap;
  t->data = d;
  t->cap = cap;
  return true;
}

coapsrv_upload_result coapsrv__upload_block(coapsrv_uploads *u, coapsrv_peer *p, const coapsrv_upload_block *b,
                                      const uint8_t **body, size_t *len, coapsrv_upload **done) {
  *done = NULL;
  coapsrv_upload *t = find(p, b);
  uint64_t size = (uint64_t)1 << (b->szx + 4), offset = (uint64_t)b->num * size;
  /* The limit comes first, before anything is kept and before the session's
   * authentication is looked at (the handler does that). */
  if ((b->size1 >= 0 && (uint64_t)b->size1 > COAPSRV_MAX_BODY) || offset + b->len > COAPSRV_MAX_BODY) {
    if (t) drop(u, t);
    return UPLOAD_TOO_LARGE;
  }
  if (b->more && b->len != size) {
    if (t) drop(u, t);
    return UPLOAD_BAD_BLOCK;
  }
  if (b->num == 0) {
    if (t) drop(u, t); /* block 0 again: a new transfer under the same tag */
    if (!b->more) {
      *body = b->data; /* the whole body in one datagram: nothing to keep */
      *len = b->len;
      return UPLOAD_COMPLETE;
    }
    if (p->n_uploads >= UPLOAD_PER_SESSION) {
      /* The session's transfer idle the longest makes room: the first found from the
       * least recently active end of the listener's list. */
      for (coapsrv_upload *old = u->tail; old; old = old->prev)
        if (old->peer == p) {
          drop(u, old);
          break;
        }
    }
    if (!(t = calloc(1, sizeof *t))) return UPLOAD_NO_ROOM;
    t->peer = p;
    t->path = b->path;
    t->rtag_len = b->rtag_len > sizeof t->rtag ? sizeof t->rtag : b->rtag_len;
    memcpy(t->rtag, b->rtag, t->rtag_len);
    t->peer_next = p->uploads;
    p->uploads = t;
    p->n_uploads++;
    u->count++;
    push_lru(u, t);
  } else {
    if (!t) return UPLOAD_INCOMPLETE; /* starts past block 0, or was dropped */
    if (offset > t->len) {
      drop(u, t); /* a gap */
      return UPLOAD_INCOMPLETE;
    }
    unlink_lru(u, t);
    push_lru(u, t);
    if (offset + b->len <= t->len) {
      /* A block held already (a retransmission): acknowledged again, or the last one. */
      if (b->more) return UPLOAD_CONTINUE;
      if (offset + b->len < t->len) {
        drop(u, t); /* a last block that ends before what is held: not this body */
        return UPLOAD_INCOMPLETE;
      }
      *body = t->data;
      *len = t->len;
      *done = t;
      return UPLOAD_COMPLETE;
    }
    t->len = (size_t)offset; /* a block overlapping the end replaces what follows its start */
  }
  if (!reserve(u, t, b->len)) {
    drop(u, t);
    return UPLOAD_NO_ROOM;
  }
  if (b->len) memcpy(t->data + t->len, b->data, b->len);
  t->len += b->len;
  if (b->more) return UPLOAD_CONTINUE;
  *body = t->data;
  *len = t->len;
  *done = t;
  return UPLOAD_COMPLETE;
}
