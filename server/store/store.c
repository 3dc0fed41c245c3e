/* Store core: opening, migrations, the transaction lock, the statement cache, reset.
 * Domain queries live in the other store/ files, one per family. */
#include "store.h"

#include "log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "internal.h"
#include "threads.h"
#include "store/identities.h"
#include "store/status.h"

#define STMT_CACHE 256
/* How long a request spins for the store before it sleeps (spin_for_lock). */
#define LOCK_SPIN_US 30

/* The derived status of the claims row being updated (triggers allow no alias on the
 * updated table, so the expression reads the row again as `c`). */
#define STATUS_OF_ROW "(SELECT " STORE_CLAIM_STATUS_SQL " FROM claims c WHERE c.seq = claims.seq)"

/* A thread of the store's own (the checkpointer, the flusher): its lock, its condition
 * (on the monotonic clock, for timed waits), and the stop asked of it under that lock. */
typedef struct {
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  bool started, stop;
} helper;

struct store {
  sqlite3 *db;
  sqlite3 *pristine;        /* an empty database of the current schema, for reset */
  pthread_mutex_t lock;
  int64_t spin_us;          /* how long take_lock spins before it sleeps */
  atomic_uint_fast64_t generation;
  atomic_uint_fast64_t epoch;
  /* The statements handed out since store_begin, to finish at store_end. */
  sqlite3_stmt *used[32];
  int n_used;               /* > 32: too many to track, finish them all */
  sqlite3_int64 changes_at_begin;
  void (*on_end)(void *ctx, bool committed); /* store_on_end */
  void *on_end_ctx;
  /* Group commit (docs/performance.md): the open group's transaction holds the changes
   * of the requests in waiting[], each ended with RELEASE of its own savepoint and
   * waiting to be told the outcome. group_n == 0: no group is open. */
  atomic_int queued;        /* threads between asking for the lock and holding it */
  atomic_int armed;         /* threads whose request may still defer (store_defer_next) */
  atomic_bool group_open;   /* group_n > 0, for store_defer_next outside the lock */
  atomic_uint_fast64_t commits, deferred; /* store_commit_counts */
  atomic_uint_fast64_t identities;        /* store_identities_version, less the epoch */
  int group_n;
  sqlite3_int64 group_changes_at_begin;
  bool in_group;            /* the running transaction may join or open a group */
  bool savepoint;           /* ... and joined an open one: it is a savepoint of it */
  struct {
    void (*done)(void *ctx, bool committed);
    void *ctx;
  } waiting[STORE_GROUP_MAX];
  /* The transport's hint that its thread has another request at hand
   * (store_set_next_hint), and the flusher: a thread that commits a group still open
   * STORE_GROUP_WAIT_US after it opened, so a hint that came to nothing costs at most
   * that much. flush_armed (under flush.lock): a group may be open for it to watch. */
  bool (*next_at_hand)(void);
  _Atomic int64_t group_since_us; /* when the open group opened (monotonic) */
  helper flush;
  bool flush_armed;
  /* The checkpointer (file stores): a second connection that copies the WAL into the
   * database in its own thread, so no request waits for that copy and its fsyncs. */
  sqlite3 *ckpt_db;
  helper ckpt;
  pthread_mutex_t ckpt_pass; /* held for a pass without the store; an inline checkpoint waits for it */
  bool ckpt_due, ckpt_running; /* under ckpt.lock */
  atomic_int ckpt_copied; /* WAL frames copied by the checkpointer's last pass */
  struct {
    const char *sql;
    sqlite3_stmt *stmt;
  } cache[STMT_CACHE];
};

/* Migration n takes the schema from version n-1 to n. Append only: never edit a
 * migration that has shipped. */
