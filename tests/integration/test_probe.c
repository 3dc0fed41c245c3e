/* `nrfprov-mock probe` (docs/install.md), the container's HEALTHCHECK: exit 0 when
 * /_mock/health answers 200, 1 with the reason on stderr otherwise; the default URL
 * follows NRFPROV_HTTP_PORT as the server itself does. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

TestSuite(probe, .timeout = 60);

Test(probe, healthy_mock_is_0_and_a_closed_port_is_1) {
  mock m;
  mock_start(&m, NULL);
  char url[200], out[512], err[1024], port[16];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/_mock/health", m.http_port);
  const char *ok[] = {"probe", "--url", url, NULL};
  cr_assert_eq(run_mock_binary(ok, out, sizeof out, err, sizeof err), 0, "%s", err);
  /* The default URL: http://127.0.0.1:$NRFPROV_HTTP_PORT/_mock/health. */
  snprintf(port, sizeof port, "%d", m.http_port);
  setenv("NRFPROV_HTTP_PORT", port, 1);
  const char *dflt[] = {"probe", NULL};
  cr_assert_eq(run_mock_binary(dflt, out, sizeof out, err, sizeof err), 0, "%s", err);
  /* A path that is not 200 fails, naming the status. */
  snprintf(url, sizeof url, "http://127.0.0.1:%d/_mock/nothing-here", m.http_port);
  cr_assert_eq(run_mock_binary(ok, out, sizeof out, err, sizeof err), 1);
  cr_assert(strstr(err, "HTTP 404"), "%s", err);
  mock_stop(&m);
  /* The mock is gone: its port refuses. */
  snprintf(url, sizeof url, "http://127.0.0.1:%d/_mock/health", m.http_port);
  cr_assert_eq(run_mock_binary(ok, out, sizeof out, err, sizeof err), 1);
  cr_assert(strstr(err, "nrfprov-mock probe:"), "%s", err);
  const char *bad[] = {"probe", "--timeout", "soon", NULL};
  cr_assert_eq(run_mock_binary(bad, out, sizeof out, err, sizeof err), 1);
  cr_assert(strstr(err, "--timeout"), "%s", err);
}
