/* Onboarded devices (device management, docs/owner-api.md §6): rows created when a device's
 * cloudAccessKeyGeneration succeeds, independent of its claim. */
#ifndef NRFPROV_STORE_DEVICES_H
#define NRFPROV_STORE_DEVICES_H

#include "store.h"

/* Create or replace the onboarded device id of a team. tags and firmware are JSON text. */
int store_device_upsert(store *s, int64_t team_id, const char *id, const char *sub_type, const char *tags,
                        const char *firmware, const char *certificate_pem);

/* One onboarded device; the strings are malloc'd (free with store_device_free). */
typedef struct {
  int64_t seq;
  char id[37];
  char *sub_type;        /* NULL when none */
  char *tags, *firmware; /* JSON text */
  char *certificate_pem; /* NULL when none */
  int64_t created_at;
} store_device;

void store_device_free(store_device *d);
/* The onboarded device id of a team. 0 found, 1 none, -1 error. */
int store_device_get(store *s, int64_t team_id, const char *id, store_device *out);
/* A page of the team's onboarded devices, newest first, seq < before (0 = from the
 * top); fn per row; *total = all. */
int store_device_list(store *s, int64_t team_id, int64_t before, int limit,
                      void (*fn)(const store_device *d, void *ud), void *ud, int64_t *total);
/* Remove an onboarded device (its claim, if any, stays). 0 deleted, 1 none. */
int store_device_delete(store *s, int64_t team_id, const char *id);

#endif
