/* What the files of nrfprov-sim share: the simulated device (its directory in
 * sim/device.c, its AT engine in sim/at.c), the two transports (sim/http.c, sim/coap.c)
 * and the command line with the event lines (sim/main.c). A device lives in a
 * directory; the transports only carry bytes and map status codes onto sim_result.
 * Nothing here knows the mock's store or service: the simulator speaks to the mock only
 * through the device-facing protocol. */
#ifndef NRFPROV_SIM_H
#define NRFPROV_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <jansson.h>
#include <mbedtls/pk.h>

#include "proto/dcbor.h"

#define SIM_PATH_MAX 1024
#define SIM_CID_MAX 64
#define SIM_TIMEOUT_S 10 /* bound of every network wait */

/* ---- the device directory (sim/device.c) ---- */

typedef struct {
  char dir[SIM_PATH_MAX];
  char uuid[37], fw_uuid[37];
  uint8_t id[16], fw_id[16];
  unsigned type;
  char imei[16];
  char mfw[48];               /* modem firmware version, e.g. mfw_nrf91x1_2.0.1 */
  char after[SIM_CID_MAX];    /* the last processed correlation id ("" = none) */
  bool csr_subject_empty;     /* %KEYGEN CSRs without attributes get an empty subject (run --csr-subject empty) */
  mbedtls_pk_context identity;
} sim_device;

/* Make a device directory (dir is created if missing; refused when it already holds a
 * device). uuid and imei may be NULL (random ones). 0 or -1 with why. */
int sim_device_create(const char *dir, const char *uuid, unsigned type, const char *imei, char *why, size_t whysz);
/* Load the device of dir; 0 or -1 with why. Free with sim_device_close. */
int sim_device_open(sim_device *d, const char *dir, char *why, size_t whysz);
void sim_device_close(sim_device *d);
/* A fresh attestation token with a random nonce, signed with the identity key. */
int sim_device_token(sim_device *d, char *out, size_t outsz);
/* A fresh device JWT (iss nrf-<imei>.<uuid>, jti nrf-<imei>.<fw uuid>.<random>, exp in 1 h). */
int sim_device_jwt(sim_device *d, char *out, size_t outsz);
/* The identity JSON for POST /_mock/identities (malloc'd). */
char *sim_device_identity_json(sim_device *d);
/* Remember cid as the last processed correlation id, in memory and in the directory. */
int sim_device_save_after(sim_device *d, const char *cid);
/* The polling interval from the config key provisioning/interval-sec; 0 when unset. */
long sim_device_interval(const sim_device *d);

/* What device.c lends the AT engine (at.c); not for the transports. */
int sim__random_bytes(uint8_t *b, size_t n);
/* Write path atomically with mode; 0 or -1. */
int sim__write_file(const char *path, const void *data, size_t len, mode_t mode);
/* mkdir -p path (0755); 0 or -1. */
int sim__mkdir_p(const char *path);
/* dir/name as JSON (NULL when missing or not JSON) / written atomically, indented. */
json_t *sim__read_json(const char *dir, const char *name);
int sim__write_json(const char *dir, const char *name, json_t *o);

/* ---- the AT command engine (sim/at.c) ---- */

/* An injected CME error: every AT command whose set command is set_cmd fails with cme
 * (the "AT" and "%"/"+" prefixes and the case do not matter). */
typedef struct {
  char set_cmd[32];
  unsigned cme;
} sim_fault;

/* One executed step, for the event lines. */
typedef struct {
  char cid[SIM_CID_MAX];
  bool failed;
  unsigned cme;
} sim_step;

/* The result of running one batch of commands. */
typedef struct {
  dcbor_response *r;  /* responses to report, in order (malloc'd, with their strings) */
  size_t n;
  sim_step *steps;    /* what ran, in order */
  size_t n_steps;
  bool finished;      /* the batch held finished and nothing failed: its ack is in r */
  bool failed;        /* a command failed (the batch stopped there) */
  char last[SIM_CID_MAX]; /* correlation id of the last processed command */
} sim_batch;

/* Run the commands in order against the device directory, as the SDK's codec does: stop
 * at the first error, acknowledge finished last and only when nothing failed. */
void sim_device_run(sim_device *d, const dcbor_owned_command *c, size_t n, const sim_fault *faults, size_t n_faults,
                    sim_batch *out);
void sim_batch_free(sim_batch *b);

/* ---- the transports (sim/http.c, sim/coap.c) ---- */

typedef enum {
  SIM_R_OK,          /* commands fetched / report accepted */
  SIM_R_NOTHING,     /* 204, or 2.05 with an empty payload */
  SIM_R_NOT_CLAIMED, /* 401 / 4.01 */
  SIM_R_FORBIDDEN,   /* 403 / 4.03 */
  SIM_R_FAILED,      /* anything else: why says what */
} sim_result;

typedef struct {
  const char *url;  /* http://host:port, https://…, coap://…, coaps://… (no path) */
  const char *ca;   /* CA file for https/coaps; NULL = the system's trust store (https only) */
  long rx_max, tx_max;
  int limit;
} sim_link;

/* GET /v1/provisioning/commands?after=…; body malloc'd on SIM_R_OK. */
sim_result sim_http_fetch(const sim_link *l, sim_device *d, uint8_t **body, size_t *len, char *why, size_t whysz);
/* POST /v1/provisioning/response. */
sim_result sim_http_report(const sim_link *l, sim_device *d, const uint8_t *cbor, size_t len, char *why, size_t whysz);
/* A new session: POST p/auth-jwt, then GET p/cmd with Block2; body malloc'd on SIM_R_OK. */
sim_result sim_coap_fetch(const sim_link *l, sim_device *d, uint8_t **body, size_t *len, char *why, size_t whysz);
/* A new session: POST p/auth-jwt, then POST p/rsp (Block1 when large). */
sim_result sim_coap_report(const sim_link *l, sim_device *d, const uint8_t *cbor, size_t len, char *why, size_t whysz);

/* ---- many devices at once (sim/fleet.c) ---- */

/* nrfprov-sim fleet: argv[0] is "fleet", then its flags. The exit status. */
int sim_fleet(int argc, char **argv);

#endif
