/* The walking skeleton through the real binary: health, config, routing errors, body
 * limit, ready announcement, signals, failure exits, the store's schema guard. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include "harness.h"

static mock m;
static void start(void) { mock_start(&m, NULL); }
static void stop(void) { mock_stop(&m); }

TestSuite(skeleton, .init = start, .fini = stop, .timeout = 30);

Test(skeleton, health_answers_ok_with_version_and_request_id) {
  http_resp *r = http_req(&m, "GET", "/_mock/health", NULL, NULL, 0);
  char buf[128];
  cr_assert_eq(r->status, 200);
  cr_assert_str_eq(jstr(r->json, "status"), "ok");
  cr_assert_str_eq(jstr(r->json, "version"), "0.1.0");
  cr_assert(json_is_integer(json_object_get(r->json, "uptimeS")));
  cr_assert(resp_header(r, "X-Request-Id", buf, sizeof buf) && strlen(buf) > 8);
  cr_assert(resp_header(r, "Content-Type", buf, sizeof buf));
  cr_assert(strstr(buf, "application/json"));
  http_resp_free(r);
}

Test(skeleton, request_ids_differ) {
  http_resp *a = http_req(&m, "GET", "/_mock/health", NULL, NULL, 0);
  http_resp *b = http_req(&m, "GET", "/_mock/health", NULL, NULL, 0);
  char x[64], y[64];
  cr_assert_str_neq(resp_header(a, "X-Request-Id", x, sizeof x), resp_header(b, "X-Request-Id", y, sizeof y));
  http_resp_free(a);
  http_resp_free(b);
}

Test(skeleton, config_shows_effective_values) {
  http_resp *r = http_req(&m, "GET", "/_mock/config", NULL, NULL, 0);
  cr_assert_eq(r->status, 200);
  /* Port options of 0 show the ports bound, as the ready file names them. */
  cr_assert_eq(json_integer_value(json_object_get(r->json, "http-port")), m.http_port, "%s", r->body);
  cr_assert_eq(json_integer_value(json_object_get(r->json, "https-port")), m.https_port, "%s", r->body);
  cr_assert_eq(json_integer_value(json_object_get(r->json, "coap-port")), m.coap_port, "%s", r->body);
  cr_assert_eq(json_integer_value(json_object_get(r->json, "coaps-port")), m.coaps_port, "%s", r->body);
  cr_assert_gt(m.http_port, 0);
  cr_assert_gt(m.coaps_port, 0);
  cr_assert_str_eq(jstr(r->json, "version"), NRFPROV_VERSION);
  cr_assert(json_is_true(json_object_get(r->json, "in-memory")));
  cr_assert_str_eq(jstr(r->json, "bind"), "127.0.0.1");
  cr_assert_str_eq(jstr(r->json, "log-format"), "text");
  cr_assert_str_eq(jstr(r->json, "ready-file"), m.ready_file);
  http_resp_free(r);
}

Test(skeleton, unknown_path_is_404_json) {
  http_resp *r = http_req(&m, "GET", "/nope", NULL, NULL, 0);
  cr_assert_eq(r->status, 404);
  cr_assert_eq(json_integer_value(json_object_get(r->json, "code")), 40400);
  cr_assert(strstr(jstr(r->json, "message"), "/nope"));
  http_resp_free(r);
  r = http_req(&m, "GET", "/_mock/health/", NULL, NULL, 0);
  cr_assert_eq(r->status, 404, "trailing slash is another path");
  http_resp_free(r);
}

Test(skeleton, wrong_method_is_405_with_allow) {
  http_resp *r = http_req(&m, "PUT", "/_mock/health", NULL, "{}", 2);
  char allow[64];
  cr_assert_eq(r->status, 405);
  cr_assert_eq(json_integer_value(json_object_get(r->json, "code")), 40500);
  cr_assert_str_eq(resp_header(r, "Allow", allow, sizeof allow), "GET");
  http_resp_free(r);
}

Test(skeleton, body_over_one_mib_is_413) {
  size_t n = 1024 * 1024 + 1;
  char *big = malloc(n);
  memset(big, 'a', n);
  http_resp *r = http_req(&m, "POST", "/_mock/reset", NULL, big, n);
  cr_assert_eq(r->status, 413);
  cr_assert_eq(json_integer_value(json_object_get(r->json, "code")), 41300);
  http_resp_free(r);
  free(big);
  r = http_req(&m, "GET", "/_mock/health", NULL, NULL, 0);
  cr_assert_eq(r->status, 200, "the server still serves after a 413");
  http_resp_free(r);
}

