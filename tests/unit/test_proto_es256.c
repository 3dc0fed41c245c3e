/* Unit tests of proto/es256: sign and verify with raw r||s, PEM in and out, refusal of keys
 * that are not P-256, and signing and verifying from several threads with one shared key. */
#include <criterion/criterion.h>
#include <mbedtls/ecp.h>
#include <pthread.h>
#include <string.h>

#include "proto/es256.h"

Test(es256, sign_then_verify)
{
  mbedtls_pk_context k, other;
  cr_assert_eq(es256_generate(&k), 0);
  cr_assert_eq(es256_generate(&other), 0);
  cr_assert(es256_is_p256(&k));
  const uint8_t msg[] = "the quick brown fox";
  uint8_t sig[64];
  cr_assert_eq(es256_sign(&k, msg, sizeof msg, sig), 0);
  cr_assert_eq(es256_verify(&k, msg, sizeof msg, sig), 0);
  cr_assert_eq(es256_verify(&other, msg, sizeof msg, sig), -1);
  cr_assert_eq(es256_verify(&k, msg, sizeof msg - 1, sig), -1);
  sig[63] ^= 1;
  cr_assert_eq(es256_verify(&k, msg, sizeof msg, sig), -1);
  uint8_t zero[64] = {0};
  cr_assert_eq(es256_verify(&k, msg, sizeof msg, zero), -1, "r = s = 0");
  uint8_t ones[64];
  memset(ones, 0xff, sizeof ones);
  cr_assert_eq(es256_verify(&k, msg, sizeof msg, ones), -1, "r, s >= n");
  cr_assert_eq(es256_verify(NULL, msg, sizeof msg, sig), -1);
  mbedtls_pk_free(&k);
  mbedtls_pk_free(&other);
}

Test(es256, pem_round_trip)
{
  mbedtls_pk_context k, pub, priv;
  char pem[1024], why[200];
  cr_assert_eq(es256_generate(&k), 0);
  int n = es256_key_to_pem(&k, 0, pem, sizeof pem);
  cr_assert_gt(n, 0);
  cr_assert_eq((size_t)n, strlen(pem));
  cr_assert(strstr(pem, "-----BEGIN PUBLIC KEY-----"));
  cr_assert_eq(es256_pubkey_from_pem(&pub, pem, why, sizeof why), 0, "%s", why);
  uint8_t sig[64];
  cr_assert_eq(es256_sign(&k, (const uint8_t *)"x", 1, sig), 0);
  cr_assert_eq(es256_verify(&pub, (const uint8_t *)"x", 1, sig), 0);
  cr_assert_eq(es256_sign(&pub, (const uint8_t *)"x", 1, sig), -1, "a public key cannot sign");
  cr_assert_eq(es256_key_to_pem(&pub, 1, pem, sizeof pem), -1, "no private part to write");

  cr_assert_gt(es256_key_to_pem(&k, 1, pem, sizeof pem), 0);
  cr_assert(strstr(pem, "-----BEGIN EC PRIVATE KEY-----"));
  cr_assert_eq(es256_key_from_pem(&priv, pem, why, sizeof why), 0, "%s", why);
  cr_assert_eq(es256_sign(&priv, (const uint8_t *)"y", 1, sig), 0);
  cr_assert_eq(es256_verify(&pub, (const uint8_t *)"y", 1, sig), 0);
  cr_assert_eq(es256_key_to_pem(&k, 0, pem, 10), -1, "too small a buffer");
  mbedtls_pk_free(&k);
  mbedtls_pk_free(&pub);
  mbedtls_pk_free(&priv);
}

Test(es256, refuses_what_is_not_a_p256_public_key)
{
  mbedtls_pk_context k;
  char why[200];
  cr_assert_eq(es256_pubkey_from_pem(&k, "hello", why, sizeof why), -1);
  cr_assert(strstr(why, "not a PEM public key"), "%s", why);
  cr_assert_eq(es256_pubkey_from_pem(&k, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", why, sizeof why), -1);
  cr_assert(strstr(why, "does not parse"), "%s", why);
  cr_assert_eq(es256_pubkey_from_pem(&k, NULL, why, sizeof why), -1);

  /* A P-384 key is an EC key on the wrong curve. */
  mbedtls_pk_context p384;
  mbedtls_pk_init(&p384);
  cr_assert_eq(mbedtls_pk_setup(&p384, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
  cr_assert_eq(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP384R1, mbedtls_pk_ec(p384), es256_rng, NULL), 0);
  unsigned char pem[1024];
  cr_assert_eq(mbedtls_pk_write_pubkey_pem(&p384, pem, sizeof pem), 0);
  cr_assert_eq(es256_pubkey_from_pem(&k, (const char *)pem, why, sizeof why), -1);
  cr_assert(strstr(why, "P-256"), "%s", why);
  uint8_t sig[64];
  cr_assert_eq(es256_sign(&p384, (const uint8_t *)"x", 1, sig), -1);
  mbedtls_pk_free(&p384);

  cr_assert_eq(es256_key_from_pem(&k, "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n", why, sizeof why), -1);
}

Test(es256, der_public_key)
{
  mbedtls_pk_context k, pub;
  unsigned char der[200];
  char why[200];
  cr_assert_eq(es256_generate(&k), 0);
  int n = mbedtls_pk_write_pubkey_der(&k, der, sizeof der);
  cr_assert_gt(n, 0);
  cr_assert_eq(es256_pubkey_from_der(&pub, der + sizeof der - n, (size_t)n, why, sizeof why), 0, "%s", why);
  mbedtls_pk_free(&pub);
  cr_assert_eq(es256_pubkey_from_der(&pub, der, 3, why, sizeof why), -1);
  mbedtls_pk_free(&k);
}

static mbedtls_pk_context shared_key;

static void *worker(void *arg)
{
  (void)arg;
  for (int i = 0; i < 20; i++) {
    uint8_t msg[8] = {(uint8_t)i}, sig[64];
    if (es256_sign(&shared_key, msg, sizeof msg, sig) != 0) return (void *)1;
    if (es256_verify(&shared_key, msg, sizeof msg, sig) != 0) return (void *)1;
  }
  return NULL;
}

Test(es256, shared_key_across_threads)
{
  cr_assert_eq(es256_generate(&shared_key), 0);
  pthread_t t[4];
  for (int i = 0; i < 4; i++) cr_assert_eq(pthread_create(&t[i], NULL, worker, NULL), 0);
  for (int i = 0; i < 4; i++) {
    void *rc;
    pthread_join(t[i], &rc);
    cr_assert_null(rc);
  }
  mbedtls_pk_free(&shared_key);
}

Test(es256, rng_fills_large_requests)
{
  static uint8_t a[5000], b[5000];
  cr_assert_eq(es256_rng(NULL, a, sizeof a), 0);
  cr_assert_eq(es256_rng(NULL, b, sizeof b), 0);
  cr_assert_neq(memcmp(a, b, sizeof a), 0);
}
