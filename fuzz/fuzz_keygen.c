/* libFuzzer target for the %KEYGEN answer codec (proto/keygen, and through it b64url,
 * cborscan, cborget, cose and mbedTLS's ASN.1 reader), the attested payload included. The input is taken both as a whole AT answer
 * (extract, then decode) and as a bare value. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/es256.h"
#include "proto/keygen.h"

static void value(const char *v, const mbedtls_pk_context *key)
{
  uint8_t der[4096];
  size_t dn;
  char why[256];
  keygen_info info;
  if (keygen_decode(v, der, sizeof der, &dn, &info, why, sizeof why) == 0) {
    char pem[8192];
    if (dn == 0 || dn > sizeof der) abort();
    if (info.payload_len == 0 || info.payload_len > sizeof info.payload) abort();
    (void)keygen_der_to_pem(der, dn, 0, pem, sizeof pem);
    if (key) (void)keygen_verify(&info, key);
  }
  if (key) (void)keygen_verify_cose(v, key);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size); /* called by libFuzzer */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static mbedtls_pk_context key;
  static int have_key;
  if (!have_key) have_key = es256_generate(&key) == 0 ? 1 : -1;

  char *s = malloc(size + 1);
  if (!s) return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  char v[KEYGEN_MAX_VALUE_LEN + 1];
  int n = keygen_extract(s, v, sizeof v);
  if (n >= 0) {
    if ((size_t)n != strlen(v)) abort();
    value(v, have_key == 1 ? &key : NULL);
  }
  value(s, have_key == 1 ? &key : NULL);
  free(s);
  return 0;
}
