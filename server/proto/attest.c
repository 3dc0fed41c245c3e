/* Attestation token codec. Decoding goes base64url -> cborscan/libcbor -> shape checks,
 * with one distinct sentence for every structural defect of docs/device-protocol.md §4.1, because
 * the owner API returns that sentence to whoever claimed with a broken token. The modem's
 * exact encoding is read at fixed offsets first, without a tree (fast_part1/2). Part 2's
 * COSE layer is checked by cose.c. Signature checking is separate (attest_verify): most
 * devices' identity keys are unknown to the mock. */
#include "proto/attest.h"
#include "proto/defect.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cbor.h>
#include <jansson.h>

#include "proto/b64url.h"
#include "proto/cborget.h"
#include "proto/cborscan.h"
#include "proto/cose.h"
#include "proto/es256.h"

#define TAG_SELF_DESCRIBED 55799
#define MESSAGE_TYPE_DEVICE_IDENTITY 1
#define KID_MODEM ((uint8_t)0x21)

void attest_uuid_format(const uint8_t id[16], char out[37])
{
  static const char hex[] = "0123456789abcdef";
  size_t o = 0;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out[o++] = '-';
    out[o++] = hex[id[i] >> 4];
    out[o++] = hex[id[i] & 15];
  }
  out[o] = '\0';
}

/* Copy a definite 16-byte byte string, or -1. */
static int bstr16(const cbor_item_t *it, uint8_t out[16])
{
  const uint8_t *p;
  size_t n;
  if (cborget_bytes(it, &p, &n) != 0 || n != 16) return -1;
  memcpy(out, p, 16);
  return 0;
}

/* What a non-conforming UUID or nonce element is, for the message: its length when it is
 * a byte string, else its kind. */
static const char *got16(const cbor_item_t *it, char *buf, size_t bufsz)
{
  const uint8_t *p;
  size_t n;
  if (cborget_bytes(it, &p, &n) != 0) return cborget_describe(it);
  snprintf(buf, bufsz, "%zu bytes", n);
  return buf;
}

/* The fast paths below take the exact bytes the modem writes (docs/device-protocol.md
 * §4.1) without building a libcbor tree: tree building was a tenth of a bulk claim and of
 * every attestation-authenticated HTTP poll. Anything else (another integer width, a
 * longer key id, any defect) returns 0 and goes through the general decoder, which has
 * the last word and every message; fuzz/fuzz_attest.c checks that both give the same
 * token for every input the fast paths take. */

/* Part 1: d9 d9f7 (tag 55799) 85 (array of 5) 01, 50 + 16 bytes, a device type below 24,
 * 50 + 16 bytes, 50 + 16 bytes: 57 bytes. 1 when taken. */
static int fast_part1(const uint8_t *p, size_t n, attest_token *out)
{
  static const uint8_t head[] = {0xd9, 0xd9, 0xf7, 0x85, 0x01, 0x50};
  if (n != 57 || memcmp(p, head, sizeof head) != 0 || p[22] > 0x17 || p[23] != 0x50 || p[40] != 0x50)
    return 0;
  memcpy(out->device_id, p + 6, 16);
  memcpy(out->firmware_id, p + 24, 16);
  memcpy(out->nonce, p + 41, 16);
  out->message_type = MESSAGE_TYPE_DEVICE_IDENTITY;
  out->device_type = p[22];
  attest_uuid_format(out->device_id, out->device_uuid);
  attest_uuid_format(out->firmware_id, out->firmware_uuid);
  memcpy(out->part1, p, n);
  out->part1_len = n;
  return 1;
}

/* Part 2: d2 (tag 18) 84 (array of 4) 43 a1 01 26 (protected {1: -7}) a1 04 41 k
 * (unprotected {4: h'k'}) f6 (detached payload) 58 40 + 64 bytes: 77 bytes. 1 when taken. */
static int fast_part2(const uint8_t *p, size_t n, attest_token *out)
{
  static const uint8_t head[] = {0xd2, 0x84, 0x43, 0xa1, 0x01, 0x26, 0xa1, 0x04, 0x41};
  static const uint8_t tail[] = {0xf6, 0x58, 0x40};
  if (n != 77 || memcmp(p, head, sizeof head) != 0 || memcmp(p + 10, tail, sizeof tail) != 0) return 0;
  memcpy(out->protected_hdr, p + 3, 3);
  out->protected_len = 3;
  out->kid[0] = p[9];
  out->kid_len = 1;
  memcpy(out->signature, p + 13, 64);
  return 1;
}

