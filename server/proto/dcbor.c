/* Device CBOR codec. Encoding hand-emits heads with libcbor's cbor_encode_* primitives
 * through one small emitter that can also just count, so dcbor_command_size() and
 * dcbor_encode_commands() cannot disagree about a byte. Decoding loads the tree with
 * cborscan (bounded) and then checks each element's shape, one sentence per defect:
 * strings must be text (definite or chunked), element counts exact per type, no trailing
 * bytes, no empty array. */
#include "proto/dcbor.h"
#include "proto/defect.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cbor.h>
#include <jansson.h>

#include "proto/cborget.h"
#include "proto/cborscan.h"

#define DCBOR_MAX_DEPTH 8

/* ---- encoding ---------------------------------------------------------------------- */

/* Writes while they fit; pos always counts, so pos > cap afterwards means "too small". */
typedef struct {
  uint8_t *buf;
  size_t cap, pos;
} emitter;

static void emit_bytes(emitter *e, const void *p, size_t n)
{
  if (e->buf && e->pos <= e->cap && n <= e->cap - e->pos && n) memcpy(e->buf + e->pos, p, n);
  e->pos += n;
}

static void emit_uint(emitter *e, uint64_t v)
{
  unsigned char h[9];
  emit_bytes(e, h, cbor_encode_uint(v, h, sizeof h));
}

static void emit_array(emitter *e, size_t n)
{
  unsigned char h[9];
  emit_bytes(e, h, cbor_encode_array_start(n, h, sizeof h));
}

static void emit_map(emitter *e, size_t n)
{
  unsigned char h[9];
  emit_bytes(e, h, cbor_encode_map_start(n, h, sizeof h));
}

static void emit_text(emitter *e, const char *s)
{
  unsigned char h[9];
  size_t n = s ? strlen(s) : 0;
  emit_bytes(e, h, cbor_encode_string_start(n, h, sizeof h));
  emit_bytes(e, s, n);
}

/* A text string split into two chunks (when it has two characters or more) so that
 * decoders are exercised on real chunking. Each chunk must itself be valid UTF-8 (RFC 8949
 * §3.2.3), so the split never falls inside a character. */
static void emit_text_indef(emitter *e, const char *s)
{
  unsigned char h[9];
  size_t n = s ? strlen(s) : 0, half = n / 2;
  while (half > 0 && ((unsigned char)s[half] & 0xc0) == 0x80) half--;
  emit_bytes(e, h, cbor_encode_indef_string_start(h, sizeof h));
  if (half > 0) {
    emit_bytes(e, h, cbor_encode_string_start(half, h, sizeof h));
    emit_bytes(e, s, half);
  }
  emit_bytes(e, h, cbor_encode_string_start(n - half, h, sizeof h));
  emit_bytes(e, s + half, n - half);
  emit_bytes(e, h, cbor_encode_break(h, sizeof h));
}

static int emit_command(emitter *e, const dcbor_command *c)
{
  switch (c->type) {
  case DCMD_AT:
    emit_array(e, 5);
    emit_text(e, c->cid);
    emit_uint(e, DCMD_AT);
    emit_text(e, c->set_cmd);
    emit_text(e, c->params);
    emit_array(e, c->ignore_cme ? c->n_ignore : 0);
    for (size_t i = 0; c->ignore_cme && i < c->n_ignore; i++) emit_uint(e, c->ignore_cme[i]);
    return 0;
  case DCMD_CONFIG: {
    size_t n = c->keys && c->values ? c->n_pairs : 0;
    emit_array(e, 3);
    emit_text(e, c->cid);
    emit_uint(e, DCMD_CONFIG);
    emit_map(e, n);
    for (size_t i = 0; i < n; i++) {
      emit_text(e, c->keys[i]);
      emit_text(e, c->values[i]);
    }
    return 0;
  }
  case DCMD_FINISHED:
    emit_array(e, 2);
    emit_text(e, c->cid);
    emit_uint(e, DCMD_FINISHED);
    return 0;
  }
  return -1;
}

