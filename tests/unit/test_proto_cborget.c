/* The checked CBOR accessors (proto/cborget.c): every accessor on every kind of item,
 * including the ones libcbor 0.8 asserts on (floats of each width, simple values,
 * indefinite strings, NULL). A wrong kind must give -1 (or 0 for the yes/no questions),
 * never an abort, and the right kind its value. */
#include <criterion/criterion.h>
#include <string.h>

#include "proto/cborget.h"
#include "proto/cborscan.h"

static cbor_item_t *load(const uint8_t *b, size_t n) {
  char why[128];
  size_t used = 0;
  cbor_item_t *it = cborscan_load(b, n, 8, &used, why, sizeof why);
  cr_assert(it, "%s", why);
  cr_assert_eq(used, n);
  return it;
}

#define ITEM(...) {(const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}), #__VA_ARGS__}
static const struct {
  const uint8_t *b;
  size_t n;
  const char *hex;
} items[] = {
    ITEM(0x00), ITEM(0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), ITEM(0x20),
    ITEM(0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), ITEM(0x41, 0x00), ITEM(0x40),
    ITEM(0x5f, 0x41, 0x00, 0xff), ITEM(0x5f, 0xff), ITEM(0x61, 'a'), ITEM(0x60), ITEM(0x7f, 0x61, 'a', 0x61, 'b', 0xff),
    ITEM(0x7f, 0xff), ITEM(0x82, 0x00, 0x01), ITEM(0x9f, 0x00, 0xff), ITEM(0xa1, 0x00, 0x01), ITEM(0xbf, 0x00, 0x01, 0xff),
    ITEM(0xd2, 0x80), ITEM(0xf4), ITEM(0xf5), ITEM(0xf6), ITEM(0xf7), ITEM(0xf9, 0x3c, 0x00),
    ITEM(0xfa, 0x3f, 0x80, 0x00, 0x00), ITEM(0xfb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0),
};

Test(cborget, every_accessor_on_every_kind_never_aborts) {
  for (size_t i = 0; i < sizeof items / sizeof items[0]; i++) {
    cbor_item_t *it = load(items[i].b, items[i].n);
    uint64_t u;
    int64_t s;
    uint8_t sv;
    double d;
    const uint8_t *p;
    const char *t;
    size_t n;
    cbor_item_t *const *arr;
    const struct cbor_pair *pairs;
    const cbor_item_t *content;
    int kinds = (cborget_uint(it, &u) == 0) + (cborget_bytes(it, &p, &n) == 0) + (cborget_text_parts(it, &n) == 0) +
                (cborget_array(it, &arr, &n) == 0) + (cborget_map(it, &pairs, &n) == 0) +
                (cborget_tag(it, &u, &content) == 0) + (cborget_simple(it, &sv) == 0) + (cborget_float(it, &d) == 0);
    int is_negint = items[i].b[0] >= 0x20 && items[i].b[0] < 0x40;
    cr_assert_eq(kinds, is_negint ? 0 : (items[i].b[0] == 0x5f ? 0 : 1), "%s: %d kinds", items[i].hex, kinds);
    (void)cborget_int(it, &s);
    (void)cborget_text(it, &t, &n);
    (void)cborget_text_part(it, 0, &t, &n);
    (void)cborget_text_part(it, 5, &t, &n);
    (void)cborget_is_nil(it);
    cr_assert(strlen(cborget_describe(it)) > 2);
    cbor_decref(&it);
  }
}

Test(cborget, values_of_the_right_kind) {
  uint64_t u;
  int64_t s;
  const uint8_t *p;
  const char *t;
  size_t n, k;
  double d;
  cbor_item_t *it = load((const uint8_t[]){0x3b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 9);
  cr_assert_eq(cborget_int(it, &s), 0);
  cr_assert_eq(s, INT64_MIN);
  cr_assert_eq(cborget_uint(it, &u), -1);
  cbor_decref(&it);
  it = load((const uint8_t[]){0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 9);
  cr_assert_eq(cborget_uint(it, &u), 0);
  cr_assert_eq(u, UINT64_MAX);
  cr_assert_eq(cborget_int(it, &s), -1, "past INT64_MAX");
  cbor_decref(&it);
  it = load((const uint8_t[]){0x40}, 1);
  cr_assert_eq(cborget_bytes(it, &p, &n), 0);
  cr_assert(p && n == 0, "an empty byte string has a non-NULL view");
  cbor_decref(&it);
  it = load((const uint8_t[]){0x7f, 0x61, 'a', 0x62, 'b', 'c', 0xff}, 7);
  cr_assert_eq(cborget_text(it, &t, &n), -1, "chunked text has no single view");
  cr_assert_eq(cborget_text_parts(it, &k), 0);
  cr_assert_eq(k, 2);
  cr_assert_eq(cborget_text_part(it, 1, &t, &n), 0);
  cr_assert(n == 2 && !memcmp(t, "bc", 2));
  cr_assert_str_eq(cborget_describe(it), "an indefinite-length text string");
  cbor_decref(&it);
  it = load((const uint8_t[]){0xf9, 0x3c, 0x00}, 3);
  cr_assert_eq(cborget_is_nil(it), 0, "a half float is not nil (issue 17)");
  cr_assert_eq(cborget_float(it, &d), 0);
  cr_assert(d == 1.0);
  cbor_decref(&it);
  it = load((const uint8_t[]){0xf6}, 1);
  cr_assert_eq(cborget_is_nil(it), 1);
  cbor_decref(&it);
  cr_assert_eq(cborget_is_nil(NULL), 0);
  cr_assert_eq(cborget_uint(NULL, &u), -1);
  cr_assert_str_eq(cborget_describe(NULL), "nothing");
}
