/* store/ lists at scale, in SQLite's :memory: mode: the stored device status and the
 * maintained counts (triggers, and store_claim_insert for a new claim) agree with what
 * they summarise after every kind of change, list totals and pages agree with a
 * brute-force reading of the tables, and no list query scans a whole table (EXPLAIN
 * QUERY PLAN over every statement the lists prepared). No server, no service layer: the
 * integration suite drives the same code through the real binary under concurrent
 * writes. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/claims.h"
#include "store/commands.h"
#include "store/devices.h"
#include "store/internal.h" /* store__db: the test reads counts and plans itself */
#include "store/rules.h"
#include "store/status.h"
#include "store/store.h"
#include "store/tags.h"
#include "store/teams.h"

static store *s;

static void open_store(void) {
  char why[256] = "";
  cr_assert_eq(store_open(&s, ":memory:", why, sizeof why), 0, "%s", why);
}
static void close_store(void) { store_close(s); }

TestSuite(store_lists, .init = open_store, .fini = close_store, .timeout = 60);

static int64_t one_int(const char *sql) {
  sqlite3_stmt *st;
  cr_assert_eq(sqlite3_prepare_v2(store__db(s), sql, -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(store__db(s)));
  cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s", sql);
  int64_t v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

/* Every summary agrees with the rows it summarises. */
static void expect_consistent(void) {
  cr_assert_eq(one_int("SELECT count(*) FROM claims c WHERE c.status != " STORE_CLAIM_STATUS_SQL), 0,
               "a stored status differs from the derived one");
  cr_assert_eq(one_int("SELECT count(*) FROM claim_tags ct JOIN claims c ON c.seq = ct.claim_seq"
                       " WHERE ct.status != c.status OR ct.blocked != c.blocked OR ct.device_type != c.device_type"), 0,
               "a tag row's copy of its claim's columns is stale");
  static const char *const pairs[][2] = {
    {"SELECT team_id, status, blocked, device_type, n FROM claim_counts WHERE n != 0",
     "SELECT team_id, status, blocked, device_type, count(*) FROM claims GROUP BY 1, 2, 3, 4"},
    {"SELECT team_id, tag, status, blocked, device_type, n FROM tag_counts WHERE n != 0",
     "SELECT team_id, tag, status, blocked, device_type, count(*) FROM claim_tags GROUP BY 1, 2, 3, 4, 5"},
    {"SELECT team_id, list, n FROM list_counts WHERE n != 0",
     "SELECT team_id, 'rules', count(*) FROM rules GROUP BY 1 UNION ALL "
     "SELECT team_id, 'tags', count(*) FROM tags GROUP BY 1 UNION ALL "
     "SELECT team_id, 'devices', count(*) FROM devices GROUP BY 1"},
  };
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
    char sql[1024];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM (SELECT * FROM (%s) EXCEPT SELECT * FROM (%s))", pairs[i][0], pairs[i][1]);
    cr_assert_eq(one_int(sql), 0, "counts hold a row the table does not: %s", pairs[i][0]);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM (SELECT * FROM (%s) EXCEPT SELECT * FROM (%s))", pairs[i][1], pairs[i][0]);
    cr_assert_eq(one_int(sql), 0, "counts miss a row of the table: %s", pairs[i][0]);
  }
}

typedef struct {
  int n;
  int64_t seqs[512];
} seen;

static void collect(const store_claim *c, void *ud) {
  seen *v = ud;
  cr_assert_lt(v->n, 512);
  v->seqs[v->n++] = c->seq;
}

/* Walk every page of a filtered list; the pages must be newest first, without repeats,
 * and hold exactly what a brute-force query over the tables finds. */
static void expect_list(int64_t team_id, const store_claim_filter *f, const char *where) {
  seen all = {0};
  int64_t before = 0, total = -1;
  for (int page = 0; page < 600; page++) {
    seen v = {0};
    int64_t t = -1;
    cr_assert_eq(store_claim_list(s, team_id, f, before, 3, collect, &v, &t), 0);
    if (total < 0) total = t;
    cr_assert_eq(t, total, "the total stays the same from page to page");
    for (int i = 0; i < v.n; i++) {
      if (all.n) cr_assert_lt(v.seqs[i], all.seqs[all.n - 1], "newest first, no repeats");
      all.seqs[all.n++] = v.seqs[i];
    }
    if (v.n < 3) break;
    before = v.seqs[v.n - 1];
  }
  char sql[2048];
  snprintf(sql, sizeof sql, "SELECT count(*) FROM claims c WHERE c.team_id = %lld AND %s", (long long)team_id, where);
  int64_t want = one_int(sql);
  cr_assert_eq(total, want, "total for %s: %lld, brute force %lld", where, (long long)total, (long long)want);
  cr_assert_eq(all.n, want, "rows for %s: %d, brute force %lld", where, all.n, (long long)want);
}

static void expect_lists(int64_t team_id) {
  static const struct {
    store_claim_filter f;
    const char *where;
  } cases[] = {
    {{NULL, NULL, -1, NULL}, "1"},
    {{NULL, "[\"PENDING\"]", -1, NULL}, "c.status = 'PENDING'"},
    {{NULL, "[\"READY\",\"ERROR\"]", -1, NULL}, "c.status IN ('READY', 'ERROR')"},
    {{NULL, NULL, 1, NULL}, "c.blocked = 1"},
    {{NULL, NULL, 0, "nrf9161_LACA"}, "c.blocked = 0 AND c.device_type = 'nrf9161_LACA'"},
    {{"[\"a\"]", NULL, -1, NULL}, "c.seq IN (SELECT claim_seq FROM claim_tags WHERE tag = 'a')"},
    {{"[\"a\",\"b\"]", NULL, -1, NULL}, "c.seq IN (SELECT claim_seq FROM claim_tags WHERE tag IN ('a', 'b'))"},
    {{"[\"a\",\"b\"]", "[\"PENDING\",\"PROVISIONED\"]", 0, NULL},
     "c.seq IN (SELECT claim_seq FROM claim_tags WHERE tag IN ('a', 'b'))"
     " AND c.status IN ('PENDING', 'PROVISIONED') AND c.blocked = 0"},
    {{"[\"nobody\"]", NULL, -1, NULL}, "0"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) expect_list(team_id, &cases[i].f, cases[i].where);
}

static int64_t team(const char *key, const char *owner) {
  int64_t id = 0;
  cr_assert_eq(store_team_ensure(s, key, owner, NULL, &id), 0);
  return id;
}

static int64_t claim(int64_t team_id, int i, const char *type, const char *const *tags, size_t ntags) {
  char dev[37], queue[37];
  snprintf(dev, sizeof dev, "4961c873-408c-45ce-b1ba-%012d", i);
  snprintf(queue, sizeof queue, "0b7e3c1a-5d7c-4c52-9a8e-%012d", i);
  int64_t seq = 0;
  cr_assert_eq(store_claim_insert(s, team_id, dev, type, "a4d580b9-aafb-4925-bc8d-db95f737d4ae", NULL, queue, &seq), 0);
  cr_assert_eq(store_claim_set_tags(s, seq, team_id, tags, ntags), 0);
  return seq;
}

static int64_t command(int64_t claim_seq, int i) {
  char id[37];
  int64_t qseq = 0;
  snprintf(id, sizeof id, "0c0c0c0c-0000-4000-8000-%012d", i);
  cr_assert_eq(store_claim_take_qseq(s, claim_seq, &qseq), 0);
  cr_assert_eq(store_command_insert(s, claim_seq, qseq, id, "finished", NULL, "{\"finished\":{}}", NULL), 0);
  store_command c;
  cr_assert_eq(store_command_get(s, claim_seq, id, &c), 0);
  int64_t seq = c.seq;
  store_command_free(&c);
  return seq;
}

/* Every kind of change the status and the counts depend on, checking after each. */
Test(store_lists, status_and_counts_follow_every_change) {
  int64_t t1 = team("k1", "00000000-0000-4000-8000-000000000001");
  int64_t t2 = team("k2", "00000000-0000-4000-8000-000000000002");
  const char *a[] = {"a"}, *b[] = {"b"}, *ab[] = {"a", "b"};
  int64_t c[12];
  for (int i = 0; i < 12; i++) {
    const char *const *tags = i % 3 == 0 ? a : i % 3 == 1 ? b : ab;
    c[i] = claim(i < 9 ? t1 : t2, i, i % 2 ? "nrf9161_LACA" : "nrf9160_SICA", tags, i % 3 == 2 ? 2 : 1);
  }
  expect_consistent();
  expect_lists(t1);

  /* Commands: queued, delivered, settled either way; a report outcome. */
  int64_t k0 = command(c[0], 100), k1 = command(c[1], 101);
  command(c[2], 102);
  expect_consistent();
  cr_assert_eq(store_command_set_status(s, k0, "IN_PROGRESS", NULL), 0);
  cr_assert_eq(store_command_set_status(s, k1, "FAILED", "{}"), 0);
  cr_assert_eq(store_claim_set_report(s, c[1], 2), 0);
  cr_assert_eq(store_command_set_status(s, k0, "SUCCEEDED", "{}"), 0);
  cr_assert_eq(store_claim_set_report(s, c[0], 1), 0);
  expect_consistent();
  expect_lists(t1);

  /* Blocking, retagging. */
  cr_assert_eq(store_claim_set_blocked(s, c[3], 1), 0);
  cr_assert_eq(store_claim_set_blocked(s, c[4], 1), 0);
  cr_assert_eq(store_claim_set_tags(s, c[5], t1, a, 1), 0);
  expect_consistent();
  expect_lists(t1);

  /* A rule on tag a: a draft changes nothing, activation makes its devices PENDING, an
   * applied mark releases one, deleting the rule releases the rest. */
  int64_t rule = 0;
  cr_assert_eq(store_rule_insert(s, t1, "0d0d0d0d-0000-4000-8000-000000000001", "r", NULL, 0, "[]", &rule), 0);
  cr_assert_eq(store_rule_set_tags(s, rule, t1, a, 1), 0);
  expect_consistent();
  cr_assert_eq(store_rule_update(s, rule, "r", NULL, 1, "[]"), 0);
  expect_consistent();
  cr_assert_gt(one_int("SELECT count(*) FROM claims WHERE status = 'PENDING'"), 2);
  cr_assert_eq(store_rule_mark_applied(s, rule, c[0]), 0);
  expect_consistent();
  expect_lists(t1);
  cr_assert_eq(store_rule_delete(s, t1, "0d0d0d0d-0000-4000-8000-000000000001"), 0);
  expect_consistent();

  /* Commands reset, unclaim, onboarded devices, a tag deleted, a team reset. */
  char queue[37] = "1b7e3c1a-5d7c-4c52-9a8e-2f9f4f0b0c11";
  cr_assert_eq(store_commands_reset(s, c[1], queue), 0);
  cr_assert_eq(store_claim_delete(s, t1, "4961c873-408c-45ce-b1ba-000000000002"), 0);
  cr_assert_eq(store_device_upsert(s, t1, "4961c873-408c-45ce-b1ba-000000000000", NULL, "[]", "[]", NULL), 0);
  expect_consistent();
  expect_lists(t1);
  expect_lists(t2);
  cr_assert_eq(store_reset(s, "00000000-0000-4000-8000-000000000001"), 0);
  expect_consistent();
  expect_lists(t2);
  cr_assert_eq(store_reset(s, NULL), 0);
  expect_consistent();
}

/* A filter matching more (status, blocked, type) combinations than the merge takes is
 * answered by the filtered scan, with the same results. */
Test(store_lists, many_device_types_fall_back_to_one_filtered_scan) {
  int64_t t1 = team("k1", "00000000-0000-4000-8000-000000000001");
  const char *a[] = {"a"};
  for (int i = 0; i < 80; i++) {
    char type[32];
    snprintf(type, sizeof type, "unknown_%d", 100 + i);
    claim(t1, i, type, a, 1);
  }
  expect_consistent();
  expect_lists(t1);
}

static void no_rule(const store_rule *r, void *ud) { (void)r, (void)ud; }
static void no_tag(const store_tag *t, void *ud) { (void)t, (void)ud; }
static void no_device(const store_device *d, void *ud) { (void)d, (void)ud; }

/* No list query reads a whole table: after every list path has run, no statement the
 * store prepared for a SELECT has a plan step that SCANs a table (a SCAN of json_each
 * or of a subquery's result is fine). */
Test(store_lists, list_queries_scan_no_table) {
  int64_t t1 = team("k1", "00000000-0000-4000-8000-000000000001");
  const char *ab[] = {"a", "b"};
  for (int i = 0; i < 6; i++) command(claim(t1, i, "nrf9160_SICA", ab, 2), i);
  int64_t rule = 0;
  cr_assert_eq(store_rule_insert(s, t1, "0d0d0d0d-0000-4000-8000-000000000001", "r", NULL, 1, "[]", &rule), 0);
  cr_assert_eq(store_device_upsert(s, t1, "4961c873-408c-45ce-b1ba-000000000000", NULL, "[]", "[]", NULL), 0);
  expect_lists(t1);
  int64_t total;
  cr_assert_eq(store_rule_list(s, t1, 0, 10, no_rule, NULL, &total), 0);
  cr_assert_eq(total, 1);
  cr_assert_eq(store_tag_list(s, t1, 0, 10, no_tag, NULL, &total), 0);
  cr_assert_eq(total, 2);
  cr_assert_eq(store_device_list(s, t1, 0, 10, no_device, NULL, &total), 0);
  cr_assert_eq(total, 1);

  int checked = 0;
  for (sqlite3_stmt *st = NULL; (st = sqlite3_next_stmt(store__db(s), st));) {
    const char *sql = sqlite3_sql(st);
    if (!sql || strncmp(sql, "SELECT", 6)) continue;
    char *explain = sqlite3_mprintf("EXPLAIN QUERY PLAN %s", sql);
    sqlite3_stmt *plan;
    cr_assert_eq(sqlite3_prepare_v2(store__db(s), explain, -1, &plan, NULL), SQLITE_OK);
    while (sqlite3_step(plan) == SQLITE_ROW) {
      const char *detail = (const char *)sqlite3_column_text(plan, 3);
      bool scan = strncmp(detail, "SCAN ", 5) == 0 && !strstr(detail, "json_each") && !strstr(detail, "(subquery")
                  && !strstr(detail, "CONSTANT ROW");
      cr_expect(!scan, "a whole-table scan: %s\n  in: %s", detail, sql);
    }
    sqlite3_finalize(plan);
    sqlite3_free(explain);
    checked++;
  }
  cr_assert_gt(checked, 10, "the list statements were examined");
}

/* The schema as text, for comparing two stores. */
static char *schema_text(store *st) {
  sqlite3_stmt *q;
  cr_assert_eq(sqlite3_prepare_v2(store__db(st), "SELECT group_concat(sql, ';') FROM"
                                  " (SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY name)", -1, &q, NULL), SQLITE_OK);
  cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
  char *text = strdup((const char *)sqlite3_column_text(q, 0));
  sqlite3_finalize(q);
  return text;
}

/* A reset of a large store lays a fresh schema instead of deleting rows: the result is
 * the schema a new store has, empty, and it works as before. */
Test(store_lists, a_large_reset_leaves_the_schema_of_a_new_store) {
  int64_t t1 = team("k1", "00000000-0000-4000-8000-000000000001");
  const char *a[] = {"a"};
  cr_assert_eq(store_begin(s), 0);
  for (int i = 0; i < 700; i++) command(claim(t1, i, "nrf9160_SICA", a, 1), i);
  cr_assert_eq(store_end(s, true), 0);
  cr_assert_eq(store_begin(s), 0);
  cr_assert_eq(store_reset(s, NULL), 0);
  cr_assert_eq(store_end(s, true), 0);
  cr_assert_eq(one_int("SELECT count(*) FROM claims"), 0);
  cr_assert_eq(one_int("SELECT count(*) FROM commands"), 0);
  cr_assert_eq(one_int("SELECT count(*) FROM claim_counts"), 0);
  store *fresh;
  char why[256];
  cr_assert_eq(store_open(&fresh, ":memory:", why, sizeof why), 0);
  char *want = schema_text(fresh), *got = schema_text(s);
  cr_assert_str_eq(got, want);
  free(want);
  free(got);
  store_close(fresh);
  t1 = team("k1", "00000000-0000-4000-8000-000000000001");
  claim(t1, 1, "nrf9160_SICA", a, 1);
  expect_consistent();
  expect_lists(t1);
}
