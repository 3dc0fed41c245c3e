/* bench_raw_sqlite: the storage baseline for single claims.
 *
 * Commits one claimed-device-like row per transaction (prepared BEGIN IMMEDIATE, INSERT
 * of 11 columns, COMMIT) into a fresh file database in --dir, with the mock's settings:
 * WAL and synchronous=NORMAL. That is the most a claim can cost in storage, so the mock's
 * claims/s are reported as a share of these commits/s. Bounded by --duration and --rows;
 * prints one JSON line {"commits":N,"seconds":S,"rps":R,"p50_us":..,"p99_us":..} and
 * removes its database. Not for: measuring the mock's own store/ (that is what the
 * claims benchmark does end to end).
 */
#include "stats.h"

#include <getopt.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

/* Shaped like the mock's claimed-device row: ids as text, token kept, tags as JSON. */
static const char schema[] =
    "CREATE TABLE claimed_device("
    " id TEXT PRIMARY KEY, team_id INTEGER NOT NULL, device_type INTEGER NOT NULL,"
    " firmware_id TEXT NOT NULL, claim_token TEXT NOT NULL, tags TEXT NOT NULL,"
    " status TEXT NOT NULL, blocked INTEGER NOT NULL, queue_id TEXT NOT NULL,"
    " claimed_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
    "CREATE INDEX claimed_device_team ON claimed_device(team_id, claimed_at DESC, id);";

static uint64_t rng_state;

/* xorshift64*: fast, and random enough for primary keys spread like UUIDs. */
static uint64_t rnd(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545F4914F6CDD1Dull;
}

static void uuid(char out[37]) {
  uint64_t a = rnd(), b = rnd();
  snprintf(out, 37, "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(a >> 32), (unsigned)(a >> 16) & 0xffff,
           (unsigned)a & 0xfff, (unsigned)(b >> 48 & 0x3fff) | 0x8000,
           (unsigned long long)(b & 0xffffffffffffull));
}

static int check(sqlite3 *db, int rc, const char *what) {
  if (rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW) return 0;
  fprintf(stderr, "bench_raw_sqlite: %s: %s\n", what, sqlite3_errmsg(db));
  exit(1);
}

static void usage(FILE *f) {
  fputs("usage: bench_raw_sqlite [--dir /tmp] [--duration 3] [--rows 1000000]\n", f);
}

int main(int argc, char **argv) {
  const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  double duration = 3;
  long long max_rows = 1000000;
  static const struct option opts[] = {{"dir", required_argument, NULL, 'D'},
                                        {"duration", required_argument, NULL, 'd'},
                                        {"rows", required_argument, NULL, 'n'},
                                        {"help", no_argument, NULL, 'h'},
                                        {NULL, 0, NULL, 0}};
  for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
    switch (c) {
      case 'D': dir = optarg; break;
      case 'd': duration = atof(optarg); break;
      case 'n': max_rows = atoll(optarg); break;
      case 'h': usage(stdout); return 0;
      default: usage(stderr); return 2;
    }
  }
  if (duration <= 0 || duration > 3600 || max_rows < 1) {
    usage(stderr);
    return 2;
  }
  if (getrandom(&rng_state, sizeof rng_state, 0) != sizeof rng_state || !rng_state)
    rng_state = 0x9E3779B97F4A7C15ull;

  char path[4096];
  snprintf(path, sizeof path, "%s/bench-raw-sqlite-%ld.db", dir, (long)getpid());
  sqlite3 *db;
  if (sqlite3_open(path, &db) != SQLITE_OK) {
    fprintf(stderr, "bench_raw_sqlite: cannot open %s\n", path);
    return 1;
  }
  check(db, sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL, NULL),
        "pragmas");
  check(db, sqlite3_exec(db, schema, NULL, NULL, NULL), "schema");

  sqlite3_stmt *begin, *commit, *insert;
  check(db, sqlite3_prepare_v3(db, "BEGIN IMMEDIATE", -1, SQLITE_PREPARE_PERSISTENT, &begin, NULL),
        "prepare begin");
  check(db, sqlite3_prepare_v3(db, "COMMIT", -1, SQLITE_PREPARE_PERSISTENT, &commit, NULL),
        "prepare commit");
  check(db, sqlite3_prepare_v3(db,
                               "INSERT INTO claimed_device VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)",
                               -1, SQLITE_PREPARE_PERSISTENT, &insert, NULL),
        "prepare insert");

  /* A claim token is ~230 characters of base64url; its bytes only need to be that long. */
  char token[232];
  for (size_t i = 0; i < sizeof token - 1; i++) token[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ-_"[rnd() % 28];
  token[sizeof token - 1] = '\0';

  stats_t lat = {0};
  long long rows = 0;
  uint64_t start = stats_now_us(), deadline = start + (uint64_t)(duration * 1e6), now = start;
  while (rows < max_rows && now < deadline) {
    char id[37], fw[37], queue[37];
    uuid(id);
    uuid(fw);
    uuid(queue);
    int64_t ms = (int64_t)(now / 1000);
    check(db, sqlite3_step(begin), "begin");
    sqlite3_reset(begin);
    sqlite3_bind_text(insert, 1, id, 36, SQLITE_TRANSIENT);
    sqlite3_bind_int64(insert, 2, 1);
    sqlite3_bind_int64(insert, 3, 3);
    sqlite3_bind_text(insert, 4, fw, 36, SQLITE_TRANSIENT);
    sqlite3_bind_text(insert, 5, token, -1, SQLITE_STATIC);
    sqlite3_bind_text(insert, 6, "[\"nrf-cloud-onboarding\"]", -1, SQLITE_STATIC);
    sqlite3_bind_text(insert, 7, "READY", -1, SQLITE_STATIC);
    sqlite3_bind_int64(insert, 8, 0);
    sqlite3_bind_text(insert, 9, queue, 36, SQLITE_TRANSIENT);
    sqlite3_bind_int64(insert, 10, ms);
    sqlite3_bind_int64(insert, 11, ms);
    check(db, sqlite3_step(insert), "insert");
    sqlite3_reset(insert);
    check(db, sqlite3_step(commit), "commit");
    sqlite3_reset(commit);
    rows++;
    uint64_t t = stats_now_us();
    stats_add(&lat, t - now);
    now = t;
  }
  double secs = (double)(now - start) / 1e6;
  printf("{\"commits\":%lld,\"seconds\":%.3f,\"rps\":%.1f,\"p50_us\":%llu,\"p99_us\":%llu}\n", rows,
         secs, secs > 0 ? (double)rows / secs : 0.0,
         (unsigned long long)stats_percentile(&lat, 50), (unsigned long long)stats_percentile(&lat, 99));

  sqlite3_finalize(begin);
  sqlite3_finalize(commit);
  sqlite3_finalize(insert);
  sqlite3_close(db);
  static const char *suffixes[] = {"", "-wal", "-shm"};
  for (size_t i = 0; i < 3; i++) {
    char p[4200];
    snprintf(p, sizeof p, "%s%s", path, suffixes[i]);
    unlink(p);
  }
  stats_free(&lat);
  return 0;
}
