/* The modem's answer to AT%KEYGEN: `%KEYGEN: "<base64url(DER)>.<base64url(COSE_Sign1)>"`
 * followed by OK. The DER is a PKCS#10 CSR (key type 0) or a SubjectPublicKeyInfo (type
 * 1); the COSE_Sign1 carries attested information signed with the device's identity key.
 * This file extracts, checks and builds that text; it does not sign certificates (pki/). */
#ifndef NRFPROV_PROTO_KEYGEN_H
#define NRFPROV_PROTO_KEYGEN_H

#include <stddef.h>
#include <stdint.h>
#include <mbedtls/pk.h>

#define KEYGEN_MAX_VALUE_LEN 8192

/* Copy the text between the first pair of double quotes after "%KEYGEN:" into value;
 * returns its length, or -1 if there is none or it does not fit. */
int keygen_extract(const char *at_response, char *value, size_t valuesz);
/* Decode the base64url(DER) part of value into der (an ASN.1 SEQUENCE, nothing after it) and
 * check that the COSE part is present and a well-formed COSE_Sign1; 0, or -1 with why. */
int keygen_decode(const char *value, uint8_t *der, size_t dersz, size_t *derlen, char *why, size_t whysz);
/* 0 if the COSE_Sign1's signature verifies with identity_pub
 * (Sig_structure ["Signature1", protected, h'', payload]), else -1. */
int keygen_verify_cose(const char *value, const mbedtls_pk_context *identity_pub);
/* Build the full AT answer `%KEYGEN: "<value>"\r\nOK\r\n` for der, the COSE payload being the
 * SHA-256 of der, signed with identity_key (NULL: random signature); returns the length or -1. */
int keygen_format(const uint8_t *der, size_t derlen, mbedtls_pk_context *identity_key, char *out, size_t outsz);
/* PEM of der ("CERTIFICATE REQUEST" when csr, else "PUBLIC KEY"); returns the length or -1. */
int keygen_der_to_pem(const uint8_t *der, size_t derlen, int csr, char *out, size_t outsz);

#endif
