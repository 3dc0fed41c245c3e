/* ES256 (ECDSA over P-256 with SHA-256) as the modem's tokens and COSE signatures use it:
 * raw 64-byte r||s signatures, P-256 keys in mbedTLS pk contexts, PEM in and out, and the
 * process-wide random generator. Not a general-purpose crypto layer: one curve, one hash.
 *
 * Functions that fill an mbedtls_pk_context initialise it themselves; on success the
 * caller owns it (mbedtls_pk_free), on failure it is left freed. Every function is
 * thread-safe; a key context may be shared by threads that only verify or sign with it. */
#ifndef NRFPROV_PROTO_ES256_H
#define NRFPROV_PROTO_ES256_H

#include <stddef.h>
#include <stdint.h>
#include <mbedtls/pk.h>

/* 0 if sig_rs (r||s) is pub's ES256 signature of msg (hashed with SHA-256 here), else -1. */
int es256_verify(const mbedtls_pk_context *pub, const uint8_t *msg, size_t len, const uint8_t sig_rs[64]);
/* As es256_verify, over an already computed SHA-256 digest. */
int es256_verify_hash(const mbedtls_pk_context *pub, const uint8_t hash[32], const uint8_t sig_rs[64]);
/* Sign msg with the P-256 private key; writes r||s; 0 or -1. */
int es256_sign(mbedtls_pk_context *key, const uint8_t *msg, size_t len, uint8_t sig_rs[64]);
/* As es256_sign, over an already computed SHA-256 digest. */
int es256_sign_hash(mbedtls_pk_context *key, const uint8_t hash[32], uint8_t sig_rs[64]);
/* Parse a PEM public key (SubjectPublicKeyInfo) that must be EC P-256; 0 or -1 with why. */
int es256_pubkey_from_pem(mbedtls_pk_context *out, const char *pem, char *why, size_t whysz);
/* Parse a DER SubjectPublicKeyInfo that must be EC P-256; 0 or -1 with why. */
int es256_pubkey_from_der(mbedtls_pk_context *out, const uint8_t *der, size_t len, char *why, size_t whysz);
/* Parse a PEM private key (SEC1 or PKCS#8, unencrypted) that must be EC P-256; 0 or -1 with why. */
int es256_key_from_pem(mbedtls_pk_context *out, const char *pem, char *why, size_t whysz);
/* Generate a new P-256 key pair into out; 0 or -1. */
int es256_generate(mbedtls_pk_context *out);
/* Write k as PEM (private != 0: the EC private key, else the public key) into out;
 * returns the length without the NUL or -1. */
int es256_key_to_pem(mbedtls_pk_context *k, int private, char *out, size_t outsz);
/* 1 if k holds an EC key on P-256 (public or private), else 0. */
int es256_is_p256(const mbedtls_pk_context *k);
/* The shared CTR-DRBG, in mbedTLS f_rng form (p_rng is ignored); 0 or an mbedTLS error. */
int es256_rng(void *p_rng, unsigned char *out, size_t len);

#endif
