/* Domain events in the mock's log (docs/install.md, "What the log tells"), read from the
 * real binary's output with --log-format json: claimed, blocked, unblocked, unclaimed,
 * rule.applied (rule name, commands queued), command.delivered / succeeded / failed
 * (CME error), device.onboarded (certificate serial), device.error; each line with the
 * device id and the team (ownerId), numbers as numbers. A rolled-back change logs no
 * event; request lines carry durations rounded to microseconds. The device side is the
 * simulator nrfprov-sim over HTTP. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "harness_device.h"
#include "pki/pki.h"

#define KEY "events-team"
#define TAG "nrf-cloud-onboarding"

TestSuite(events, .timeout = 90);

static const char *sim_bin(void) {
  const char *b = getenv("NRFPROV_TEST_SIM_BIN");
  return b ? b : "./nrfprov-sim";
}

/* Run nrfprov-sim CMD --dir DIR [extra...]; its stdout (trimmed) in out. */
static int sim(char *out, size_t n, const char *cmd, const char *dir, const char *x1, const char *x2, const char *x3,
               const char *x4) {
  const char *args[] = {cmd, "--dir", dir, x1, x2, x3, x4, NULL};
  char err[4096];
  int rc = run_binary(sim_bin(), args, 60000, out, n, err, sizeof err);
  out[strcspn(out, "\n")] = 0;
  return rc;
}

/* A device created by the simulator, its identity registered, claimed with TAG. */
static void new_device(mock *m, const char *name, char dir[300], char id[64]) {
  char out[4096], body[4200];
  snprintf(dir, 300, "%s/%s", m->dir, name);
  cr_assert_eq(sim(id, 64, "create", dir, NULL, NULL, NULL, NULL), 0);
  cr_assert_eq(sim(out, sizeof out, "identity", dir, NULL, NULL, NULL, NULL), 0);
  http_resp *r = http_req(m, "POST", "/_mock/identities", (const char *[]){"Content-Type: application/json", NULL}, out,
                          strlen(out));
  cr_assert_eq(r->status, 201, "%s", r->body);
  http_resp_free(r);
  cr_assert_eq(sim(out, sizeof out, "token", dir, NULL, NULL, NULL, NULL), 0);
  snprintf(body, sizeof body, "{\"claimToken\":\"%s\",\"tags\":[\"" TAG "\"]}", out);
  r = owner(m, KEY, "POST", "/v1/claimed-devices", body);
  cr_assert_eq(r->status, 201, "%s", r->body);
  http_resp_free(r);
}

/* Every JSON line of the log with "event" == name and "deviceId" == device. */
static json_t *events(mock *m, const char *name, const char *device) {
  char *log = read_file(m->log_file, NULL);
  json_t *found = json_array();
  for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
    json_t *j = json_loads(line, 0, NULL);
    if (j && !strcmp(jstr(j, "event"), name) && (!device || !strcmp(jstr(j, "deviceId"), device)))
      json_array_append(found, j);
    json_decref(j);
  }
  free(log);
  return found;
}

/* The one event name of device: asserted present once, with the team; a new reference. */
static json_t *one_event(mock *m, const char *name, const char *device, const char *team) {
  json_t *all = events(m, name, device);
  cr_assert_eq(json_array_size(all), 1, "one %s event for %s, got %zu", name, device, json_array_size(all));
  json_t *e = json_incref(json_array_get(all, 0));
  json_decref(all);
  cr_assert_str_eq(jstr(e, "level"), "info");
  cr_assert_str_eq(jstr(e, "team"), team, "%s: team", name);
  return e;
}

