/* The process-wide context handed to every transport: options, store, service, PKI.
 * Built by main.c; read-only after start-up except through the objects' own verbs. */
#ifndef NRFPROV_APP_H
#define NRFPROV_APP_H

#include <stdint.h>

#include "options.h"

typedef struct store store;
typedef struct svc svc;
typedef struct pki pki;

typedef struct app {
  options *opt;
  store *store;
  svc *svc;
  pki *pki;
  int64_t started_ms;
} app;

#endif
