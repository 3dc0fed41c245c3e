/* %KEYGEN answer codec: base64url halves, the DER envelope (checked with mbedTLS's ASN.1
 * reader, not interpreted: pki/ parses the CSR), the COSE_Sign1 (cose.c) and its attached
 * payload, read through cborscan and the checked accessors of cborget. Each structural
 * defect has its own sentence, because the service puts it into the failed command's
 * errorResponse. Whether the UUID and sec tag are the right ones, and whether the
 * signature must verify, is the service's call (docs/keygen.md). */
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
#include "proto/cborget.h"
#include "proto/cborscan.h"
#include "proto/cose.h"

#define TAG_SELF_DESCRIBED 55799
#define KID_MODEM ((uint8_t)0x21)

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

/* A definite byte string of exactly n bytes, copied to out; 0 or -1. */
static int bytes_n(const cbor_item_t *it, size_t n, uint8_t *out)
{
  const uint8_t *p;
  size_t len;
  if (cborget_bytes(it, &p, &len) != 0 || len != n) return -1;
  memcpy(out, p, n);
  return 0;
}

/* The sec tag element: a byte string holding exactly one CBOR integer. The modem encodes
 * the tag as an int32, so a negative value is the two's complement of a tag >= 2^31, as
 * Nordic's modem_credentials_parser reads it. */
static int sec_tag_of(const cbor_item_t *it, uint32_t *tag, char *why, size_t whysz)
{
  const uint8_t *p;
  size_t n, used = 0;
  char inner[96];
  int64_t v;
  if (cborget_bytes(it, &p, &n) != 0)
    return defect(why, whysz, "KEYGEN COSE payload: sec tag must be a byte string, got %s", cborget_describe(it));
  cbor_item_t *t = n ? cborscan_load(p, n, 1, &used, inner, sizeof inner) : NULL;
  int ok = t && used == n && cborget_int(t, &v) == 0 && v >= INT32_MIN && v <= UINT32_MAX;
  if (t) cbor_decref(&t);
  if (!ok) return defect(why, whysz, "KEYGEN COSE payload: sec tag must be a byte string holding one CBOR integer");
  *tag = (uint32_t)(v < 0 ? (uint32_t)(int32_t)v : (uint64_t)v);
  return 0;
}

/* The attached payload: tag 55799 around [payload id, UUID, bstr(sec tag), digest, nonce]. */
static int load_payload(const uint8_t *p, size_t n, keygen_info *out, char *why, size_t whysz)
{
  char inner[128];
  size_t used = 0, count;
  uint64_t tag, id;
  const cbor_item_t *arr;
  cbor_item_t *const *e;
  if (n == 0) return defect(why, whysz, "KEYGEN COSE payload is empty");
  if (n > sizeof out->payload) return defect(why, whysz, "KEYGEN COSE payload longer than %zu bytes", sizeof out->payload);
  /* Checked on the bytes first: an answer whose payload is something else entirely (the
   * bare 32-byte digest older tools sent, say) is named as such, not as bad CBOR. */
  if (n < 3 || memcmp(p, "\xd9\xd9\xf7", 3))
    return defect(why, whysz, "KEYGEN COSE payload: expected CBOR tag 55799 (bytes d9 d9 f7) around the attested array, got %zu bytes starting %02x",
                  n, p[0]);
  cbor_item_t *root = cborscan_load(p, n, 4, &used, inner, sizeof inner);
  if (!root) return defect(why, whysz, "KEYGEN COSE payload is not well-formed CBOR (%s)", inner);
  int rc = -1;
  if (cborget_tag(root, &tag, &arr) != 0)
    defect(why, whysz, "KEYGEN COSE payload: expected CBOR tag 55799, got %s", cborget_describe(root));
  else if (tag != TAG_SELF_DESCRIBED)
    defect(why, whysz, "KEYGEN COSE payload: expected CBOR tag 55799, got tag %llu", (unsigned long long)tag);
  else if (used != n)
    defect(why, whysz, "trailing bytes after the KEYGEN COSE payload");
  else if (cborget_array(arr, &e, &count) != 0)
    defect(why, whysz, "KEYGEN COSE payload: tagged item must be an array, got %s", cborget_describe(arr));
  else if (count != 5)
    defect(why, whysz, "KEYGEN COSE payload: array must have 5 elements, got %zu", count);
  else if (cborget_uint(e[0], &id) != 0)
    defect(why, whysz, "KEYGEN COSE payload: payload id must be an unsigned integer, got %s", cborget_describe(e[0]));
  else if (id != KEYGEN_PAYLOAD_CSR && id != KEYGEN_PAYLOAD_PUBKEY)
    defect(why, whysz, "KEYGEN COSE payload: payload id must be 9 (CSR) or 8 (public key), got %llu",
           (unsigned long long)id);
  else if (bytes_n(e[1], 16, out->device_id) != 0)
    defect(why, whysz, "KEYGEN COSE payload: device UUID must be a 16-byte byte string");
  else if (sec_tag_of(e[2], &out->sec_tag, why, whysz) != 0)
    ; /* why is set */
  else if (bytes_n(e[3], 32, out->digest) != 0)
    defect(why, whysz, "KEYGEN COSE payload: digest must be a 32-byte byte string (SHA-256)");
  else if (bytes_n(e[4], 16, out->nonce) != 0)
    defect(why, whysz, "KEYGEN COSE payload: nonce must be a 16-byte byte string");
  else {
    out->payload_id = (unsigned)id;
    memcpy(out->payload, p, n);
    out->payload_len = n;
    rc = 0;
  }
  cbor_decref(&root);
  return rc;
}

