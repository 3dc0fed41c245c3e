/* The attestation token (the claim token) of docs/device-protocol.md §4.1:
 * base64url(part 1) "." base64url(part 2), where part 1 is tag 55799 around
 * [1, device UUID, device type, modem firmware UUID, nonce] and part 2 a COSE_Sign1 with a
 * detached payload whose Sig_structure covers part 1. Decoding is strict and says what is
 * wrong; verification needs the device's identity public key. No I/O, no storage. */
#ifndef NRFPROV_PROTO_ATTEST_H
#define NRFPROV_PROTO_ATTEST_H

#include <stddef.h>
#include <stdint.h>
#include <mbedtls/pk.h>

#define ATTEST_MAX_TOKEN_LEN 1024

typedef struct {
  int message_type;                                /* always 1 when decoded ok */
  uint8_t device_id[16]; char device_uuid[37];     /* lower-case 8-4-4-4-12 */
  uint64_t device_type;                            /* code */
  uint8_t firmware_id[16]; char firmware_uuid[37];
  uint8_t nonce[16];
  uint8_t kid[16]; size_t kid_len;
  uint8_t signature[64];
  uint8_t part1[256]; size_t part1_len;            /* raw CBOR of part 1 (the signed payload) */
  uint8_t protected_hdr[32]; size_t protected_len; /* raw bstr content of the protected header */
} attest_token;

/* Decode and structurally check len chars of token; 0, or -1 with the defect in why. */
int attest_decode(const char *token, size_t len, attest_token *out, char *why, size_t whysz);
/* attest_decode without its fast path for the modem's exact encoding: the reference the
 * fuzzer and the unit tests hold the fast path to. */
int attest_decode_general(const char *token, size_t len, attest_token *out, char *why, size_t whysz);
/* 0 if the signature verifies with pub (Sig_structure ["Signature1", protected, h'', part1]). */
int attest_verify(const attest_token *t, const mbedtls_pk_context *pub);
/* Build a token (NUL-terminated) signed with key, or with a random signature when key is
 * NULL; returns its length or -1. */
int attest_encode(const uint8_t device_id[16], uint64_t device_type, const uint8_t firmware_id[16],
                  const uint8_t nonce[16], mbedtls_pk_context *key, char *out, size_t outsz);
/* Name of a device-type code (nrf9160_SICA, ...; unknown_<n> otherwise), in buf or static. */
const char *attest_device_type_name(uint64_t code, char *buf, size_t bufsz);
/* malloc'd JSON (keys of fixtures/tokens/public-tokens.json); 0 or -1. Caller frees. */
int attest_to_json(const attest_token *t, char **json_out);
/* Format 16 bytes as a lower-case 8-4-4-4-12 UUID into out[37]. */
void attest_uuid_format(const uint8_t id[16], char out[37]);

#endif
