/* The checks the service makes on a device's %KEYGEN answer before a key-generation
 * command may succeed (docs/keygen.md, docs/device-protocol.md §4.4): the structure and
 * the digest always (proto/keygen.c), the payload id against what the command asked for,
 * and, when the device's identity key is registered, the COSE signature, the device UUID
 * and the sec tag. The caller turns a defect into a FAILED command; this file does not
 * settle anything and does not onboard (onboard.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/attest.h"
#include "proto/es256.h"
#include "proto/keygen.h"
#include "service/internal.h"
#include "store/claims.h"

bool svc__keygen_type(const char *type) {
  return !strcmp(type, "clientPrivateKeyGeneration") || !strcmp(type, "certificateSigningRequest") ||
         !strcmp(type, "cloudAccessKeyGeneration");
}

/* The secTag of the command's request (validated when it was queued). */
static long long command_sec_tag(const store_command *k) {
  json_t *req = json_loads(k->request, 0, NULL);
  long long tag = json_integer_value(json_object_get(json_object_get(req, k->type), "secTag"));
  json_decref(req);
  return tag;
}

/* What the registered identity key says of info: 0 it holds, 1 a defect in why, or an error. */
static int check_attested(svc *s, const store_device_claim *c, const store_command *k, const keygen_info *info,
                          char *why, size_t whysz, err_t *e) {
  char *pem = NULL, uuid[37], kwhy[160];
  int rc = store_identity_get(s->store, c->device_id, &pem, NULL);
  if (rc < 0) return err_set(e, ERR_INTERNAL, "cannot read identities");
  if (rc > 0) return 0; /* No identity key: nothing to check against (docs/device-protocol.md §4.3). */
  mbedtls_pk_context pk;
  mbedtls_pk_init(&pk);
  int bad = 0;
  if (es256_pubkey_from_pem(&pk, pem, kwhy, sizeof kwhy) || keygen_verify(info, &pk)) {
    snprintf(why, whysz, "%%KEYGEN answer: the COSE signature does not verify against the registered identity key of device %s",
             c->device_id);
    bad = 1;
  }
  mbedtls_pk_free(&pk);
  free(pem);
  if (bad) return 1;
  attest_uuid_format(info->device_id, uuid);
  if (strcmp(uuid, c->device_id)) {
    snprintf(why, whysz, "%%KEYGEN answer: the COSE payload names device %s, not this device (%s)", uuid, c->device_id);
    return 1;
  }
  long long tag = command_sec_tag(k);
  if ((long long)info->sec_tag != tag) {
    snprintf(why, whysz, "%%KEYGEN answer: the COSE payload names sec tag %lu, not the command's (%lld)",
             (unsigned long)info->sec_tag, tag);
    return 1;
  }
  return 0;
}

int svc__keygen_check(svc *s, const store_device_claim *c, const store_command *k, const char *msg, char *why,
                      size_t whysz, err_t *e) {
  char *value = malloc(KEYGEN_MAX_VALUE_LEN + 1), kwhy[200];
  uint8_t *der = malloc(KEYGEN_MAX_VALUE_LEN);
  keygen_info *info = malloc(sizeof *info);
  size_t derlen;
  int rc = 0;
  unsigned want = !strcmp(k->type, "clientPrivateKeyGeneration") ? KEYGEN_PAYLOAD_PUBKEY : KEYGEN_PAYLOAD_CSR;
  if (!value || !der || !info) {
    rc = err_set(e, ERR_INTERNAL, "out of memory");
  } else if (!msg || keygen_extract(msg, value, KEYGEN_MAX_VALUE_LEN + 1) < 0) {
    snprintf(why, whysz, "%%KEYGEN answer: no %%KEYGEN: \"<DER>.<COSE>\" line in the AT response");
    rc = 1;
  } else if (keygen_decode(value, der, KEYGEN_MAX_VALUE_LEN, &derlen, info, kwhy, sizeof kwhy)) {
    snprintf(why, whysz, "%%KEYGEN answer: %s", kwhy);
    rc = 1;
  } else if (info->payload_id != want) {
    snprintf(why, whysz, "%%KEYGEN answer: the COSE payload id is %u, but the command asked for %s (%u)", info->payload_id,
             want == KEYGEN_PAYLOAD_CSR ? "a CSR" : "a public key", want);
    rc = 1;
  } else {
    rc = check_attested(s, c, k, info, why, whysz, e);
  }
  free(value);
  free(der);
  free(info);
  return rc;
}
