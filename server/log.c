/* Line-oriented logger for the server. Each line is written with one fputs under the
 * stdio lock, so lines of concurrent threads never interleave. */
#include "log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static log_level min_level = LOG_INFO;
static bool json_format = false;
static const char *level_names[] = {"debug", "info", "warn", "error"};

int log_level_parse(const char *s) {
  for (int i = 0; i < 4; i++)
    if (strcmp(s, level_names[i]) == 0) return i;
  return -1;
}

void log_configure(log_level min, bool json) {
  min_level = min;
  json_format = json;
}

bool log_enabled(log_level lvl) { return lvl >= min_level; }

static void timestamp(char *buf, size_t n) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  size_t k = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + k, n - k, ".%03ldZ", ts.tv_nsec / 1000000);
}

static void emit(json_t *obj, const char *text) {
  if (json_format) {
    char *s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (s) {
      flockfile(stderr);
      fputs(s, stderr);
      fputc('\n', stderr);
      funlockfile(stderr);
      free(s);
    }
  } else {
    flockfile(stderr);
    fputs(text, stderr);
    fputc('\n', stderr);
    funlockfile(stderr);
  }
}

void log_msg(log_level lvl, const char *fmt, ...) {
  if (!log_enabled(lvl)) return;
  char ts[40], msg[1024], line[1200];
  timestamp(ts, sizeof ts);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  json_t *obj = NULL;
  if (json_format)
    obj = json_pack("{s:s, s:s, s:s}", "time", ts, "level", level_names[lvl], "msg", msg);
  else
    snprintf(line, sizeof line, "%s %-5s %s", ts, level_names[lvl], msg);
  emit(obj, line);
  json_decref(obj);
}

static const char *dash(const char *s) { return s && *s ? s : "-"; }

void log_request(const log_request_line *l) {
  if (!log_enabled(LOG_INFO)) return;
  char ts[40], line[1200];
  timestamp(ts, sizeof ts);
  json_t *obj = NULL;
  if (json_format) {
    obj = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:f}", "time", ts, "level", "info",
                    "requestId", dash(l->request_id), "protocol", dash(l->protocol),
                    "method", dash(l->method), "path", dash(l->path), "status", dash(l->status),
                    "durationMs", l->duration_ms);
    if (obj && l->device_id && *l->device_id) json_object_set_new(obj, "deviceId", json_string(l->device_id));
    if (obj && l->team && *l->team) json_object_set_new(obj, "team", json_string(l->team));
    if (obj && l->fault && *l->fault) json_object_set_new(obj, "fault", json_string(l->fault));
  } else {
    snprintf(line, sizeof line, "%s info  %s %s %s %s %s %.2fms device=%s team=%s%s%s", ts,
             dash(l->request_id), dash(l->protocol), dash(l->method), dash(l->path),
             dash(l->status), l->duration_ms, dash(l->device_id), dash(l->team),
             l->fault && *l->fault ? " fault=" : "", l->fault && *l->fault ? l->fault : "");
  }
  emit(obj, line);
  json_decref(obj);
}