static const char *const migrations[] = {
  /* 1: the whole first schema. Times are ms since the epoch. */
  "CREATE TABLE teams ("
  "  id INTEGER PRIMARY KEY, api_key TEXT NOT NULL UNIQUE, owner_id TEXT NOT NULL UNIQUE,"
  "  name TEXT, created_at INTEGER NOT NULL);"
  /* seq orders claims (newest first) and is the keyset for pagination. */
  "CREATE TABLE claims ("
  "  seq INTEGER PRIMARY KEY AUTOINCREMENT, device_id TEXT NOT NULL UNIQUE,"
  "  team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,"
  "  device_type TEXT NOT NULL, firmware_id TEXT NOT NULL, imei TEXT,"
  "  blocked INTEGER NOT NULL DEFAULT 0,"
  "  queue_id TEXT NOT NULL, next_qseq INTEGER NOT NULL DEFAULT 1,"
  "  last_report INTEGER NOT NULL DEFAULT 0," /* 0 none, 1 ok, 2 failed */
  "  claimed_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
  "CREATE INDEX claims_team ON claims(team_id, seq);"
  "CREATE INDEX claims_team_type ON claims(team_id, device_type, seq);"
  "CREATE INDEX claims_team_blocked ON claims(team_id, blocked, seq);"
  "CREATE TABLE tags ("
  "  team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE, tag TEXT NOT NULL,"
  "  description TEXT, created_at INTEGER NOT NULL, PRIMARY KEY (team_id, tag));"
  "CREATE TABLE claim_tags ("
  "  claim_seq INTEGER NOT NULL REFERENCES claims(seq) ON DELETE CASCADE,"
  "  team_id INTEGER NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (claim_seq, tag));"
  "CREATE INDEX claim_tags_tag ON claim_tags(team_id, tag, claim_seq);"
  "CREATE TABLE commands ("
  "  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,"
  "  claim_seq INTEGER NOT NULL REFERENCES claims(seq) ON DELETE CASCADE,"
  "  qseq INTEGER NOT NULL, type TEXT NOT NULL, description TEXT,"
  "  request TEXT NOT NULL, status TEXT NOT NULL, response TEXT, rule_id TEXT,"
  "  pre_done INTEGER NOT NULL DEFAULT 0,"
  "  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
  "CREATE INDEX commands_claim ON commands(claim_seq, seq);"
  "CREATE INDEX commands_claim_status ON commands(claim_seq, status);"
  "CREATE TABLE rules ("
  "  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,"
  "  team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,"
  "  name TEXT NOT NULL, description TEXT, active INTEGER NOT NULL DEFAULT 0,"
  "  commands TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
  "  UNIQUE (team_id, name));"
  "CREATE TABLE rule_tags ("
  "  rule_seq INTEGER NOT NULL REFERENCES rules(seq) ON DELETE CASCADE,"
  "  team_id INTEGER NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (rule_seq, tag));"
  "CREATE INDEX rule_tags_tag ON rule_tags(team_id, tag);"
  "CREATE TABLE rule_applied ("
  "  rule_seq INTEGER NOT NULL REFERENCES rules(seq) ON DELETE CASCADE,"
  "  claim_seq INTEGER NOT NULL REFERENCES claims(seq) ON DELETE CASCADE,"
  "  PRIMARY KEY (claim_seq, rule_seq));"
  "CREATE TABLE devices ("
  "  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL,"
  "  team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,"
  "  sub_type TEXT, tags TEXT NOT NULL, firmware TEXT NOT NULL, certificate_pem TEXT,"
  "  created_at INTEGER NOT NULL, UNIQUE (team_id, id));"
  "CREATE TABLE identities ("
  "  device_id TEXT PRIMARY KEY, public_key_pem TEXT NOT NULL, imei TEXT, device_type TEXT,"
  "  created_at INTEGER NOT NULL);"
  "CREATE TABLE bulk_ops ("
  "  id TEXT PRIMARY KEY, team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,"
  "  result TEXT NOT NULL, requested_at INTEGER NOT NULL, completed_at INTEGER NOT NULL);",
  /* 2: indexes for the lists of rules, tags and onboarded devices (keyset order within
   * a team; an index on tags(team_id) ends with the rowid, the tags' keyset), and for
   * the cascade from a deleted rule to its applied marks. */
  "CREATE INDEX rules_team ON rules(team_id, seq);"
  "CREATE INDEX tags_team ON tags(team_id);"
  "CREATE INDEX devices_team ON devices(team_id, seq);"
  "CREATE INDEX rule_applied_rule ON rule_applied(rule_seq);",
  /* 3: lists whose cost does not grow with the table (docs/performance.md). The derived
   * status (docs/owner-api.md §3.4) is stored in claims.status and kept current by
   * triggers on everything it depends on; claim_tags carries a copy of the claim's
   * filter columns so a tag filter has an index of its own; claim_counts, tag_counts
   * and list_counts hold the totals of every list, maintained in the transactions that
   * change them. A trigger only ever touches the rows of the claims it names. */
  "ALTER TABLE claims ADD COLUMN status TEXT NOT NULL DEFAULT 'READY';"
  "ALTER TABLE claim_tags ADD COLUMN status TEXT NOT NULL DEFAULT 'READY';"
  "ALTER TABLE claim_tags ADD COLUMN blocked INTEGER NOT NULL DEFAULT 0;"
  "ALTER TABLE claim_tags ADD COLUMN device_type TEXT NOT NULL DEFAULT '';"
  "UPDATE claims SET status = " STATUS_OF_ROW ";"
  "UPDATE claim_tags AS ct SET (status, blocked, device_type) ="
  "  (SELECT status, blocked, device_type FROM claims WHERE seq = ct.claim_seq);"
  "CREATE INDEX claims_filter ON claims(team_id, status, blocked, device_type, seq);"
  "CREATE INDEX claim_tags_filter ON claim_tags(team_id, tag, status, blocked, device_type, claim_seq);"
  "CREATE TABLE claim_counts ("
  "  team_id INTEGER NOT NULL, status TEXT NOT NULL, blocked INTEGER NOT NULL,"
  "  device_type TEXT NOT NULL, n INTEGER NOT NULL,"
  "  PRIMARY KEY (team_id, status, blocked, device_type)) WITHOUT ROWID;"
  "CREATE TABLE tag_counts ("
  "  team_id INTEGER NOT NULL, tag TEXT NOT NULL, status TEXT NOT NULL, blocked INTEGER NOT NULL,"
  "  device_type TEXT NOT NULL, n INTEGER NOT NULL,"
  "  PRIMARY KEY (team_id, tag, status, blocked, device_type)) WITHOUT ROWID;"
  "CREATE TABLE list_counts ("
  "  team_id INTEGER NOT NULL, list TEXT NOT NULL, n INTEGER NOT NULL,"
  "  PRIMARY KEY (team_id, list)) WITHOUT ROWID;"
  "INSERT INTO claim_counts SELECT team_id, status, blocked, device_type, count(*) FROM claims GROUP BY 1, 2, 3, 4;"
  "INSERT INTO tag_counts SELECT team_id, tag, status, blocked, device_type, count(*) FROM claim_tags"
  "  GROUP BY 1, 2, 3, 4, 5;"
  "INSERT INTO list_counts SELECT team_id, 'rules', count(*) FROM rules GROUP BY 1;"
  "INSERT INTO list_counts SELECT team_id, 'tags', count(*) FROM tags GROUP BY 1;"
  "INSERT INTO list_counts SELECT team_id, 'devices', count(*) FROM devices GROUP BY 1;"
  /* The status follows the claim's commands, report, tags and applied marks, and the
   * rules that target its tags. */
  "CREATE TRIGGER status_command_ins AFTER INSERT ON commands BEGIN"
  "  UPDATE claims SET status = " STATUS_OF_ROW " WHERE seq = NEW.claim_seq; END;"
  "CREATE TRIGGER status_command_upd AFTER UPDATE OF status ON commands BEGIN"
  "  UPDATE claims SET status = " STATUS_OF_ROW " WHERE seq = NEW.claim_seq; END;"
  "CREATE TRIGGER status_command_del AFTER DELETE ON commands BEGIN"
  "  UPDATE claims SET status = " STATUS_OF_ROW " WHERE seq = OLD.claim_seq; END;"
  "CREATE TRIGGER status_report AFTER UPDATE OF last_report ON claims BEGIN"
  "  UPDATE claims SET status = " STATUS_OF_ROW " WHERE seq = NEW.seq; END;"
  "CREATE TRIGGER status_tag_ins AFTER INSERT ON claim_tags BEGIN"
  "  UPDATE claims SET status = " STATUS_OF_ROW " WHERE seq = NEW.claim_seq; END;"
  "CREATE TRIGGER status_tag_del AFTER DELETE ON claim_tags BEGIN"
  "  UPDATE claims SET status = " STATUS_OF_ROW " WHERE seq = OLD.claim_seq; END;"
  "CREATE TRIGGER status_applied_ins AFTER INSERT ON rule_applied BEGIN"
  "  UPDATE claims SET status = " STATUS_OF_ROW " WHERE seq = NEW.claim_seq; END;"
  "CREATE TRIGGER status_applied_del AFTER DELETE ON rule_applied BEGIN"
  "  UPDATE claims SET status = " STATUS_OF_ROW " WHERE seq = OLD.claim_seq; END;"
  "CREATE TRIGGER status_rule_active AFTER UPDATE OF active ON rules BEGIN"
  "  UPDATE claims SET status = " STATUS_OF_ROW
  "  WHERE seq IN (SELECT ct.claim_seq FROM rule_tags rt JOIN claim_tags ct"
  "                  ON ct.team_id = rt.team_id AND ct.tag = rt.tag WHERE rt.rule_seq = NEW.seq); END;"
  "CREATE TRIGGER status_rule_tag_ins AFTER INSERT ON rule_tags BEGIN"
  "  UPDATE claims SET status = " STATUS_OF_ROW
  "  WHERE seq IN (SELECT claim_seq FROM claim_tags WHERE team_id = NEW.team_id AND tag = NEW.tag); END;"
  "CREATE TRIGGER status_rule_tag_del AFTER DELETE ON rule_tags BEGIN"
  "  UPDATE claims SET status = " STATUS_OF_ROW
  "  WHERE seq IN (SELECT claim_seq FROM claim_tags WHERE team_id = OLD.team_id AND tag = OLD.tag); END;"
  /* Counts of claims by (status, blocked, type), and the tag rows' copies of them. */
  "CREATE TRIGGER counts_claim_ins AFTER INSERT ON claims BEGIN"
  "  INSERT INTO claim_counts VALUES (NEW.team_id, NEW.status, NEW.blocked, NEW.device_type, 1)"
  "    ON CONFLICT DO UPDATE SET n = n + 1; END;"
  "CREATE TRIGGER counts_claim_del AFTER DELETE ON claims BEGIN"
  "  UPDATE claim_counts SET n = n - 1 WHERE team_id = OLD.team_id AND status = OLD.status"
  "    AND blocked = OLD.blocked AND device_type = OLD.device_type; END;"
  "CREATE TRIGGER counts_claim_upd AFTER UPDATE OF status, blocked, device_type ON claims"
  "  WHEN OLD.status != NEW.status OR OLD.blocked != NEW.blocked OR OLD.device_type != NEW.device_type BEGIN"
  "  UPDATE claim_counts SET n = n - 1 WHERE team_id = OLD.team_id AND status = OLD.status"
  "    AND blocked = OLD.blocked AND device_type = OLD.device_type;"
  "  INSERT INTO claim_counts VALUES (NEW.team_id, NEW.status, NEW.blocked, NEW.device_type, 1)"
  "    ON CONFLICT DO UPDATE SET n = n + 1;"
  "  UPDATE claim_tags SET status = NEW.status, blocked = NEW.blocked, device_type = NEW.device_type"
  "    WHERE claim_seq = NEW.seq; END;"
  "CREATE TRIGGER counts_tag_ins AFTER INSERT ON claim_tags BEGIN"
  "  INSERT INTO tag_counts VALUES (NEW.team_id, NEW.tag, NEW.status, NEW.blocked, NEW.device_type, 1)"
  "    ON CONFLICT DO UPDATE SET n = n + 1; END;"
  "CREATE TRIGGER counts_tag_del AFTER DELETE ON claim_tags BEGIN"
  "  UPDATE tag_counts SET n = n - 1 WHERE team_id = OLD.team_id AND tag = OLD.tag AND status = OLD.status"
  "    AND blocked = OLD.blocked AND device_type = OLD.device_type; END;"
  "CREATE TRIGGER counts_tag_upd AFTER UPDATE OF status, blocked, device_type ON claim_tags BEGIN"
  "  UPDATE tag_counts SET n = n - 1 WHERE team_id = OLD.team_id AND tag = OLD.tag AND status = OLD.status"
  "    AND blocked = OLD.blocked AND device_type = OLD.device_type;"
  "  INSERT INTO tag_counts VALUES (NEW.team_id, NEW.tag, NEW.status, NEW.blocked, NEW.device_type, 1)"
  "    ON CONFLICT DO UPDATE SET n = n + 1; END;"
  /* Totals of the team-wide lists of rules, tags and onboarded devices. */
  "CREATE TRIGGER counts_rule_ins AFTER INSERT ON rules BEGIN"
  "  INSERT INTO list_counts VALUES (NEW.team_id, 'rules', 1) ON CONFLICT DO UPDATE SET n = n + 1; END;"
  "CREATE TRIGGER counts_rule_del AFTER DELETE ON rules BEGIN"
  "  UPDATE list_counts SET n = n - 1 WHERE team_id = OLD.team_id AND list = 'rules'; END;"
  "CREATE TRIGGER counts_ptag_ins AFTER INSERT ON tags BEGIN"
  "  INSERT INTO list_counts VALUES (NEW.team_id, 'tags', 1) ON CONFLICT DO UPDATE SET n = n + 1; END;"
  "CREATE TRIGGER counts_ptag_del AFTER DELETE ON tags BEGIN"
  "  UPDATE list_counts SET n = n - 1 WHERE team_id = OLD.team_id AND list = 'tags'; END;"
  "CREATE TRIGGER counts_device_ins AFTER INSERT ON devices BEGIN"
  "  INSERT INTO list_counts VALUES (NEW.team_id, 'devices', 1) ON CONFLICT DO UPDATE SET n = n + 1; END;"
  "CREATE TRIGGER counts_device_del AFTER DELETE ON devices BEGIN"
  "  UPDATE list_counts SET n = n - 1 WHERE team_id = OLD.team_id AND list = 'devices'; END;",
  /* 4: a new claim is counted by store_claim_insert in the statement right after its
   * insert (what the trigger did, at a third of the cost: the trigger was more than half
   * of a bulk claim's inserts). Every other change to the counts stays in triggers. */
  "DROP TRIGGER counts_claim_ins;",
  /* 5: a claim is a write to every index of claims, and two of them served only the
   * lists' rare fallback (a filter matching more than COMBO_MAX combinations, see
   * store/claims.c), which walks claims_team instead: two b-tree inserts fewer per claim
   * (docs/performance.md). */
  "DROP INDEX claims_team_type; DROP INDEX claims_team_blocked;",
};