size_t dcbor_command_size(const dcbor_command *c)
{
  emitter e = {NULL, 0, 0};
  if (!c || emit_command(&e, c) != 0) return 0;
  return e.pos;
}

size_t dcbor_array_header_size(size_t n)
{
  emitter e = {NULL, 0, 0};
  emit_array(&e, n);
  return e.pos;
}

int dcbor_encode_commands(const dcbor_command *cmds, size_t n, uint8_t *buf, size_t bufsz)
{
  emitter e = {buf, bufsz, 0};
  if (!cmds || n == 0 || !buf) return -1;
  emit_array(&e, n);
  for (size_t i = 0; i < n; i++)
    if (emit_command(&e, &cmds[i]) != 0) return -1;
  if (e.pos > bufsz || e.pos > INT_MAX) return -1;
  return (int)e.pos;
}

static void emit_responses(emitter *e, const dcbor_response *r, size_t n, int indefinite)
{
  unsigned char h[9];
  void (*text)(emitter *, const char *) = indefinite ? emit_text_indef : emit_text;
  if (indefinite)
    emit_bytes(e, h, cbor_encode_indef_array_start(h, sizeof h));
  else
    emit_array(e, n);
  for (size_t i = 0; i < n; i++) {
    size_t count = r[i].type == DRSP_ERROR ? 4 : r[i].type == DRSP_AT ? 3 : 2;
    if (indefinite)
      emit_bytes(e, h, cbor_encode_indef_array_start(h, sizeof h));
    else
      emit_array(e, count);
    text(e, r[i].cid);
    emit_uint(e, (uint64_t)r[i].type);
    if (r[i].type == DRSP_ERROR) emit_uint(e, r[i].cme);
    if (count >= 3) text(e, r[i].message);
    if (indefinite) emit_bytes(e, h, cbor_encode_break(h, sizeof h));
  }
  if (indefinite) emit_bytes(e, h, cbor_encode_break(h, sizeof h));
}

int dcbor_encode_responses(const dcbor_response *r, size_t n, int indefinite, uint8_t **out, size_t *len)
{
  if (!out || !len || (n && !r)) return -1;
  *out = NULL;
  *len = 0;
  for (size_t i = 0; i < n; i++)
    if (r[i].type != DRSP_ERROR && r[i].type != DRSP_AT && r[i].type != DRSP_CONFIG_ACK &&
        r[i].type != DRSP_FINISHED_ACK)
      return -1;
  emitter count = {NULL, 0, 0};
  emit_responses(&count, r, n, indefinite);
  emitter e = {malloc(count.pos), count.pos, 0};
  if (!e.buf) return -1;
  emit_responses(&e, r, n, indefinite);
  *out = e.buf;
  *len = e.pos;
  return 0;
}

/* ---- decoding ---------------------------------------------------------------------- */

enum { TEXT_OK = 0, TEXT_NOT_TEXT = -1, TEXT_HAS_NUL = -2, TEXT_BAD_UTF8 = -3, TEXT_NOMEM = -4 };

/* malloc'd, NUL-terminated copy of a text string, definite or chunked. Text that holds a
 * NUL or is not UTF-8 is refused: it would be cut short or refused later by jansson. */
static int text_dup(const cbor_item_t *it, char **out)
{
  *out = NULL;
  size_t n = 0, chunks, k;
  const char *part;
  if (cborget_text_parts(it, &chunks) != 0) return TEXT_NOT_TEXT;
  for (size_t i = 0; i < chunks; i++) {
    if (cborget_text_part(it, i, &part, &k) != 0) return TEXT_NOT_TEXT;
    n += k;
  }
  char *s = malloc(n + 1);
  if (!s) return TEXT_NOMEM;
  size_t pos = 0;
  for (size_t i = 0; i < chunks && cborget_text_part(it, i, &part, &k) == 0; i++) {
    if (k) memcpy(s + pos, part, k);
    pos += k;
  }
  s[n] = '\0';
  if (memchr(s, '\0', n)) {
    free(s);
    return TEXT_HAS_NUL;
  }
  json_t *check = json_stringn(s, n); /* jansson's UTF-8 validation, reused */
  if (!check) {
    free(s);
    return TEXT_BAD_UTF8;
  }
  json_decref(check);
  *out = s;
  return TEXT_OK;
}

