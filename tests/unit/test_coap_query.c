/* The CoAP Uri-Query splitting (coapsrv__query_add, coap/server.c): one option is one item,
 * the first '=' splits key from value, an item without '=' has no value, a NUL cuts the
 * item short, and the item count and buffer are bounded (docs/device-protocol.md §3). */
#include <criterion/criterion.h>
#include <string.h>

#include "coap/route.h"

static coapsrv_req r;

static int add(const char *s, size_t *used) { return coapsrv__query_add(&r, (const uint8_t *)s, strlen(s), used); }

Test(coap_query, items_keys_and_values) {
  size_t used = 0;
  memset(&r, 0, sizeof r);
  cr_assert_eq(add("after=", &used), 0);
  cr_assert_eq(add("rxMaxSize=2048", &used), 0);
  cr_assert_eq(add("flag", &used), 0);
  cr_assert_eq(add("a=b=c", &used), 0);
  cr_assert_eq(coapsrv__query_add(&r, (const uint8_t *)"k\0=v", 4, &used), 0);
  cr_assert_str_eq(coapsrv__query(&r, "after"), "");
  cr_assert_str_eq(coapsrv__query(&r, "rxMaxSize"), "2048");
  cr_assert_null(coapsrv__query(&r, "flag"), "an item without '=' has no value");
  cr_assert_str_eq(coapsrv__query(&r, "a"), "b=c", "only the first '=' splits");
  cr_assert_null(coapsrv__query(&r, "k"), "a NUL ends the item");
  cr_assert_null(coapsrv__query(&r, "limit"));
}

Test(coap_query, bounded_in_count_and_bytes) {
  size_t used = 0;
  memset(&r, 0, sizeof r);
  for (int i = 0; i < COAPSRV_MAX_QUERY; i++) cr_assert_eq(add("k=v", &used), 0);
  cr_assert_eq(add("one=more", &used), -1, "no item past COAPSRV_MAX_QUERY");
  cr_assert_eq(r.n_query, COAPSRV_MAX_QUERY);
  memset(&r, 0, sizeof r);
  used = 0;
  static uint8_t big[sizeof r.query_buf];
  memset(big, 'x', sizeof big);
  cr_assert_eq(coapsrv__query_add(&r, big, sizeof big, &used), -1, "an item must leave room for its NUL");
  cr_assert_eq(coapsrv__query_add(&r, big, sizeof big - 1, &used), 0);
  cr_assert_eq(used, sizeof r.query_buf);
  cr_assert_eq(coapsrv__query_add(&r, big, 0, &used), -1, "a full buffer takes nothing more");
  cr_assert_eq(r.n_query, 1);
}