#define N_MIGRATIONS (int)(sizeof migrations / sizeof migrations[0])
_Static_assert(N_MIGRATIONS == STORE_SCHEMA_VERSION, "one migration per schema version");

static int exec(sqlite3 *db, const char *sql, char *why, size_t whysz) {
  char *err = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
    snprintf(why, whysz, "%s", err ? err : sqlite3_errmsg(db));
    sqlite3_free(err);
    return -1;
  }
  return 0;
}

int store__migrate(sqlite3 *db, const char *path, char *why, size_t whysz) {
  sqlite3_stmt *st;
  int version = 0;
  if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK) {
    snprintf(why, whysz, "%s: %s", path, sqlite3_errmsg(db));
    return -1;
  }
  if (sqlite3_step(st) == SQLITE_ROW) version = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  if (version > STORE_SCHEMA_VERSION) {
    snprintf(why, whysz,
             "%s: database schema version %d is newer than this build supports (%d); "
             "use a newer nrfprov-mock or another --data-dir", path, version, STORE_SCHEMA_VERSION);
    return -1;
  }
  for (int v = version; v < N_MIGRATIONS; v++) {
    char sql[64], err[256];
    if (exec(db, "BEGIN IMMEDIATE", err, sizeof err)) goto fail;
    if (exec(db, migrations[v], err, sizeof err)) {
      sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
      goto fail;
    }
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v + 1);
    if (exec(db, sql, err, sizeof err) || exec(db, "COMMIT", err, sizeof err)) {
      sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
      goto fail;
    }
    continue;
  fail:
    snprintf(why, whysz, "%s: migration to schema version %d failed: %s", path, v + 1, err);
    return -1;
  }
  return 0;
}

