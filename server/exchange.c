/* The request pipeline: request ids, fault rules and the record of each request, for
 * both transports (docs/architecture.md). What a transport must know to use it is in
 * exchange.h; what it must not do is call it back: everything arrives as arguments. */
#include "exchange.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "journal.h"
#include "log.h"
#include "metrics.h"
#include "service/control.h"
#include "service/svc.h"

/* Request ids: a per-process prefix (so ids of two runs differ) and one counter shared by
 * every listener (so no two requests of a run share an id). */
static pthread_once_t id_once = PTHREAD_ONCE_INIT;
static uint32_t id_prefix;
static atomic_uint_fast64_t id_counter;

static void id_setup(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  id_prefix = (uint32_t)(ts.tv_nsec ^ (ts.tv_sec << 12) ^ (uint32_t)getpid() << 20);
}

void exchange_begin(exchange *x, const char *protocol, const char *method, const char *path) {
  pthread_once(&id_once, id_setup);
  x->protocol = protocol;
  x->method = method;
  x->path = path;
  x->error_code = 0;
  x->start_us = clock_mono_us();
  x->wall_ms = clock_wall_ms();
  snprintf(x->request_id, sizeof x->request_id, "%08x%010llx", id_prefix,
           (unsigned long long)atomic_fetch_add(&id_counter, 1));
}

/* The device s names: the one the transport knows, else the one its credential names. */
static void subject_device(const exchange_subject *s, char out[37]) {
  *out = 0;
  if (s->device_id) snprintf(out, 37, "%s", s->device_id);
  else if (s->credential && svc_credential_device_id(s->credential, s->credential_len, out)) *out = 0;
}

bool exchange_faults(exchange *x, app *a, const exchange_subject *s) {
  unsigned needs = faults_needs(a->faults);
  bool wants_device = needs & (FAULT_NEEDS_DEVICE | FAULT_NEEDS_TEAM);
  char device[37] = "", team_key[520] = "";
  fault_request q = {.protocol = x->protocol, .method = x->method, .path = x->path};
  if (wants_device) subject_device(s, device);
  if (*device) q.device_id = device;
  /* match.team is an API key: the caller's own on owner calls, the key of the team that
   * has claimed the device on device calls. */
  if (s->device_call) {
    if ((needs & FAULT_NEEDS_TEAM) && *device && !svc_device_team_key(a->svc, device, team_key, sizeof team_key))
      q.team = team_key;
  } else {
    q.team = s->api_key;
  }
  if (!faults_match(a->faults, &q, &x->fault, x->fault_id)) return false;
  x->faulted = true;
  /* The handler may never run: fill in what the log line and the journal show. */
  if (!wants_device) subject_device(s, device);
  if (s->device_call && *device) snprintf(x->device_id, sizeof x->device_id, "%s", device);
  if (!s->device_call && s->api_key && strlen(s->api_key) <= 512) svc_owner_id(s->api_key, x->team);
  return true;
}

bool exchange_journaled(const app *a, const exchange *x) {
  return !(x->flags & (EXCHANGE_CONTROL | EXCHANGE_PAGE)) && journal_enabled(a->journal);
}

void exchange_record(app *a, const exchange *x, const exchange_outcome *o) {
  double duration_ms = (double)(clock_mono_us() - x->start_us) / 1000.0;
  const char *fault = x->faulted ? x->fault_id : NULL;
  /* The journal keeps device_id for the device's own calls (GET /_mock/requests?deviceId=
   * selects what a device sent); the log line also names the device of an owner path. */
  log_request_line l = {
    .request_id = x->request_id, .protocol = x->protocol, .method = x->method, .path = x->path,
    .status = o->status, .device_id = *x->device_id ? x->device_id : x->path_device, .team = x->team, .fault = fault,
    .duration_ms = duration_ms, .error_code = x->error_code,
  };
  log_request(&l);
  metrics_request(a->metrics, x->protocol, x->route, o->status);
  if (x->flags & EXCHANGE_POLL) metrics_device_poll(a->metrics, x->protocol);
  if (!exchange_journaled(a, x)) return;
  journal_entry e = {
    .time_ms = x->wall_ms, .request_id = x->request_id, .protocol = x->protocol, .method = x->method,
    .path = x->path, .query = o->query, .status = o->code, .device_id = x->device_id, .team = x->team,
    .duration_ms = duration_ms,
    .request_body = o->request_body, .request_len = o->request_len, .request_binary = o->request_binary,
    .response_body = o->response_body, .response_len = o->response_len, .response_binary = o->response_binary,
    .fault = fault,
  };
  journal_add(a->journal, &e);
}
