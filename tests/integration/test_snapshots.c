/* Snapshots by name and restore through the real binary (docs/control-api.md §2, §5):
 * names and the snapshot directory, the {"path"} rules (nothing outside the directory
 * is ever touched), O_EXCL|O_NOFOLLOW creation with mode 0600, the listing and deletion,
 * and a restore that checks a file whole before it replaces anything: each crafted file
 * is refused with 400/40004 naming the defect, and the server goes on serving the state
 * it had. */
#include <criterion/criterion.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static mock m;
static char root[256], snapdir[PATH_MAX];

#define KEY "snapshot-team"

static void start(void) {
  char dir[300];
  snprintf(root, sizeof root, "/tmp/nrfprov-snaps-XXXXXX");
  cr_assert(mkdtemp(root));
  snprintf(dir, sizeof dir, "%s/snaps", root);
  mock_start(&m, "--snapshot-dir", dir, NULL);
  cr_assert(realpath(dir, snapdir), "the mock made the snapshot dir");
}

static void stop(void) {
  cr_assert_eq(mock_stop(&m), 0, "the mock exits 0 on SIGTERM");
  remove_tree(root);
}

TestSuite(snapshots, .init = start, .fini = stop, .timeout = 60);

static http_resp *control(const char *method, const char *path, const char *json) {
  const char *hdrs[] = {"Content-Type: application/json", NULL};
  return http_req(&m, method, path, hdrs, json, json ? strlen(json) : 0);
}

static long status_of(http_resp *r) {
  long s = r->status;
  http_resp_free(r);
  return s;
}


static void snapshot(const char *name) {
  char body[200], want[PATH_MAX + 80];
  snprintf(body, sizeof body, "{\"name\": \"%s\"}", name);
  http_resp *r = control("POST", "/_mock/snapshot", body);
  cr_assert_eq(r->status, 200, "%s", r->body);
  snprintf(want, sizeof want, "%s/%s.db", snapdir, name);
  cr_assert_str_eq(jstr(r->json, "name"), name);
  cr_assert_str_eq(jstr(r->json, "path"), want);
  cr_assert_gt(jint(r->json, "bytes"), 0);
  http_resp_free(r);
}

static http_resp *restore(const char *name) {
  char body[200];
  snprintf(body, sizeof body, "{\"name\": \"%s\"}", name);
  return control("POST", "/_mock/restore", body);
}

static void file_path(char *out, size_t n, const char *file) { snprintf(out, n, "%s/%s", snapdir, file); }

/* Copy snapshot src to file dst in the snapshot dir, then run sql on the copy. */
static void craft(const char *src, const char *dst, const char *sql) {
  char from[PATH_MAX + 80], to[PATH_MAX + 80];
  file_path(from, sizeof from, src);
  file_path(to, sizeof to, dst);
  size_t n;
  char *bytes = read_file(from, &n);
  cr_assert(bytes);
  FILE *f = fopen(to, "wb");
  cr_assert(f && fwrite(bytes, 1, n, f) == n);
  fclose(f);
  free(bytes);
  if (sql) {
    sqlite3 *db;
    char *err = NULL;
    cr_assert_eq(sqlite3_open(to, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &err), SQLITE_OK, "%s: %s", sql, err ? err : "");
    sqlite3_close(db);
  }
}

