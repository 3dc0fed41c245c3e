/* An in-memory service for the fuzz targets that drive service verbs (fuzz_report,
 * fuzz_bodies): a :memory: store, optionally an in-memory PKI, one team, one claimed
 * device and, on request, a queue of commands of the types whose answers the service
 * interprets (config, AT, both key generations). Not a test harness: no checks here. */
#ifndef NRFPROV_FUZZ_FUZZSVC_H
#define NRFPROV_FUZZ_FUZZSVC_H

#include <stddef.h>
#include <stdint.h>

#include "pki/pki.h"
#include "service/svc.h"
#include "store/store.h"

typedef struct {
  store *st;
  pki *pki;
  svc *svc;
  svc_team team;
  char device_id[37];
  char queue_id[64]; /* the prefix of this queue's correlation ids */
} fuzzsvc;

/* Open everything and claim the device; aborts when the environment cannot be built. */
void fuzzsvc_open(fuzzsvc *f, int with_pki);
void fuzzsvc_close(fuzzsvc *f);
/* Reset the device's queue, queue the standard commands and learn the new queue id. */
void fuzzsvc_queue(fuzzsvc *f);
/* Replace, in place, every run of strlen(queue_id) 'Q' bytes by the queue id, so that
 * seeds can name this run's correlation ids ("QQQ…Q.1"). */
void fuzzsvc_patch_ids(const fuzzsvc *f, uint8_t *data, size_t size);

#endif
