/* The store's side of the control API (docs/control-api.md §2, §4): snapshot and restore of the
 * whole database, the counts /_mock/metrics shows, the team of a device for fault rules
 * that match on a team, and team names from fixtures. Not domain queries: those live in
 * the other store/ files, one per family. Every function runs inside store_begin/end. */
#ifndef NRFPROV_STORE_CONTROL_H
#define NRFPROV_STORE_CONTROL_H

#include "store.h"

/* A private connection, opaque outside store/ (<sqlite3.h> stays in store/internal.h). */
typedef struct sqlite3 sqlite3;

/* The largest snapshot file a restore reads. */
#define STORE_MAX_SNAPSHOT (1 << 30)

/* A copy of the whole database's pages (sqlite3_free it), consistent as of the caller's
 * transaction. 0 or -1. */
int store_snapshot_image(store *s, unsigned char **image, int64_t *size);
/* Write image (taken over) as a database file at path, which must be missing or empty
 * (VACUUM INTO from a private connection: no store lock needed). 0 or -1 with why. */
int store_image_write(unsigned char *image, int64_t size, const char *path, char *why, size_t whysz);
/* Read the snapshot file at path into a private connection (*out, sqlite3_close it) and
 * check it as docs/control-api.md §5 asks: an SQLite database, integrity_check ok,
 * schema version STORE_SCHEMA_VERSION, every table and index of this build with its
 * columns, no trigger or view, no dangling foreign key; converted to page_size. Needs
 * no store lock. 0; -2 when the file fails a check, with the reason; -1 otherwise. */
int store_snapshot_load(const char *path, int page_size, sqlite3 **out, char *why, size_t whysz);
/* Close a connection store_snapshot_load opened; NULL is a no-op. */
void store_snapshot_close(sqlite3 *db);
/* The live database's page size. */
int store_page_size(store *s);
/* Replace the whole database with src (checked by store_snapshot_load) with the backup
 * API, inside store_begin/end; moves the store epoch when it did. 0 or -1 with why. */
int store_restore_from(store *s, sqlite3 *src, char *why, size_t whysz);
/* Calls fn once per command status held, with its count. */
int store_command_counts(store *s, void (*fn)(const char *status, int64_t n, void *ud), void *ud);
/* The database's size in bytes (page_count * page_size). */
int store_db_size(store *s, int64_t *bytes);
/* The API key of the team that has claimed device_id, into key. 0 found, 1 none. */
int store_device_team_key(store *s, const char *device_id, char *key, size_t n);
/* Name a team (NULL clears the name). */
int store_team_set_name(store *s, int64_t team_id, const char *name);

#endif
