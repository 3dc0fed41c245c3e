/* Line-oriented logger for the server. Each line is written with one fputs under the
 * stdio lock, so lines of concurrent threads never interleave.
 *
 * Every logged value may come from a client (a path, a method, a credential's device
 * id), so each is escaped before it is written, in both formats (docs/control-api.md §5,
 * "Logs"): control characters become `\n`, `\r`, `\t` or `\xNN`, and each byte that is
 * not part of valid UTF-8 becomes `\xNN`. A request can then neither start a forged line
 * (text) nor make jansson refuse the line (JSON, which needs valid UTF-8); a JSON line
 * that still cannot be rendered is replaced by a fixed one, never dropped. */
#include "log.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
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

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when the bytes there are not one
 * (overlong forms, surrogates and code points past U+10FFFF included, as jansson sees it). */
static size_t utf8_len(const unsigned char *s) {
  unsigned c = s[0];
  size_t n;
  uint32_t cp;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) n = 2, cp = c & 0x1f;
  else if (c >= 0xe0 && c <= 0xef) n = 3, cp = c & 0x0f;
  else if (c >= 0xf0 && c <= 0xf4) n = 4, cp = c & 0x07;
  else return 0;
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0; /* also stops at the terminating NUL */
    cp = cp << 6 | (s[i] & 0x3f);
  }
  if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
    return 0;
  return n;
}

/* Copy s into out (n bytes, n > 0) escaped as the top of this file says; NUL-terminated,
 * cut short only between whole characters or escapes. Returns out. */
static char *escape(char *out, size_t n, const char *s) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *p = (const unsigned char *)(s ? s : "");
  size_t o = 0;
  while (*p) {
    char esc[4];
    size_t k = utf8_len(p), w;
    const char *from;
    if (k == 1 && (*p < 0x20 || *p == 0x7f)) {
      esc[0] = '\\';
      if (*p == '\n' || *p == '\r' || *p == '\t') {
        esc[1] = *p == '\n' ? 'n' : *p == '\r' ? 'r' : 't';
        w = 2;
      } else {
        esc[1] = 'x', esc[2] = hex[*p >> 4], esc[3] = hex[*p & 15];
        w = 4;
      }
      from = esc, k = 1;
    } else if (k == 0) {
      esc[0] = '\\', esc[1] = 'x', esc[2] = hex[*p >> 4], esc[3] = hex[*p & 15];
      from = esc, w = 4, k = 1;
    } else {
      from = (const char *)p, w = k;
    }
    if (o + w >= n) break;
    memcpy(out + o, from, w);
    o += w;
    p += k;
  }
  out[o] = 0;
  return out;
}

/* The lines of this thread's open batch (log_batch_begin), written at its end. */
static _Thread_local struct {
  FILE *f;
  char *text;
  size_t len;
} batch;

void log_batch_begin(void) {
  if (!batch.f) batch.f = open_memstream(&batch.text, &batch.len);
}

/* Write len bytes of text to stderr in one write(2) (stderr is unbuffered: two calls
 * would be two system calls), whole lines only, never interleaved with another thread's. */
static void write_out(const char *text, size_t len) {
  flockfile(stderr);
  fwrite(text, 1, len, stderr);
  funlockfile(stderr);
}

void log_batch_end(void) {
  if (!batch.f) return;
  if (!fclose(batch.f) && batch.len) write_out(batch.text, batch.len);
  free(batch.text);
  memset(&batch, 0, sizeof batch);
}

/* Write one line: the JSON object (JSON format; NULL when it could not be built) or the
 * text. A JSON line that cannot be rendered still leaves a line saying so. */
static void emit(json_t *obj, const char *text) {
  char *s = NULL;
  if (json_format) {
    /* 15 significant digits: a duration rounded to microseconds prints as such. */
    s = obj ? json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15)) : NULL;
    text = s ? s : "{\"level\":\"error\",\"msg\":\"a log line could not be rendered as JSON\"}";
  }
  if (batch.f) {
    fputs(text, batch.f);
    fputc('\n', batch.f);
  } else {
    size_t n = strlen(text);
    char line[4096];
    if (n < sizeof line) {
      memcpy(line, text, n);
      line[n] = '\n';
      write_out(line, n + 1);
    } else {
      flockfile(stderr);
      fputs(text, stderr);
      fputc('\n', stderr);
      funlockfile(stderr);
    }
  }
  free(s);
}

