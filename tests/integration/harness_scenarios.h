/* The device scenario table (docs/device-protocol.md §2–§5): each scenario is a function of the
 * transport, so HTTP, HTTPS, CoAP and CoAPs run the same table. A scenario starts from a
 * fresh mock (the suite's .init) passed in. */
#ifndef NRFPROV_SCENARIOS_H
#define NRFPROV_SCENARIOS_H

#include <stdbool.h>
#include <stdint.h>

#include "harness_device.h"

typedef void (*scenario_fn)(mock *m, dev_transport t);

void sc_nothing_queued(mock *m, dev_transport t);
void sc_fetch_report_provisioned(mock *m, dev_transport t);
void sc_failure_cancels_the_rest(mock *m, dev_transport t);
void sc_unclaimed(mock *m, dev_transport t);
void sc_blocked(mock *m, dev_transport t);
void sc_bad_credentials(mock *m, dev_transport t);
void sc_limit(mock *m, dev_transport t);
void sc_redelivery_after(mock *m, dev_transport t);
void sc_jwt_auth(mock *m, dev_transport t);
void sc_bad_cbor(mock *m, dev_transport t);

/* Define one Criterion test per scenario for a transport. */
#define SCENARIO_TESTS(suite, transport)                                                  \
  Test(suite, nothing_queued) { sc_nothing_queued(&m, transport); }                      \
  Test(suite, fetch_report_provisioned) { sc_fetch_report_provisioned(&m, transport); }  \
  Test(suite, failure_cancels_the_rest) { sc_failure_cancels_the_rest(&m, transport); }  \
  Test(suite, unclaimed) { sc_unclaimed(&m, transport); }                                \
  Test(suite, blocked) { sc_blocked(&m, transport); }                                    \
  Test(suite, bad_credentials) { sc_bad_credentials(&m, transport); }                    \
  Test(suite, limit) { sc_limit(&m, transport); }                                        \
  Test(suite, redelivery_after) { sc_redelivery_after(&m, transport); }                  \
  Test(suite, jwt_auth) { sc_jwt_auth(&m, transport); }                                  \
  Test(suite, bad_cbor) { sc_bad_cbor(&m, transport); }

/* Helpers shared by device tests. */
/* Claim a fresh device for KEY; credential "att.<token>" in cred, id in uuid. */
void sc_claim(mock *m, char cred[1200], char uuid[37]);
/* Queue a command (JSON request object text) and return its id. */
void sc_queue(mock *m, const char *uuid, const char *request_json, char id[37]);
/* The status of a command / of the device. */
const char *sc_command_status(mock *m, const char *uuid, const char *id, char out[24]);
const char *sc_device_status(mock *m, const char *uuid, char out[24]);

/* A well-formed %KEYGEN AT answer (docs/device-protocol.md §4.4) for device uuid and
 * sec_tag around der, payload id 9 (CSR) or 8 (public key), with a random signature (for
 * devices without a registered identity key); malloc'd. */
char *sc_keygen_answer_der(const char *uuid, unsigned payload_id, uint32_t sec_tag, const uint8_t *der, size_t len);
/* The same around the CSR (csr) or the SubjectPublicKeyInfo of a fresh P-256 key. */
char *sc_keygen_answer(const char *uuid, bool csr, uint32_t sec_tag);

#define SC_KEY "device-team"

#endif