Test(events, a_device_life_in_the_log) {
  mock m;
  mock_start(&m, "--log-format", "json", NULL);
  /* The team's ownerId as the API shows it. */
  http_resp *r = owner(&m, KEY, "GET", "/v1/claimed-devices", NULL);
  http_resp_free(r);
  const char *rule = "{\"name\":\"Onboard \\\"all\\\"\",\"active\":true,\"tags\":[\"" TAG "\"],\"commands\":["
                     "{\"request\":{\"cloudAccessKeyGeneration\":{\"secTag\":16842753,\"deviceManagementGroup\":\"g\",\"subType\":\"s\"}}},"
                     "{\"request\":{\"config\":{\"properties\":{\"provisioning/interval-sec\":\"0\"}}}},"
                     "{\"request\":{\"finished\":{}}}]}";
  r = owner(&m, KEY, "POST", "/v1/provisioning-rules", rule);
  cr_assert_eq(r->status, 201, "%s", r->body);
  http_resp_free(r);

  char dir_a[300], a[64], dir_b[300], b[64], out[16384], url[80], path[200];
  new_device(&m, "a", dir_a, a);
  new_device(&m, "b", dir_b, b);
  r = owner(&m, KEY, "GET", "/v1/claimed-devices/", NULL);
  http_resp_free(r);
  snprintf(path, sizeof path, "/v1/claimed-devices/%s", a);
  r = owner(&m, KEY, "GET", path, NULL);
  char team[40];
  snprintf(team, sizeof team, "%s", jstr(r->json, "ownerId"));
  cr_assert_eq(strlen(team), 36, "%s", r->body);
  http_resp_free(r);

  /* Device a provisions; device b's %KEYGEN fails with CME error 514. */
  snprintf(url, sizeof url, "http://127.0.0.1:%d", m.http_port);
  cr_assert_eq(sim(out, sizeof out, "run", dir_a, "--url", url, NULL, NULL), 0, "%s", out);
  cr_assert_neq(sim(out, sizeof out, "run", dir_b, "--url", url, "--fail", "%KEYGEN=514"), 0);

  /* The serial of the certificate the API shows for device a. */
  char cert_serial[80] = "";
  snprintf(path, sizeof path, "/v1/devices/%s", a);
  r = owner(&m, KEY, "GET", path, NULL);
  cr_assert_eq(r->status, 200, "%s", r->body);
  cr_assert_eq(pki_cert_serial_hex(jstr(r->json, "certificatePem"), cert_serial, sizeof cert_serial), 0, "%s", r->body);
  http_resp_free(r);
  snprintf(path, sizeof path, "/v1/claimed-devices/%s/block", a);
  http_resp_free(owner(&m, KEY, "POST", path, NULL));
  snprintf(path, sizeof path, "/v1/claimed-devices/%s/unblock", a);
  http_resp_free(owner(&m, KEY, "POST", path, NULL));
  snprintf(path, sizeof path, "/v1/claimed-devices/%s", a);
  r = owner(&m, KEY, "DELETE", path, NULL);
  cr_assert(r->status == 204 || r->status == 200, "%ld", r->status);
  http_resp_free(r);
  /* A claim that fails (already claimed) logs no event. */
  cr_assert_eq(sim(out, sizeof out, "token", dir_b, NULL, NULL, NULL, NULL), 0);
  char body[sizeof out + 40];
  snprintf(body, sizeof body, "{\"claimToken\":\"%s\"}", out);
  r = owner(&m, KEY, "POST", "/v1/claimed-devices", body);
  cr_assert_eq(r->status, 409);
  http_resp_free(r);
  /* Events are written when their transaction commits, before the answer goes out. */

  json_t *e = one_event(&m, "claimed", a, team);
  json_decref(e);
  e = one_event(&m, "claimed", b, team); /* once: the failed second claim logged nothing */
  json_decref(e);
  e = one_event(&m, "rule.applied", a, team);
  cr_assert_str_eq(jstr(e, "rule"), "Onboard \"all\"");
  cr_assert(json_is_integer(json_object_get(e, "commandsQueued")), "a number, not a string");
  cr_assert_eq(jint(e, "commandsQueued"), 3);
  json_decref(e);
  json_t *all = events(&m, "command.delivered", a);
  cr_assert_eq(json_array_size(all), 3, "each command delivered once");
  json_decref(all);
  all = events(&m, "command.succeeded", a);
  cr_assert_eq(json_array_size(all), 3);
  cr_assert_str_eq(jstr(json_array_get(all, 0), "type"), "cloudAccessKeyGeneration");
  json_decref(all);
  e = one_event(&m, "device.onboarded", a, team);
  const char *serial = jstr(e, "certificateSerial");
  cr_assert(strlen(serial) >= 2 && strspn(serial, "0123456789abcdef") == strlen(serial), "serial %s", serial);
  cr_assert_str_eq(serial, cert_serial, "the serial of the certificate the API shows");
  json_decref(e);
  e = one_event(&m, "command.failed", b, team);
  cr_assert(json_is_integer(json_object_get(e, "cmeError")));
  cr_assert_eq(jint(e, "cmeError"), 514);
  json_decref(e);
  e = one_event(&m, "device.error", b, team);
  cr_assert_eq(jint(e, "cmeError"), 514);
  json_decref(e);
  all = events(&m, "command.succeeded", b);
  cr_assert_eq(json_array_size(all), 0);
  json_decref(all);
  json_decref(one_event(&m, "blocked", a, team));
  json_decref(one_event(&m, "unblocked", a, team));
  json_decref(one_event(&m, "unclaimed", a, team));

  /* Request lines: durationMs a number rounded to microseconds. */
  char *log = read_file(m.log_file, NULL);
  int lines = 0;
  for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
    json_t *j = json_loads(line, 0, NULL);
    json_t *d = json_object_get(j, "durationMs");
    if (d) {
      cr_assert(json_is_number(d), "%s", line);
      double us = json_number_value(d) * 1000.0;
      double off = us - (double)(long long)(us + 0.5);
      cr_assert(off < 1e-6 && off > -1e-6, "rounded to microseconds: %s", line);
      const char *num = strstr(line, "\"durationMs\":");
      const char *dot = num ? strchr(num, '.') : NULL;
      if (dot && dot < strpbrk(num, ",}")) cr_assert_leq(strspn(dot + 1, "0123456789"), 3, "%s", line);
      lines++;
    }
    json_decref(j);
  }
  free(log);
  cr_assert_gt(lines, 5);
  mock_stop(&m);
}

