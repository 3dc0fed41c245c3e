/* The error table rendered as lookups, and err_set(). No transport logic here. */
#include "errors.h"

#include <stdarg.h>
#include <stdio.h>

static const struct {
  const char *name;
  int http, code, coap;
  const char *message;
} error_rows[ERR__COUNT] = {
  [ERR_OK] = {"OK", 200, 0, 205, "ok"},
#define X(name, http, code, coap, msg) [ERR_##name] = {#name, http, code, coap, msg},
  NRFPROV_ERROR_TABLE(X)
#undef X
};

static err_id clamp(err_id id) { return (id < 0 || id >= ERR__COUNT) ? ERR_INTERNAL : id; }

int err_vset(err_t *e, err_id id, const char *fmt, va_list ap) {
  id = clamp(id);
  if (e) {
    e->id = id;
    if (fmt) {
      vsnprintf(e->message, sizeof e->message, fmt, ap);
      err_sanitize(e->message);
    } else {
      snprintf(e->message, sizeof e->message, "%s", error_rows[id].message);
    }
  }
  return -(int)id;
}

int err_set(err_t *e, err_id id, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = err_vset(e, id, fmt, ap);
  va_end(ap);
  return rc;
}

int err_http_status(err_id id) { return error_rows[clamp(id)].http; }
int err_code(err_id id) { return error_rows[clamp(id)].code; }
int err_coap_code(err_id id) { return error_rows[clamp(id)].coap; }
const char *err_name(err_id id) { return error_rows[clamp(id)].name; }
const char *err_default_message(err_id id) { return error_rows[clamp(id)].message; }

/* Length of the valid UTF-8 sequence at p (1..4), or 0. */
static size_t utf8_len(const unsigned char *p) {
  size_t n;
  unsigned cp;
  if (p[0] < 0x80) return 1;
  if ((p[0] & 0xe0) == 0xc0) n = 2, cp = p[0] & 0x1f;
  else if ((p[0] & 0xf0) == 0xe0) n = 3, cp = p[0] & 0x0f;
  else if ((p[0] & 0xf8) == 0xf0) n = 4, cp = p[0] & 0x07;
  else return 0;
  for (size_t i = 1; i < n; i++) {
    if ((p[i] & 0xc0) != 0x80) return 0;
    cp = cp << 6 | (p[i] & 0x3f);
  }
  static const unsigned min[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

void err_sanitize(char *s) {
  unsigned char *p = (unsigned char *)s;
  while (*p) {
    size_t n = utf8_len(p);
    if (n == 0 || (n == 1 && *p < 0x20)) {
      *p++ = '?';
    } else {
      p += n;
    }
  }
}
