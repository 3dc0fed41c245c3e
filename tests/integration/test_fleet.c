/* nrfprov-sim fleet through the real binaries: a small fleet is created, registered,
 * bulk-claimed into an auto-onboarding rule's group and provisioned concurrently over
 * HTTP and over CoAP; the summary line and the exit status say what happened, and the
 * owner API agrees. A fleet whose %KEYGEN fails reports every device failed. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define KEY "fleet-test"

static mock m;
static char dir[64];

static void start(void) {
  mock_start(&m, "--coap-port", "0", NULL);
  snprintf(dir, sizeof dir, "/tmp/nrfprov-fleet.XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  http_resp *r = owner(&m, KEY, "POST", "/v1/provisioning-rules",
                       "{\"name\":\"onboard\",\"active\":true,\"tags\":[\"fleet\"],\"commands\":["
                       "{\"request\":{\"clientPrivateKeyGeneration\":{\"secTag\":16842753}}},"
                       "{\"request\":{\"config\":{\"properties\":{\"mode\":\"lab\"}}}},"
                       "{\"request\":{\"finished\":{}}}]}");
  cr_assert_eq(r->status, 201, "%s", r->body);
  http_resp_free(r);
}
static void stop(void) {
  cr_assert_eq(mock_stop(&m), 0);
  remove_tree(dir);
}

TestSuite(fleet, .init = start, .fini = stop, .timeout = 240);

static const char *sim_binary(void) {
  const char *b = getenv("NRFPROV_TEST_SIM_BIN");
  cr_assert_not_null(b, "NRFPROV_TEST_SIM_BIN is not set");
  return b;
}

/* Run the fleet; its exit status, with stdout in out. */
static int fleet(const char *sub, const char *url, const char *fail, char *out, size_t n) {
  char path[128], api[64], pid[16];
  snprintf(path, sizeof path, "%s/%s", dir, sub);
  snprintf(api, sizeof api, "http://127.0.0.1:%d", m.http_port);
  snprintf(pid, sizeof pid, "%d", (int)m.pid);
  const char *args[24] = {"fleet", "--dir", path, "--count", "6", "--concurrency", "3", "--url", url, "--api", api,
                          "--key", KEY, "--tags", "fleet", "--mock-pid", pid};
  int k = 17;
  if (fail) args[k++] = "--fail", args[k++] = fail;
  args[k] = NULL;
  char err[8192];
  return run_binary(sim_binary(), args, 180000, out, n, err, sizeof err);
}

static long long total_with(const char *query) {
  char path[128];
  snprintf(path, sizeof path, "/v1/claimed-devices?%s", query);
  http_resp *r = owner(&m, KEY, "GET", path, NULL);
  cr_assert_eq(r->status, 200, "%s", r->body);
  long long t = jint(r->json, "total");
  http_resp_free(r);
  return t;
}

Test(fleet, provisions_every_device_over_http_and_coap) {
  char out[4096], url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", m.http_port);
  cr_assert_eq(fleet("http", url, NULL, out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "FLEET devices=6 provisioned=6 failed=0 p50_ms="), "%s", out);
  cr_assert(strstr(out, "devices_per_s=") && strstr(out, "mock_cpu_ms_per_device="), "%s", out);
  cr_assert_eq(total_with("status=PROVISIONED"), 6);

  snprintf(url, sizeof url, "coap://127.0.0.1:%d", m.coap_port);
  cr_assert_eq(fleet("coap", url, NULL, out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "FLEET devices=6 provisioned=6 failed=0"), "%s", out);
  cr_assert_eq(total_with("status=PROVISIONED"), 12);
  cr_assert_eq(total_with(""), 12);

  /* A second run over the same devices: already claimed and provisioned, nothing to do. */
  snprintf(url, sizeof url, "http://127.0.0.1:%d", m.http_port);
  cr_assert_eq(fleet("http", url, NULL, out, sizeof out), 0, "%s", out);
  cr_assert(strstr(out, "provisioned=6 failed=0"), "%s", out);
  cr_assert_eq(total_with(""), 12);
}

Test(fleet, a_failing_command_fails_every_device_and_the_run) {
  char out[4096], url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", m.http_port);
  cr_assert_eq(fleet("failing", url, "%KEYGEN=514", out, sizeof out), 1, "%s", out);
  cr_assert(strstr(out, "FLEET devices=6 provisioned=0 failed=6"), "%s", out);
  cr_assert_eq(total_with("status=ERROR"), 6);
}
