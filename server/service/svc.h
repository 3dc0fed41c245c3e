/* The domain service: teams, claims, commands, rules, tags, onboarding, identities.
 *
 * Every verb runs in one store transaction and returns 0 or a negative err_id with the
 * defect named in an err_t. Results are jansson objects in the API's own shapes (the
 * service owns the domain's JSON views), so both transports render them unchanged. The
 * service knows nothing of HTTP or CoAP.
 */
#ifndef NRFPROV_SVC_H
#define NRFPROV_SVC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"

typedef struct svc svc;
typedef struct store store;
typedef struct pki pki;

typedef struct {
  int64_t id;           /* store row id */
  char owner_id[37];    /* UUID derived from the API key */
} svc_team;

typedef struct {
  const char *api_keys_file; /* strict mode when set */
  bool strict_identity;
} svc_config;

/* Create the service over an open store (and PKI, may be NULL). Returns 0 or -1 with why. */
int svc_open(svc **out, store *st, pki *p, const svc_config *c, char *why, size_t whysz);
void svc_close(svc *s);

/* Resolve an API key to its team (creating it in default mode). 401 for unknown keys in strict mode. */
int svc_team_auth(svc *s, const char *api_key, svc_team *out, err_t *e);
/* The deterministic ownerId of an API key (first 16 bytes of SHA-256, as a UUID). */
void svc_owner_id(const char *api_key, char out[37]);
/* Wipe all state, or one team's (api_key != NULL). */
int svc_reset(svc *s, const char *api_key, err_t *e);

#endif
