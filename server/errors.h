/* The one error table of the mock.
 *
 * Each row gives an error its enum name, HTTP status, numeric API `code` (status x 100 +
 * cause, docs/owner-api.md §1), CoAP response code (class*100 + detail, e.g. 401 = 4.01) and
 * default message. Functions return 0 or the negative enum value; the message that
 * names the defect travels in an err_t. This file holds no transport logic: http/ and
 * coap/ render an err_t, service/ fills it.
 */
#ifndef NRFPROV_ERRORS_H
#define NRFPROV_ERRORS_H

#include <stdarg.h>
#include <stddef.h>

/*      name                 http  code   coap  message */
#define NRFPROV_ERROR_TABLE(X)                                                                 \
  X(BAD_JSON,                400, 40000, 400, "body is not valid JSON")                        \
  X(MISSING_FIELD,           400, 40001, 400, "a required field is missing")                   \
  X(TOKEN_MALFORMED,         400, 40002, 400, "attestation token is not well-formed")          \
  X(TOKEN_SIGNATURE,         400, 40003, 403, "attestation token signature does not verify")   \
  X(BAD_FIELD,               400, 40004, 400, "a field has the wrong type or an invalid value")\
  X(BAD_REQUEST_TYPE,        400, 40005, 400, "request must hold exactly one known command type") \
  X(BAD_QUERY,               400, 40006, 400, "bad query parameter")                           \
  X(BAD_CBOR,                400, 40007, 400, "body is not valid CBOR")                        \
  X(UNAUTHORIZED,            401, 40100, 401, "missing, malformed or unknown API key")         \
  X(NOT_CLAIMED,             401, 40101, 401, "device is not claimed")                         \
  X(FORBIDDEN,               403, 40300, 403, "forbidden")                                     \
  X(NOT_FOUND,               404, 40400, 404, "no such resource")                              \
  X(METHOD_NOT_ALLOWED,      405, 40500, 405, "method not allowed on this path")               \
  X(CLAIMED_BY_YOU,          409, 40900, 409, "device already claimed by your team")           \
  X(CLAIMED_BY_OTHER,        409, 40901, 409, "device claimed by another team")                \
  X(NAME_EXISTS,             409, 40902, 409, "a rule or tag with that name exists")           \
  X(RULE_ACTIVE,             409, 40903, 409, "activated rules cannot be edited")              \
  X(TOO_MANY_COMMANDS,       409, 40904, 409, "the device already has 20 unfinished commands") \
  X(NOT_PENDING,             409, 40905, 409, "only a PENDING command can be discarded")       \
  X(TAG_IN_USE,              409, 40906, 409, "the tag is still used by a device or rule")     \
  X(COMMAND_FINAL,           409, 40907, 409, "the command is already final")                  \
  X(TOO_LARGE,               413, 41300, 413, "body over 1 MiB")                               \
  X(UNSUPPORTED_TYPE,        415, 41500, 415, "a control call's body must be application/json") \
  X(MISDIRECTED,             421, 42100, 400, "the Host header names no address this mock serves") \
  X(INTERNAL,                500, 50000, 500, "internal error")                                \
  X(UNAVAILABLE,             503, 50300, 503, "service unavailable")

typedef enum {
  ERR_OK = 0,
#define X(name, http, code, coap, msg) ERR_##name,
  NRFPROV_ERROR_TABLE(X)
#undef X
  ERR__COUNT
} err_id;

/* An error with the sentence that names its defect. */
typedef struct {
  err_id id;
  char message[320];
} err_t;

/* Fill e (if not NULL) with id and a printf-style message; NULL fmt = the table's. Returns -id. */
int err_set(err_t *e, err_id id, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* err_set with a va_list (for transports' printf-style wrappers). */
int err_vset(err_t *e, err_id id, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));
/* HTTP status, API code, CoAP code (class*100+detail), name and default message of id. */
int err_http_status(err_id id);
int err_code(err_id id);
int err_coap_code(err_id id);
const char *err_name(err_id id);
const char *err_default_message(err_id id);
/* Replace invalid UTF-8 and control bytes with '?', so messages quoting client bytes
 * (or cut mid-character) stay valid JSON strings. */
void err_sanitize(char *s);

#endif
