/* The device-facing HTTP endpoints (docs/device-protocol.md §2): GET /v1/provisioning/commands
 * and POST /v1/provisioning/response. Answers carry only the status line,
 * Content-Length, Content-Type (with a body), Connection and Date, so that the device's
 * rxMaxSize arithmetic (service/device.c) is exact. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "handlers.h"

/* The bytes libmicrohttpd writes for a 200 CBOR answer of n body bytes:
 * "HTTP/1.1 200 OK\r\n", "Connection: close\r\n" (devices ask for it),
 * "Content-Length: <n>\r\n", "Content-Type: application/cbor\r\n",
 * "Date: Thu, 26 Nov 2026 13:28:00 GMT\r\n", "\r\n". */
static size_t http_frame(size_t n) {
  char digits[24];
  int d = snprintf(digits, sizeof digits, "%zu", n);
  return 17 + 19 + (16 + (size_t)d + 2) + 32 + 37 + 2 + n;
}

/* Authenticate the device; false when an error answer was set. */
static bool device_auth(http_req *r, svc_device *d) {
  const char *h = http__header(r, MHD_HTTP_HEADER_AUTHORIZATION);
  err_t e;
  /* No credential maps to "not claimed" in every client release (docs/device-protocol.md §2). */
  if (!h) {
    http__fail(r, ERR_NOT_CLAIMED, "Authorization header is missing");
    return false;
  }
  if (strncasecmp(h, "Bearer ", 7)) {
    http__fail(r, ERR_FORBIDDEN, "Authorization must be 'Bearer <JWT>' or 'Bearer att.<token>'");
    return false;
  }
  const char *cred = h + 7 + strspn(h + 7, " ");
  if (svc_device_auth(r->app->svc, cred, strlen(cred), d, &e)) {
    snprintf(r->ex.device_id, sizeof r->ex.device_id, "%s", d->device_id);
    http__error(r, &e);
    return false;
  }
  snprintf(r->ex.device_id, sizeof r->ex.device_id, "%s", d->device_id);
  return true;
}

void device_commands(http_req *r) {
  svc_device d = {{0}}; /* device_auth reads device_id back even when the check fails */
  err_t e;
  svc_fetch f = {.frame = http_frame};
  if (!device_auth(r, &d)) return;
  if (svc_fetch_parse(http__query(r, "rxMaxSize"), http__query(r, "limit"), &f, &e)) {
    http__error(r, &e);
    return;
  }
  f.after = http__query(r, "after");
  uint8_t *cbor = NULL;
  size_t len = 0;
  if (svc_device_fetch(r->app->svc, d.device_id, &f, &cbor, &len, &e)) {
    http__error(r, &e);
    return;
  }
  if (!len) http__empty(r, 204);
  else http__bytes(r, 200, "application/cbor", cbor, len);
}

void device_response(http_req *r) {
  svc_device d = {{0}}; /* device_auth reads device_id back even when the check fails */
  err_t e;
  if (!device_auth(r, &d)) return;
  if (svc_device_report(r->app->svc, d.device_id, (const uint8_t *)r->body, r->body_len, &e)) {
    http__error(r, &e);
    return;
  }
  http__empty(r, 200);
}
