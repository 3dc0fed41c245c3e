/* libFuzzer target for the device JWT parser (proto/jwt, over jansson and b64url). A
 * parsed JWT is also verified against a fixed key. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/es256.h"
#include "proto/jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size); /* called by libFuzzer */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static mbedtls_pk_context key;
  static int have_key;
  if (!have_key) have_key = es256_generate(&key) == 0 ? 1 : -1;

  jwt_device j;
  char why[256];
  if (jwt_parse((const char *)data, size, 1800000000, &j, why, sizeof why) != 0) {
    if (!memchr(why, '\0', sizeof why)) abort();
    return 0;
  }
  if (strlen(j.device_uuid) != 36 || j.signing_input != (const char *)data || j.signing_input_len >= size) abort();
  if (have_key == 1) (void)jwt_verify(&j, &key);
  return 0;
}
