/* %KEYGEN answer codec: base64url halves, the DER envelope (checked with mbedTLS's ASN.1
 * reader, not interpreted: pki/ parses the CSR) and the COSE_Sign1 (cose.c). The COSE
 * payload is not interpreted either; only its signature can be checked, and only when the
 * device's identity key is registered. */
#include "proto/keygen.h"
#include "proto/defect.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cbor.h>
#include <mbedtls/asn1.h>
#include <mbedtls/pem.h>
#include <mbedtls/sha256.h>

#include "proto/b64url.h"
#include "proto/cborscan.h"
#include "proto/cose.h"

static const char keygen_prefix[] = "%KEYGEN:";

int keygen_extract(const char *at_response, char *value, size_t valuesz)
{
  if (!at_response || !value || valuesz == 0) return -1;
  const char *k = strstr(at_response, keygen_prefix);
  if (!k) return -1;
  const char *q1 = strchr(k + sizeof keygen_prefix - 1, '"');
  if (!q1) return -1;
  const char *q2 = strchr(q1 + 1, '"');
  if (!q2) return -1;
  size_t n = (size_t)(q2 - q1 - 1);
  if (n >= valuesz || n > KEYGEN_MAX_VALUE_LEN) return -1;
  memcpy(value, q1 + 1, n);
  value[n] = '\0';
  return (int)n;
}

/* Split value at its one '.', checking lengths; the parts point into value. */
static int split(const char *value, const char **p1, size_t *n1, const char **p2, size_t *n2,
                 char *why, size_t whysz)
{
  if (!value || !*value) return defect(why, whysz, "KEYGEN value is empty");
  size_t len = strnlen(value, KEYGEN_MAX_VALUE_LEN + 1);
  if (len > KEYGEN_MAX_VALUE_LEN)
    return defect(why, whysz, "KEYGEN value longer than %d characters", KEYGEN_MAX_VALUE_LEN);
  const char *dot = memchr(value, '.', len);
  if (!dot) return defect(why, whysz, "KEYGEN value has no '.' before its COSE part");
  if (memchr(dot + 1, '.', len - (size_t)(dot + 1 - value)))
    return defect(why, whysz, "KEYGEN value has more than one '.'");
  *p1 = value;
  *n1 = (size_t)(dot - value);
  *p2 = dot + 1;
  *n2 = len - *n1 - 1;
  if (*n1 == 0) return defect(why, whysz, "KEYGEN DER part is empty");
  if (*n2 == 0) return defect(why, whysz, "KEYGEN COSE part is empty");
  return 0;
}

/* Decode and check the COSE part; on success *root holds the tree (caller decrefs) and c
 * points into it. */
static int load_cose(const char *p, size_t n, cbor_item_t **root, cose_sign1 *c, char *why, size_t whysz)
{
  size_t cap = b64url_decoded_max(n), got = 0, used = 0;
  char inner[128];
  *root = NULL;
  uint8_t *buf = malloc(cap ? cap : 1);
  if (!buf) return defect(why, whysz, "out of memory");
  int rc = -1;
  if (b64url_decode(p, n, buf, cap, &got) != 0) {
    defect(why, whysz, "KEYGEN COSE part is not valid base64url");
  } else if (!(*root = cborscan_load(buf, got, 8, &used, inner, sizeof inner))) {
    defect(why, whysz, "KEYGEN COSE part is not well-formed CBOR (%s)", inner);
  } else if (used != got) {
    defect(why, whysz, "trailing bytes after the KEYGEN COSE part");
  } else {
    rc = cose_sign1_parse(*root, 0, 0, "KEYGEN COSE part", c, why, whysz);
  }
  /* The parsed view points into the tree, not into buf, so buf can go now. */
  free(buf);
  if (rc != 0 && *root) cbor_decref(root);
  return rc;
}

