/* The store's checkpointer (store/store.c, docs/performance.md): it copies the WAL into
 * the database file in the background, a pass per 4000 new pages, and the WAL starts over
 * once a pass has copied it all (a pass that ran after the writes paused); otherwise it
 * starts over at 16000 pages, and past 32000 a commit copies itself, so
 * the WAL file stays bounded whatever the writes add up to. Every committed row is there
 * after a reopen, and in the database file alone once the store is closed. (That the
 * 16000-page step makes the 32000-page one rare is a matter of speed: bench/, not here.) */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/internal.h"
#include "store/store.h"
#include "tmpdb.h"

static tmpdb db_file;

/* The checkpointer's sizes, a hundredth of the real ones (store.c), so the tests write
 * megabytes, not hundreds of them. */
#define PASS 40
#define RESTART 160
#define INLINE 320

static void setup(void) {
  store__checkpoint_sizes(PASS, RESTART, INLINE);
  tmpdb_make(&db_file, "store_ckpt");
}

static void teardown(void) { tmpdb_remove(&db_file); }

TestSuite(store_checkpoint, .init = setup, .fini = teardown, .timeout = 120);

static long long file_size(const char *suffix) {
  char p[128];
  struct stat st;
  snprintf(p, sizeof p, "%s%s", db_file.path, suffix);
  return stat(p, &st) ? 0 : (long long)st.st_size;
}

/* Add txs transactions of ROWS_PER_TX one-page rows; the largest WAL file seen. */
static long long write_pages(store *s, int txs);

static long long count_rows(sqlite3 *db) {
  sqlite3_stmt *st;
  cr_assert_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM filler", -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
  cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
  long long n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return n;
}

/* Rows of one page a transaction writes, and how many transactions: 960 pages in all,
 * six times the WAL's restart size and three times the size where a commit checkpoints
 * itself. */
#define ROWS_PER_TX 6
#define TXS 160

static void make_filler(store *s) {
  cr_assert_eq(store_begin(s), 0);
  cr_assert_eq(sqlite3_exec(store__db(s), "CREATE TABLE filler (id INTEGER PRIMARY KEY, b BLOB NOT NULL)", NULL, NULL, NULL),
               SQLITE_OK);
  cr_assert_eq(store_end(s, true), 0);
}

static long long write_pages(store *s, int txs) {
  sqlite3_stmt *ins;
  cr_assert_eq(sqlite3_prepare_v2(store__db(s), "INSERT INTO filler (b) VALUES (randomblob(4000))", -1, &ins, NULL), SQLITE_OK);
  long long max_wal = 0;
  for (int t = 0; t < txs; t++) {
    cr_assert_eq(store_begin(s), 0);
    for (int i = 0; i < ROWS_PER_TX; i++) {
      cr_assert_eq(sqlite3_step(ins), SQLITE_DONE, "%s", sqlite3_errmsg(store__db(s)));
      sqlite3_reset(ins);
    }
    cr_assert_eq(store_end(s, true), 0);
    long long w = file_size("-wal");
    if (w > max_wal) max_wal = w;
  }
  sqlite3_finalize(ins);
  return max_wal;
}

#define FRAME (4096 + 24) /* a WAL frame: its header and a 4 KiB page */

/* Every committed row after a reopen, and in the database file alone once the store is
 * closed (closing checkpoints what is left and removes the WAL). */
static void all_rows_are_kept(long long rows) {
  char why[256];
  store *s;
  cr_assert_eq(store_open(&s, db_file.path, why, sizeof why), 0, "%s", why);
  cr_assert_eq(store_begin_read(s), 0);
  cr_assert_eq(count_rows(store__db(s)), rows);
  store_end_read(s);
  store_close(s);
  cr_assert_eq(file_size("-wal"), 0, "closing the store leaves no WAL");
  sqlite3 *db;
  cr_assert_eq(sqlite3_open_v2(db_file.path, &db, SQLITE_OPEN_READONLY, "unix"), SQLITE_OK);
  cr_assert_eq(count_rows(db), rows);
  sqlite3_close(db);
}

Test(store_checkpoint, the_wal_stays_bounded_under_writes_that_never_pause) {
  char why[256];
  store *s;
  cr_assert_eq(store_open(&s, db_file.path, why, sizeof why), 0, "%s", why);
  make_filler(s);
  long long max_wal = write_pages(s, TXS);
  /* However far behind the checkpointer is, a commit that takes the WAL past INLINE pages
   * copies it itself: the WAL never holds more than that and one transaction. Without a
   * WAL that starts over it would have reached 960 pages. */
  cr_assert_leq(max_wal, (INLINE + ROWS_PER_TX + 4LL) * FRAME + 32, "the WAL reached %lld pages", max_wal / FRAME);
  store_close(s);
  all_rows_are_kept((long long)ROWS_PER_TX * TXS);
}

/* Poll (bounded: 20 s) until the checkpointer has nothing due and is not at work. */
static bool checkpointer_idle(store *s) {
  for (int i = 0; i < 2000 && store__checkpointer_busy(s); i++) nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
  return !store__checkpointer_busy(s);
}

Test(store_checkpoint, each_pass_copies_in_the_background_and_the_wal_starts_over) {
  char why[256];
  store *s;
  cr_assert_eq(store_open(&s, db_file.path, why, sizeof why), 0, "%s", why);
  make_filler(s);
  /* Sixteen rounds of 24 one-page rows, each followed by the checkpointer's turn: then
   * fewer than PASS of the pages written are missing from the database file (a pass
   * starts every PASS new pages). */
  long long max_wal = 0;
  for (int round = 1; round <= 16; round++) {
    long long w = write_pages(s, 4);
    if (w > max_wal) max_wal = w;
    cr_assert(checkpointer_idle(s), "round %d: the checkpointer is still busy after 20 s", round);
    long long want = ((long long)round * 4 * ROWS_PER_TX - PASS) * 4096;
    cr_assert_geq(file_size(""), want, "round %d: the database file has %lld bytes, not %lld", round, file_size(""), want);
  }
  /* The WAL started over, by itself after a pass that copied every frame or by the
   * checkpointer's step at RESTART pages: it never held more than RESTART, the PASS
   * pages before a pass and two rounds' frames (a transaction also writes a page or two
   * besides its rows). Without it, the commits' own checkpoint at INLINE pages would
   * have been reached. (A pause alone does not start it over: a pass that began during
   * a round leaves that round's last frames, fewer than PASS, for the next.) */
  cr_assert_leq(max_wal, (RESTART + PASS + 2 * 4 * (ROWS_PER_TX + 3LL)) * FRAME + 32, "the WAL reached %lld pages",
                max_wal / FRAME);
  store_close(s);
  all_rows_are_kept(16LL * 4 * ROWS_PER_TX);
}