Test(snapshots, by_name_reset_restore_brings_the_device_back) {
  char dev[37], path[128], file[PATH_MAX + 80];
  claim_new(&m, KEY, "[\"lab\"]", dev);
  snprintf(path, sizeof path, "/v1/claimed-devices/%s", dev);
  snapshot("s1");
  struct stat st;
  file_path(file, sizeof file, "s1.db");
  cr_assert_eq(lstat(file, &st), 0);
  cr_assert(S_ISREG(st.st_mode));
  cr_assert_eq(st.st_mode & 0777, 0600, "mode %o", st.st_mode & 0777);
  cr_assert_eq(status_of(control("POST", "/_mock/reset", NULL)), 204);
  cr_assert_eq(status_of(owner(&m, KEY, "GET", path, NULL)), 404);
  cr_assert_eq(status_of(restore("s1")), 204);
  http_resp *r = owner(&m, KEY, "GET", path, NULL);
  cr_assert_eq(r->status, 200, "the device is back: %s", r->body);
  cr_assert_str_eq(json_string_value(json_array_get(json_object_get(r->json, "tags"), 0)), "lab");
  http_resp_free(r);
  snprintf(path, sizeof path, "/v1/claimed-devices/%s/provisioning", dev);
  cr_assert_eq(status_of(owner(&m, KEY, "POST", path, "{\"request\": {\"finished\": {}}}")), 201, "the restored state is live");
}

Test(snapshots, names_list_conflict_and_delete) {
  snapshot("b-2.x_y");
  snapshot("a1");
  expect_error_free(control("POST", "/_mock/snapshot", "{\"name\": \"a1\"}"), 409, 40902, "a1");
  http_resp *r = control("GET", "/_mock/snapshots", NULL);
  cr_assert_eq(r->status, 200, "%s", r->body);
  json_t *items = json_object_get(r->json, "items");
  cr_assert_eq(json_array_size(items), 2, "%s", r->body);
  cr_assert_str_eq(jstr(json_array_get(items, 0), "name"), "a1");
  cr_assert_str_eq(jstr(json_array_get(items, 1), "name"), "b-2.x_y");
  cr_assert_gt(jint(json_array_get(items, 0), "bytes"), 0);
  cr_assert_eq(strlen(jstr(json_array_get(items, 0), "createdAt")), 24, "%s", r->body);
  http_resp_free(r);
  cr_assert_eq(status_of(control("DELETE", "/_mock/snapshots/a1", NULL)), 204);
  expect_error_free(control("DELETE", "/_mock/snapshots/a1", NULL), 404, 40400, "a1");
  expect_error_free(control("DELETE", "/_mock/snapshots/.hidden", NULL), 400, 40004, "name");
  r = control("GET", "/_mock/snapshots", NULL);
  cr_assert_eq(json_array_size(json_object_get(r->json, "items")), 1, "%s", r->body);
  http_resp_free(r);
  /* Bad names, each refused without a file. */
  const char *bad[] = {"{\"name\": \".hidden\"}", "{\"name\": \"a/b\"}", "{\"name\": \"x y\"}", "{\"name\": 3}",
                       "{\"name\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) expect_error_free(control("POST", "/_mock/snapshot", bad[i]), 400, 40004, "name");
  expect_error_free(control("POST", "/_mock/snapshot", "{}"), 400, 40001, "name");
  expect_error_free(control("POST", "/_mock/snapshot", "{\"name\": \"\"}"), 400, 40001, "name");
  expect_error_free(control("POST", "/_mock/restore", "{}"), 400, 40001, "name");
  expect_error_free(restore("never-made"), 400, 40004, "never-made");
  r = control("GET", "/_mock/snapshots", NULL);
  cr_assert_eq(json_array_size(json_object_get(r->json, "items")), 1, "%s", r->body);
  http_resp_free(r);
}

Test(snapshots, paths_only_directly_inside_the_snapshot_dir) {
  char body[PATH_MAX + 100], file[PATH_MAX + 80], outside[400];
  /* Inside: accepted, for both calls. */
  file_path(file, sizeof file, "p1.db");
  snprintf(body, sizeof body, "{\"path\": \"%s\"}", file);
  http_resp *r = control("POST", "/_mock/snapshot", body);
  cr_assert_eq(r->status, 200, "%s", r->body);
  cr_assert_str_eq(jstr(r->json, "name"), "p1");
  cr_assert_str_eq(jstr(r->json, "path"), file);
  http_resp_free(r);
  cr_assert_eq(status_of(control("POST", "/_mock/restore", body)), 204);
  /* Anything else: 40004, and no file is made or read. */
  snprintf(outside, sizeof outside, "%s/outside.db", root);
  const char *paths[] = {"p2.db", "snaps/p2.db", outside, "/etc/passwd", "/nonexistent/x.db"};
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
    snprintf(body, sizeof body, "{\"path\": \"%s\"}", paths[i]);
    expect_error_free(control("POST", "/_mock/snapshot", body), 400, 40004, "path");
    expect_error_free(control("POST", "/_mock/restore", body), 400, 40004, "path");
  }
  cr_assert_neq(access("p2.db", F_OK), 0, "no relative file made");
  cr_assert_neq(access(outside, F_OK), 0, "no file made outside the dir");
  const char *tricky[] = {"/../x.db", "/sub/x.db", "//x.db", "/.x.db", "/"};
  for (size_t i = 0; i < sizeof tricky / sizeof tricky[0]; i++) {
    char p[PATH_MAX + 40];
    snprintf(p, sizeof p, "%s%s", snapdir, tricky[i]);
    snprintf(body, sizeof body, "{\"path\": \"%s\"}", p);
    expect_error_free(control("POST", "/_mock/snapshot", body), 400, 40004, "path");
  }
  snprintf(file, sizeof file, "%s/x.db", root);
  cr_assert_neq(access(file, F_OK), 0, "no file made by ..");
  /* The message is the same whether the file outside exists or not: no oracle. */
  snprintf(body, sizeof body, "{\"path\": \"/etc/passwd\"}");
  r = control("POST", "/_mock/restore", body);
  char msg1[512];
  snprintf(msg1, sizeof msg1, "%s", jstr(r->json, "message"));
  http_resp_free(r);
  r = control("POST", "/_mock/restore", "{\"path\": \"/etc/no-such-file\"}");
  cr_assert(strstr(msg1, "directly inside") && strstr(jstr(r->json, "message"), "directly inside"), "%s / %s", msg1, r->body);
  http_resp_free(r);
}

