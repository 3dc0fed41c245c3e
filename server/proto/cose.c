/* COSE_Sign1 structure checks, Sig_structure digest and encoder over libcbor and mbedTLS.
 * The checks work on a tree the caller already loaded (through cborscan) and only say what
 * is wrong with the COSE layer; the caller owns the message prefix and any surrounding
 * structure (base64url, trailing bytes). */
#include "proto/cose.h"

#include <stdio.h>
#include <string.h>

#include <mbedtls/sha256.h>

#include "proto/cborget.h"
#include "proto/cborscan.h"
#include "proto/es256.h"

#define COSE_TAG_SIGN1 18
#define COSE_LABEL_ALG 1
#define COSE_LABEL_KID 4
#define COSE_ALG_ES256 (-7)

/* The protected header of every modem signature: {1: -7}. */
static const uint8_t es256_protected[] = {0xa1, 0x01, 0x26};

static int say(char *why, size_t whysz, const char *what, const char *msg)
{
  if (why && whysz) snprintf(why, whysz, "%s: %s", what, msg);
  return -1;
}

/* 1 if it is the integer v (unsigned or negative, any width). */
static int int_is(const cbor_item_t *it, int64_t v)
{
  int64_t got;
  return cborget_int(it, &got) == 0 && got == v;
}

static int check_protected(const uint8_t *p, size_t n, const char *what, char *why, size_t whysz)
{
  char inner[96];
  size_t used = 0;
  cbor_item_t *m = cborscan_load(p, n, 4, &used, inner, sizeof inner);
  if (!m) return say(why, whysz, what, "protected header is not well-formed CBOR");
  int rc = 0;
  const struct cbor_pair *pairs;
  size_t np = 0;
  if (used != n)
    rc = say(why, whysz, what, "trailing bytes in protected header");
  else if (cborget_map(m, &pairs, &np) != 0)
    rc = say(why, whysz, what, "protected header must be a map");
  else if (np != 1 || !int_is(pairs[0].key, COSE_LABEL_ALG))
    rc = say(why, whysz, what, "protected header must hold exactly the algorithm (label 1)");
  else if (!int_is(pairs[0].value, COSE_ALG_ES256))
    rc = say(why, whysz, what, "protected header algorithm must be -7 (ES256)");
  cbor_decref(&m);
  return rc;
}

int cose_sign1_parse(const cbor_item_t *root, int detached, int need_kid, const char *what,
                     cose_sign1 *out, char *why, size_t whysz)
{
  char msg[160];
  uint64_t tag;
  const cbor_item_t *arr;
  cbor_item_t *const *e;
  size_t ne;
  memset(out, 0, sizeof *out);
  if (cborget_tag(root, &tag, &arr) != 0) {
    snprintf(msg, sizeof msg, "expected CBOR tag 18 (COSE_Sign1), got an untagged item (%s)",
             cborget_describe(root));
    return say(why, whysz, what, msg);
  }
  if (tag != COSE_TAG_SIGN1) {
    snprintf(msg, sizeof msg, "expected CBOR tag 18 (COSE_Sign1), got tag %llu", (unsigned long long)tag);
    return say(why, whysz, what, msg);
  }
  if (cborget_array(arr, &e, &ne) != 0) {
    snprintf(msg, sizeof msg, "tagged item must be an array, got %s", cborget_describe(arr));
    return say(why, whysz, what, msg);
  }
  if (ne != 4) {
    snprintf(msg, sizeof msg, "array must have 4 elements, got %zu", ne);
    return say(why, whysz, what, msg);
  }

  if (cborget_bytes(e[0], &out->protected_hdr, &out->protected_len) != 0) {
    snprintf(msg, sizeof msg, "protected header must be a byte string, got %s", cborget_describe(e[0]));
    return say(why, whysz, what, msg);
  }
  if (check_protected(out->protected_hdr, out->protected_len, what, why, whysz) != 0) return -1;

  const struct cbor_pair *pairs;
  size_t nu;
  if (cborget_map(e[1], &pairs, &nu) != 0) {
    snprintf(msg, sizeof msg, "unprotected header must be a map, got %s", cborget_describe(e[1]));
    return say(why, whysz, what, msg);
  }
  if (nu > 1 || (nu == 1 && !int_is(pairs[0].key, COSE_LABEL_KID)))
    return say(why, whysz, what, "unprotected header may hold only the key id (label 4)");
  if (nu == 0 && need_kid)
    return say(why, whysz, what, "unprotected header must hold the key id (label 4)");
  if (nu == 1) {
    const uint8_t *kid;
    size_t kn;
    if (cborget_bytes(pairs[0].value, &kid, &kn) != 0) {
      snprintf(msg, sizeof msg, "key id must be a byte string of 1 to 16 bytes, got %s",
               cborget_describe(pairs[0].value));
      return say(why, whysz, what, msg);
    }
    if (kn == 0 || kn > sizeof out->kid) {
      snprintf(msg, sizeof msg, "key id must be a byte string of 1 to 16 bytes, got %zu bytes", kn);
      return say(why, whysz, what, msg);
    }
    memcpy(out->kid, kid, kn);
    out->kid_len = kn;
  }

  if (detached) {
    if (!cborget_is_nil(e[2])) {
      snprintf(msg, sizeof msg, "payload must be nil (detached), got %s", cborget_describe(e[2]));
      return say(why, whysz, what, msg);
    }
  } else if (cborget_bytes(e[2], &out->payload, &out->payload_len) != 0) {
    snprintf(msg, sizeof msg, "payload must be a byte string, got %s", cborget_describe(e[2]));
    return say(why, whysz, what, msg);
  }

  const uint8_t *sig;
  size_t sn;
  if (cborget_bytes(e[3], &sig, &sn) != 0) {
    snprintf(msg, sizeof msg, "signature must be a byte string, got %s", cborget_describe(e[3]));
    return say(why, whysz, what, msg);
  }
  if (sn != 64) {
    snprintf(msg, sizeof msg, "signature must be 64 bytes, got %zu", sn);
    return say(why, whysz, what, msg);
  }
  memcpy(out->signature, sig, 64);
  return 0;
}

