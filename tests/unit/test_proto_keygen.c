/* Unit tests of proto/keygen: answers built by keygen_format (CSR and public-key forms)
 * extract, decode back to the DER and the attested payload (docs/device-protocol.md §4.4)
 * and verify with the identity key only; malformed values, payload defects included, are
 * refused with their defect named. */
#include <criterion/criterion.h>
#include <mbedtls/x509_csr.h>
#include <stdio.h>
#include <string.h>

#include "proto/b64url.h"
#include "proto/es256.h"
#include "proto/keygen.h"

/* A PKCS#10 CSR for a fresh P-256 key, into der; returns its length. */
static size_t make_csr(uint8_t *der, size_t cap)
{
  mbedtls_pk_context k;
  cr_assert_eq(es256_generate(&k), 0);
  mbedtls_x509write_csr w;
  mbedtls_x509write_csr_init(&w);
  mbedtls_x509write_csr_set_md_alg(&w, MBEDTLS_MD_SHA256);
  mbedtls_x509write_csr_set_key(&w, &k);
  cr_assert_eq(mbedtls_x509write_csr_set_subject_name(&w, "CN=50363154-3931-44f0-8022-121b6401627d"), 0);
  unsigned char tmp[1024];
  int n = mbedtls_x509write_csr_der(&w, tmp, sizeof tmp, es256_rng, NULL);
  cr_assert_gt(n, 0);
  cr_assert_leq((size_t)n, cap);
  memcpy(der, tmp + sizeof tmp - n, (size_t)n); /* mbedTLS writes at the end of the buffer */
  mbedtls_x509write_csr_free(&w);
  mbedtls_pk_free(&k);
  return (size_t)n;
}

/* The attested fields the tests sign: device 50363154-3931-44f0-8022-121b6401627d. */
static keygen_info att(unsigned payload_id, uint32_t sec_tag)
{
  keygen_info a = {.payload_id = payload_id, .sec_tag = sec_tag};
  static const uint8_t id[16] = {0x50, 0x36, 0x31, 0x54, 0x39, 0x31, 0x44, 0xf0,
                                0x80, 0x22, 0x12, 0x1b, 0x64, 0x01, 0x62, 0x7d};
  memcpy(a.device_id, id, 16);
  memset(a.nonce, 0xab, 16);
  return a;
}

Test(keygen, csr_answer_round_trip_and_verify)
{
  keygen_info a = att(KEYGEN_PAYLOAD_CSR, 16842753), got;
  mbedtls_pk_context id, other;
  cr_assert_eq(es256_generate(&id), 0);
  cr_assert_eq(es256_generate(&other), 0);
  uint8_t der[1024], back[1024];
  size_t dn = make_csr(der, sizeof der), bn = 0;
  char answer[4096], value[4096], why[200];
  int an = keygen_format(der, dn, &a, &id, answer, sizeof answer);
  cr_assert_gt(an, 0);
  cr_assert_eq((size_t)an, strlen(answer));
  cr_assert(strncmp(answer, "%KEYGEN: \"", 10) == 0, "%s", answer);
  cr_assert(strcmp(answer + an - 7, "\"\r\nOK\r\n") == 0, "%s", answer);
  int vn = keygen_extract(answer, value, sizeof value);
  cr_assert_gt(vn, 0);
  cr_assert_eq((size_t)vn, (size_t)an - 10 - 7);
  cr_assert_eq(keygen_decode(value, back, sizeof back, &bn, &got, why, sizeof why), 0, "%s", why);
  cr_assert(bn == dn && memcmp(back, der, dn) == 0);
  cr_assert_eq(got.payload_id, KEYGEN_PAYLOAD_CSR);
  cr_assert_eq(got.sec_tag, 16842753u);
  cr_assert_eq(memcmp(got.device_id, a.device_id, 16), 0);
  cr_assert_eq(memcmp(got.nonce, a.nonce, 16), 0);
  cr_assert_eq(keygen_verify(&got, &id), 0);
  cr_assert_eq(keygen_verify(&got, &other), -1);
  mbedtls_x509_csr csr;
  mbedtls_x509_csr_init(&csr);
  cr_assert_eq(mbedtls_x509_csr_parse_der(&csr, back, bn), 0, "the DER is the CSR");
  mbedtls_x509_csr_free(&csr);
  cr_assert_eq(keygen_verify_cose(value, &id), 0);
  cr_assert_eq(keygen_verify_cose(value, &other), -1);
  cr_assert_eq(keygen_decode(value, back, dn - 1, &bn, NULL, why, sizeof why), -1, "too small a DER buffer");
  cr_assert(strstr(why, "longer than"), "%s", why);

  /* A random-signature answer is well-formed but verifies with nothing. */
  an = keygen_format(der, dn, &a, NULL, answer, sizeof answer);
  cr_assert_gt(keygen_extract(answer, value, sizeof value), 0);
  cr_assert_eq(keygen_decode(value, back, sizeof back, &bn, NULL, why, sizeof why), 0, "%s", why);
  cr_assert_eq(keygen_verify_cose(value, &id), -1);
  cr_assert_eq(keygen_format(der, dn, &a, &id, answer, 100), -1, "too small an answer buffer");

  /* A sec tag past 2^31 round-trips. */
  a.sec_tag = 4000000000u;
  cr_assert_gt(keygen_format(der, dn, &a, &id, answer, sizeof answer), 0);
  cr_assert_gt(keygen_extract(answer, value, sizeof value), 0);
  cr_assert_eq(keygen_decode(value, back, sizeof back, &bn, &got, why, sizeof why), 0, "%s", why);
  cr_assert_eq(got.sec_tag, 4000000000u);
  mbedtls_pk_free(&id);
  mbedtls_pk_free(&other);
}