void log_msg(log_level lvl, const char *fmt, ...) {
  if (!log_enabled(lvl)) return;
  char ts[40], raw[1024], msg[2048], line[2200];
  timestamp(ts, sizeof ts);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(raw, sizeof raw, fmt, ap);
  va_end(ap);
  escape(msg, sizeof msg, raw);
  json_t *obj = NULL;
  if (json_format)
    obj = json_pack("{s:s, s:s, s:s}", "time", ts, "level", level_names[lvl], "msg", msg);
  else
    snprintf(line, sizeof line, "%s %-5s %s", ts, level_names[lvl], msg);
  emit(obj, line);
  json_decref(obj);
}

/* The escaped value of s in buf, or "-" when s is NULL or empty. */
static const char *field(char *buf, size_t n, const char *s) { return s && *s ? escape(buf, n, s) : "-"; }

void log_request(const log_request_line *l) {
  if (!log_enabled(LOG_INFO)) return;
  char ts[40], line[3000], b_id[64], b_proto[16], b_method[64], b_path[1600], b_status[16], b_device[160],
    b_team[160], b_fault[64];
  timestamp(ts, sizeof ts);
  const char *id = field(b_id, sizeof b_id, l->request_id), *proto = field(b_proto, sizeof b_proto, l->protocol),
             *method = field(b_method, sizeof b_method, l->method), *path = field(b_path, sizeof b_path, l->path),
             *status = field(b_status, sizeof b_status, l->status),
             *device = field(b_device, sizeof b_device, l->device_id), *team = field(b_team, sizeof b_team, l->team),
             *fault = l->fault && *l->fault ? escape(b_fault, sizeof b_fault, l->fault) : NULL;
  json_t *obj = NULL;
  if (json_format) {
    obj = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:f}", "time", ts, "level", "info", "requestId", id,
                    "protocol", proto, "method", method, "path", path, "status", status, "durationMs",
                    round(l->duration_ms * 1000.0) / 1000.0);
    if (obj && l->device_id && *l->device_id) json_object_set_new(obj, "deviceId", json_string(device));
    if (obj && l->team && *l->team) json_object_set_new(obj, "team", json_string(team));
    if (obj && fault) json_object_set_new(obj, "fault", json_string(fault));
    if (obj && l->error_code) json_object_set_new(obj, "code", json_integer(l->error_code));
  } else {
    char code[24] = "";
    if (l->error_code) snprintf(code, sizeof code, " code=%d", l->error_code);
    snprintf(line, sizeof line, "%s info  %s %s %s %s %s %.3fms device=%s team=%s%s%s%s", ts, id, proto, method, path,
             status, l->duration_ms, device, team, fault ? " fault=" : "", fault ? fault : "", code);
  }
  emit(obj, line);
  json_decref(obj);
}

void log_event(const char *event, json_t *fields) {
  if (!log_enabled(LOG_INFO)) return;
  char ts[40], line[3000], buf[1024];
  timestamp(ts, sizeof ts);
  json_t *obj = NULL;
  const char *key;
  json_t *v;
  if (json_format) {
    obj = json_pack("{s:s, s:s, s:s}", "time", ts, "level", "info", "event", event);
    json_object_foreach(fields, key, v) {
      if (!obj) break;
      json_object_set_new(obj, key, json_is_string(v) ? json_string(escape(buf, sizeof buf, json_string_value(v))) : json_copy(v));
    }
  } else {
    size_t k = (size_t)snprintf(line, sizeof line, "%s info  event=%s", ts, event);
    json_object_foreach(fields, key, v) {
      if (k >= sizeof line) break;
      if (json_is_string(v))
        k += (size_t)snprintf(line + k, sizeof line - k, " %s=%s", key, field(buf, sizeof buf, json_string_value(v)));
      else if (json_is_integer(v))
        k += (size_t)snprintf(line + k, sizeof line - k, " %s=%lld", key, (long long)json_integer_value(v));
    }
  }
  emit(obj, line);
  json_decref(obj);
}