static int decode_part1(const uint8_t *p, size_t n, attest_token *out, char *why, size_t whysz)
{
  char inner[128], len16[32];
  size_t used = 0;
  cbor_item_t *root = cborscan_load(p, n, 8, &used, inner, sizeof inner);
  if (!root) return defect(why, whysz, "part 1 is not well-formed CBOR (%s)", inner);
  int rc = -1;
  uint64_t tag, mtype, dtype;
  const cbor_item_t *arr;
  cbor_item_t *const *e;
  size_t ne;
  if (used != n) {
    defect(why, whysz, "trailing bytes after part 1");
    goto out;
  }
  if (cborget_tag(root, &tag, &arr) != 0) {
    defect(why, whysz, "part 1: expected CBOR tag 55799, got an untagged item (%s)", cborget_describe(root));
    goto out;
  }
  if (tag != TAG_SELF_DESCRIBED) {
    defect(why, whysz, "part 1: expected CBOR tag 55799, got tag %llu", (unsigned long long)tag);
    goto out;
  }
  if (cborget_array(arr, &e, &ne) != 0) {
    defect(why, whysz, "part 1: tagged item must be an array, got %s", cborget_describe(arr));
    goto out;
  }
  if (ne != 5) {
    defect(why, whysz, "part 1: array must have 5 elements, got %zu", ne);
    goto out;
  }
  if (cborget_uint(e[0], &mtype) != 0) {
    defect(why, whysz, "part 1: message type must be an unsigned integer, got %s", cborget_describe(e[0]));
    goto out;
  }
  if (mtype != MESSAGE_TYPE_DEVICE_IDENTITY) {
    defect(why, whysz, "part 1: message type must be 1 (device identity), got %llu", (unsigned long long)mtype);
    goto out;
  }
  if (bstr16(e[1], out->device_id) != 0) {
    defect(why, whysz, "part 1: device UUID must be a 16-byte byte string, got %s", got16(e[1], len16, sizeof len16));
    goto out;
  }
  if (cborget_uint(e[2], &dtype) != 0) {
    defect(why, whysz, "part 1: device type must be an unsigned integer, got %s", cborget_describe(e[2]));
    goto out;
  }
  if (bstr16(e[3], out->firmware_id) != 0) {
    defect(why, whysz, "part 1: modem firmware UUID must be a 16-byte byte string, got %s", got16(e[3], len16, sizeof len16));
    goto out;
  }
  if (bstr16(e[4], out->nonce) != 0) {
    defect(why, whysz, "part 1: nonce must be a 16-byte byte string, got %s", got16(e[4], len16, sizeof len16));
    goto out;
  }
  if (n > sizeof out->part1) {
    /* Unreachable for the shape above (at most 74 bytes); kept as a guard for the copy. */
    defect(why, whysz, "part 1 is longer than %zu bytes", sizeof out->part1);
    goto out;
  }
  out->message_type = MESSAGE_TYPE_DEVICE_IDENTITY;
  out->device_type = dtype;
  attest_uuid_format(out->device_id, out->device_uuid);
  attest_uuid_format(out->firmware_id, out->firmware_uuid);
  memcpy(out->part1, p, n);
  out->part1_len = n;
  rc = 0;
out:
  cbor_decref(&root);
  return rc;
}

static int decode_part2(const uint8_t *p, size_t n, attest_token *out, char *why, size_t whysz)
{
  char inner[128];
  size_t used = 0;
  cbor_item_t *root = cborscan_load(p, n, 8, &used, inner, sizeof inner);
  if (!root) return defect(why, whysz, "part 2 is not well-formed CBOR (%s)", inner);
  int rc = -1;
  cose_sign1 c;
  if (used != n) {
    defect(why, whysz, "trailing bytes after part 2");
  } else if (cose_sign1_parse(root, 1, 1, "part 2", &c, why, whysz) == 0) {
    if (c.protected_len > sizeof out->protected_hdr) {
      defect(why, whysz, "part 2: protected header longer than %zu bytes", sizeof out->protected_hdr);
    } else {
      memcpy(out->protected_hdr, c.protected_hdr, c.protected_len);
      out->protected_len = c.protected_len;
      memcpy(out->kid, c.kid, c.kid_len);
      out->kid_len = c.kid_len;
      memcpy(out->signature, c.signature, 64);
      rc = 0;
    }
  }
  cbor_decref(&root);
  return rc;
}

static int decode(const char *token, size_t len, attest_token *out, int fast, char *why, size_t whysz)
{
  uint8_t buf[ATTEST_MAX_TOKEN_LEN];
  size_t n;
  if (!out) return defect(why, whysz, "no output");
  memset(out, 0, sizeof *out);
  if (!token || len == 0) return defect(why, whysz, "token is empty");
  if (len > ATTEST_MAX_TOKEN_LEN) return defect(why, whysz, "token longer than %d characters", ATTEST_MAX_TOKEN_LEN);
  const char *dot = memchr(token, '.', len);
  if (!dot) return defect(why, whysz, "token has no '.' between its two parts");
  const char *p2 = dot + 1;
  size_t n1 = (size_t)(dot - token), n2 = len - n1 - 1;
  if (memchr(p2, '.', n2)) return defect(why, whysz, "token has more than one '.'");
  if (n1 == 0) return defect(why, whysz, "part 1 is empty");
  if (n2 == 0) return defect(why, whysz, "part 2 is empty");

  if (b64url_decode(token, n1, buf, sizeof buf, &n) != 0)
    return defect(why, whysz, "part 1 is not valid base64url");
  if (n == 0) return defect(why, whysz, "part 1 is empty");
  if (!(fast && fast_part1(buf, n, out)) && decode_part1(buf, n, out, why, whysz) != 0) return -1;

  if (b64url_decode(p2, n2, buf, sizeof buf, &n) != 0)
    return defect(why, whysz, "part 2 is not valid base64url");
  if (n == 0) return defect(why, whysz, "part 2 is empty");
  return fast && fast_part2(buf, n, out) ? 0 : decode_part2(buf, n, out, why, whysz);
}