/* Copy a text element, or say which of `what`'s defects it has. */
static int take_text(const cbor_item_t *it, char **out, const char *who, size_t idx, const char *what,
                     char *why, size_t whysz)
{
  switch (text_dup(it, out)) {
  case TEXT_OK: return 0;
  case TEXT_NOT_TEXT:
    return defect(why, whysz, "%s %zu: %s must be a text string, got %s", who, idx, what, cborget_describe(it));
  case TEXT_HAS_NUL: return defect(why, whysz, "%s %zu: %s contains a NUL character", who, idx, what);
  case TEXT_BAD_UTF8: return defect(why, whysz, "%s %zu: %s is not valid UTF-8", who, idx, what);
  default: return defect(why, whysz, "%s %zu: out of memory", who, idx);
  }
}

/* Load the outer array of a message: well-formed, no trailing bytes, an array, not empty,
 * within the bounds b (NULL = none). */
static cbor_item_t *load_outer(const uint8_t *buf, size_t len, const char *what, const cborscan_bounds *b,
                               char *why, size_t whysz)
{
  char inner[128];
  size_t used = 0;
  if (!buf || len == 0) {
    defect(why, whysz, "%s: empty body", what);
    return NULL;
  }
  cbor_item_t *root = cborscan_load_bounded(buf, len, DCBOR_MAX_DEPTH, b, &used, inner, sizeof inner);
  if (!root) {
    defect(why, whysz, "%s: %s", what, inner);
    return NULL;
  }
  cbor_item_t *const *items;
  size_t n = 0;
  int not_array = cborget_array(root, &items, &n) != 0;
  const char *problem = used != len ? "trailing bytes after the array"
                       : not_array ? "top-level item must be an array, got "
                       : n == 0 ? "array is empty"
                                : NULL;
  if (problem) {
    defect(why, whysz, "%s: %s%s", what, problem, used == len && not_array ? cborget_describe(root) : "");
    cbor_decref(&root);
    return NULL;
  }
  return root;
}

/* The common head of every element: an array of at least 2, a text id and a uint type. */
static int element_head(const cbor_item_t *el, const char *who, size_t idx, char **cid, uint64_t *type,
                        char *why, size_t whysz)
{
  cbor_item_t *const *e;
  size_t n;
  if (cborget_array(el, &e, &n) != 0)
    return defect(why, whysz, "%s %zu: must be an array, got %s", who, idx, cborget_describe(el));
  if (n < 2)
    return defect(why, whysz, "%s %zu: must have at least 2 elements (correlation id, type)", who, idx);
  if (take_text(e[0], cid, who, idx, "correlation id", why, whysz) != 0) return -1;
  if (cborget_uint(e[1], type) != 0)
    return defect(why, whysz, "%s %zu: type must be an unsigned integer, got %s", who, idx, cborget_describe(e[1]));
  return 0;
}

