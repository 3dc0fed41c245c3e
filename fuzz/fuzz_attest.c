/* libFuzzer target for the attestation-token decoder (proto/attest, and through it
 * b64url, cborscan and cose). A decoded token is also rendered as JSON and checked
 * against a fixed key, so that every path a claim request can take is exercised. The
 * decoder's fast path must give exactly what the general decoder gives, for every input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/attest.h"
#include "proto/es256.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size); /* called by libFuzzer */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static mbedtls_pk_context key;
  static int have_key;
  if (!have_key) have_key = es256_generate(&key) == 0 ? 1 : -1;

  attest_token t, g;
  char why[256], gwhy[256];
  int rc = attest_decode((const char *)data, size, &t, why, sizeof why);
  int grc = attest_decode_general((const char *)data, size, &g, gwhy, sizeof gwhy);
  if (rc != grc || (rc == 0 && memcmp(&t, &g, sizeof t) != 0)) abort();
  if (rc != 0) {
    if (!memchr(why, '\0', sizeof why)) abort(); /* the message is always a C string */
    if (strcmp(why, gwhy) != 0) abort();
    return 0;
  }
  if (t.message_type != 1 || strlen(t.device_uuid) != 36 || t.part1_len == 0) abort();
  char *json = NULL;
  if (attest_to_json(&t, &json) != 0) abort();
  free(json);
  if (have_key == 1) (void)attest_verify(&t, &key);
  return 0;
}
