/* Provisioning tags (groups, docs/owner-api.md §5) read as a family of their own: the tag rows
 * with their device and rule counts, their members, and deletion. Creating a tag is
 * store_tag_ensure() (store/claims.h), shared with claims and rules. */
#ifndef NRFPROV_STORE_TAGS_H
#define NRFPROV_STORE_TAGS_H

#include "store.h"

typedef struct {
  int64_t seq;               /* rowid: creation order and the list's keyset */
  char tag[80];
  char *description;         /* malloc'd; NULL when none */
  int64_t device_count, rule_count, created_at;
} store_tag;

void store_tag_free(store_tag *t);
/* One tag of a team. 0 found, 1 none, -1 error. */
int store_tag_get(store *s, int64_t team_id, const char *tag, store_tag *out);
/* A page of the team's tags in creation order, seq > after; fn per row; *total = all. */
int store_tag_list(store *s, int64_t team_id, int64_t after, int limit,
                   void (*fn)(const store_tag *t, void *ud), void *ud, int64_t *total);
/* The ids of the first `limit` claimed devices holding the tag, newest claim first. */
int store_tag_devices(store *s, int64_t team_id, const char *tag, int limit,
                      void (*fn)(const char *device_id, void *ud), void *ud);
/* The ids of the first `limit` rules targeting the tag, in creation order. */
int store_tag_rules(store *s, int64_t team_id, const char *tag, int limit,
                    void (*fn)(const char *rule_id, void *ud), void *ud);
/* Delete a tag row (the caller checks it is unused). 0 deleted, 1 none. */
int store_tag_delete(store *s, int64_t team_id, const char *tag);

#endif