Test(skeleton, ready_file_and_ready_line_name_the_port) {
  char *ready = read_file(m.ready_file, NULL);
  char want[128];
  json_t *j = json_loads(ready, 0, NULL);
  cr_assert_str_eq(jstr(json_object_get(j, "http"), "host"), "127.0.0.1");
  cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "http"), "port")), m.http_port);
  cr_assert_gt(m.http_port, 0);
  json_decref(j);
  free(ready);
  char *log = read_file(m.log_file, NULL);
  snprintf(want, sizeof want, "nrfprov-mock ready http=127.0.0.1:%d https=127.0.0.1:%d coap=127.0.0.1:%d coaps=127.0.0.1:%d\n",
           m.http_port, m.https_port, m.coap_port, m.coaps_port);
  cr_assert(strstr(log, want), "ready line in %s", log);
  free(log);
}

Test(skeleton, one_log_line_per_request) {
  http_resp *r = http_req(&m, "GET", "/_mock/config", NULL, NULL, 0);
  char id[64], *log;
  resp_header(r, "X-Request-Id", id, sizeof id);
  http_resp_free(r);
  /* The log line is written before the answer is queued, so it is there now. */
  log = read_file(m.log_file, NULL);
  char *line = strstr(log, id);
  cr_assert(line, "request id %s in the log", id);
  cr_assert(strstr(line, "GET /_mock/config 200"));
  free(log);
}

Test(skeleton, sigterm_stops_with_status_0) {
  kill(m.pid, SIGTERM);
  cr_assert_eq(mock_wait(&m, 10000), 0);
}

Test(skeleton, sigint_stops_with_status_0) {
  kill(m.pid, SIGINT);
  cr_assert_eq(mock_wait(&m, 10000), 0);
}

/* Every thread of the server but the main one blocks SIGTERM and SIGINT, so the kernel
 * can only hand them to the main thread, which waits for them in sigwait() (and shows
 * them unblocked meanwhile): another thread taking one would end the process with
 * status 143 instead of a clean stop. A file store has the most threads (the store's
 * checkpointer). Read from each thread's status file under /proc/PID/task (SigBlk). */
Test(startup, no_thread_takes_the_stop_signals) {
  char dir[] = "/tmp/nrfprov-sigs.XXXXXX";
  cr_assert_not_null(mkdtemp(dir));
  mock f;
  mock_start(&f, "--data-dir", dir, "--coap-port", "0", NULL);
  char path[128];
  snprintf(path, sizeof path, "/proc/%d/task", (int)f.pid);
  DIR *d = opendir(path);
  cr_assert_not_null(d);
  int threads = 0;
  for (struct dirent *e; (e = readdir(d));) {
    if (e->d_name[0] == '.' || atoi(e->d_name) == (int)f.pid) continue;
    char status[600];
    snprintf(status, sizeof status, "%s/%s/status", path, e->d_name);
    char *text = read_file(status, NULL);
    if (!text) continue; /* the thread has ended */
    const char *blk = strstr(text, "SigBlk:");
    cr_assert_not_null(blk);
    unsigned long long mask = strtoull(blk + 7, NULL, 16);
    cr_assert(mask & (1ull << (SIGTERM - 1)), "thread %s takes SIGTERM (SigBlk %llx)", e->d_name, mask);
    cr_assert(mask & (1ull << (SIGINT - 1)), "thread %s takes SIGINT (SigBlk %llx)", e->d_name, mask);
    free(text);
    threads++;
  }
  closedir(d);
  cr_assert_gt(threads, 3, "the listeners' and the store's threads were seen (%d)", threads);
  cr_assert_eq(mock_stop(&f), 0);
  remove_tree(dir);
}

TestSuite(startup, .timeout = 30);

static void expect_exit_1(const char *const *args, const char *needle) {
  char out[4096], err[4096];
  int rc = run_mock_binary(args, out, sizeof out, err, sizeof err);
  cr_assert_eq(rc, 1, "exit 1 (got %d): %s", rc, err);
  cr_assert(strstr(err, needle), "stderr names the defect: '%s' in '%s'", needle, err);
  cr_assert_eq(strchr(err, '\n'), err + strlen(err) - 1, "one line: %s", err);
  cr_assert(!strstr(out, "ready"), "nothing half-started");
}

Test(startup, unknown_option_exits_1) {
  const char *args[] = {"--in-memory", "--no-such-flag", NULL};
  expect_exit_1(args, "--no-such-flag");
}

Test(startup, bad_port_exits_1) {
  const char *a[] = {"--in-memory", "--http-port", "70000", NULL};
  expect_exit_1(a, "--http-port");
  const char *b[] = {"--in-memory", "--http-port", "eighty", NULL};
  expect_exit_1(b, "not an integer");
}

Test(startup, bad_choice_exits_1) {
  const char *a[] = {"--in-memory", "--log-format", "xml", NULL};
  expect_exit_1(a, "text|json");
}