Test(events, text_format_has_one_line_per_event) {
  mock m;
  mock_start(&m, NULL);
  char uuid[37];
  claim_new(&m, KEY, NULL, uuid);
  char *log = read_file(m.log_file, NULL), want[120];
  snprintf(want, sizeof want, " info  event=claimed deviceId=%s team=", uuid);
  cr_assert(log && strstr(log, want), "%s", log);
  free(log);
  mock_stop(&m);
}

/* A bulk claim's events are written together when it commits (one write): still one
 * whole line per device, in either format. */
Test(events, a_bulk_claim_logs_one_whole_line_per_device) {
  const char *formats[] = {"json", "text"};
  for (int f = 0; f < 2; f++) {
    mock m;
    mock_start(&m, "--log-format", formats[f], NULL);
    enum { N = 40 };
    char ids[N][37], csv[N * 1200] = "", tok[1100];
    for (int i = 0; i < N; i++) {
      make_token(tok, sizeof tok, ids[i]);
      strcat(csv, tok);
      strcat(csv, "\n");
    }
    const char *hdrs[] = {"Authorization: Bearer " KEY, "Content-Type: text/csv", NULL};
    http_resp *r = http_req(&m, "POST", "/v1/claimed-devices", hdrs, csv, strlen(csv));
    cr_assert_eq(r->status, 200, "%s", r->body);
    http_resp_free(r);
    char *log = read_file(m.log_file, NULL);
    cr_assert_not_null(log);
    for (int i = 0; i < N; i++) {
      char want[160];
      if (f == 0) snprintf(want, sizeof want, "\"event\":\"claimed\",\"deviceId\":\"%.36s\"", ids[i]);
      else snprintf(want, sizeof want, " info  event=claimed deviceId=%.36s team=", ids[i]);
      const char *at = strstr(log, want);
      cr_assert_not_null(at, "%s: no claimed line for %s", formats[f], ids[i]);
      cr_assert_null(strstr(at + 1, want), "%s: two claimed lines for %s", formats[f], ids[i]);
      const char *start = at, *end = strchr(at, '\n');
      while (start > log && start[-1] != '\n') start--;
      cr_assert_not_null(end);
      if (f == 0) {
        json_t *j = json_loadb(start, (size_t)(end - start), 0, NULL);
        cr_assert_not_null(j, "a whole JSON line: %.*s", (int)(end - start), start);
        cr_assert_str_eq(jstr(j, "deviceId"), ids[i]);
        json_decref(j);
      } else {
        cr_assert(!strncmp(start, "20", 2), "the line starts with its time: %.*s", (int)(end - start), start);
      }
    }
    free(log);
    mock_stop(&m);
  }
}