/* The checkpointer copies the WAL into the database in the background, a pass per 4000
 * new pages (16 MB): SQLite's PASSIVE checkpoint, which never blocks a writer, each pass
 * copying only the frames since the last (docs/performance.md). Under steady writes new
 * frames keep coming, and the WAL starts over only once every frame is copied; when a
 * write finds that so (a pass ran while the writes paused), it starts over by itself. Once
 * the WAL holds 16000 pages (64 MB) without that having happened, the last frames are
 * copied holding the store, with two fsyncs: 1 to 3 ms during which nobody writes, so it
 * is done as seldom as the disk use allows (at the end of every pass, it was a tenth of
 * the time under sustained claims). Past 32000 pages (the checkpointer cannot keep up) the
 * committing request copies itself, as SQLite would. */
static struct {
  int pages, restart, inline_;
} ckpt_at = {.pages = 4000, .restart = 16000, .inline_ = 32000};

void store__checkpoint_sizes(int pages, int restart, int inline_) {
  ckpt_at.pages = pages;
  ckpt_at.restart = restart;
  ckpt_at.inline_ = inline_;
}

static void take_lock(store *s);
static int commit_group(store *s);
static void stop_flusher(store *s);

static int helper_start(helper *h, void *(*fn)(void *), void *arg) {
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_mutex_init(&h->lock, NULL);
  pthread_cond_init(&h->cond, &ca);
  pthread_condattr_destroy(&ca);
  h->stop = false;
  if (threads_start(&h->thread, false, fn, arg)) {
    pthread_cond_destroy(&h->cond);
    pthread_mutex_destroy(&h->lock);
    return -1;
  }
  h->started = true;
  return 0;
}

/* Ask the thread to stop and wait for it; nothing when it never started. */
static void helper_stop(helper *h) {
  if (!h->started) return;
  pthread_mutex_lock(&h->lock);
  h->stop = true;
  pthread_cond_signal(&h->cond);
  pthread_mutex_unlock(&h->lock);
  pthread_join(h->thread, NULL);
  pthread_cond_destroy(&h->cond);
  pthread_mutex_destroy(&h->lock);
  h->started = false;
}

