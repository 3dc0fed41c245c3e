/* Service verbs of the control API (docs/control-api.md §2, §4) that are not owner-API domain
 * verbs: loading fixtures, snapshot and restore, the counts /_mock/metrics shows, and the
 * two lookups fault matching needs (a device id read from a credential without checking
 * it, the team of a device). Like every service verb: one store transaction each, 0 or a
 * negative err_id with the defect named in an err_t. */
#ifndef NRFPROV_SVC_CONTROL_H
#define NRFPROV_SVC_CONTROL_H

#include "service/svc.h"

/* Load a fixtures document (docs/control-api.md §4: teams, identities, tags, claimedDevices,
 * rules, commands) in one transaction: all of it, or nothing with the element named
 * ("claimedDevices[3].claimToken: ..."). *counts: {"<kind>": n loaded} for every kind. */
int svc_fixtures_load(svc *s, json_t *doc, json_t **counts, err_t *e);
/* Write the whole state to path, a new empty or missing file (docs/control-api.md §2):
 * the pages are copied under the store lock, the file is written after it. */
int svc_snapshot(svc *s, const char *path, err_t *e);
/* Replace the whole state by the snapshot file at path once it passes every check of
 * docs/control-api.md §5 (40004 "<label>: <reason>" when it does not, and the state is
 * untouched). The checks run without the store lock. */
int svc_restore(svc *s, const char *path, const char *label, err_t *e);
/* For metrics: {"<command status>": count} over every team, and the database size. */
int svc_stats(svc *s, json_t **commands_by_status, int64_t *db_bytes, err_t *e);
/* The device id a device credential (a JWT, or "att.<token>") names, read without
 * checking signature or expiry: 0, or -1 when it names none. For fault matching only. */
int svc_credential_device_id(const char *credential, size_t len, char out[37]);
/* The API key of the team that has claimed device_id (for fault rules on match.team):
 * 0, or 1 when the device is not claimed. */
int svc_device_team_key(svc *s, const char *device_id, char *key, size_t n);

#endif
