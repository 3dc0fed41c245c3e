/* What store/ files share and nobody else sees: the SQLite connection, the statement
 * cache and the column helpers. The only header of the project that includes
 * <sqlite3.h>; the public headers (store.h and one per table family) stay free of it, so
 * the service and everything above it cannot reach for SQL. */
#ifndef NRFPROV_STORE_INTERNAL_H
#define NRFPROV_STORE_INTERNAL_H

#include <sqlite3.h>

#include "store/store.h"

/* A cached prepared statement for sql (a string literal: cached by its address),
 * reset and with bindings cleared. */
sqlite3_stmt *store__stmt(store *s, const char *sql);
/* Bring db's schema to STORE_SCHEMA_VERSION with the migrations (path names it in why). */
int store__migrate(sqlite3 *db, const char *path, char *why, size_t whysz);
/* SQLite's process-wide settings; call before any other SQLite call (once is enough). */
void store__sqlite_setup(void);
/* Make the WAL write-combining VFS (walbuf.c) the default; once, from store__sqlite_setup. */
int store__walbuf_register(void);
/* Register *v as the new default VFS: a copy of the current default named name, whose
 * files are file_size bytes more than its (a wrapper's struct, then the wrapped file)
 * and opened by open. Returns the VFS it wraps, or NULL when it could not. */
sqlite3_vfs *store__vfs_wrap_default(sqlite3_vfs *v, const char *name, int file_size,
                                     int (*open)(sqlite3_vfs *, const char *, sqlite3_file *, int, int *));
/* A file of such a VFS: a wrapper's struct starts with this, and the wrapped VFS's own
 * file follows that struct in the same allocation. */
typedef struct {
  sqlite3_file base;
  sqlite3_file *real;
} store__wrapped;
/* Open name with the wrapped VFS real into the file after f's wrapper struct of
 * wrapper_size bytes, and give f the methods m, also when the open fails (SQLite then
 * still calls their xClose, which store__wrapped_close allows for). */
int store__wrapped_open(sqlite3_vfs *real, size_t wrapper_size, const sqlite3_io_methods *m, const char *name,
                        sqlite3_file *f, int flags, int *out_flags);
/* The methods a wrapper passes to the wrapped file as they are. */
int store__wrapped_close(sqlite3_file *f);
int store__wrapped_lock(sqlite3_file *f, int level);
int store__wrapped_unlock(sqlite3_file *f, int level);
int store__wrapped_check_lock(sqlite3_file *f, int *out);
int store__wrapped_sector_size(sqlite3_file *f);
int store__wrapped_caps(sqlite3_file *f);
/* Move store_identities_version (before writing identities). */
void store__identities_changed(store *s);
/* The raw connection. */
sqlite3 *store__db(store *s);
/* TEST ONLY: the checkpointer's sizes in WAL pages (store.c: a pass per `pages` new
 * pages, the WAL started over at `restart`, a commit checkpoints itself past `inline_`),
 * so a test crosses them without writing hundreds of megabytes. Before store_open. */
void store__checkpoint_sizes(int pages, int restart, int inline_);
/* TEST ONLY: the checkpointer has a pass due or is making one. */
bool store__checkpointer_busy(store *s);
/* The keyset bound of a newest-first page: `before`, or past every row for the first
 * page (0). A plain `seq < ?` lets SQLite start the index range there; an
 * `(? = 0 OR seq < ?)` would make it walk down from the top to reach a deep page. */
static inline int64_t store__keyset_before(int64_t before) { return before > 0 ? before : INT64_MAX; }
/* The total of a team-wide list (rules, tags, devices) from list_counts. */
int store__list_count(store *s, int64_t team_id, const char *list, int64_t *total);
/* Step a one-row query: 0 a row is ready, 1 no row, -1 error. */
int store__row(sqlite3_stmt *st);
/* Column col of the current row as a malloc'd string (NULL for SQL NULL). */
char *store__dup_text(sqlite3_stmt *st, int col);
/* Column col of the current row copied into dst of n bytes ("" for SQL NULL). */
void store__copy_text(sqlite3_stmt *st, int col, char *dst, size_t n);

#endif