static int decode_response(const cbor_item_t *el, size_t idx, dcbor_response *r, char *why, size_t whysz)
{
  uint64_t type, cme;
  cbor_item_t *const *e;
  size_t count;
  if (element_head(el, "response", idx, &r->cid, &type, why, whysz) != 0) return -1;
  if (cborget_array(el, &e, &count) != 0) return defect(why, whysz, "response %zu: must be an array", idx);
  switch (type) {
  case DRSP_ERROR:
    if (count != 4)
      return defect(why, whysz, "response %zu: error response (99) must have 4 elements, got %zu", idx, count);
    if (cborget_uint(e[2], &cme) != 0)
      return defect(why, whysz, "response %zu: CME error must be an unsigned integer, got %s", idx,
                    cborget_describe(e[2]));
    if (cme > UINT_MAX)
      return defect(why, whysz, "response %zu: CME error %llu out of range", idx, (unsigned long long)cme);
    r->cme = (unsigned)cme;
    r->type = DRSP_ERROR;
    return take_text(e[3], &r->message, "response", idx, "message", why, whysz);
  case DRSP_AT:
    if (count != 3)
      return defect(why, whysz, "response %zu: AT response (100) must have 3 elements, got %zu", idx, count);
    r->type = DRSP_AT;
    return take_text(e[2], &r->message, "response", idx, "message", why, whysz);
  case DRSP_CONFIG_ACK:
  case DRSP_FINISHED_ACK:
    if (count != 2)
      return defect(why, whysz, "response %zu: %s (%llu) must have 2 elements, got %zu", idx,
                  type == DRSP_CONFIG_ACK ? "config ack" : "finished ack", (unsigned long long)type, count);
    r->type = (drsp_type)type;
    return 0;
  default:
    return defect(why, whysz, "response %zu: unknown type %llu", idx, (unsigned long long)type);
  }
}

void dcbor_responses_free(dcbor_response *r, size_t n)
{
  if (!r) return;
  for (size_t i = 0; i < n; i++) {
    free(r[i].cid);
    free(r[i].message);
  }
  free(r);
}

int dcbor_decode_responses(const uint8_t *buf, size_t len, dcbor_response **out, size_t *n,
                           char *why, size_t whysz)
{
  if (!out || !n) return defect(why, whysz, "responses: no output");
  *out = NULL;
  *n = 0;
  /* A device reports at most DCBOR_MAX_RESPONSES results at once (docs/control-api.md §5,
   * "Limits"); both bounds hold before libcbor builds anything. */
  static const cborscan_bounds bounds = {DCBOR_MAX_RESPONSE_ITEMS, DCBOR_MAX_RESPONSES};
  cbor_item_t *root = load_outer(buf, len, "responses", &bounds, why, whysz);
  if (!root) return -1;
  cbor_item_t *const *e;
  size_t count;
  dcbor_response *r = cborget_array(root, &e, &count) == 0 ? calloc(count, sizeof *r) : NULL;
  if (!r) {
    cbor_decref(&root);
    return defect(why, whysz, "responses: out of memory");
  }
  for (size_t i = 0; i < count; i++) {
    if (decode_response(e[i], i + 1, &r[i], why, whysz) != 0) {
      dcbor_responses_free(r, count);
      cbor_decref(&root);
      return -1;
    }
  }
  cbor_decref(&root);
  *out = r;
  *n = count;
  return 0;
}

static int decode_at(const cbor_item_t *el, size_t idx, dcbor_owned_command *c, char *why, size_t whysz)
{
  cbor_item_t *const *e, *const *codes;
  size_t count = 0, ni;
  uint64_t code;
  if (cborget_array(el, &e, &count) != 0 || count != 5)
    return defect(why, whysz, "command %zu: AT command (0) must have 5 elements, got %zu", idx, count);
  if (take_text(e[2], &c->set_cmd, "command", idx, "set command", why, whysz) != 0 ||
      take_text(e[3], &c->params, "command", idx, "parameters", why, whysz) != 0)
    return -1;
  if (cborget_array(e[4], &codes, &ni) != 0)
    return defect(why, whysz, "command %zu: ignored CME errors must be an array, got %s", idx,
                  cborget_describe(e[4]));
  if (ni > DCBOR_MAX_IGNORE)
    return defect(why, whysz, "command %zu: more than %d ignored CME errors", idx, DCBOR_MAX_IGNORE);
  c->ignore_cme = calloc(ni ? ni : 1, sizeof *c->ignore_cme);
  if (!c->ignore_cme) return defect(why, whysz, "command %zu: out of memory", idx);
  for (size_t k = 0; k < ni; k++) {
    if (cborget_uint(codes[k], &code) != 0 || code > UINT_MAX)
      return defect(why, whysz, "command %zu: ignored CME error %zu must be an unsigned integer", idx, k + 1);
    c->ignore_cme[k] = (unsigned)code;
  }
  c->n_ignore = ni;
  return 0;
}

