/* ES256 over mbedTLS 2.28. Signatures travel as raw r||s (COSE and JWS form), so this file
 * talks to mbedtls_ecdsa_sign/verify with the two integers directly rather than through
 * the ASN.1 form mbedtls_pk_sign produces. It is not a key store: keys come and go in the
 * callers' pk contexts.
 *
 * Thread safety. mbedTLS caches a precomputed table of the generator in the
 * mbedtls_ecp_group it multiplies with, which makes sharing one key's group between
 * threads a data race. Signing and verifying therefore use a per-thread P-256 group (the
 * key contributes only its point or scalar), and the one random generator sits behind a
 * mutex. */
#include "proto/es256.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/sha256.h>

static pthread_mutex_t rng_lock = PTHREAD_MUTEX_INITIALIZER;
static mbedtls_entropy_context rng_entropy;
static mbedtls_ctr_drbg_context rng_drbg;
static int rng_state; /* 0 not seeded yet, 1 ready, -1 seeding failed */

int es256_rng(void *p_rng, unsigned char *out, size_t len)
{
  (void)p_rng;
  int rc;
  pthread_mutex_lock(&rng_lock);
  if (rng_state == 0) {
    static const char pers[] = "nrfprov-mock es256";
    mbedtls_entropy_init(&rng_entropy);
    mbedtls_ctr_drbg_init(&rng_drbg);
    rng_state = mbedtls_ctr_drbg_seed(&rng_drbg, mbedtls_entropy_func, &rng_entropy,
                                      (const unsigned char *)pers, sizeof pers - 1) == 0 ? 1 : -1;
  }
  /* The DRBG refuses requests above MBEDTLS_CTR_DRBG_MAX_REQUEST; serve big ones in pieces. */
  rc = rng_state == 1 ? 0 : MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED;
  while (rc == 0 && len > 0) {
    size_t chunk = len > MBEDTLS_CTR_DRBG_MAX_REQUEST ? MBEDTLS_CTR_DRBG_MAX_REQUEST : len;
    rc = mbedtls_ctr_drbg_random(&rng_drbg, out, chunk);
    out += chunk;
    len -= chunk;
  }
  pthread_mutex_unlock(&rng_lock);
  return rc;
}

static pthread_once_t group_once = PTHREAD_ONCE_INIT;
static pthread_key_t group_key;
static int group_key_ok;

static void group_free(void *p)
{
  mbedtls_ecp_group_free(p);
  free(p);
}

static void group_key_make(void)
{
  group_key_ok = pthread_key_create(&group_key, group_free) == 0;
}

/* This thread's P-256 group, loaded on first use and freed when the thread ends. */
static mbedtls_ecp_group *thread_group(void)
{
  pthread_once(&group_once, group_key_make);
  if (!group_key_ok) return NULL;
  mbedtls_ecp_group *g = pthread_getspecific(group_key);
  if (g) return g;
  g = malloc(sizeof *g);
  if (!g) return NULL;
  mbedtls_ecp_group_init(g);
  if (mbedtls_ecp_group_load(g, MBEDTLS_ECP_DP_SECP256R1) != 0 ||
      pthread_setspecific(group_key, g) != 0) {
    group_free(g);
    return NULL;
  }
  return g;
}

static void say(char *why, size_t whysz, const char *msg)
{
  if (why && whysz) snprintf(why, whysz, "%s", msg);
}

int es256_is_p256(const mbedtls_pk_context *k)
{
  if (!k || !mbedtls_pk_can_do(k, MBEDTLS_PK_ECKEY)) return 0;
  const mbedtls_ecp_keypair *kp = mbedtls_pk_ec(*k);
  return kp && kp->grp.id == MBEDTLS_ECP_DP_SECP256R1;
}

int es256_verify_hash(const mbedtls_pk_context *pub, const uint8_t hash[32], const uint8_t sig_rs[64])
{
  if (!pub || !hash || !sig_rs || !es256_is_p256(pub)) return -1;
  mbedtls_ecp_group *g = thread_group();
  if (!g) return -1;
  const mbedtls_ecp_keypair *kp = mbedtls_pk_ec(*pub);
  mbedtls_mpi r, s;
  mbedtls_mpi_init(&r);
  mbedtls_mpi_init(&s);
  int rc = -1;
  if (mbedtls_mpi_read_binary(&r, sig_rs, 32) == 0 &&
      mbedtls_mpi_read_binary(&s, sig_rs + 32, 32) == 0 &&
      mbedtls_ecdsa_verify(g, hash, 32, &kp->Q, &r, &s) == 0)
    rc = 0;
  mbedtls_mpi_free(&r);
  mbedtls_mpi_free(&s);
  return rc;
}

int es256_verify(const mbedtls_pk_context *pub, const uint8_t *msg, size_t len, const uint8_t sig_rs[64])
{
  uint8_t hash[32];
  if (!msg && len) return -1;
  if (mbedtls_sha256_ret(msg, len, hash, 0) != 0) return -1;
  return es256_verify_hash(pub, hash, sig_rs);
}