Test(startup, missing_value_exits_1) {
  const char *a[] = {"--in-memory", "--http-port", NULL};
  expect_exit_1(a, "needs a value");
}

Test(startup, bad_env_value_exits_1) {
  setenv("NRFPROV_LOG_LEVEL", "loud", 1);
  const char *a[] = {"--in-memory", "--http-port", "0", NULL};
  expect_exit_1(a, "NRFPROV_LOG_LEVEL");
  unsetenv("NRFPROV_LOG_LEVEL");
}

Test(startup, bind_failure_exits_1) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  cr_assert(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(fd, 1) == 0);
  socklen_t sl = sizeof sa;
  getsockname(fd, (struct sockaddr *)&sa, &sl);
  char port[16];
  snprintf(port, sizeof port, "%d", ntohs(sa.sin_port));
  const char *a[] = {"--in-memory", "--http-port", port, NULL};
  expect_exit_1(a, "cannot listen");
  close(fd);
}

Test(startup, bad_bind_address_exits_1) {
  const char *a[] = {"--in-memory", "--http-port", "0", "--bind", "localhost", NULL};
  expect_exit_1(a, "--bind");
}

Test(startup, help_prints_every_option_with_env) {
  char out[16384], err[1024];
  const char *a[] = {"--help", NULL};
  cr_assert_eq(run_mock_binary(a, out, sizeof out, err, sizeof err), 0);
  const char *want[] = {"--bind", "NRFPROV_BIND", "--http-port", "NRFPROV_HTTP_PORT", "--data-dir",
                        "--in-memory", "--log-level", "--log-format", "--ready-file", NULL};
  for (int i = 0; want[i]; i++) cr_assert(strstr(out, want[i]), "%s in --help", want[i]);
}

Test(startup, version_prints_and_exits_0) {
  char out[256] = "", err[256] = "";
  const char *a[] = {"--version", NULL};
  cr_assert_eq(run_mock_binary(a, out, sizeof out, err, sizeof err), 0, "%s", err);
  cr_assert_str_eq(out, "nrfprov-mock " NRFPROV_VERSION "\n");
  cr_assert_str_eq(err, "");
}

Test(startup, a_port_option_off_stays_off_in_config) {
  mock e;
  mock_start(&e, "--coap-port", "-1", NULL);
  http_resp *r = http_req(&e, "GET", "/_mock/config", NULL, NULL, 0);
  cr_assert_eq(json_integer_value(json_object_get(r->json, "coap-port")), -1, "%s", r->body);
  cr_assert_eq(json_integer_value(json_object_get(r->json, "http-port")), e.http_port, "%s", r->body);
  http_resp_free(r);
  cr_assert_eq(mock_stop(&e), 0);
}

Test(startup, env_variables_set_options) {
  mock e;
  setenv("NRFPROV_LOG_FORMAT", "json", 1);
  mock_start(&e, NULL);
  unsetenv("NRFPROV_LOG_FORMAT");
  http_resp *r = http_req(&e, "GET", "/_mock/config", NULL, NULL, 0);
  cr_assert_str_eq(jstr(r->json, "log-format"), "json");
  http_resp_free(r);
  char *log = read_file(e.log_file, NULL);
  cr_assert(strstr(log, "{\"time\":"), "JSON log lines: %s", log);
  cr_assert(strstr(log, "\"path\":\"/_mock/config\""));
  free(log);
  cr_assert_eq(mock_stop(&e), 0);
}

Test(startup, data_dir_holds_the_database_across_restarts) {
  char dir[] = "/tmp/nrfprov-dd-XXXXXX", sub[300], db[320];
  cr_assert(mkdtemp(dir));
  snprintf(sub, sizeof sub, "%s/nested/data", dir);
  snprintf(db, sizeof db, "%s/state.db", sub);
  mock e;
  mock_start(&e, "--data-dir", sub, NULL);
  cr_assert_eq(access(db, F_OK), 0, "state.db created in the data dir");
  cr_assert_eq(mock_stop(&e), 0);
  sqlite3 *h;
  cr_assert_eq(sqlite3_open(db, &h), SQLITE_OK);
  sqlite3_stmt *st;
  sqlite3_prepare_v2(h, "PRAGMA user_version", -1, &st, NULL);
  cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
  cr_assert_geq(sqlite3_column_int(st, 0), 1, "migrated");
  sqlite3_finalize(st);
  sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &st, NULL);
  cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
  cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
  sqlite3_finalize(st);
  /* A database from a newer build is refused. */
  cr_assert_eq(sqlite3_exec(h, "PRAGMA user_version = 999", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(h);
  const char *a[] = {"--data-dir", sub, "--http-port", "0", NULL};
  expect_exit_1(a, "newer");
  remove_tree(dir);
}
