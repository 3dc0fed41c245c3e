/* The process-wide context handed to every transport: options, store, service, PKI,
 * and the control API's request journal, fault rules and metrics. Built by main.c;
 * read-only after start-up except through the objects' own verbs. */
#ifndef NRFPROV_APP_H
#define NRFPROV_APP_H

#include <stdint.h>

#include "options.h"

typedef struct store store;
typedef struct svc svc;
typedef struct pki pki;
typedef struct journal journal;
typedef struct faults faults;
typedef struct metrics metrics;
typedef struct snapshots snapshots;
typedef struct guard guard;

typedef struct app {
  options *opt;
  store *store;
  svc *svc;
  pki *pki;
  journal *journal;  /* journal.h: the last --journal-size exchanges */
  faults *faults;    /* faults.h: fault injection rules */
  metrics *metrics;  /* metrics.h: request counters */
  snapshots *snapshots; /* snapshots.h: the snapshot directory */
  guard *guard;      /* guard.h: who may steer the mock (control token, peers, Host, Origin) */
  int64_t started_ms;
} app;

#endif