Test(keygen, public_key_answer_and_pem)
{
  mbedtls_pk_context k, id, pub;
  cr_assert_eq(es256_generate(&k), 0);
  cr_assert_eq(es256_generate(&id), 0);
  unsigned char tmp[256];
  int dn = mbedtls_pk_write_pubkey_der(&k, tmp, sizeof tmp);
  cr_assert_gt(dn, 0);
  const uint8_t *der = tmp + sizeof tmp - dn;
  char answer[2048], value[2048], why[200], pem[1024];
  keygen_info a = att(KEYGEN_PAYLOAD_PUBKEY, 7), got;
  cr_assert_gt(keygen_format(der, (size_t)dn, &a, &id, answer, sizeof answer), 0);
  cr_assert_gt(keygen_extract(answer, value, sizeof value), 0);
  uint8_t back[256];
  size_t bn;
  cr_assert_eq(keygen_decode(value, back, sizeof back, &bn, &got, why, sizeof why), 0, "%s", why);
  cr_assert_eq(got.payload_id, KEYGEN_PAYLOAD_PUBKEY);
  cr_assert_eq(got.sec_tag, 7u);
  int pn = keygen_der_to_pem(back, bn, 0, pem, sizeof pem);
  cr_assert_gt(pn, 0);
  cr_assert_eq((size_t)pn, strlen(pem));
  cr_assert(strstr(pem, "-----BEGIN PUBLIC KEY-----\n") == pem, "%s", pem);
  cr_assert_eq(es256_pubkey_from_pem(&pub, pem, why, sizeof why), 0, "%s", why);
  uint8_t sig[64];
  cr_assert_eq(es256_sign(&k, (const uint8_t *)"m", 1, sig), 0);
  cr_assert_eq(es256_verify(&pub, (const uint8_t *)"m", 1, sig), 0, "the PEM is the generated key");
  cr_assert_eq(keygen_der_to_pem(back, bn, 0, pem, 20), -1);
  pn = keygen_der_to_pem(back, bn, 1, pem, sizeof pem);
  cr_assert(pn > 0 && strstr(pem, "-----BEGIN CERTIFICATE REQUEST-----\n") == pem);
  mbedtls_pk_free(&k);
  mbedtls_pk_free(&id);
  mbedtls_pk_free(&pub);
}

Test(keygen, extract)
{
  char v[64];
  cr_assert_eq(keygen_extract("%KEYGEN: \"abc.def\"\r\nOK\r\n", v, sizeof v), 7);
  cr_assert_str_eq(v, "abc.def");
  cr_assert_eq(keygen_extract("\r\n%KEYGEN: \"x.y\"\r\nOK", v, sizeof v), 3);
  cr_assert_eq(keygen_extract("%KEYGEN: \"\"\r\nOK", v, sizeof v), 0);
  cr_assert_eq(keygen_extract("OK\r\n", v, sizeof v), -1);
  cr_assert_eq(keygen_extract("%KEYGEN: abc\r\nOK", v, sizeof v), -1);
  cr_assert_eq(keygen_extract("%KEYGEN: \"abc", v, sizeof v), -1);
  cr_assert_eq(keygen_extract("\"a.b\" %KEYGEN: ", v, sizeof v), -1, "quotes before the prefix do not count");
  cr_assert_eq(keygen_extract("%KEYGEN: \"abcdef\"", v, 4), -1, "too small");
}