int attest_decode(const char *token, size_t len, attest_token *out, char *why, size_t whysz)
{
  return decode(token, len, out, 1, why, whysz);
}

int attest_decode_general(const char *token, size_t len, attest_token *out, char *why, size_t whysz)
{
  return decode(token, len, out, 0, why, whysz);
}

int attest_verify(const attest_token *t, const mbedtls_pk_context *pub)
{
  if (!t || !pub || t->message_type != MESSAGE_TYPE_DEVICE_IDENTITY) return -1;
  return cose_sign1_verify(t->protected_hdr, t->protected_len, t->part1, t->part1_len, t->signature, pub);
}

/* Append what a cbor_encode_* call wrote (0 means no room). */
static int took(size_t *pos, size_t n)
{
  if (n == 0) return -1;
  *pos += n;
  return 0;
}

static int put_bstr16(uint8_t *b, size_t sz, size_t *pos, const uint8_t v[16])
{
  if (took(pos, cbor_encode_bytestring_start(16, b + *pos, sz - *pos)) || sz - *pos < 16) return -1;
  memcpy(b + *pos, v, 16);
  *pos += 16;
  return 0;
}

int attest_encode(const uint8_t device_id[16], uint64_t device_type, const uint8_t firmware_id[16],
                  const uint8_t nonce[16], mbedtls_pk_context *key, char *out, size_t outsz)
{
  uint8_t p1[96], p2[128];
  size_t n1 = 0;
  static const uint8_t kid = KID_MODEM;
  if (!device_id || !firmware_id || !nonce || !out) return -1;
  if (took(&n1, cbor_encode_tag(TAG_SELF_DESCRIBED, p1, sizeof p1)) ||
      took(&n1, cbor_encode_array_start(5, p1 + n1, sizeof p1 - n1)) ||
      took(&n1, cbor_encode_uint(MESSAGE_TYPE_DEVICE_IDENTITY, p1 + n1, sizeof p1 - n1)) ||
      put_bstr16(p1, sizeof p1, &n1, device_id) ||
      took(&n1, cbor_encode_uint(device_type, p1 + n1, sizeof p1 - n1)) ||
      put_bstr16(p1, sizeof p1, &n1, firmware_id) || put_bstr16(p1, sizeof p1, &n1, nonce))
    return -1;
  int n2 = cose_sign1_encode(p1, n1, 1, &kid, 1, key, p2, sizeof p2);
  if (n2 < 0) return -1;
  int a = b64url_encode(p1, n1, out, outsz);
  if (a < 0 || (size_t)a + 1 >= outsz) return -1;
  out[a] = '.';
  int b = b64url_encode(p2, (size_t)n2, out + a + 1, outsz - (size_t)a - 1);
  if (b < 0) return -1;
  return a + 1 + b;
}

const char *attest_device_type_name(uint64_t code, char *buf, size_t bufsz)
{
  static const char *const names[] = {
      NULL, "nrf9160_SIAA", "nrf9160_SIBA", "nrf9160_SICA", "nrf9161_LACA", "nrf9131_LACA", "nrf9151_LACA",
  };
  if (code >= 1 && code < sizeof names / sizeof names[0]) return names[code];
  if (!buf || bufsz == 0) return "unknown";
  snprintf(buf, bufsz, "unknown_%llu", (unsigned long long)code);
  return buf;
}

static void hex(const uint8_t *p, size_t n, char *out)
{
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[p[i] >> 4];
    out[2 * i + 1] = digits[p[i] & 15];
  }
  out[2 * n] = '\0';
}

int attest_to_json(const attest_token *t, char **json_out)
{
  char nonce[33], kid[33], tbuf[32];
  if (!t || !json_out) return -1;
  *json_out = NULL;
  hex(t->nonce, 16, nonce);
  hex(t->kid, t->kid_len > 16 ? 16 : t->kid_len, kid);
  /* jansson integers are signed; a code past INT64_MAX (never seen) degrades to a real. */
  json_t *code = t->device_type <= INT64_MAX ? json_integer((json_int_t)t->device_type)
                                             : json_real((double)t->device_type);
  json_t *o = json_pack("{s:i, s:s, s:o, s:s, s:s, s:s, s:s}",
                        "messageType", t->message_type,
                        "deviceId", t->device_uuid,
                        "deviceTypeCode", code,
                        "deviceType", attest_device_type_name(t->device_type, tbuf, sizeof tbuf),
                        "firmwareId", t->firmware_uuid,
                        "nonceHex", nonce,
                        "coseKidHex", kid);
  if (!o) return -1;
  *json_out = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  json_decref(o);
  return *json_out ? 0 : -1;
}
