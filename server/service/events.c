/* Domain events in the log (docs/install.md, "What the log tells"): claimed, unclaimed,
 * blocked, unblocked, rule.applied, command.delivered, command.succeeded,
 * command.failed, device.onboarded, device.error. One info line each, with the device
 * id and the team (ownerId), numbers as numbers.
 *
 * A verb records its events while its transaction runs; they are printed only when
 * that transaction commits (the store's end hook, set in svc_open; for a request whose
 * commit is deferred to its group, when the group commits), so the log never tells of
 * a change that was rolled back. Events wait in a per-thread list: a
 * transaction begins and ends on one thread. Not an audit trail and not an API: the
 * request journal (/_mock/requests) is the place for exchanges. */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"
#include "service/internal.h"
#include "store/teams.h"

static _Thread_local json_t *pending; /* array of {"event", "fields"} */

void svc__event(const char *event, const char *device_id, const char *owner_id, const char *fmt, ...) {
  if (!log_enabled(LOG_INFO)) return;
  json_t *fields = json_pack("{s:s, s:s}", "deviceId", device_id ? device_id : "", "team", owner_id ? owner_id : "");
  if (!fields) return;
  if (fmt) {
    va_list ap;
    va_start(ap, fmt);
    json_t *extra = json_vpack_ex(NULL, 0, fmt, ap);
    va_end(ap);
    if (extra) json_object_update(fields, extra);
    json_decref(extra);
  }
  if (!pending) pending = json_array();
  json_array_append_new(pending, json_pack("{s:s, s:o}", "event", event, "fields", fields));
}

void svc__event_team(svc *s, const char *event, const char *device_id, int64_t team_id, const char *fmt, ...) {
  if (!log_enabled(LOG_INFO)) return;
  char owner[37];
  store_team_owner_id(s->store, team_id, owner);
  json_t *extra = NULL;
  if (fmt) {
    va_list ap;
    va_start(ap, fmt);
    extra = json_vpack_ex(NULL, 0, fmt, ap);
    va_end(ap);
  }
  svc__event(event, device_id, owner, extra ? "O" : NULL, extra);
  json_decref(extra);
}

void svc__events_log(json_t *list, bool committed) {
  if (!list) return;
  size_t i;
  json_t *ev;
  if (committed) {
    bool many = json_array_size(list) > 1;
    if (many) log_batch_begin();
    json_array_foreach(list, i, ev) log_event(json_string_value(json_object_get(ev, "event")), json_object_get(ev, "fields"));
    if (many) log_batch_end();
  }
  json_decref(list);
}

json_t *svc__events_take(void) {
  json_t *list = pending;
  pending = NULL;
  return list;
}

void svc__events_end(void *ctx, bool committed) {
  (void)ctx;
  svc__events_log(svc__events_take(), committed);
}
