/* base64url (RFC 4648 §5, unpadded) as the modem and JWTs use it, plus the standard
 * padded alphabet that PEM needs. Pure byte transforms: no allocation, no I/O. */
#ifndef NRFPROV_PROTO_B64URL_H
#define NRFPROV_PROTO_B64URL_H

#include <stddef.h>
#include <stdint.h>

/* Characters of the unpadded base64url text for n bytes, without the terminating NUL. */
size_t b64url_encoded_len(size_t n);
/* Encode n bytes unpadded into out (NUL-terminated); returns the length or -1 if outsz is too small. */
int b64url_encode(const uint8_t *in, size_t n, char *out, size_t outsz);
/* Decode n characters of base64url (trailing '=' tolerated); -1 on a foreign character,
 * an impossible length or an output buffer that is too small. */
int b64url_decode(const char *in, size_t n, uint8_t *out, size_t outsz, size_t *outlen);
/* Bytes b64url_decode can produce from n characters (an upper bound). */
size_t b64url_decoded_max(size_t n);
/* Encode n bytes with the standard alphabet and '=' padding (NUL-terminated); length or -1. */
int b64_std_encode(const uint8_t *in, size_t n, char *out, size_t outsz);

#endif
