/* Unit tests of proto/b64url: RFC 4648 vectors in the URL-safe alphabet, padding
 * tolerance, refusal of foreign characters and impossible lengths, buffer bounds, and the
 * standard padded alphabet used for PEM. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "proto/b64url.h"

static const struct { const char *plain, *enc; } rfc4648[] = {
    {"", ""}, {"f", "Zg"}, {"fo", "Zm8"}, {"foo", "Zm9v"},
    {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
};

Test(b64url, rfc4648_vectors_encode_and_decode)
{
  for (size_t i = 0; i < sizeof rfc4648 / sizeof rfc4648[0]; i++) {
    char out[32];
    uint8_t dec[32];
    size_t n = strlen(rfc4648[i].plain), got = 99;
    cr_assert_eq(b64url_encoded_len(n), strlen(rfc4648[i].enc));
    cr_assert_eq(b64url_encode((const uint8_t *)rfc4648[i].plain, n, out, sizeof out), (int)strlen(rfc4648[i].enc));
    cr_assert_str_eq(out, rfc4648[i].enc);
    cr_assert_eq(b64url_decode(rfc4648[i].enc, strlen(rfc4648[i].enc), dec, sizeof dec, &got), 0);
    cr_assert_eq(got, n);
    cr_assert(memcmp(dec, rfc4648[i].plain, n) == 0);
  }
}

Test(b64url, uses_the_url_safe_alphabet)
{
  const uint8_t in[] = {0xfb, 0xff, 0xbf};
  char out[8];
  cr_assert_eq(b64url_encode(in, sizeof in, out, sizeof out), 4);
  cr_assert_str_eq(out, "-_-_");
  uint8_t dec[3];
  size_t got;
  cr_assert_eq(b64url_decode("-_-_", 4, dec, sizeof dec, &got), 0);
  cr_assert(got == 3 && memcmp(dec, in, 3) == 0);
}

Test(b64url, tolerates_trailing_padding)
{
  uint8_t dec[8];
  size_t got;
  cr_assert_eq(b64url_decode("Zg==", 4, dec, sizeof dec, &got), 0);
  cr_assert(got == 1 && dec[0] == 'f');
  cr_assert_eq(b64url_decode("Zm8=", 4, dec, sizeof dec, &got), 0);
  cr_assert(got == 2 && memcmp(dec, "fo", 2) == 0);
  cr_assert_eq(b64url_decode("Zm9v", 4, dec, sizeof dec, &got), 0);
  cr_assert_eq(b64url_decode("Zg===", 5, dec, sizeof dec, &got), -1, "three pad characters");
  cr_assert_eq(b64url_decode("Z=g", 3, dec, sizeof dec, &got), -1, "padding in the middle");
}

Test(b64url, refuses_foreign_characters_and_impossible_lengths)
{
  uint8_t dec[16];
  size_t got;
  cr_assert_eq(b64url_decode("ab+d", 4, dec, sizeof dec, &got), -1);
  cr_assert_eq(b64url_decode("ab/d", 4, dec, sizeof dec, &got), -1);
  cr_assert_eq(b64url_decode("ab d", 4, dec, sizeof dec, &got), -1);
  cr_assert_eq(b64url_decode("abcd\n", 5, dec, sizeof dec, &got), -1);
  cr_assert_eq(b64url_decode("ab\0d", 4, dec, sizeof dec, &got), -1);
  cr_assert_eq(b64url_decode("abcde", 5, dec, sizeof dec, &got), -1, "n %% 4 == 1");
  cr_assert_eq(b64url_decode("a", 1, dec, sizeof dec, &got), -1);
  cr_assert_eq(b64url_decode("", 0, dec, sizeof dec, &got), 0);
  cr_assert_eq(got, 0);
}

Test(b64url, respects_buffer_sizes)
{
  char out[8];
  uint8_t dec[2];
  size_t got;
  cr_assert_eq(b64url_encode((const uint8_t *)"foobar", 6, out, 8), -1, "8 chars + NUL do not fit in 8");
  cr_assert_eq(b64url_encode((const uint8_t *)"foobar", 6, out, 9 - 1), -1);
  char out9[9];
  cr_assert_eq(b64url_encode((const uint8_t *)"foobar", 6, out9, sizeof out9), 8);
  cr_assert_eq(b64url_decode("Zm9v", 4, dec, sizeof dec, &got), -1, "3 bytes do not fit in 2");
  cr_assert_eq(b64url_decoded_max(4), 3);
  cr_assert_eq(b64url_decoded_max(6), 4);
  cr_assert_eq(b64url_decoded_max(7), 5);
}

Test(b64url, round_trips_every_length)
{
  uint8_t in[200], dec[200];
  char enc[300];
  for (size_t i = 0; i < sizeof in; i++) in[i] = (uint8_t)(i * 37 + 11);
  for (size_t n = 0; n <= sizeof in; n++) {
    size_t got;
    int len = b64url_encode(in, n, enc, sizeof enc);
    cr_assert_eq((size_t)len, b64url_encoded_len(n));
    cr_assert_eq(b64url_decode(enc, (size_t)len, dec, sizeof dec, &got), 0);
    cr_assert(got == n && memcmp(in, dec, n) == 0, "length %zu", n);
  }
}

Test(b64, standard_alphabet_with_padding)
{
  char out[16];
  cr_assert_eq(b64_std_encode((const uint8_t *)"foob", 4, out, sizeof out), 8);
  cr_assert_str_eq(out, "Zm9vYg==");
  const uint8_t in[] = {0xfb, 0xff};
  cr_assert_eq(b64_std_encode(in, 2, out, sizeof out), 4);
  cr_assert_str_eq(out, "+/8=");
  cr_assert_eq(b64_std_encode((const uint8_t *)"foob", 4, out, 8), -1, "no room for the NUL");
}
