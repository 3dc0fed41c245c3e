/* The modem's answer to AT%KEYGEN: `%KEYGEN: "<base64url(DER)>.<base64url(COSE_Sign1)>"`
 * followed by OK. The DER is a PKCS#10 CSR (key type 0) or a SubjectPublicKeyInfo (type
 * 1); the COSE_Sign1 carries attested information (the device UUID, the sec tag, the DER's
 * digest) signed with the device's identity key (docs/device-protocol.md §4.4). This file
 * extracts, checks and builds that text; it does not parse the CSR or sign certificates
 * (pki/), nor decide whose UUID or which sec tag is right (service/). */
#ifndef NRFPROV_PROTO_KEYGEN_H
#define NRFPROV_PROTO_KEYGEN_H

#include <stddef.h>
#include <stdint.h>
#include <mbedtls/pk.h>

#define KEYGEN_MAX_VALUE_LEN 8192
#define KEYGEN_MAX_PAYLOAD 128 /* the attested payload is about 80 bytes */

/* Payload ids of the COSE payload (docs/device-protocol.md §4.4). */
#define KEYGEN_PAYLOAD_PUBKEY 8
#define KEYGEN_PAYLOAD_CSR 9

/* What the COSE_Sign1 of a %KEYGEN answer attests (docs/device-protocol.md §4.4): the
 * attached payload tag 55799 [payload id, device UUID, bstr(CBOR sec tag), SHA-256 of the
 * DER part, nonce], plus what its signature covers. */
typedef struct {
  unsigned payload_id;    /* KEYGEN_PAYLOAD_CSR or KEYGEN_PAYLOAD_PUBKEY */
  uint8_t device_id[16];
  uint32_t sec_tag;
  uint8_t digest[32];     /* checked against the DER part by keygen_decode */
  uint8_t nonce[16];
  uint8_t protected_hdr[32];
  size_t protected_len;
  uint8_t payload[KEYGEN_MAX_PAYLOAD];
  size_t payload_len;
  uint8_t signature[64];
} keygen_info;

/* Copy the text between the first pair of double quotes after "%KEYGEN:" into value;
 * returns its length, or -1 if there is none or it does not fit. */
int keygen_extract(const char *at_response, char *value, size_t valuesz);
/* Decode the base64url(DER) part of value into der (an ASN.1 SEQUENCE, nothing after it)
 * and check the COSE part: a COSE_Sign1 with a key id whose attached payload has the shape
 * above and the SHA-256 of the DER. info (may be NULL) gets the payload. 0, or -1 with why. */
int keygen_decode(const char *value, uint8_t *der, size_t dersz, size_t *derlen, keygen_info *info, char *why,
                  size_t whysz);
/* 0 if info's COSE signature verifies with identity_pub
 * (Sig_structure ["Signature1", protected, h'', payload]), else -1. */
int keygen_verify(const keygen_info *info, const mbedtls_pk_context *identity_pub);
/* keygen_decode then keygen_verify on value: 0 when it is well-formed and verifies. */
int keygen_verify_cose(const char *value, const mbedtls_pk_context *identity_pub);
/* Build the full AT answer `%KEYGEN: "<value>"\r\nOK\r\n` as the modem prints it: der, and
 * a COSE_Sign1 (key id h'21') over the payload of att's payload_id, device_id, sec_tag
 * and nonce with the SHA-256 of der, signed with identity_key (NULL: random signature).
 * att's digest and signature fields are not read. Returns the length or -1. */
int keygen_format(const uint8_t *der, size_t derlen, const keygen_info *att, mbedtls_pk_context *identity_key,
                  char *out, size_t outsz);
/* PEM of der ("CERTIFICATE REQUEST" when csr, else "PUBLIC KEY"); returns the length or -1. */
int keygen_der_to_pem(const uint8_t *der, size_t derlen, int csr, char *out, size_t outsz);

#endif