static void *checkpointer(void *arg) {
  store *s = arg;
  pthread_mutex_lock(&s->ckpt.lock);
  for (;;) {
    while (!s->ckpt_due && !s->ckpt.stop) pthread_cond_wait(&s->ckpt.cond, &s->ckpt.lock);
    if (s->ckpt.stop) break;
    s->ckpt_due = false;
    s->ckpt_running = true;
    pthread_mutex_unlock(&s->ckpt.lock);
    int log = 0, copied = 0;
    pthread_mutex_lock(&s->ckpt_pass);
    sqlite3_wal_checkpoint_v2(s->ckpt_db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
    pthread_mutex_unlock(&s->ckpt_pass);
    atomic_store(&s->ckpt_copied, copied);
    bool restart = log >= ckpt_at.restart;
    if (restart) {
      pthread_mutex_lock(&s->lock); /* not take_lock: this thread never ends a group */
      sqlite3_wal_checkpoint_v2(s->ckpt_db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
      atomic_store(&s->ckpt_copied, 0);
    }
    pthread_mutex_lock(&s->ckpt.lock);
    if (restart) {
      /* Every frame is copied now: the next write starts the WAL over, and what commits
       * asked for meanwhile is done (left due, it would start a pass at once). */
      s->ckpt_due = false;
      pthread_mutex_unlock(&s->lock);
    }
    s->ckpt_running = false;
  }
  pthread_mutex_unlock(&s->ckpt.lock);
  return NULL;
}

bool store__checkpointer_busy(store *s) {
  if (!s->ckpt.started) return false;
  pthread_mutex_lock(&s->ckpt.lock);
  bool busy = s->ckpt_due || s->ckpt_running;
  pthread_mutex_unlock(&s->ckpt.lock);
  return busy;
}

/* SQLite's hook after each commit, with the WAL's size in pages: wake the checkpointer
 * when ckpt_at.pages have come since its last pass. */
static int on_wal(void *arg, sqlite3 *db, const char *name, int pages) {
  store *s = arg;
  if (pages >= ckpt_at.inline_) {
    /* Two checkpoints cannot run at once (the second gets SQLITE_BUSY and copies
     * nothing): wait for the checkpointer's pass to end, then copy the rest. Lock order:
     * the store, then ckpt_pass; the checkpointer never holds ckpt_pass waiting for the
     * store. */
    pthread_mutex_lock(&s->ckpt_pass);
    sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    pthread_mutex_unlock(&s->ckpt_pass);
    atomic_store(&s->ckpt_copied, 0);
    return SQLITE_OK;
  }
  int copied = atomic_load(&s->ckpt_copied);
  if (pages < copied) atomic_store(&s->ckpt_copied, copied = 0); /* the WAL has started over */
  if (pages < copied + ckpt_at.pages) return SQLITE_OK;
  pthread_mutex_lock(&s->ckpt.lock);
  s->ckpt_due = true;
  pthread_cond_signal(&s->ckpt.cond);
  pthread_mutex_unlock(&s->ckpt.lock);
  return SQLITE_OK;
}

/* Start the checkpointer of a file store; without it SQLite's automatic checkpoint
 * stays on (in the committing request). */
static void start_checkpointer(store *s, const char *path) {
  if (!strcmp(path, ":memory:") ||
      sqlite3_open_v2(path, &s->ckpt_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
      sqlite3_exec(s->ckpt_db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL) != SQLITE_OK) {
    sqlite3_close(s->ckpt_db);
    s->ckpt_db = NULL;
    return;
  }
  pthread_mutex_init(&s->ckpt_pass, NULL);
  if (helper_start(&s->ckpt, checkpointer, s)) {
    pthread_mutex_destroy(&s->ckpt_pass);
    sqlite3_close(s->ckpt_db);
    s->ckpt_db = NULL;
    return;
  }
  sqlite3_wal_hook(s->db, on_wal, s);
}

static void stop_checkpointer(store *s) {
  if (!s->ckpt.started) return;
  if (s->db) sqlite3_wal_hook(s->db, NULL, NULL);
  helper_stop(&s->ckpt);
  pthread_mutex_destroy(&s->ckpt_pass);
  sqlite3_close(s->ckpt_db);
  s->ckpt_db = NULL;
}

/* SQLite's process-wide settings, before its first use: no memory statistics (with them
 * every allocation takes a global mutex; nothing here reads them), and the WAL
 * write-combining VFS (walbuf.c) as the default. */
static pthread_once_t sqlite_once = PTHREAD_ONCE_INIT;

static void sqlite_setup(void) {
  sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  /* Without it the store works as before, one write per WAL header and page. */
  if (store__walbuf_register()) log_msg(LOG_WARN, "store: cannot register the WAL write-combining VFS");
}

void store__sqlite_setup(void) { pthread_once(&sqlite_once, sqlite_setup); }

static const unsigned char *fresh_image;
static size_t fresh_image_len;

void store_fresh_image(const unsigned char *image, size_t len) {
  fresh_image = image;
  fresh_image_len = len;
}

/* Make db (a fresh :memory: connection) a copy of the fresh image; false when there is
 * none of this schema version. The user_version is bytes 60..63 of the header. */
static bool from_fresh_image(sqlite3 *db) {
  if (!fresh_image || fresh_image_len < 100) return false;
  const unsigned char *v = fresh_image + 60;
  if (((uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 | (uint32_t)v[2] << 8 | v[3]) != STORE_SCHEMA_VERSION) return false;
  unsigned char *copy = sqlite3_malloc64(fresh_image_len);
  if (!copy) return false;
  memcpy(copy, fresh_image, fresh_image_len);
  if (sqlite3_deserialize(db, "main", copy, (sqlite3_int64)fresh_image_len, (sqlite3_int64)fresh_image_len,
                          SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_RESIZEABLE) != SQLITE_OK)
    return false; /* SQLite has freed copy */
  /* A plain :memory: database has no size limit; an image would stop at 1 GiB. */
  sqlite3_int64 limit = (sqlite3_int64)1 << 46;
  sqlite3_file_control(db, "main", SQLITE_FCNTL_SIZE_LIMIT, &limit);
  return true;
}

int store_open(store **out, const char *path, char *why, size_t whysz) {
  store__sqlite_setup();
  *out = NULL;
  store *s = calloc(1, sizeof *s);
  if (!s) return snprintf(why, whysz, "out of memory"), -1;
  /* Adaptive: a thread that finds the store taken spins a moment before it sleeps. The
   * store is held for tens of microseconds at a time, and two workers sharing it would
   * otherwise pay a futex sleep and wake-up for most hand-overs. */
  pthread_mutexattr_t ma;
  pthread_mutexattr_init(&ma);
  pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
  pthread_mutex_init(&s->lock, &ma);
  pthread_mutexattr_destroy(&ma);
  s->spin_us = sysconf(_SC_NPROCESSORS_ONLN) > 1 ? LOCK_SPIN_US : 0;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
    snprintf(why, whysz, "cannot open database %s: %s", path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
    store_close(s);
    return -1;
  }
  if (!strcmp(path, ":memory:")) from_fresh_image(s->db); /* else migrate() builds the schema */
  char err[256];
  if (exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
                  "PRAGMA busy_timeout=5000; PRAGMA temp_store=MEMORY;", err, sizeof err)) {
    snprintf(why, whysz, "cannot open database %s: %s", path, err);
    store_close(s);
    return -1;
  }
  if (store__migrate(s->db, path, why, whysz)) {
    store_close(s);
    return -1;
  }
  start_checkpointer(s, path);
  *out = s;
  return 0;
}

void store_close(store *s) {
  if (!s) return;
  stop_flusher(s);
  stop_checkpointer(s);
  for (int i = 0; i < STMT_CACHE; i++) sqlite3_finalize(s->cache[i].stmt);
  if (s->db) sqlite3_close(s->db);
  sqlite3_close(s->pristine);
  pthread_mutex_destroy(&s->lock);
  free(s);
}

/* Remember a statement handed out in this transaction. */
static void track(store *s, sqlite3_stmt *st) {
  if (s->n_used < (int)(sizeof s->used / sizeof s->used[0])) s->used[s->n_used] = st;
  s->n_used++;
}

/* Statements left on a row would keep a read snapshot open past the transaction, which
 * in WAL mode starves checkpoints: finish the ones handed out (or, past what could be
 * tracked, every busy one). */
static void finish_used(store *s) {
  int n = s->n_used;
  if (n > (int)(sizeof s->used / sizeof s->used[0])) {
    for (sqlite3_stmt *st = NULL; (st = sqlite3_next_stmt(s->db, st));)
      if (sqlite3_stmt_busy(st)) sqlite3_reset(st);
  } else {
    for (int i = 0; i < n; i++) sqlite3_reset(s->used[i]);
  }
  s->n_used = 0;
}

/* Run one cached statement with no result rows (BEGIN, COMMIT, ROLLBACK). */
static int step_once(store *s, const char *sql) {
  sqlite3_stmt *st = store__stmt(s, sql);
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

/* The request that the next store_end on this thread may defer (store_defer_next). */
static _Thread_local struct {
  store *s;
  void (*done)(void *ctx, bool committed);
  void *ctx;
} next_deferred;

void store_defer_next(store *s, void (*done)(void *ctx, bool committed), void *ctx) {
  if (done) {
    if (next_deferred.s != s) atomic_fetch_add(&s->armed, 1);
    next_deferred.s = s;
    next_deferred.done = done;
    next_deferred.ctx = ctx;
    return;
  }
  if (next_deferred.s != s) return;
  /* The request ends without having deferred: if a group was left open counting on it,
   * and nobody else is coming, commit it (a store_end that deferred set group_open
   * before it read armed, and this read follows the decrement, so one of the two sees
   * the other). */
  next_deferred.s = NULL;
  atomic_fetch_sub(&s->armed, 1);
  if (!atomic_load(&s->group_open)) return;
  take_lock(s);
  if (s->group_n && !atomic_load(&s->queued) && !atomic_load(&s->armed)) commit_group(s);
  pthread_mutex_unlock(&s->lock);
}

static bool deferrable(store *s) { return next_deferred.s == s; }

/* A moment of the CPU to a thread that waits on another core (spin_for_lock). */
static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

/* Try for the store for up to s->spin_us (LOCK_SPIN_US, 0 on one CPU, where the holder
 * cannot run meanwhile) before sleeping on it: a request holds it for some tens of
 * microseconds, and a futex sleep and wake-up costs the two threads more than that
 * (docs/performance.md). */
static bool spin_for_lock(store *s) {
  if (!s->spin_us) return false;
  int64_t until = clock_mono_us() + s->spin_us;
  do {
    for (int i = 0; i < 32; i++) {
      if (pthread_mutex_trylock(&s->lock) == 0) return true;
      cpu_relax();
    }
  } while (clock_mono_us() < until);
  return false;
}

static void take_lock(store *s) {
  atomic_fetch_add(&s->queued, 1);
  if (pthread_mutex_trylock(&s->lock) && !spin_for_lock(s)) pthread_mutex_lock(&s->lock);
  atomic_fetch_sub(&s->queued, 1);
}

/* The open group is over (committed or rolled back): tell each of its requests. */
static void end_group(store *s, bool committed) {
  int n = s->group_n;
  s->group_n = 0;
  atomic_store(&s->group_open, false);
  for (int i = 0; i < n; i++) s->waiting[i].done(s->waiting[i].ctx, committed);
}

/* Commit the open transaction (under the lock), a lone request's or a group's, and tell
 * each request of the group, if any, the outcome. Returns 0 when it committed. */
static int commit_group(store *s) {
  int rc = step_once(s, "COMMIT") ? -1 : 0;
  if (!rc) atomic_fetch_add(&s->commits, 1);
  if (rc && !sqlite3_get_autocommit(s->db)) step_once(s, "ROLLBACK");
  /* Bumped under the lock, so a reader that saw the old value inside the lock and
   * changed nothing knows its view holds until this moves. */
  if (!rc && sqlite3_total_changes64(s->db) != s->group_changes_at_begin) store_bump_generation(s);
  end_group(s, rc == 0);
  return rc;
}

void store__identities_changed(store *s) { atomic_fetch_add(&s->identities, 1); }

/* Both counters only grow, so their sum moves whenever either does. */
uint64_t store_identities_version(store *s) { return atomic_load(&s->identities) + store_epoch(s); }

void store_commit_counts(store *s, uint64_t *commits, uint64_t *deferred) {
  *commits = atomic_load(&s->commits);
  *deferred = atomic_load(&s->deferred);
}

/* The flusher: commits the open group once it is STORE_GROUP_WAIT_US old. Armed by a
 * request that deferred on the transport's hint only (flush_wake); it disarms when it
 * finds no group open, so an idle store costs it nothing. Lock order: s->lock, then
 * flush.lock (end() arms it holding the store). */
static void *flusher(void *arg) {
  store *s = arg;
  pthread_mutex_lock(&s->flush.lock);
  while (!s->flush.stop) {
    if (!s->flush_armed) {
      pthread_cond_wait(&s->flush.cond, &s->flush.lock);
      continue;
    }
    int64_t due = atomic_load(&s->group_since_us) + STORE_GROUP_WAIT_US;
    if (clock_mono_us() < due) {
      struct timespec ts = {.tv_sec = (time_t)(due / 1000000), .tv_nsec = (long)(due % 1000000) * 1000};
      pthread_cond_timedwait(&s->flush.cond, &s->flush.lock, &ts);
      continue;
    }
    pthread_mutex_unlock(&s->flush.lock);
    take_lock(s);
    /* The group seen may have been committed and another opened since: only a group
     * past its own time is committed here. */
    if (s->group_n && atomic_load(&s->group_since_us) + STORE_GROUP_WAIT_US <= clock_mono_us()) commit_group(s);
    pthread_mutex_lock(&s->flush.lock);
    s->flush_armed = s->group_n > 0;
    pthread_mutex_unlock(&s->lock);
  }
  pthread_mutex_unlock(&s->flush.lock);
  return NULL;
}

/* A request deferred on the hint alone: make sure the flusher watches the group. */
static void flush_wake(store *s) {
  pthread_mutex_lock(&s->flush.lock);
  if (!s->flush_armed) {
    s->flush_armed = true;
    pthread_cond_signal(&s->flush.cond);
  }
  pthread_mutex_unlock(&s->flush.lock);
}

int store_set_next_hint(store *s, bool (*at_hand)(void)) {
  if (s->flush.started || !at_hand) return 0;
  if (helper_start(&s->flush, flusher, s)) {
    log_msg(LOG_WARN, "store: cannot start the group flusher: writes are grouped across worker threads only");
    return -1;
  }
  s->next_at_hand = at_hand;
  return 0;
}

static void stop_flusher(store *s) {
  helper_stop(&s->flush);
  s->next_at_hand = NULL;
}

int store_flush(store *s) {
  take_lock(s);
  int rc = s->group_n ? commit_group(s) : 0;
  pthread_mutex_unlock(&s->lock);
  return rc;
}

int store_begin_read(store *s) {
  take_lock(s);
  /* A reader must not see what the open group has not committed yet. */
  if (s->group_n) commit_group(s);
  s->n_used = 0;
  return 0;
}

int store_begin_reads(store *s) {
  store_begin_read(s);
  if (step_once(s, "BEGIN")) {
    pthread_mutex_unlock(&s->lock);
    return -1;
  }
  return 0;
}

void store_end_reads(store *s) {
  finish_used(s);
  step_once(s, "COMMIT");
  pthread_mutex_unlock(&s->lock);
}

void store_end_read(store *s) {
  finish_used(s);
  pthread_mutex_unlock(&s->lock);
}

int store_begin(store *s) {
  take_lock(s);
  s->in_group = deferrable(s);
  if (s->group_n && !s->in_group) commit_group(s); /* it will answer at once: no open changes under it */
  /* A transaction left open by a COMMIT and a ROLLBACK that both failed (an I/O error)
   * would make every later BEGIN fail: end it first. */
  if (!s->group_n && !sqlite3_get_autocommit(s->db)) step_once(s, "ROLLBACK");
  if (!s->group_n && step_once(s, "BEGIN")) {
    pthread_mutex_unlock(&s->lock);
    return -1;
  }
  if (!s->group_n) s->group_changes_at_begin = sqlite3_total_changes64(s->db);
  /* The first request of a group needs no savepoint: its rollback is the transaction's.
   * (A savepoint copies each page it changes first, which a bulk claim would pay for.) */
  s->savepoint = s->in_group && s->group_n > 0;
  if (s->savepoint && step_once(s, "SAVEPOINT request")) {
    if (!s->group_n) step_once(s, "ROLLBACK");
    pthread_mutex_unlock(&s->lock);
    return -1;
  }
  s->changes_at_begin = sqlite3_total_changes64(s->db);
  return 0;
}

bool store_changed(store *s) { return sqlite3_total_changes64(s->db) != s->changes_at_begin; }

uint64_t store_generation(store *s) { return atomic_load(&s->generation); }

void store_bump_generation(store *s) { atomic_fetch_add(&s->generation, 1); }

uint64_t store_epoch(store *s) { return atomic_load(&s->epoch); }

void store_bump_epoch(store *s) {
  atomic_fetch_add(&s->epoch, 1);
  store_bump_generation(s);
}

/* End the request's savepoint inside the group; -1 when that failed (the whole group
 * is then rolled back and told so). */
static int end_savepoint(store *s, bool ok) {
  if ((ok || !step_once(s, "ROLLBACK TO request")) && !step_once(s, "RELEASE request")) return 0;
  if (!sqlite3_get_autocommit(s->db)) step_once(s, "ROLLBACK");
  end_group(s, false);
  return -1;
}

static int end(store *s, bool ok, bool may_defer) {
  int rc = 0;
  finish_used(s);
  if (s->in_group) {
    s->in_group = false;
    rc = s->savepoint ? end_savepoint(s, ok) : 0;
    /* Left open when another request is on its way (queued for the lock, or armed in
     * another thread): it ends the group or leaves it to the next, and these changes are
     * committed with theirs. group_open is set before armed is read (store_defer_next). */
    atomic_store(&s->group_open, true);
    bool queued = atomic_load(&s->queued) > 0;
    bool others = queued || atomic_load(&s->armed) > (deferrable(s) ? 1 : 0);
    bool may = !rc && ok && may_defer && deferrable(s) && s->group_n < STORE_GROUP_MAX;
    /* Nobody in another thread: perhaps this thread has another request at hand. */
    bool hinted = may && !others && s->next_at_hand && s->next_at_hand();
    if (may && (others || hinted)) {
      if (!s->group_n) atomic_store(&s->group_since_us, clock_mono_us());
      if (hinted) flush_wake(s);
      s->waiting[s->group_n].done = next_deferred.done;
      s->waiting[s->group_n].ctx = next_deferred.ctx;
      s->group_n++;
      atomic_fetch_add(&s->deferred, 1);
      next_deferred.s = NULL; /* one deferral per request */
      atomic_fetch_sub(&s->armed, 1);
      pthread_mutex_unlock(&s->lock);
      return STORE_DEFERRED;
    }
    if (rc) {
      /* the group is gone: end_savepoint told its requests */
    } else if (ok) {
      rc = commit_group(s); /* with whatever the group held */
    } else if (!s->group_n) {
      step_once(s, "ROLLBACK"); /* nothing else in it */
    } else if (!others) {
      commit_group(s); /* the others' changes; ours are rolled back */
    }
    atomic_store(&s->group_open, s->group_n > 0);
    if (!ok) rc = 0;
  } else if (ok) {
    rc = commit_group(s); /* no group is open under a request that cannot join one */
  } else if (!sqlite3_get_autocommit(s->db)) {
    step_once(s, "ROLLBACK");
  }
  pthread_mutex_unlock(&s->lock);
  if (s->on_end) s->on_end(s->on_end_ctx, ok && !rc);
  return rc;
}

int store_end(store *s, bool ok) { return end(s, ok, false); }

int store_end_or_defer(store *s, bool ok) { return end(s, ok, true); }

void store_on_end(store *s, void (*fn)(void *ctx, bool committed), void *ctx) {
  s->on_end = fn;
  s->on_end_ctx = ctx;
}

sqlite3_stmt *store__stmt(store *s, const char *sql) {
  size_t h = ((uintptr_t)sql >> 3) % STMT_CACHE;
  for (size_t i = 0; i < STMT_CACHE; i++) {
    size_t k = (h + i) % STMT_CACHE;
    if (s->cache[k].sql == sql) {
      sqlite3_reset(s->cache[k].stmt);
      sqlite3_clear_bindings(s->cache[k].stmt);
      track(s, s->cache[k].stmt);
      return s->cache[k].stmt;
    }
    if (!s->cache[k].sql) {
      sqlite3_stmt *st;
      /* A statement that does not prepare (the schema is not what this build wrote, no
       * memory) must not take the server down (docs/control-api.md §5): NULL makes
       * every bind and step of it fail with SQLITE_MISUSE, so the caller's verb answers
       * 50000 and the next request tries again. */
      if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        log_msg(LOG_ERROR, "store: cannot prepare: %s: %.200s", sqlite3_errmsg(s->db), sql);
        return NULL;
      }
      s->cache[k].sql = sql;
      s->cache[k].stmt = st;
      track(s, st);
      return st;
    }
  }
  log_msg(LOG_ERROR, "store: more than %d distinct statements; raise STMT_CACHE", STMT_CACHE);
  return NULL;
}

sqlite3 *store__db(store *s) { return s->db; }

int store__list_count(store *s, int64_t team_id, const char *list, int64_t *total) {
  sqlite3_stmt *st = store__stmt(s, "SELECT coalesce(sum(n), 0) FROM list_counts WHERE team_id = ?1 AND list = ?2");
  sqlite3_bind_int64(st, 1, team_id);
  sqlite3_bind_text(st, 2, list, -1, SQLITE_STATIC);
  if (store__row(st)) return -1;
  *total = sqlite3_column_int64(st, 0);
  return 0;
}

int store__row(sqlite3_stmt *st) {
  int rc = sqlite3_step(st);
  return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
}

char *store__dup_text(sqlite3_stmt *st, int col) {
  const unsigned char *t = sqlite3_column_text(st, col);
  return t ? strdup((const char *)t) : NULL;
}

void store__copy_text(sqlite3_stmt *st, int col, char *dst, size_t n) {
  const unsigned char *t = sqlite3_column_text(st, col);
  snprintf(dst, n, "%s", t ? (const char *)t : "");
}

/* Below this many claims, deleting the rows is cheaper than copying a fresh schema in. */
#define RESET_BY_ROWS_MAX 500

/* Replace the whole database with an empty one of the current schema: the pages of a
 * pristine in-memory database (made on first use) copied in with the backup API, which
 * costs what the empty schema's few pages cost, however many rows are dropped. The
 * backup cannot run inside a transaction; the caller's has done nothing yet, so it is
 * ended and a fresh one opened for store_end, as store_restore does. */
static int reset_by_copy(store *s) {
  char why[256];
  if (!s->pristine) {
    if (sqlite3_open_v2(":memory:", &s->pristine, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
        (!from_fresh_image(s->pristine) && store__migrate(s->pristine, ":memory:", why, sizeof why))) {
      sqlite3_close(s->pristine);
      s->pristine = NULL;
      return -1;
    }
  }
  if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) return -1;
  int rc = 0;
  sqlite3_backup *b = sqlite3_backup_init(s->db, "main", s->pristine, "main");
  if (!b || sqlite3_backup_step(b, -1) != SQLITE_DONE) rc = -1;
  if (b && sqlite3_backup_finish(b) != SQLITE_OK) rc = -1;
  if (sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) rc = -1;
  return rc;
}

int store_reset(store *s, const char *team_owner_id) {
  store_bump_epoch(s); /* Rows vanish wholesale; cascaded deletes are not all counted as changes. */
  if (team_owner_id) {
    /* One team: deleting it cascades to what it owns, in proportion to that. */
    sqlite3_stmt *st = store__stmt(s, "DELETE FROM teams WHERE owner_id = ?1");
    sqlite3_bind_text(st, 1, team_owner_id, -1, SQLITE_STATIC);
    return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
  }
  sqlite3_stmt *st = store__stmt(s, "SELECT coalesce(sum(n), 0) FROM claim_counts");
  if (store__row(st)) return -1;
  int64_t claims = sqlite3_column_int64(st, 0);
  sqlite3_reset(st);
  if (claims < RESET_BY_ROWS_MAX) /* cached statements: their cascades are compiled once */
    return sqlite3_step(store__stmt(s, "DELETE FROM teams")) == SQLITE_DONE &&
                   sqlite3_step(store__stmt(s, "DELETE FROM identities")) == SQLITE_DONE
             ? 0
             : -1;
  return reset_by_copy(s);
}
