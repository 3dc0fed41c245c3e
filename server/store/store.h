/* The SQLite store: schema, migrations and every SQL statement of the mock.
 *
 * One connection, serialised by one mutex: a request holds the store for its whole
 * transaction (store_begin .. store_commit), which keeps the service code free of
 * locking concerns. SQLite answers in microseconds here, so the lock is not the
 * bottleneck (see bench/). Nothing outside store/ writes SQL, and no header of store/
 * but internal.h includes <sqlite3.h>.
 */
#ifndef NRFPROV_STORE_H
#define NRFPROV_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct store store;

/* The schema version this build writes (PRAGMA user_version). */
#define STORE_SCHEMA_VERSION 5

/* Open path (":memory:" for in-memory), set WAL + synchronous=NORMAL, migrate.
 * A database from a newer schema is refused. Returns 0 or -1 with why. */
int store_open(store **out, const char *path, char *why, size_t whysz);
/* An empty database of the current schema as SQLite serializes it, made at build time
 * from the migrations by tools/schemagen.c: an in-memory store then starts from a copy
 * of it instead of running the migrations (they were a third of the server's start-up).
 * Set it before store_open; an image of another schema version is not used. */
void store_fresh_image(const unsigned char *image, size_t len);
/* TEST ONLY (--test-disk-full-file): from now on, while flag_file exists, every write
 * SQLite makes fails as on a full disk (diskfull.c). Call before store_open. */
int store_test_disk_full(const char *flag_file);
/* Close the connection (finalises cached statements). */
void store_close(store *s);

/* Take the store for one request, starting a transaction; store_end commits (ok=true)
 * or rolls back, and releases the store. */
int store_begin(store *s);
int store_end(store *s, bool ok);
/* Group commit (docs/performance.md). store_defer_next(s, done, ctx) lets the next
 * store_end_or_defer on this thread defer its commit: when another request is already
 * queued for the store, armed in another thread, or at hand for this thread
 * (store_set_next_hint), the transaction's changes stay in the open group (a savepoint
 * of it) and store_end_or_defer returns STORE_DEFERRED at once; done(ctx, committed) is called exactly once
 * later, from the thread that commits or rolls back the group, under the store lock (it
 * must not call into the store). The caller answers only then. A reader, a request
 * that cannot defer, or the last of the queue commits the group; at most
 * STORE_GROUP_MAX requests share one. done == NULL clears. The on_end hook is not
 * called for a deferred end. */
#define STORE_DEFERRED 1
#define STORE_GROUP_MAX 64
void store_defer_next(store *s, void (*done)(void *ctx, bool committed), void *ctx);
int store_end_or_defer(store *s, bool ok);
/* Commit the open group now (before a listener stops); 0 when it committed or none was open. */
int store_flush(store *s);
/* The transport's hint (docs/performance.md): at_hand(), called on the thread ending a
 * deferrable request, tells whether that thread has another request at hand to handle
 * right after (bytes waiting on another of its connections). The request then defers
 * as it would for one queued in another thread. A group that nobody carries on (the
 * bytes were not a write) is committed by the store's flusher thread
 * STORE_GROUP_WAIT_US after it opened. Call once, before the first request; 0, or -1
 * when the flusher cannot start (the hint is then not used). */
#define STORE_GROUP_WAIT_US 1000
int store_set_next_hint(store *s, bool (*at_hand)(void));
/* Transactions committed since the start, and requests whose commit was deferred to a
 * group (each of those shared a later request's commit). */
void store_commit_counts(store *s, uint64_t *commits, uint64_t *deferred);
/* Call fn(ctx, committed) at the end of every store_end, after the store is released
 * (the service logs its domain events there, only for what committed). One hook. */
void store_on_end(store *s, void (*fn)(void *ctx, bool committed), void *ctx);

/* Take the store for reads only: no transaction (the lock alone keeps the view
 * consistent, as this is the only connection), so no BEGIN/COMMIT cost. */
int store_begin_read(store *s);
void store_end_read(store *s);
/* The same for many lookups in a row: one read transaction, so SQLite takes its WAL
 * read lock once instead of once per statement. */
int store_begin_reads(store *s);
void store_end_reads(store *s);

/* The store's generation: a counter that moves whenever a transaction that changed rows
 * commits. Readers outside the lock use it to tell whether what they learned is stale. */
uint64_t store_generation(store *s);
/* True when the open transaction has changed rows so far. */
bool store_changed(store *s);
/* Move the generation (after changes SQLite does not count, such as a restore). */
void store_bump_generation(store *s);
/* The store's epoch: moves only when rows may have vanished wholesale (reset, restore),
 * so facts that only such events undo (a team's row id) can be kept across writes. */
uint64_t store_epoch(store *s);
/* Move the epoch (and the generation). */
void store_bump_epoch(store *s);

/* Wipe all state; team_owner_id != NULL wipes that team only. Inside store_begin/end. */
int store_reset(store *s, const char *team_owner_id);

#endif