Test(events, error_answers_carry_their_code_in_the_request_line) {
  mock m;
  mock_start(&m, "--log-format", "json", NULL);
  http_resp *r = owner(&m, KEY, "GET", "/v1/claimed-devices/00000000-0000-0000-0000-000000000000", NULL);
  cr_assert_eq(r->status, 404);
  http_resp_free(r);
  r = owner(&m, NULL, "GET", "/v1/claimed-devices", NULL);
  cr_assert_eq(r->status, 401);
  http_resp_free(r);
  r = owner(&m, KEY, "GET", "/v1/claimed-devices", NULL);
  cr_assert_eq(r->status, 200);
  http_resp_free(r);
  char *log = read_file(m.log_file, NULL);
  int seen = 0;
  for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
    json_t *j = json_loads(line, 0, NULL);
    const char *status = jstr(j, "status");
    if (!strcmp(jstr(j, "path"), "/v1/claimed-devices/00000000-0000-0000-0000-000000000000")) {
      cr_assert_str_eq(status, "404");
      cr_assert(json_is_integer(json_object_get(j, "code")), "%s", line);
      cr_assert_eq(jint(j, "code"), 40400);
      seen++;
    } else if (!strcmp(jstr(j, "path"), "/v1/claimed-devices") && !strcmp(status, "401")) {
      cr_assert_eq(jint(j, "code"), 40100, "%s", line);
      seen++;
    } else if (!strcmp(jstr(j, "path"), "/v1/claimed-devices") && !strcmp(status, "200")) {
      cr_assert_null(json_object_get(j, "code"), "no code on a success: %s", line);
      seen++;
    }
    json_decref(j);
  }
  free(log);
  cr_assert_eq(seen, 3);
  mock_stop(&m);
  mock_start(&m, NULL);
  r = http_req(&m, "GET", "/no/such/path", NULL, NULL, 0);
  cr_assert_eq(r->status, 404);
  http_resp_free(r);
  log = read_file(m.log_file, NULL);
  cr_assert(strstr(log, " GET /no/such/path 404 ") && strstr(log, " code=40400"), "%s", log);
  free(log);
  mock_stop(&m);
}

Test(events, coap_error_answers_carry_their_code_too) {
  mock m;
  mock_start(&m, "--log-format", "json", NULL);
  /* An unclaimed device's fetch over CoAP: 4.01, code 40101. */
  char token[2048], uuid[37], cred[2100];
  make_token(token, sizeof token, uuid);
  snprintf(cred, sizeof cred, "att.%s", token);
  dev_client d;
  dev_open(&d, &m, DEV_COAP, cred);
  uint8_t *body = NULL;
  size_t len = 0;
  cr_assert_eq(dev_fetch(&d, NULL, &body, &len), DEV_NOT_CLAIMED);
  free(body);
  dev_close(&d);
  char *log = read_file(m.log_file, NULL);
  int seen = 0;
  for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
    json_t *j = json_loads(line, 0, NULL);
    if (!strcmp(jstr(j, "protocol"), "coap") && !strcmp(jstr(j, "status"), "4.01")) {
      cr_assert_eq(jint(j, "code"), 40101, "%s", line);
      seen++;
    }
    json_decref(j);
  }
  free(log);
  cr_assert_geq(seen, 1, "a CoAP 4.01 request line");
  mock_stop(&m);
}
