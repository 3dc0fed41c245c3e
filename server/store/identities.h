/* Registered device identities (docs/device-protocol.md §4.3): the identity public key of a
 * device and what the control API registered with it. Rows only; validation and the
 * JSON view live in service/identities.c. The signature checks read the key through
 * store_identity_get (store/claims.h). */
#ifndef NRFPROV_STORE_IDENTITIES_H
#define NRFPROV_STORE_IDENTITIES_H

#include "store.h"

/* One identity; public_key_pem is malloc'd (free with store_identity_free). */
typedef struct {
  char device_id[37];
  char *public_key_pem;
  char imei[32];         /* "" when none */
  char device_type[32];  /* "" when none */
  int64_t created_at;
} store_identity;

void store_identity_free(store_identity *i);
/* A number that moves whenever an identity may have changed (a put or delete, committed
 * or not, a reset, a restore): a key read while it had one value is still the stored
 * one while it keeps it. */
uint64_t store_identities_version(store *s);
/* Insert the identity, replacing any earlier one of the same device. */
int store_identity_put(store *s, const store_identity *i);
/* The identity of device_id. 0 found, 1 none, -1 error. */
int store_identity_find(store *s, const char *device_id, store_identity *out);
/* Every identity, oldest registration first; fn per row; *total = the count. */
int store_identity_list(store *s, void (*fn)(const store_identity *i, void *ud), void *ud, int64_t *total);
/* Remove the identity of device_id. 0 deleted, 1 none, -1 error. */
int store_identity_delete(store *s, const char *device_id);

#endif
