/* The CI recipes of docs/ci/ run docs/ci/ci-job.sh; so does this test, with the programs
 * of this build: the job must pass (two simulated devices provisioned, one through the
 * proxy under nRF Cloud's host names, one over CoAPs, a reset between), and when a step
 * fails it must exit 1 and leave the request journal and the mock's log as artifacts. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

TestSuite(ci_job, .timeout = 120);

static char out[65536], err[65536];

/* Run the job with artifacts in dir; its exit status. */
static int run_job(const char *dir) {
  const char *src = getenv("NRFPROV_TEST_SOURCE_DIR");
  cr_assert(src, "NRFPROV_TEST_SOURCE_DIR is set by tests/CMakeLists.txt");
  char script[600];
  snprintf(script, sizeof script, "%s/docs/ci/ci-job.sh", src);
  setenv("NRFPROV_MOCK", mock_binary(), 1);
  const char *args[] = {script, dir, NULL};
  return run_binary("/bin/bash", args, 100000, out, sizeof out, err, sizeof err);
}

Test(ci_job, provisions_two_devices_and_leaves_no_artifacts) {
  char dir[] = "/tmp/nrfprov-ci-test-XXXXXX";
  cr_assert(mkdtemp(dir));
  char art[100];
  snprintf(art, sizeof art, "%s/artifacts", dir);
  setenv("NRFPROV_SIM", getenv("NRFPROV_TEST_SIM_BIN"), 1);
  cr_assert_eq(run_job(art), 0, "ci-job.sh failed:\n%s\n%s", out, err);
  cr_assert(strstr(out, "device-a: provisioned and onboarded"), "%s", out);
  cr_assert(strstr(out, "device-b: provisioned and onboarded"), "%s", out);
  cr_assert(strstr(out, "ci-job: OK"), "%s", out);
  struct stat st;
  cr_assert_neq(stat(art, &st), 0, "no artifacts on success");
  rmdir(dir);
}

Test(ci_job, failure_leaves_the_journal_as_an_artifact) {
  char dir[] = "/tmp/nrfprov-ci-test-XXXXXX";
  cr_assert(mkdtemp(dir));
  char art[100], journal[160], log[160];
  snprintf(art, sizeof art, "%s/artifacts", dir);
  snprintf(journal, sizeof journal, "%s/journal.json", art);
  snprintf(log, sizeof log, "%s/mock.log", art);
  /* A simulator that fails at once: the job stops at its first device. */
  setenv("NRFPROV_SIM", "/bin/false", 1);
  cr_assert_eq(run_job(art), 1, "%s\n%s", out, err);
  cr_assert(strstr(err, "FAILED at step 'job A"), "%s", err);
  char *j = read_file(journal, NULL);
  cr_assert(j, "journal.json written");
  json_t *doc = json_loads(j, 0, NULL);
  cr_assert(json_is_array(json_object_get(doc, "items")), "%s", j);
  /* The rule created through the proxy before the failure is in it. */
  cr_assert(strstr(j, "/v1/provisioning-rules"), "%s", j);
  json_decref(doc);
  free(j);
  char *l = read_file(log, NULL);
  cr_assert(l && strstr(l, "serving"), "mock.log written: %s", l ? l : "");
  free(l);
  unlink(journal);
  unlink(log);
  rmdir(art);
  rmdir(dir);
}
