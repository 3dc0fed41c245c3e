/* base64url codec. The modem prints its tokens unpadded in the URL-safe alphabet, which
 * mbedTLS's base64 does not speak, so this file carries a small table-driven codec for it.
 * The decoder is strict about the alphabet ('+', '/', whitespace and anything else are
 * refused) and lenient about trailing '=' padding, which some tools add. The standard,
 * padded alphabet (for PEM) is delegated to mbedTLS. This file does no allocation. */
#include "proto/b64url.h"

#include <limits.h>
#include <mbedtls/base64.h>

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Value of one base64url character, or -1 for anything outside the alphabet. */
static int sextet(unsigned char c)
{
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

size_t b64url_encoded_len(size_t n)
{
  return n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
}

size_t b64url_decoded_max(size_t n)
{
  return n / 4 * 3 + (n % 4 >= 2 ? n % 4 - 1 : 0);
}

int b64url_encode(const uint8_t *in, size_t n, char *out, size_t outsz)
{
  size_t need = b64url_encoded_len(n);
  if (!out || need >= outsz || need > INT_MAX || (n && !in)) return -1;
  size_t o = 0, i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    out[o++] = alphabet[v >> 18 & 63];
    out[o++] = alphabet[v >> 12 & 63];
    out[o++] = alphabet[v >> 6 & 63];
    out[o++] = alphabet[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = (uint32_t)in[i] << 16;
    out[o++] = alphabet[v >> 18 & 63];
    out[o++] = alphabet[v >> 12 & 63];
  } else if (n - i == 2) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
    out[o++] = alphabet[v >> 18 & 63];
    out[o++] = alphabet[v >> 12 & 63];
    out[o++] = alphabet[v >> 6 & 63];
  }
  out[o] = '\0';
  return (int)o;
}

int b64url_decode(const char *in, size_t n, uint8_t *out, size_t outsz, size_t *outlen)
{
  if (!in && n) return -1;
  /* Up to two '=' may close the text; they carry no data. */
  for (int pad = 0; pad < 2 && n > 0 && in[n - 1] == '='; pad++) n--;
  if (n % 4 == 1) return -1;
  size_t need = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
  if (need > outsz || (need && !out)) return -1;
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    int v = sextet((unsigned char)in[i]);
    if (v < 0) return -1;
    acc = (acc << 6 | (uint32_t)v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (uint8_t)(acc >> bits);
    }
  }
  if (outlen) *outlen = o;
  return 0;
}

int b64_std_encode(const uint8_t *in, size_t n, char *out, size_t outsz)
{
  size_t olen = 0;
  if (!out || (n && !in)) return -1;
  if (mbedtls_base64_encode((unsigned char *)out, outsz, &olen, in, n) != 0) return -1;
  if (olen > INT_MAX) return -1;
  return (int)olen;
}
