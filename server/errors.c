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

int err_set(err_t *e, err_id id, const char *fmt, ...) {
  id = clamp(id);
  if (e) {
    e->id = id;
    if (fmt) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(e->message, sizeof e->message, fmt, ap);
      va_end(ap);
    } else {
      snprintf(e->message, sizeof e->message, "%s", error_rows[id].message);
    }
  }
  return -(int)id;
}

int err_http_status(err_id id) { return error_rows[clamp(id)].http; }
int err_code(err_id id) { return error_rows[clamp(id)].code; }
int err_coap_code(err_id id) { return error_rows[clamp(id)].coap; }
const char *err_name(err_id id) { return error_rows[clamp(id)].name; }
const char *err_default_message(err_id id) { return error_rows[clamp(id)].message; }