Test(snapshots, a_planted_symlink_is_neither_followed_nor_replaced) {
  char link[PATH_MAX + 80], target[400];
  snprintf(target, sizeof target, "%s/target.db", root);
  file_path(link, sizeof link, "evil.db");
  cr_assert_eq(symlink(target, link), 0);
  expect_error_free(control("POST", "/_mock/snapshot", "{\"name\": \"evil\"}"), 409, 40902, "evil");
  cr_assert_neq(access(target, F_OK), 0, "nothing written through the dangling link");
  struct stat st;
  cr_assert_eq(lstat(link, &st), 0);
  cr_assert(S_ISLNK(st.st_mode), "the link is still a link");
  /* A link to a real snapshot outside is not restored through either. */
  snapshot("real");
  char real[PATH_MAX + 80], moved[400];
  file_path(real, sizeof real, "real.db");
  snprintf(moved, sizeof moved, "%s/moved.db", root);
  cr_assert_eq(rename(real, moved), 0);
  unlink(link);
  cr_assert_eq(symlink(moved, link), 0);
  expect_error_free(restore("evil"), 400, 40004, "evil");
}

Test(snapshots, crafted_files_are_refused_and_the_state_stays) {
  char dev[37], path[128], file[PATH_MAX + 80];
  claim_new(&m, KEY, NULL, dev);
  snprintf(path, sizeof path, "/v1/claimed-devices/%s", dev);
  snapshot("good");
  claim_new(&m, KEY, NULL, dev); /* the state now differs from "good" */
  snprintf(path, sizeof path, "/v1/claimed-devices/%s", dev);

  /* The audit's file: the right version, none of the tables. */
  file_path(file, sizeof file, "audit.db");
  sqlite3 *db;
  cr_assert_eq(sqlite3_open(file, &db), SQLITE_OK);
  cr_assert_eq(sqlite3_exec(db, "PRAGMA user_version=5; CREATE TABLE x(y);", NULL, NULL, NULL), SQLITE_OK); /* current */
  sqlite3_close(db);
  craft("good.db", "newer.db", "PRAGMA user_version = 99");
  craft("good.db", "nocolumn.db", "ALTER TABLE claims DROP COLUMN imei");
  craft("good.db", "notable.db", "DROP TABLE rule_applied");
  craft("good.db", "retyped.db", "PRAGMA writable_schema=ON; UPDATE sqlite_schema SET sql = replace(sql, "
                                 "'owner_id TEXT NOT NULL UNIQUE', 'owner_id BLOB NOT NULL UNIQUE') WHERE name = 'teams';");
  craft("good.db", "trigger.db", "CREATE TRIGGER t AFTER INSERT ON claims BEGIN DELETE FROM teams; END");
  craft("good.db", "untriggered.db", "DROP TRIGGER counts_claim_del");
  craft("good.db", "miscounted.db", "UPDATE claim_counts SET n = n + 5");
  craft("good.db", "dangling.db", "PRAGMA foreign_keys=OFF; UPDATE claims SET team_id = 999");
  craft("good.db", "corrupt.db", NULL);
  craft("good.db", "oldbroken.db", "PRAGMA user_version = 4"); /* says 4, has no version 4 schema */
  /* Garble the middle of a b-tree page past the schema page. */
  file_path(file, sizeof file, "corrupt.db");
  FILE *f = fopen(file, "r+b");
  cr_assert(f);
  cr_assert_eq(fseek(f, 4096 * 2 + 8, SEEK_SET), 0);
  for (int i = 0; i < 64; i++) fputc(0xA5, f);
  fclose(f);
  file_path(file, sizeof file, "text.db");
  f = fopen(file, "w");
  fputs("this is not a database, it only pretends to be one by its name\n", f);
  fclose(f);
  file_path(file, sizeof file, "empty.db");
  fclose(fopen(file, "w"));

  struct {
    const char *name, *names;
  } cases[] = {
    {"audit", "missing"},        {"newer", "99"},         {"nocolumn", "imei"},  {"notable", "rule_applied"},
    {"retyped", "owner_id"},     {"trigger", "trigger"},  {"untriggered", "counts_claim_del"},
    {"miscounted", "counts"},    {"dangling", "claims"}, {"corrupt", NULL},
    {"text", "not an SQLite"},   {"empty", "empty"},      {"oldbroken", "version 4"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    http_resp *r = restore(cases[i].name);
    cr_assert_eq(r->status, 400, "%s: %s", cases[i].name, r->body);
    cr_assert_eq(jint(r->json, "code"), 40004, "%s: %s", cases[i].name, r->body);
    cr_assert(strstr(jstr(r->json, "message"), cases[i].name), "%s: the message names the snapshot: %s", cases[i].name, r->body);
    if (cases[i].names) cr_assert(strstr(jstr(r->json, "message"), cases[i].names), "%s: %s", cases[i].name, r->body);
    http_resp_free(r);
    /* The running state is untouched, and the server goes on. */
    cr_assert_eq(status_of(owner(&m, KEY, "GET", path, NULL)), 200, "after %s", cases[i].name);
    http_resp *l = owner(&m, KEY, "GET", "/v1/claimed-devices", NULL);
    cr_assert_eq(l->status, 200, "after %s: %s", cases[i].name, l->body);
    cr_assert_eq(jint(l->json, "total"), 2, "after %s", cases[i].name);
    http_resp_free(l);
  }
  cr_assert_eq(status_of(restore("good")), 204);
  cr_assert_eq(status_of(owner(&m, KEY, "GET", path, NULL)), 404, "the good one restores");
}

Test(snapshots, an_older_builds_snapshot_is_brought_to_this_schema) {
  char dev[37], path[128], file[PATH_MAX + 80];
  claim_new(&m, KEY, "[\"lab\"]", dev);
  snprintf(path, sizeof path, "/v1/claimed-devices/%s", dev);
  snapshot("now");
  /* What a build of schema version 4 wrote: version 5 dropped these two indexes. */
  craft("now.db", "v4.db", "CREATE INDEX claims_team_type ON claims(team_id, device_type, seq);"
                           "CREATE INDEX claims_team_blocked ON claims(team_id, blocked, seq);"
                           "PRAGMA user_version = 4");
  cr_assert_eq(status_of(control("POST", "/_mock/reset", NULL)), 204);
  cr_assert_eq(status_of(restore("v4")), 204);
  http_resp *r = owner(&m, KEY, "GET", path, NULL);
  cr_assert_eq(r->status, 200, "the device is back: %s", r->body);
  cr_assert_str_eq(json_string_value(json_array_get(json_object_get(r->json, "tags"), 0)), "lab");
  http_resp_free(r);
  claim_new(&m, KEY, NULL, dev); /* the restored state takes writes */
  /* What is live now is this build's schema: a snapshot of it says version 5 and has
   * neither index. */
  snapshot("after");
  file_path(file, sizeof file, "after.db");
  sqlite3 *db;
  sqlite3_stmt *st;
  cr_assert_eq(sqlite3_open(file, &db), SQLITE_OK);
  cr_assert_eq(sqlite3_prepare_v2(db, "SELECT (SELECT user_version FROM pragma_user_version),"
                                      " (SELECT count(*) FROM sqlite_schema WHERE name LIKE 'claims_team_%')", -1, &st, NULL), SQLITE_OK);
  cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
  cr_assert_eq(sqlite3_column_int(st, 0), 5);
  cr_assert_eq(sqlite3_column_int(st, 1), 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TestSuite(snapshot_dirs, .timeout = 60);

Test(snapshot_dirs, in_memory_uses_a_private_dir_removed_at_exit) {
  mock_start(&m, NULL);
  http_resp *r = control("GET", "/_mock/snapshots", NULL);
  cr_assert_eq(r->status, 200);
  cr_assert_eq(json_array_size(json_object_get(r->json, "items")), 0);
  http_resp_free(r);
  r = control("POST", "/_mock/snapshot", "{\"name\": \"mem\"}");
  cr_assert_eq(r->status, 200, "%s", r->body);
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", jstr(r->json, "path"));
  http_resp_free(r);
  *strrchr(dir, '/') = 0;
  struct stat st;
  cr_assert_eq(stat(dir, &st), 0);
  cr_assert_eq(st.st_mode & 0777, 0700, "the private dir is 0700: %o", st.st_mode & 0777);
  cr_assert_eq(status_of(restore("mem")), 204);
  cr_assert_eq(mock_stop(&m), 0);
  cr_assert_neq(stat(dir, &st), 0, "%s is removed at exit", dir);
}

Test(snapshot_dirs, default_dir_is_in_the_data_dir) {
  char data[300], want[PATH_MAX + 40], real[PATH_MAX];
  snprintf(root, sizeof root, "/tmp/nrfprov-snapd-XXXXXX");
  cr_assert(mkdtemp(root));
  snprintf(data, sizeof data, "%s/data", root);
  mock_start(&m, "--data-dir", data, NULL);
  http_resp *r = control("POST", "/_mock/snapshot", "{\"name\": \"d1\"}");
  cr_assert_eq(r->status, 200, "%s", r->body);
  cr_assert(realpath(data, real));
  snprintf(want, sizeof want, "%s/snapshots/d1.db", real);
  cr_assert_str_eq(jstr(r->json, "path"), want);
  http_resp_free(r);
  cr_assert_eq(mock_stop(&m), 0);
  cr_assert_eq(access(want, F_OK), 0, "a data-dir snapshot outlives the server");
  remove_tree(root);
}
