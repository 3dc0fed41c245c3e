/* Logging: one line per event on stderr, as text or JSON, filtered by level.
 *
 * Request lines (one per HTTP or CoAP exchange) go through log_request() so that both
 * transports print the same fields. Not a general tracing facility.
 */
#ifndef NRFPROV_LOG_H
#define NRFPROV_LOG_H

#include <stdbool.h>

typedef enum { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

/* Parse "debug|info|warn|error"; -1 if unknown. */
int log_level_parse(const char *s);
/* Set the minimum level and the format ("text" or "json"). */
void log_configure(log_level min, bool json);
/* True when lines of this level are printed. */
bool log_enabled(log_level lvl);
/* Print one message line. */
void log_msg(log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The fields of one request line. Strings may be NULL. */
typedef struct {
  const char *request_id, *protocol, *method, *path, *device_id, *team, *fault;
  const char *status;  /* "200" or "2.05" */
  double duration_ms;
  int error_code;      /* the API error code of a 4xx/5xx answer (40400); 0 = none */
} log_request_line;
/* Print one request line at info level. */
void log_request(const log_request_line *l);

typedef struct json_t json_t;
/* Print one domain event line at info level: "event" plus the members of fields (a JSON
 * object, not stolen), numbers as numbers in the JSON format. */
void log_event(const char *event, json_t *fields);
/* Lines this thread logs between the two calls are written together at the end, in one
 * write (the events of a 1000-row bulk claim). */
void log_batch_begin(void);
void log_batch_end(void);

#endif
