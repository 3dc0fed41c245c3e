/* The device JWT of docs/device-protocol.md §4.2: base64url(header).base64url(payload).base64url(sig),
 * ES256, iss "<chip>.<device UUID>" (or a bare UUID), optional exp/iat, jti. Parsing checks
 * the shape and the expiry; verification is separate because most devices' identity keys
 * are unknown. jwt_make exists for the simulator and the tests. No I/O. */
#ifndef NRFPROV_PROTO_JWT_H
#define NRFPROV_PROTO_JWT_H

#include <stddef.h>
#include <stdint.h>
#include <mbedtls/pk.h>

#define JWT_MAX_LEN 4096
#define JWT_EXP_SKEW_S 60

typedef struct {
  char device_uuid[37];   /* from iss "<chip>.<uuid>" or a bare uuid, lower-cased */
  int has_exp, has_iat; int64_t exp, iat;
  char jti[128];          /* "" when absent */
  uint8_t signature[64];
  const char *signing_input; size_t signing_input_len; /* points into the caller's string: header.payload */
} jwt_device;

/* Parse len chars of jwt; now (Unix seconds) judges exp with a 60 s skew; 0, or -1 with why. */
int jwt_parse(const char *jwt, size_t len, int64_t now, jwt_device *out, char *why, size_t whysz);
/* 0 if the signature verifies with pub; the string given to jwt_parse must still be alive. */
int jwt_verify(const jwt_device *j, const mbedtls_pk_context *pub);
/* Build a JWT (NUL-terminated): jti NULL, iat 0 or exp 0 omit that claim; key NULL makes a
 * random signature. Returns the length or -1. */
int jwt_make(const char *iss, const char *jti, int64_t iat, int64_t exp, mbedtls_pk_context *key,
             char *out, size_t outsz);
/* Parse a 36-character UUID (any case) into lower-case out[37]; 0 or -1. */
int jwt_uuid_parse(const char *s, size_t n, char out[37]);

#endif
