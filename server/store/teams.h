/* Teams: rows keyed by API key, created on first use. */
#ifndef NRFPROV_STORE_TEAMS_H
#define NRFPROV_STORE_TEAMS_H

#include "store.h"

/* The row id of the team with this key, creating it. Inside store_begin/end. */
int store_team_ensure(store *s, const char *api_key, const char *owner_id, const char *name, int64_t *id);
/* The ownerId of the team with row id; "" when there is none. */
void store_team_owner_id(store *s, int64_t id, char out[37]);

#endif
