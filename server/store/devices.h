/* Onboarded devices (device management, owner-api §6). */
#ifndef NRFPROV_STORE_DEVICES_H
#define NRFPROV_STORE_DEVICES_H

#include "store.h"

/* Create or replace the onboarded device id of a team. tags and firmware are JSON text. */
int store_device_upsert(store *s, int64_t team_id, const char *id, const char *sub_type, const char *tags,
                        const char *firmware, const char *certificate_pem);

#endif