/* "<b64url(der hex)>.<b64url(cose hex)>" */
static const char *value_of(const char *der_hex, const char *cose_hex)
{
  static char out[2048];
  uint8_t b[512];
  size_t n = 0;
  for (; der_hex[2 * n]; n++) sscanf(der_hex + 2 * n, "%2hhx", &b[n]);
  int a = b64url_encode(b, n, out, sizeof out);
  out[a++] = '.';
  n = 0;
  for (; cose_hex[2 * n]; n++) sscanf(cose_hex + 2 * n, "%2hhx", &b[n]);
  b64url_encode(b, n, out + a, sizeof out - (size_t)a);
  return out;
}

#define SEQ "3003020101"
#define SIG "5840" "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
#define UUID "50363154393144f08022121b6401627d"
#define DIGEST "1b65f68a522c858715f5dd951cd0402dc16691778814bf0759822b7a257421d0" /* SHA-256 of SEQ */
#define NONCE "abababababababababababababababab"
/* tag 55799 [9, UUID, bstr(1a 01010001), SHA-256(SEQ), nonce]: 79 bytes */
#define PAYLOAD "d9d9f785" "09" "50" UUID "45" "1a01010001" "5820" DIGEST "50" NONCE
#define COSE_WITH(payload_bstr) "d28443a10126a1044121" payload_bstr SIG
#define COSE COSE_WITH("584f" PAYLOAD)

