/* See fuzzsvc.h. */
#include "fuzzsvc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "proto/attest.h"
#include "proto/dcbor.h"

#define FUZZ_KEY "fuzz-team-key"

static void must(int ok, const char *what)
{
  if (!ok) {
    fprintf(stderr, "fuzzsvc: %s\n", what);
    abort();
  }
}

void fuzzsvc_open(fuzzsvc *f, int with_pki)
{
  char why[256], tok[1100];
  err_t e;
  memset(f, 0, sizeof *f);
  must(store_open(&f->st, ":memory:", why, sizeof why) == 0, why);
  if (with_pki) {
    pki_options po = {.dir = NULL};
    must(pki_open(&f->pki, &po, why, sizeof why) == 0, why);
  }
  svc_config sc = {.api_keys_file = NULL, .strict_identity = false};
  must(svc_open(&f->svc, f->st, f->pki, &sc, why, sizeof why) == 0, why);
  must(svc_team_auth(f->svc, FUZZ_KEY, &f->team, &e) == 0, "team");
  static const uint8_t id[16] = {0x50, 0x36, 0x31, 0x54, 0x39, 0x31, 0x44, 0xf0,
                                 0x80, 0x22, 0x12, 0x1b, 0x64, 0x01, 0x62, 0x7d};
  static const uint8_t fw[16] = {1, 2, 3}, nonce[16] = {9};
  must(attest_encode(id, 3, fw, nonce, NULL, tok, sizeof tok) > 0, "token");
  json_t *body = json_pack("{s:s}", "claimToken", tok), *out = NULL;
  must(svc_claim(f->svc, &f->team, body, false, &out, &e) == 0, "claim");
  json_decref(body);
  json_decref(out);
  attest_uuid_format(id, f->device_id);
}

void fuzzsvc_close(fuzzsvc *f)
{
  svc_close(f->svc);
  store_close(f->st);
  pki_close(f->pki);
  memset(f, 0, sizeof *f);
}

void fuzzsvc_queue(fuzzsvc *f)
{
  static const char *const requests[] = {
      "{\"config\":{\"properties\":{\"k\":\"v\"}}}",
      "{\"clientPrivateKeyGeneration\":{\"secTag\":16842753}}",
      "{\"cloudAccessKeyGeneration\":{\"secTag\":16842753}}",
      "{\"finished\":{}}",
  };
  err_t e;
  must(svc_commands_reset(f->svc, &f->team, f->device_id, &e) == 0, "reset");
  for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++) {
    json_t *body = json_pack("{s:s, s:o}", "description", "fuzz", "request", json_loads(requests[i], 0, NULL)), *out = NULL;
    must(body && svc_command_create(f->svc, &f->team, f->device_id, body, &out, &e) == 0, e.message);
    json_decref(body);
    json_decref(out);
  }
  svc_fetch fe = {.after = NULL, .rx_max = 0, .limit = 10, .frame = NULL};
  uint8_t *cbor = NULL;
  size_t len = 0, n = 0;
  must(svc_device_fetch(f->svc, f->device_id, &fe, &cbor, &len, &e) == 0 && len > 0, "fetch");
  dcbor_owned_command *c = NULL;
  char why[200];
  must(dcbor_decode_commands(cbor, len, &c, &n, why, sizeof why) == 0 && n > 0, why);
  const char *dot = strchr(c[0].cid, '.');
  must(dot && (size_t)(dot - c[0].cid) < sizeof f->queue_id, "correlation id");
  snprintf(f->queue_id, sizeof f->queue_id, "%.*s", (int)(dot - c[0].cid), c[0].cid);
  dcbor_commands_free(c, n);
  free(cbor);
}

void fuzzsvc_patch_ids(const fuzzsvc *f, uint8_t *data, size_t size)
{
  size_t q = strlen(f->queue_id), run = 0;
  if (q == 0) return;
  for (size_t i = 0; i < size; i++) {
    run = data[i] == 'Q' ? run + 1 : 0;
    if (run == q) {
      memcpy(data + i + 1 - q, f->queue_id, q);
      run = 0;
    }
  }
}
