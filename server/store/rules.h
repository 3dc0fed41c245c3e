/* Provisioning rules, their tags, and the marks of which rule applied to which claim.
 * Rows only: validation, the DRAFT/ACTIVE rules and the JSON views live in service/. */
#ifndef NRFPROV_STORE_RULES_H
#define NRFPROV_STORE_RULES_H

#include "store.h"

typedef struct {
  int64_t seq;
  char id[37];
  char *commands; /* JSON array text, malloc'd */
  const char *name; /* valid during the callback */
} store_rule_ref;

/* Active rules of the claim's team that share a tag with the claim and have not applied
 * to it, in creation order. fn per rule. */
int store_rules_unapplied(store *s, int64_t claim_seq, void (*fn)(const store_rule_ref *r, void *ud), void *ud);
/* Record that rule_seq applied to claim_seq. */
int store_rule_mark_applied(store *s, int64_t rule_seq, int64_t claim_seq);

/* One rule as stored; the strings are malloc'd (free with store_rule_free). */
typedef struct {
  int64_t seq;
  char id[37];
  char *name, *description; /* description NULL when none */
  int active;
  char *commands;           /* JSON array text */
  char *tags_json;          /* JSON array text, in the order they were given */
  int64_t created_at, updated_at;
} store_rule;

void store_rule_free(store_rule *r);
/* Insert a rule; *seq its row. */
int store_rule_insert(store *s, int64_t team_id, const char *id, const char *name, const char *description,
                      int active, const char *commands, int64_t *seq);
/* Rewrite the fields of a rule (all of them) and touch updated_at. */
int store_rule_update(store *s, int64_t seq, const char *name, const char *description, int active,
                      const char *commands);
/* Replace the rule's tags, creating the provisioning tags that do not exist yet. */
int store_rule_set_tags(store *s, int64_t rule_seq, int64_t team_id, const char *const *tags, size_t n);
/* The rule id of a team. 0 found, 1 none, -1 error. */
int store_rule_get(store *s, int64_t team_id, const char *id, store_rule *out);
/* 1 when another rule of the team (not except_seq) has this name, 0 when free, -1 error. */
int store_rule_name_taken(store *s, int64_t team_id, const char *name, int64_t except_seq);
/* Delete a rule (cascades to its tags and applied marks; commands it queued stay).
 * 0 deleted, 1 none. */
int store_rule_delete(store *s, int64_t team_id, const char *id);
/* A page of the team's rules in creation order, seq > after; fn per row; *total = all. */
int store_rule_list(store *s, int64_t team_id, int64_t after, int limit,
                    void (*fn)(const store_rule *r, void *ud), void *ud, int64_t *total);

#endif
