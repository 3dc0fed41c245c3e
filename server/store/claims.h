/* Claims (claimed devices), their tags, and the provisioning tags they create. */
#ifndef NRFPROV_STORE_CLAIMS_H
#define NRFPROV_STORE_CLAIMS_H

#include "store.h"

typedef struct {
  int64_t seq, team_id;
  char device_id[37], device_type[32], firmware_id[37], imei[32], owner_id[37];
  char queue_id[37];
  int64_t next_qseq;
  int blocked, last_report; /* last_report: 0 none, 1 ok, 2 failed */
  int64_t claimed_at, updated_at;
  char status[16];          /* derived (docs/owner-api.md §3.4) */
  char *tags_json;          /* JSON array text, malloc'd; free with store_claim_row_free */
} store_claim;

typedef struct {
  const char *tags_json;     /* JSON array of tags, any of which must match; NULL = any */
  const char *statuses_json; /* JSON array of statuses; NULL = any */
  int blocked;               /* -1 any, 0, 1 */
  const char *device_type;   /* NULL = any */
} store_claim_filter;

void store_claim_row_free(store_claim *c);
/* The claim of device_id in any team (team_id 0) or in one team. 0 found, 1 none, -1 error. */
int store_claim_get(store *s, int64_t team_id, const char *device_id, store_claim *out);
/* The few columns the device endpoints need, without the derived status (the hot path
 * of every device poll). 0 found, 1 none, -1 error. */
typedef struct {
  int64_t seq, team_id, next_qseq;
  int blocked;
  char device_id[37], queue_id[37];
} store_device_claim;
int store_claim_for_device(store *s, const char *device_id, store_device_claim *out);
/* Insert a claim; fills *seq. 1 (nothing inserted) when the device is claimed already. */
int store_claim_insert(store *s, int64_t team_id, const char *device_id, const char *device_type,
                       const char *firmware_id, const char *imei, const char *queue_id, int64_t *seq);
/* Replace the tags of a claim (each created as a provisioning tag when missing). */
int store_claim_set_tags(store *s, int64_t claim_seq, int64_t team_id, const char *const *tags, size_t n);
/* Create the provisioning tag if missing. created = 1 when new. */
int store_tag_ensure(store *s, int64_t team_id, const char *tag, const char *description, int *created);
/* Replace the tags of a claim or rule, for store/ files: clear_sql deletes its rows
 * (?1 = seq), add_sql inserts one (?1 seq, ?2 team, ?3 tag); each tag is first created
 * as a provisioning tag of the team. Both SQL texts are literals (cached by address). */
int store__set_tags(store *s, const char *clear_sql, const char *add_sql, int64_t seq, int64_t team_id,
                    const char *const *tags, size_t n);
/* Delete a claim (cascades to commands, tags, applied-rule marks). 0 deleted, 1 none. */
int store_claim_delete(store *s, int64_t team_id, const char *device_id);
/* Set the blocked flag. */
int store_claim_set_blocked(store *s, int64_t claim_seq, int blocked);
/* Touch updated_at. */
int store_claim_touch(store *s, int64_t claim_seq);
/* A page of claims, newest first, seq < before (0 = from the top). Calls fn per row;
 * *total = all matches. */
int store_claim_list(store *s, int64_t team_id, const store_claim_filter *f, int64_t before, int limit,
                     void (*fn)(const store_claim *c, void *ud), void *ud, int64_t *total);
/* The registered identity of a device: public key PEM (malloc'd) and imei; 0 found, 1 none. */
int store_identity_get(store *s, const char *device_id, char **pem, char imei[32]);
/* Record a bulk operation's result (JSON text) / fetch it (malloc'd). */
int store_bulk_op_put(store *s, int64_t team_id, const char *id, const char *result, int64_t requested, int64_t completed);
int store_bulk_op_get(store *s, int64_t team_id, const char *id, char **result);

#endif