/* Feed one CBOR head (major type given by the encoder) to the digest. */
static int hash_head(mbedtls_sha256_context *h, size_t (*enc)(size_t, unsigned char *, size_t), size_t v)
{
  unsigned char b[9];
  size_t n = enc(v, b, sizeof b);
  return n ? mbedtls_sha256_update_ret(h, b, n) : -1;
}

int cose_sign1_digest(const uint8_t *prot, size_t plen, const uint8_t *payload, size_t paylen,
                      uint8_t hash[32])
{
  static const char context[] = "Signature1";
  mbedtls_sha256_context h;
  mbedtls_sha256_init(&h);
  int rc = mbedtls_sha256_starts_ret(&h, 0) != 0 ||
           hash_head(&h, cbor_encode_array_start, 4) != 0 ||
           hash_head(&h, cbor_encode_string_start, sizeof context - 1) != 0 ||
           mbedtls_sha256_update_ret(&h, (const unsigned char *)context, sizeof context - 1) != 0 ||
           hash_head(&h, cbor_encode_bytestring_start, plen) != 0 ||
           (plen && mbedtls_sha256_update_ret(&h, prot, plen) != 0) ||
           hash_head(&h, cbor_encode_bytestring_start, 0) != 0 ||
           hash_head(&h, cbor_encode_bytestring_start, paylen) != 0 ||
           (paylen && mbedtls_sha256_update_ret(&h, payload, paylen) != 0) ||
           mbedtls_sha256_finish_ret(&h, hash) != 0
       ? -1
       : 0;
  mbedtls_sha256_free(&h);
  return rc;
}

int cose_sign1_verify(const uint8_t *prot, size_t plen, const uint8_t *payload, size_t paylen,
                      const uint8_t sig[64], const mbedtls_pk_context *pub)
{
  uint8_t hash[32];
  if (cose_sign1_digest(prot, plen, payload, paylen, hash) != 0) return -1;
  return es256_verify_hash(pub, hash, sig);
}

/* Append n bytes at *pos, or fail when they do not fit. */
static int put(uint8_t *out, size_t outsz, size_t *pos, const void *p, size_t n)
{
  if (n > outsz - *pos) return -1;
  if (n) memcpy(out + *pos, p, n);
  *pos += n;
  return 0;
}

/* Append what a cbor_encode_* call wrote (0 bytes written means no room). */
static int took(size_t *pos, size_t n)
{
  if (n == 0) return -1;
  *pos += n;
  return 0;
}

int cose_sign1_encode(const uint8_t *payload, size_t paylen, int detached, const uint8_t *kid,
                      size_t kid_len, mbedtls_pk_context *key, uint8_t *out, size_t outsz)
{
  uint8_t sig[64], hash[32];
  size_t pos = 0;
  if (!out || (paylen && !payload) || kid_len > 16 || (kid_len && !kid)) return -1;
  if (cose_sign1_digest(es256_protected, sizeof es256_protected, payload, paylen, hash) != 0) return -1;
  if (key ? es256_sign_hash(key, hash, sig) != 0 : es256_rng(NULL, sig, sizeof sig) != 0) return -1;
  if (took(&pos, cbor_encode_tag(COSE_TAG_SIGN1, out + pos, outsz - pos)) ||
      took(&pos, cbor_encode_array_start(4, out + pos, outsz - pos)) ||
      took(&pos, cbor_encode_bytestring_start(sizeof es256_protected, out + pos, outsz - pos)) ||
      put(out, outsz, &pos, es256_protected, sizeof es256_protected) ||
      took(&pos, cbor_encode_map_start(kid_len ? 1 : 0, out + pos, outsz - pos)))
    return -1;
  if (kid_len && (took(&pos, cbor_encode_uint(COSE_LABEL_KID, out + pos, outsz - pos)) ||
                  took(&pos, cbor_encode_bytestring_start(kid_len, out + pos, outsz - pos)) ||
                  put(out, outsz, &pos, kid, kid_len)))
    return -1;
  if (detached ? took(&pos, cbor_encode_null(out + pos, outsz - pos))
               : took(&pos, cbor_encode_bytestring_start(paylen, out + pos, outsz - pos)) ||
                     put(out, outsz, &pos, payload, paylen))
    return -1;
  if (took(&pos, cbor_encode_bytestring_start(64, out + pos, outsz - pos)) ||
      put(out, outsz, &pos, sig, 64))
    return -1;
  return pos > (size_t)0x7fffffff ? -1 : (int)pos;
}
