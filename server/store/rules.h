/* Provisioning rules, their tags, and the marks of which rule applied to which claim. */
#ifndef NRFPROV_STORE_RULES_H
#define NRFPROV_STORE_RULES_H

#include "store.h"

typedef struct {
  int64_t seq;
  char id[37];
  char *commands; /* JSON array text, malloc'd */
} store_rule_ref;

/* Active rules of the claim's team that share a tag with the claim and have not applied
 * to it, in creation order. fn per rule. */
int store_rules_unapplied(store *s, int64_t claim_seq, void (*fn)(const store_rule_ref *r, void *ud), void *ud);
/* Record that rule_seq applied to claim_seq. */
int store_rule_mark_applied(store *s, int64_t rule_seq, int64_t claim_seq);

#endif
