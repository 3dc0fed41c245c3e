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

/* Value + 1 of each base64url character; 0 for anything outside the alphabet. A table,
 * so a token's ~250 characters decode four at a time without a branch per character
 * (the per-character version was 8% of a 1000-row bulk claim, docs/performance.md). */
static const uint8_t sextet1[256] = {
    ['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7, ['H'] = 8,
    ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16,
    ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
    ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32,
    ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
    ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
    ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
    ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['-'] = 63, ['_'] = 64,
};

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
  const unsigned char *u = (const unsigned char *)in;
  size_t i = 0, o = 0;
  for (; i + 4 <= n; i += 4) {
    unsigned a = sextet1[u[i]], b = sextet1[u[i + 1]], c = sextet1[u[i + 2]], d = sextet1[u[i + 3]];
    if (!a || !b || !c || !d) return -1;
    uint32_t v = (a - 1) << 18 | (b - 1) << 12 | (c - 1) << 6 | (d - 1);
    out[o++] = (uint8_t)(v >> 16);
    out[o++] = (uint8_t)(v >> 8);
    out[o++] = (uint8_t)v;
  }
  if (i < n) { /* 2 or 3 characters left: 1 or 2 bytes; the unused low bits are ignored */
    uint32_t v = 0;
    size_t k = n - i;
    for (size_t j = 0; j < k; j++) {
      unsigned x = sextet1[u[i + j]];
      if (!x) return -1;
      v |= (x - 1) << (18 - 6 * j);
    }
    out[o++] = (uint8_t)(v >> 16);
    if (k == 3) out[o++] = (uint8_t)(v >> 8);
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
