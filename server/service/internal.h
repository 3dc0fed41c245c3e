/* What service/ files share: the svc struct and cross-file helpers (svc__*). Only for service/. */
#ifndef NRFPROV_SVC_INTERNAL_H
#define NRFPROV_SVC_INTERNAL_H

#include "service/svc.h"
#include "store/store.h"

typedef struct {
  char *key, *name;
} svc_key;

struct svc {
  store *store;
  pki *pki;
  bool strict_identity;
  bool strict_keys;
  svc_key *keys;
  size_t n_keys;
};

/* Format 16 bytes as a lower-case 8-4-4-4-12 UUID. */
void svc__uuid_format(const uint8_t b[16], char out[37]);
/* Resolve a team inside an open transaction. */
int svc__team(svc *s, const char *api_key, svc_team *out, err_t *e);

#endif