/* Decode and check the COSE part, and its payload, into out. */
static int load_cose(const char *p, size_t n, keygen_info *out, char *why, size_t whysz)
{
  size_t cap = b64url_decoded_max(n), got = 0, used = 0;
  char inner[128];
  cbor_item_t *root = NULL;
  cose_sign1 c;
  uint8_t *buf = malloc(cap ? cap : 1);
  if (!buf) return defect(why, whysz, "out of memory");
  int rc = -1;
  if (b64url_decode(p, n, buf, cap, &got) != 0) {
    defect(why, whysz, "KEYGEN COSE part is not valid base64url");
  } else if (!(root = cborscan_load(buf, got, 8, &used, inner, sizeof inner))) {
    defect(why, whysz, "KEYGEN COSE part is not well-formed CBOR (%s)", inner);
  } else if (used != got) {
    defect(why, whysz, "trailing bytes after the KEYGEN COSE part");
  } else if (cose_sign1_parse(root, 0, 1, "KEYGEN COSE part", &c, why, whysz) == 0) {
    if (c.protected_len > sizeof out->protected_hdr) {
      defect(why, whysz, "KEYGEN COSE part: protected header longer than %zu bytes", sizeof out->protected_hdr);
    } else if (load_payload(c.payload, c.payload_len, out, why, whysz) == 0) {
      memcpy(out->protected_hdr, c.protected_hdr, c.protected_len);
      out->protected_len = c.protected_len;
      memcpy(out->signature, c.signature, 64);
      rc = 0;
    }
  }
  /* The parsed view points into the tree, not into buf; both go now. */
  if (root) cbor_decref(&root);
  free(buf);
  return rc;
}

int keygen_decode(const char *value, uint8_t *der, size_t dersz, size_t *derlen, keygen_info *info, char *why,
                  size_t whysz)
{
  const char *p1 = NULL, *p2 = NULL;
  size_t n1 = 0, n2 = 0, got = 0;
  keygen_info local;
  keygen_info *ki = info ? info : &local;
  uint8_t hash[32];
  if (!der || !derlen) return defect(why, whysz, "no output");
  *derlen = 0;
  memset(ki, 0, sizeof *ki);
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

  if (load_cose(p2, n2, ki, why, whysz) != 0) return -1;
  if (mbedtls_sha256_ret(der, got, hash, 0) != 0) return defect(why, whysz, "cannot hash the KEYGEN DER part");
  if (memcmp(hash, ki->digest, sizeof hash) != 0)
    return defect(why, whysz, "KEYGEN COSE payload: the SHA-256 digest does not match the DER part");
  *derlen = got;
  return 0;
}

int keygen_verify(const keygen_info *info, const mbedtls_pk_context *identity_pub)
{
  if (!info || !identity_pub || !info->payload_len) return -1;
  return cose_sign1_verify(info->protected_hdr, info->protected_len, info->payload, info->payload_len,
                           info->signature, identity_pub);
}

int keygen_verify_cose(const char *value, const mbedtls_pk_context *identity_pub)
{
  uint8_t *der = malloc(KEYGEN_MAX_VALUE_LEN);
  keygen_info *info = malloc(sizeof *info);
  size_t derlen;
  int rc = -1;
  if (der && info && identity_pub && keygen_decode(value, der, KEYGEN_MAX_VALUE_LEN, &derlen, info, NULL, 0) == 0)
    rc = keygen_verify(info, identity_pub);
  free(der);
  free(info);
  return rc;
}

/* Append what a cbor_encode_* call wrote (0 bytes written means no room). */
static int took(size_t *pos, size_t n)
{
  if (n == 0) return -1;
  *pos += n;
  return 0;
}

static int put_bytes(uint8_t *b, size_t sz, size_t *pos, const uint8_t *v, size_t n)
{
  if (took(pos, cbor_encode_bytestring_start(n, b + *pos, sz - *pos)) || sz - *pos < n) return -1;
  memcpy(b + *pos, v, n);
  *pos += n;
  return 0;
}

/* The attested payload of docs/device-protocol.md §4.4 into out; its length or -1. */
static int encode_payload(const keygen_info *att, const uint8_t digest[32], uint8_t *out, size_t outsz)
{
  uint8_t tag[8];
  size_t tn = 0, n = 0;
  if (took(&tn, cbor_encode_uint(att->sec_tag, tag, sizeof tag))) return -1;
  if (took(&n, cbor_encode_tag(TAG_SELF_DESCRIBED, out, outsz)) ||
      took(&n, cbor_encode_array_start(5, out + n, outsz - n)) ||
      took(&n, cbor_encode_uint(att->payload_id, out + n, outsz - n)) ||
      put_bytes(out, outsz, &n, att->device_id, 16) || put_bytes(out, outsz, &n, tag, tn) ||
      put_bytes(out, outsz, &n, digest, 32) || put_bytes(out, outsz, &n, att->nonce, 16))
    return -1;
  return (int)n;
}

int keygen_format(const uint8_t *der, size_t derlen, const keygen_info *att, mbedtls_pk_context *identity_key,
                  char *out, size_t outsz)
{
  static const char tail[] = "\"\r\nOK\r\n";
  static const uint8_t kid = KID_MODEM;
  uint8_t hash[32], payload[KEYGEN_MAX_PAYLOAD], cose[256];
  if (!der || derlen == 0 || !att || !out) return -1;
  if (mbedtls_sha256_ret(der, derlen, hash, 0) != 0) return -1;
  int np = encode_payload(att, hash, payload, sizeof payload);
  if (np < 0) return -1;
  int nc = cose_sign1_encode(payload, (size_t)np, 0, &kid, 1, identity_key, cose, sizeof cose);
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