int keygen_decode(const char *value, uint8_t *der, size_t dersz, size_t *derlen, char *why, size_t whysz)
{
  const char *p1, *p2;
  size_t n1, n2, got = 0;
  if (!der || !derlen) return defect(why, whysz, "no output");
  *derlen = 0;
  if (split(value, &p1, &n1, &p2, &n2, why, whysz) != 0) return -1;
  size_t cap = b64url_decoded_max(n1);
  uint8_t *tmp = malloc(cap ? cap : 1);
  if (!tmp) return defect(why, whysz, "out of memory");
  if (b64url_decode(p1, n1, tmp, cap, &got) != 0) {
    free(tmp);
    return defect(why, whysz, "KEYGEN DER part is not valid base64url");
  }
  if (got > dersz) {
    free(tmp);
    return defect(why, whysz, "KEYGEN DER part longer than %zu bytes", dersz);
  }
  memcpy(der, tmp, got);
  free(tmp);
  unsigned char *p = der;
  size_t inner = 0;
  if (mbedtls_asn1_get_tag(&p, der + got, &inner, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
    return defect(why, whysz, "KEYGEN DER part is not a DER SEQUENCE");
  if (p + inner != der + got) return defect(why, whysz, "trailing bytes after the KEYGEN DER SEQUENCE");

  cbor_item_t *root;
  cose_sign1 c;
  if (load_cose(p2, n2, &root, &c, why, whysz) != 0) return -1;
  cbor_decref(&root);
  *derlen = got;
  return 0;
}

int keygen_verify_cose(const char *value, const mbedtls_pk_context *identity_pub)
{
  const char *p1, *p2;
  size_t n1, n2;
  if (!identity_pub || split(value, &p1, &n1, &p2, &n2, NULL, 0) != 0) return -1;
  cbor_item_t *root;
  cose_sign1 c;
  if (load_cose(p2, n2, &root, &c, NULL, 0) != 0) return -1;
  int rc = cose_sign1_verify(c.protected_hdr, c.protected_len, c.payload, c.payload_len, c.signature,
                             identity_pub);
  cbor_decref(&root);
  return rc;
}

int keygen_format(const uint8_t *der, size_t derlen, mbedtls_pk_context *identity_key, char *out, size_t outsz)
{
  static const char tail[] = "\"\r\nOK\r\n";
  uint8_t hash[32], cose[256];
  if (!der || derlen == 0 || !out) return -1;
  if (mbedtls_sha256_ret(der, derlen, hash, 0) != 0) return -1;
  int nc = cose_sign1_encode(hash, sizeof hash, 0, NULL, 0, identity_key, cose, sizeof cose);
  if (nc < 0) return -1;
  int pos = snprintf(out, outsz, "%s \"", keygen_prefix);
  if (pos < 0 || (size_t)pos >= outsz) return -1;
  int a = b64url_encode(der, derlen, out + pos, outsz - (size_t)pos);
  if (a < 0) return -1;
  pos += a;
  if ((size_t)pos + 1 >= outsz) return -1;
  out[pos++] = '.';
  int b = b64url_encode(cose, (size_t)nc, out + pos, outsz - (size_t)pos);
  if (b < 0) return -1;
  pos += b;
  if (outsz - (size_t)pos < sizeof tail) return -1;
  memcpy(out + pos, tail, sizeof tail);
  return pos + (int)sizeof tail - 1;
}

int keygen_der_to_pem(const uint8_t *der, size_t derlen, int csr, char *out, size_t outsz)
{
  size_t olen = 0;
  if (!der || derlen == 0 || !out || outsz == 0) return -1;
  const char *head = csr ? "-----BEGIN CERTIFICATE REQUEST-----\n" : "-----BEGIN PUBLIC KEY-----\n";
  const char *foot = csr ? "-----END CERTIFICATE REQUEST-----\n" : "-----END PUBLIC KEY-----\n";
  if (mbedtls_pem_write_buffer(head, foot, der, derlen, (unsigned char *)out, outsz, &olen) != 0) return -1;
  /* olen counts the terminating NUL. */
  return olen > 0 ? (int)(olen - 1) : -1;
}
