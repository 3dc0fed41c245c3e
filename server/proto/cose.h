/* COSE_Sign1 (RFC 8152) as the nRF91 modem emits it: tag 18 around [protected bstr
 * holding {1: -7}, unprotected map (at most the key id, label 4), payload (nil when
 * detached, else a byte string), 64-byte r||s signature], ES256 only. Shared by the
 * attestation token (detached payload) and the %KEYGEN answer (embedded payload). Not a
 * general COSE library: no other algorithms, no COSE_Sign, no encryption. */
#ifndef NRFPROV_PROTO_COSE_H
#define NRFPROV_PROTO_COSE_H

#include <stddef.h>
#include <stdint.h>
#include <cbor.h>
#include <mbedtls/pk.h>

typedef struct {
  const uint8_t *protected_hdr; size_t protected_len; /* bstr content; points into the item */
  uint8_t kid[16]; size_t kid_len;                    /* kid_len 0: no key id */
  const uint8_t *payload; size_t payload_len;         /* NULL when detached */
  uint8_t signature[64];
} cose_sign1;

/* Check root is a COSE_Sign1 of the shape above; detached selects a nil payload (else a
 * byte string), need_kid demands the key id. Messages start with what ("part 2: ..."). */
int cose_sign1_parse(const cbor_item_t *root, int detached, int need_kid, const char *what,
                     cose_sign1 *out, char *why, size_t whysz);
/* SHA-256 of the Sig_structure ["Signature1", protected, h'', payload]; 0 or -1. */
int cose_sign1_digest(const uint8_t *prot, size_t plen, const uint8_t *payload, size_t paylen,
                      uint8_t hash[32]);
/* 0 if sig verifies with pub over that Sig_structure, else -1. */
int cose_sign1_verify(const uint8_t *prot, size_t plen, const uint8_t *payload, size_t paylen,
                      const uint8_t sig[64], const mbedtls_pk_context *pub);
/* Encode a COSE_Sign1 over payload into out: protected {1: -7}, unprotected {4: kid} (or {}
 * when kid_len is 0), the payload embedded or, with detached, nil. key NULL makes a random
 * signature. Returns the length or -1. */
int cose_sign1_encode(const uint8_t *payload, size_t paylen, int detached, const uint8_t *kid,
                      size_t kid_len, mbedtls_pk_context *key, uint8_t *out, size_t outsz);

#endif
