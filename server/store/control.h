/* The store's side of the control API (control-api §2, §4): snapshot and restore of the
 * whole database, the counts /_mock/metrics shows, the team of a device for fault rules
 * that match on a team, and team names from fixtures. Not domain queries: those live in
 * the other store/ files, one per family. Every function runs inside store_begin/end. */
#ifndef NRFPROV_STORE_CONTROL_H
#define NRFPROV_STORE_CONTROL_H

#include "store.h"

/* Write a consistent copy of the database to path (VACUUM INTO). 0; -2 when path is
 * unusable (exists, cannot be created), with why; -1 on other errors. */
int store_snapshot(store *s, const char *path, char *why, size_t whysz);
/* Replace the whole database with the one at path (the backup API into the live
 * connection), after checking its PRAGMA user_version is STORE_SCHEMA_VERSION; moves
 * the store generation. 0; -2 when the file is missing, unreadable, not a database or of
 * another schema version, with why; -1 on other errors. */
int store_restore(store *s, const char *path, char *why, size_t whysz);
/* Calls fn once per command status held, with its count. */
int store_command_counts(store *s, void (*fn)(const char *status, int64_t n, void *ud), void *ud);
/* The database's size in bytes (page_count * page_size). */
int store_db_size(store *s, int64_t *bytes);
/* The API key of the team that has claimed device_id, into key. 0 found, 1 none. */
int store_device_team_key(store *s, const char *device_id, char *key, size_t n);
/* Name a team (NULL clears the name). */
int store_team_set_name(store *s, int64_t team_id, const char *name);

#endif