Test(keygen, malformed_values)
{
  uint8_t der[512];
  size_t dn;
  char why[200];
  keygen_info got;
  cr_assert_eq(keygen_decode(value_of(SEQ, COSE), der, sizeof der, &dn, &got, why, sizeof why), 0, "%s", why);
  cr_assert_eq(dn, 5);
  cr_assert_eq(got.sec_tag, 16842753u);
  struct { const char *name, *value, *expect; } cases[] = {
      {"empty", "", "KEYGEN value is empty"},
      {"no dot", "MAMCAQE", "no '.'"},
      {"two dots", "MAMCAQE.a.b", "more than one '.'"},
      {"empty DER", ".0oRDoQEm", "KEYGEN DER part is empty"},
      {"empty COSE", "MAMCAQE.", "KEYGEN COSE part is empty"},
      {"DER base64", "MA+CAQE.0oRDoQEm", "KEYGEN DER part is not valid base64url"},
      {"DER not sequence", NULL, "KEYGEN DER part is not a DER SEQUENCE"},
      {"DER trailing", NULL, "trailing bytes after the KEYGEN DER SEQUENCE"},
      {"COSE base64", "MAMCAQE.0o+D", "KEYGEN COSE part is not valid base64url"},
      {"COSE truncated", NULL, "KEYGEN COSE part is not well-formed CBOR"},
      {"COSE trailing", NULL, "trailing bytes after the KEYGEN COSE part"},
      {"COSE other tag", NULL, "KEYGEN COSE part: expected CBOR tag 18"},
      {"COSE nil payload", NULL, "KEYGEN COSE part: payload must be a byte string"},
      {"COSE short signature", NULL, "KEYGEN COSE part: signature must be 64 bytes"},
      {"COSE no key id", NULL, "KEYGEN COSE part: unprotected header must hold the key id"},
      {"bare digest payload", NULL, "KEYGEN COSE payload: expected CBOR tag 55799"},
      {"payload other tag", NULL, "KEYGEN COSE payload: expected CBOR tag 55799 (bytes d9 d9 f7)"},
      {"payload 4 elements", NULL, "KEYGEN COSE payload: array must have 5 elements, got 4"},
      {"payload id 7", NULL, "payload id must be 9 (CSR) or 8 (public key), got 7"},
      {"payload id text", NULL, "payload id must be an unsigned integer"},
      {"short UUID", NULL, "device UUID must be a 16-byte byte string"},
      {"sec tag bare int", NULL, "sec tag must be a byte string"},
      {"sec tag not CBOR int", NULL, "sec tag must be a byte string holding one CBOR integer"},
      {"sec tag trailing", NULL, "sec tag must be a byte string holding one CBOR integer"},
      {"short digest", NULL, "digest must be a 32-byte byte string"},
      {"wrong digest", NULL, "the SHA-256 digest does not match the DER part"},
      {"short nonce", NULL, "nonce must be a 16-byte byte string"},
      {"payload trailing", NULL, "trailing bytes after the KEYGEN COSE payload"},
      {"empty payload", NULL, "KEYGEN COSE payload is empty"},
  };
  const char *built[][3] = {
      {"DER not sequence", "020101", COSE},
      {"DER trailing", SEQ "00", COSE},
      {"COSE truncated", SEQ, "d28443a10126"},
      {"COSE trailing", SEQ, COSE "00"},
      {"COSE other tag", SEQ, "d38443a10126a1044121584f" PAYLOAD SIG},
      {"COSE nil payload", SEQ, "d28443a10126a1044121f6" SIG},
      {"COSE short signature", SEQ, "d28443a10126a1044121584f" PAYLOAD "4100"},
      {"COSE no key id", SEQ, "d28443a10126a0584f" PAYLOAD SIG},
      {"bare digest payload", SEQ, COSE_WITH("5820" DIGEST)},
      {"payload other tag", SEQ, COSE_WITH("584e" "d818" "85" "09" "50" UUID "45" "1a01010001" "5820" DIGEST "50" NONCE)},
      {"payload 4 elements", SEQ, COSE_WITH("583e" "d9d9f784" "09" "50" UUID "45" "1a01010001" "5820" DIGEST)},
      {"payload id 7", SEQ, COSE_WITH("584f" "d9d9f785" "07" "50" UUID "45" "1a01010001" "5820" DIGEST "50" NONCE)},
      {"payload id text", SEQ, COSE_WITH("5850" "d9d9f785" "6139" "50" UUID "45" "1a01010001" "5820" DIGEST "50" NONCE)},
      {"short UUID", SEQ, COSE_WITH("584e" "d9d9f785" "09" "4f" "50363154393144f08022121b640162" "45" "1a01010001" "5820" DIGEST "50" NONCE)},
      {"sec tag bare int", SEQ, COSE_WITH("584e" "d9d9f785" "09" "50" UUID "1a01010001" "5820" DIGEST "50" NONCE)},
      {"sec tag not CBOR int", SEQ, COSE_WITH("584c" "d9d9f785" "09" "50" UUID "42" "6161" "5820" DIGEST "50" NONCE)},
      {"sec tag trailing", SEQ, COSE_WITH("584c" "d9d9f785" "09" "50" UUID "42" "0700" "5820" DIGEST "50" NONCE)},
      {"short digest", SEQ, COSE_WITH("584e" "d9d9f785" "09" "50" UUID "45" "1a01010001" "581f" "1b65f68a522c858715f5dd951cd0402dc16691778814bf0759822b7a257421" "50" NONCE)},
      {"wrong digest", SEQ, COSE_WITH("584f" "d9d9f785" "09" "50" UUID "45" "1a01010001" "5820" "0b65f68a522c858715f5dd951cd0402dc16691778814bf0759822b7a257421d0" "50" NONCE)},
      {"short nonce", SEQ, COSE_WITH("584e" "d9d9f785" "09" "50" UUID "45" "1a01010001" "5820" DIGEST "4f" "ababababababababababababababab")},
      {"payload trailing", SEQ, COSE_WITH("5850" PAYLOAD "00")},
      {"empty payload", SEQ, COSE_WITH("40")},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char buf[2048];
    const char *v = cases[i].value;
    if (!v)
      for (size_t k = 0; k < sizeof built / sizeof built[0]; k++)
        if (strcmp(built[k][0], cases[i].name) == 0) v = value_of(built[k][1], built[k][2]);
    cr_assert(v, "%s", cases[i].name);
    snprintf(buf, sizeof buf, "%s", v);
    why[0] = '\0';
    cr_assert_eq(keygen_decode(buf, der, sizeof der, &dn, NULL, why, sizeof why), -1, "%s accepted", cases[i].name);
    cr_assert(strstr(why, cases[i].expect), "%s: \"%s\" lacks \"%s\"", cases[i].name, why, cases[i].expect);
  }
  mbedtls_pk_context k;
  cr_assert_eq(es256_generate(&k), 0);
  cr_assert_eq(keygen_verify_cose("garbage", &k), -1);
  cr_assert_eq(keygen_verify_cose(value_of(SEQ, COSE), &k), -1);
  cr_assert_eq(keygen_verify_cose(NULL, &k), -1);
  mbedtls_pk_free(&k);
}
