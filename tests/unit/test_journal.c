/* journal.c on its own: the ring keeps the last N newest first, entries are cut to
 * JOURNAL_CUT, binary bodies come back as base64, the path and device filters and the
 * total, a journal of size 0 is off, and clear forgets everything. */
#include <criterion/criterion.h>
#include <string.h>

#include "journal.h"

static journal_entry entry(const char *path, const char *device, int status) {
  return (journal_entry){.time_ms = 1764000000000, .request_id = "r1", .protocol = "http", .method = "GET",
                         .path = path, .status = status, .device_id = device, .team = NULL, .duration_ms = 0.5};
}

Test(journal, keeps_the_last_n_newest_first) {
  journal *j = journal_new(3);
  char path[32];
  for (int i = 0; i < 5; i++) {
    snprintf(path, sizeof path, "/v1/p%d", i);
    journal_entry e = entry(path, NULL, 200);
    journal_add(j, &e);
  }
  cr_assert_eq(journal_count(j), 3);
  cr_assert_eq(journal_capacity(j), 3);
  int total = -1;
  json_t *items = journal_query(j, 100, NULL, NULL, &total);
  cr_assert_eq(total, 3);
  cr_assert_eq(json_array_size(items), 3);
  cr_assert_str_eq(json_string_value(json_object_get(json_array_get(items, 0), "path")), "/v1/p4");
  cr_assert_str_eq(json_string_value(json_object_get(json_array_get(items, 2), "path")), "/v1/p2");
  json_decref(items);
  journal_free(j);
}

Test(journal, filters_by_path_prefix_and_device_and_counts_every_match) {
  journal *j = journal_new(10);
  const char *dev = "4961c873-408c-45ce-b1ba-7c0d99d88179";
  journal_entry a = entry("/v1/provisioning/commands", dev, 204), b = entry("/v1/claimed-devices", NULL, 201),
                c = entry("/v1/provisioning/response", dev, 200);
  journal_add(j, &a);
  journal_add(j, &b);
  journal_add(j, &c);
  int total = 0;
  json_t *items = journal_query(j, 1, "v1/provisioning", NULL, &total); /* the leading '/' is optional */
  cr_assert_eq(total, 2);
  cr_assert_eq(json_array_size(items), 1, "limit");
  json_decref(items);
  items = journal_query(j, 100, NULL, dev, &total);
  cr_assert_eq(total, 2);
  json_decref(items);
  items = journal_query(j, 100, "/nothing", NULL, &total);
  cr_assert_eq(total, 0);
  cr_assert_eq(json_array_size(items), 0);
  json_decref(items);
  journal_free(j);
}

Test(journal, bodies_are_cut_and_binary_ones_are_base64) {
  journal *j = journal_new(2);
  static char big[JOURNAL_CUT * 2];
  memset(big, 'x', sizeof big - 1);
  const unsigned char cbor[] = {0x81, 0x82, 0x00, 0x02};
  journal_entry e = entry("/v1/provisioning/response", NULL, 200);
  e.request_body = cbor;
  e.request_len = sizeof cbor;
  e.request_binary = true;
  e.response_body = big;
  e.response_len = strlen(big);
  journal_add(j, &e);
  int total = 0;
  json_t *items = journal_query(j, 10, NULL, NULL, &total);
  json_t *it = json_array_get(items, 0);
  cr_assert_str_eq(json_string_value(json_object_get(it, "requestBody")), "gYIAAg==");
  cr_assert_leq(strlen(json_string_value(json_object_get(it, "responseBody"))), JOURNAL_CUT);
  cr_assert_eq(json_integer_value(json_object_get(it, "status")), 200);
  json_decref(items);
  journal_free(j);
}

Test(journal, size_zero_is_off_and_clear_forgets) {
  journal *off = journal_new(0);
  cr_assert_not(journal_enabled(off));
  journal_entry e = entry("/v1/claimed-devices", NULL, 200);
  journal_add(off, &e);
  cr_assert_eq(journal_count(off), 0);
  journal_free(off);

  journal *j = journal_new(4);
  cr_assert(journal_enabled(j));
  journal_add(j, &e);
  journal_clear(j);
  cr_assert_eq(journal_count(j), 0);
  journal_free(j);
}