int es256_sign_hash(mbedtls_pk_context *key, const uint8_t hash[32], uint8_t sig_rs[64])
{
  if (!key || !hash || !sig_rs || !es256_is_p256(key)) return -1;
  mbedtls_ecp_group *g = thread_group();
  if (!g) return -1;
  const mbedtls_ecp_keypair *kp = mbedtls_pk_ec(*key);
  if (mbedtls_mpi_cmp_int(&kp->d, 0) == 0) return -1; /* a public key cannot sign */
  mbedtls_mpi r, s;
  mbedtls_mpi_init(&r);
  mbedtls_mpi_init(&s);
  int rc = -1;
  if (mbedtls_ecdsa_sign(g, &r, &s, &kp->d, hash, 32, es256_rng, NULL) == 0 &&
      mbedtls_mpi_write_binary(&r, sig_rs, 32) == 0 &&
      mbedtls_mpi_write_binary(&s, sig_rs + 32, 32) == 0)
    rc = 0;
  mbedtls_mpi_free(&r);
  mbedtls_mpi_free(&s);
  return rc;
}

int es256_sign(mbedtls_pk_context *key, const uint8_t *msg, size_t len, uint8_t sig_rs[64])
{
  uint8_t hash[32];
  if (!msg && len) return -1;
  if (mbedtls_sha256_ret(msg, len, hash, 0) != 0) return -1;
  return es256_sign_hash(key, hash, sig_rs);
}

/* Shared tail of the parsers: the key must be EC on P-256. */
static int require_p256(mbedtls_pk_context *out, char *why, size_t whysz)
{
  if (!mbedtls_pk_can_do(out, MBEDTLS_PK_ECKEY)) {
    say(why, whysz, "key is not an EC key");
    mbedtls_pk_free(out);
    return -1;
  }
  if (!es256_is_p256(out)) {
    say(why, whysz, "EC key is not on curve P-256");
    mbedtls_pk_free(out);
    return -1;
  }
  return 0;
}

int es256_pubkey_from_pem(mbedtls_pk_context *out, const char *pem, char *why, size_t whysz)
{
  if (!out) return -1;
  mbedtls_pk_init(out);
  if (!pem || !strstr(pem, "-----BEGIN PUBLIC KEY-----")) {
    say(why, whysz, "not a PEM public key (no BEGIN PUBLIC KEY line)");
    return -1;
  }
  /* mbedTLS recognises PEM only when the terminating NUL is part of the length. */
  if (mbedtls_pk_parse_public_key(out, (const unsigned char *)pem, strlen(pem) + 1) != 0) {
    say(why, whysz, "public key PEM does not parse");
    mbedtls_pk_free(out);
    return -1;
  }
  return require_p256(out, why, whysz);
}

int es256_pubkey_from_der(mbedtls_pk_context *out, const uint8_t *der, size_t len, char *why, size_t whysz)
{
  if (!out) return -1;
  mbedtls_pk_init(out);
  if (!der || len == 0 || mbedtls_pk_parse_public_key(out, der, len) != 0) {
    say(why, whysz, "public key DER does not parse as SubjectPublicKeyInfo");
    mbedtls_pk_free(out);
    return -1;
  }
  return require_p256(out, why, whysz);
}

int es256_key_from_pem(mbedtls_pk_context *out, const char *pem, char *why, size_t whysz)
{
  if (!out) return -1;
  mbedtls_pk_init(out);
  if (!pem || !strstr(pem, "-----BEGIN ")) {
    say(why, whysz, "not a PEM private key (no BEGIN line)");
    return -1;
  }
  if (mbedtls_pk_parse_key(out, (const unsigned char *)pem, strlen(pem) + 1, NULL, 0) != 0) {
    say(why, whysz, "private key PEM does not parse (encrypted keys are not supported)");
    mbedtls_pk_free(out);
    return -1;
  }
  return require_p256(out, why, whysz);
}

int es256_generate(mbedtls_pk_context *out)
{
  if (!out) return -1;
  mbedtls_pk_init(out);
  if (mbedtls_pk_setup(out, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0 ||
      mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*out), es256_rng, NULL) != 0) {
    mbedtls_pk_free(out);
    return -1;
  }
  return 0;
}

int es256_key_to_pem(mbedtls_pk_context *k, int private, char *out, size_t outsz)
{
  if (!k || !out || outsz == 0 || !es256_is_p256(k)) return -1;
  if (private && mbedtls_mpi_cmp_int(&mbedtls_pk_ec(*k)->d, 0) == 0) return -1;
  int rc = private ? mbedtls_pk_write_key_pem(k, (unsigned char *)out, outsz)
                   : mbedtls_pk_write_pubkey_pem(k, (unsigned char *)out, outsz);
  if (rc != 0) return -1;
  size_t n = strnlen(out, outsz);
  return n < outsz ? (int)n : -1;
}