static int decode_config(const cbor_item_t *el, size_t idx, dcbor_owned_command *c, char *why, size_t whysz)
{
  cbor_item_t *const *e;
  const struct cbor_pair *p;
  size_t count = 0, np;
  if (cborget_array(el, &e, &count) != 0 || count != 3)
    return defect(why, whysz, "command %zu: config command (1) must have 3 elements, got %zu", idx, count);
  if (cborget_map(e[2], &p, &np) != 0)
    return defect(why, whysz, "command %zu: config must be a map, got %s", idx, cborget_describe(e[2]));
  if (np > DCBOR_MAX_PAIRS)
    return defect(why, whysz, "command %zu: config holds more than %d pairs", idx, DCBOR_MAX_PAIRS);
  c->keys = calloc(np ? np : 1, sizeof *c->keys);
  c->values = calloc(np ? np : 1, sizeof *c->values);
  if (!c->keys || !c->values) return defect(why, whysz, "command %zu: out of memory", idx);
  c->n_pairs = np; /* set first so that a partial copy is freed */
  for (size_t k = 0; k < np; k++)
    if (take_text(p[k].key, &c->keys[k], "command", idx, "config key", why, whysz) != 0 ||
        take_text(p[k].value, &c->values[k], "command", idx, "config value", why, whysz) != 0)
      return -1;
  return 0;
}

void dcbor_commands_free(dcbor_owned_command *c, size_t n)
{
  if (!c) return;
  for (size_t i = 0; i < n; i++) {
    free(c[i].cid);
    free(c[i].set_cmd);
    free(c[i].params);
    free(c[i].ignore_cme);
    for (size_t k = 0; k < c[i].n_pairs; k++) {
      if (c[i].keys) free(c[i].keys[k]);
      if (c[i].values) free(c[i].values[k]);
    }
    free(c[i].keys);
    free(c[i].values);
  }
  free(c);
}

int dcbor_decode_commands(const uint8_t *buf, size_t len, dcbor_owned_command **out, size_t *n,
                          char *why, size_t whysz)
{
  if (!out || !n) return defect(why, whysz, "commands: no output");
  *out = NULL;
  *n = 0;
  cbor_item_t *root = load_outer(buf, len, "commands", NULL, why, whysz);
  if (!root) return -1;
  cbor_item_t *const *e, *const *fields;
  size_t count, nf = 0;
  dcbor_owned_command *c = cborget_array(root, &e, &count) == 0 ? calloc(count, sizeof *c) : NULL;
  if (!c) {
    cbor_decref(&root);
    return defect(why, whysz, "commands: out of memory");
  }
  int rc = 0;
  for (size_t i = 0; i < count && rc == 0; i++) {
    uint64_t type;
    rc = element_head(e[i], "command", i + 1, &c[i].cid, &type, why, whysz);
    if (rc != 0) break;
    if (type == DCMD_AT) {
      c[i].type = DCMD_AT;
      rc = decode_at(e[i], i + 1, &c[i], why, whysz);
    } else if (type == DCMD_CONFIG) {
      c[i].type = DCMD_CONFIG;
      rc = decode_config(e[i], i + 1, &c[i], why, whysz);
    } else if (type == DCMD_FINISHED) {
      c[i].type = DCMD_FINISHED;
      if (cborget_array(e[i], &fields, &nf) != 0 || nf != 2)
        rc = defect(why, whysz, "command %zu: finished command (2) must have 2 elements, got %zu", i + 1, nf);
    } else {
      rc = defect(why, whysz, "command %zu: unknown type %llu", i + 1, (unsigned long long)type);
    }
  }
  cbor_decref(&root);
  if (rc != 0) {
    dcbor_commands_free(c, count);
    return -1;
  }
  *out = c;
  *n = count;
  return 0;
}
