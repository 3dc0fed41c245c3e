/* Unit tests of proto/dcbor against fixtures/cbor/device-vectors.json (the SDK's own
 * vectors): commands encode byte for byte, sizes add up, responses decode to the listed
 * form and survive re-encoding with indefinite lengths; malformed messages are refused. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/dcbor.h"

static json_t *vectors(void)
{
  const char *dir = getenv("NRFPROV_TEST_FIXTURES");
  cr_assert(dir, "NRFPROV_TEST_FIXTURES is not set");
  char path[1024];
  snprintf(path, sizeof path, "%s/cbor/device-vectors.json", dir);
  json_error_t err;
  json_t *j = json_load_file(path, 0, &err);
  cr_assert(j, "cannot load %s: %s", path, err.text);
  return j;
}

static size_t unhex(const char *h, uint8_t *out, size_t cap)
{
  size_t n = strlen(h) / 2;
  cr_assert(n <= cap);
  for (size_t i = 0; i < n; i++) {
    unsigned v;
    cr_assert(sscanf(h + 2 * i, "%2x", &v) == 1);
    out[i] = (uint8_t)v;
  }
  return n;
}

/* Storage behind the dcbor_command views built from one vector. */
typedef struct {
  dcbor_command cmd[8];
  unsigned codes[8][8];
  const char *keys[8][16], *values[8][16];
} cmd_views;

static size_t commands_from_json(json_t *decoded, cmd_views *v)
{
  size_t i, n = json_array_size(decoded);
  json_t *c;
  memset(v, 0, sizeof *v);
  cr_assert(n <= 8);
  json_array_foreach(decoded, i, c) {
    dcbor_command *d = &v->cmd[i];
    d->cid = json_string_value(json_array_get(c, 0));
    d->type = (dcmd_type)json_integer_value(json_array_get(c, 1));
    if (d->type == DCMD_AT) {
      d->set_cmd = json_string_value(json_array_get(c, 2));
      d->params = json_string_value(json_array_get(c, 3));
      json_t *ign = json_array_get(c, 4);
      for (size_t k = 0; k < json_array_size(ign); k++) v->codes[i][k] = (unsigned)json_integer_value(json_array_get(ign, k));
      d->ignore_cme = v->codes[i];
      d->n_ignore = json_array_size(ign);
    } else if (d->type == DCMD_CONFIG) {
      const char *key;
      json_t *val;
      size_t k = 0;
      json_object_foreach(json_array_get(c, 2), key, val) {
        v->keys[i][k] = key;
        v->values[i][k] = json_string_value(val);
        k++;
      }
      d->keys = v->keys[i];
      d->values = v->values[i];
      d->n_pairs = k;
    }
  }
  return n;
}

Test(dcbor, commands_encode_to_the_vectors)
{
  json_t *fx = vectors(), *v;
  size_t i, seen = 0;
  json_array_foreach(json_object_get(fx, "vectors"), i, v) {
    if (strcmp(json_string_value(json_object_get(v, "direction")), "commands") != 0) continue;
    seen++;
    const char *name = json_string_value(json_object_get(v, "name"));
    uint8_t want[512], got[512];
    size_t wn = unhex(json_string_value(json_object_get(v, "hex")), want, sizeof want);
    cmd_views views;
    size_t n = commands_from_json(json_object_get(v, "decoded"), &views);
    size_t sum = dcbor_array_header_size(n);
    for (size_t k = 0; k < n; k++) sum += dcbor_command_size(&views.cmd[k]);
    cr_assert_eq(sum, wn, "%s: sizes add up to %zu, vector has %zu", name, sum, wn);
    int len = dcbor_encode_commands(views.cmd, n, got, sizeof got);
    cr_assert_eq(len, (int)wn, "%s: %d bytes", name, len);
    cr_assert_eq(memcmp(got, want, wn), 0, "%s: bytes differ", name);
    /* Every buffer one byte short is refused, never overrun. */
    for (size_t cap = 0; cap < wn; cap++) cr_assert_eq(dcbor_encode_commands(views.cmd, n, got, cap), -1);

    /* The simulator's decoder reads the vector back to the same commands. */
    dcbor_owned_command *oc;
    size_t on;
    char why[200];
    cr_assert_eq(dcbor_decode_commands(want, wn, &oc, &on, why, sizeof why), 0, "%s: %s", name, why);
    cr_assert_eq(on, n);
    for (size_t k = 0; k < n; k++) {
      cr_assert_str_eq(oc[k].cid, views.cmd[k].cid);
      cr_assert_eq(oc[k].type, views.cmd[k].type);
      if (oc[k].type == DCMD_AT) {
        cr_assert_str_eq(oc[k].set_cmd, views.cmd[k].set_cmd);
        cr_assert_str_eq(oc[k].params, views.cmd[k].params);
        cr_assert_eq(oc[k].n_ignore, views.cmd[k].n_ignore);
        for (size_t c = 0; c < oc[k].n_ignore; c++) cr_assert_eq(oc[k].ignore_cme[c], views.cmd[k].ignore_cme[c]);
      } else if (oc[k].type == DCMD_CONFIG) {
        cr_assert_eq(oc[k].n_pairs, views.cmd[k].n_pairs);
        for (size_t c = 0; c < oc[k].n_pairs; c++) {
          cr_assert_str_eq(oc[k].keys[c], views.cmd[k].keys[c]);
          cr_assert_str_eq(oc[k].values[c], views.cmd[k].values[c]);
        }
      }
    }
    dcbor_commands_free(oc, on);
  }
  cr_assert_geq(seen, 3);
  json_decref(fx);
}

static void assert_responses_equal(const dcbor_response *r, size_t n, json_t *decoded, const char *name)
{
  cr_assert_eq(n, json_array_size(decoded), "%s", name);
  for (size_t k = 0; k < n; k++) {
    json_t *d = json_array_get(decoded, k);
    cr_assert_str_eq(r[k].cid, json_string_value(json_array_get(d, 0)), "%s", name);
    cr_assert_eq((json_int_t)r[k].type, json_integer_value(json_array_get(d, 1)), "%s", name);
    switch (r[k].type) {
    case DRSP_ERROR:
      cr_assert_eq((json_int_t)r[k].cme, json_integer_value(json_array_get(d, 2)));
      cr_assert_str_eq(r[k].message, json_string_value(json_array_get(d, 3)));
      break;
    case DRSP_AT:
      cr_assert_eq(r[k].cme, 0);
      cr_assert_str_eq(r[k].message, json_string_value(json_array_get(d, 2)));
      break;
    default:
      cr_assert_null(r[k].message);
      cr_assert_eq(json_array_size(d), 2);
    }
  }
}

Test(dcbor, responses_decode_and_reencode)
{
  json_t *fx = vectors(), *v;
  size_t i, seen = 0;
  json_array_foreach(json_object_get(fx, "vectors"), i, v) {
    if (strcmp(json_string_value(json_object_get(v, "direction")), "responses") != 0) continue;
    seen++;
    const char *name = json_string_value(json_object_get(v, "name"));
    uint8_t want[512];
    size_t wn = unhex(json_string_value(json_object_get(v, "hex")), want, sizeof want);
    dcbor_response *r;
    size_t n;
    char why[200];
    cr_assert_eq(dcbor_decode_responses(want, wn, &r, &n, why, sizeof why), 0, "%s: %s", name, why);
    assert_responses_equal(r, n, json_object_get(v, "decoded"), name);

    uint8_t *enc;
    size_t en;
    cr_assert_eq(dcbor_encode_responses(r, n, 0, &enc, &en), 0);
    cr_assert(en == wn && memcmp(enc, want, wn) == 0, "%s: definite re-encoding differs", name);
    free(enc);

    cr_assert_eq(dcbor_encode_responses(r, n, 1, &enc, &en), 0);
    cr_assert_eq(enc[0], 0x9f, "%s: not an indefinite array", name);
    dcbor_response *r2;
    size_t n2;
    cr_assert_eq(dcbor_decode_responses(enc, en, &r2, &n2, why, sizeof why), 0, "%s (indefinite): %s", name, why);
    assert_responses_equal(r2, n2, json_object_get(v, "decoded"), name);
    dcbor_responses_free(r2, n2);
    /* Every proper prefix of the indefinite form is truncated. */
    for (size_t cut = 0; cut < en; cut++)
      cr_assert_eq(dcbor_decode_responses(enc, cut, &r2, &n2, why, sizeof why), -1, "%s cut at %zu", name, cut);
    free(enc);
    dcbor_responses_free(r, n);
  }
  cr_assert_geq(seen, 4);
  json_decref(fx);
}

Test(dcbor, malformed_responses_are_refused)
{
  struct { const char *name, *hex, *expect; } cases[] = {
      {"empty body", "", "empty body"},
      {"empty array", "80", "array is empty"},
      {"empty indefinite array", "9fff", "array is empty"},
      {"not an array", "a0", "top-level item must be an array"},
      {"trailing bytes", "81826161186600", "trailing bytes after the array"},
      {"truncated", "8182616118", "truncated"},
      {"element not array", "816161", "response 1: must be an array"},
      {"one element", "818161" "61", "response 1: must have at least 2 elements"},
      {"byte string id", "8182416118 66", "response 1: correlation id must be a text string"},
      {"type text", "818261616161", "response 1: type must be an unsigned integer"},
      {"type negative", "8182616120", "response 1: type must be an unsigned integer"},
      {"unknown type", "818261611867", "response 1: unknown type 103"},
      {"ack with extra", "81836161186600", "response 1: finished ack (102) must have 2 elements, got 3"},
      {"config ack with extra", "81836161186500", "response 1: config ack (101) must have 2 elements, got 3"},
      {"AT without text", "818261611864", "response 1: AT response (100) must have 3 elements, got 2"},
      {"AT byte string", "81836161186441 4f", "response 1: message must be a text string"},
      {"error 3 elements", "818361611863 00", "response 1: error response (99) must have 4 elements, got 3"},
      {"error cme text", "81846161186361306145", "response 1: CME error must be an unsigned integer"},
      {"error cme huge", "8184616118631b000000010000000060", "response 1: CME error 4294967296 out of range"},
      {"error message bstr", "81846161186300 40", "response 1: message must be a text string"},
      {"second bad", "828261611866 8261611867", "response 2: unknown type 103"},
      {"NUL in message", "818361611864 6100", "response 1: message contains a NUL character"},
      {"invalid UTF-8", "818361611864 61ff", "not valid UTF-8"},
      {"huge array head", "9b2000000000000000", "truncated"},
      {"huge map head", "bb2000000000000000", "truncated"},
      {"deep nest", "8181818181818181818181818181818181818181", "nested too deeply"},
      {"stray break", "ff", "break"},
      {"indefinite text with byte chunk", "818361611864 7f4100ff", "chunk"},
      {"reserved byte", "1c", "malformed"},
      {"odd indefinite map", "bf01ff", "map ends after a key"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint8_t buf[64];
    char hex[128];
    size_t h = 0;
    for (const char *p = cases[i].hex; *p; p++)
      if (*p != ' ') hex[h++] = *p;
    hex[h] = '\0';
    size_t n = unhex(hex, buf, sizeof buf);
    dcbor_response *r = (dcbor_response *)1;
    size_t rn = 7;
    char why[200] = "";
    cr_assert_eq(dcbor_decode_responses(buf, n, &r, &rn, why, sizeof why), -1, "%s accepted", cases[i].name);
    cr_assert(r == NULL && rn == 0);
    cr_assert(strstr(why, cases[i].expect), "%s: \"%s\" lacks \"%s\"", cases[i].name, why, cases[i].expect);
  }
}

Test(dcbor, indefinite_everything_decodes)
{
  /* [_ [_ (_ "b", "c"), 99, 514, (_ "ER", "ROR")], ["x", 101]] */
  uint8_t b[] = {0x9f, 0x9f, 0x7f, 0x61, 'b', 0x61, 'c', 0xff, 0x18, 0x63, 0x19, 0x02, 0x02,
                 0x7f, 0x62, 'E', 'R', 0x63, 'R', 'O', 'R', 0xff, 0xff, 0x82, 0x61, 'x', 0x18, 0x65, 0xff};
  dcbor_response *r;
  size_t n;
  char why[200];
  cr_assert_eq(dcbor_decode_responses(b, sizeof b, &r, &n, why, sizeof why), 0, "%s", why);
  cr_assert_eq(n, 2);
  cr_assert_str_eq(r[0].cid, "bc");
  cr_assert_eq(r[0].type, DRSP_ERROR);
  cr_assert_eq(r[0].cme, 514);
  cr_assert_str_eq(r[0].message, "ERROR");
  cr_assert_str_eq(r[1].cid, "x");
  cr_assert_eq(r[1].type, DRSP_CONFIG_ACK);
  dcbor_responses_free(r, n);
}

Test(dcbor, encoder_edges)
{
  uint8_t buf[64];
  dcbor_command c = {.cid = "x", .type = (dcmd_type)7};
  cr_assert_eq(dcbor_command_size(&c), 0);
  cr_assert_eq(dcbor_encode_commands(&c, 1, buf, sizeof buf), -1);
  c.type = DCMD_FINISHED;
  cr_assert_eq(dcbor_encode_commands(&c, 0, buf, sizeof buf), -1, "never an empty commands array");
  cr_assert_eq(dcbor_array_header_size(23), 1);
  cr_assert_eq(dcbor_array_header_size(24), 2);
  cr_assert_eq(dcbor_array_header_size(256), 3);
  /* NULL strings encode as empty text; a large CME code takes its 5-byte head. */
  unsigned codes[] = {70000};
  dcbor_command at = {.cid = NULL, .type = DCMD_AT, .set_cmd = "%XYZ", .params = NULL, .ignore_cme = codes, .n_ignore = 1};
  int n = dcbor_encode_commands(&at, 1, buf, sizeof buf);
  const uint8_t want[] = {0x81, 0x85, 0x60, 0x00, 0x64, '%', 'X', 'Y', 'Z', 0x60, 0x81, 0x1a, 0x00, 0x01, 0x11, 0x70};
  cr_assert_eq(n, (int)sizeof want);
  cr_assert_eq(memcmp(buf, want, sizeof want), 0);
  cr_assert_eq(dcbor_command_size(&at) + 1, sizeof want);
}

Test(dcbor, malformed_commands_are_refused)
{
  struct { const char *name; uint8_t b[24]; size_t n; const char *expect; } cases[] = {
      {"AT with 4", {0x81, 0x84, 0x61, 'a', 0x00, 0x60, 0x60}, 7, "command 1: AT command (0) must have 5 elements"},
      {"AT ignore not array", {0x81, 0x85, 0x61, 'a', 0x00, 0x60, 0x60, 0x00}, 8, "ignored CME errors must be an array"},
      {"AT 7 ignores", {0x81, 0x85, 0x61, 'a', 0x00, 0x60, 0x60, 0x87, 1, 2, 3, 4, 5, 6, 7}, 15, "more than 6"},
      {"AT ignore text", {0x81, 0x85, 0x61, 'a', 0x00, 0x60, 0x60, 0x81, 0x60}, 9, "ignored CME error 1 must be an unsigned integer"},
      {"config not map", {0x81, 0x83, 0x61, 'a', 0x01, 0x80}, 6, "config must be a map"},
      {"config value uint", {0x81, 0x83, 0x61, 'a', 0x01, 0xa1, 0x60, 0x01}, 8, "config value must be a text string"},
      {"finished with 3", {0x81, 0x83, 0x61, 'a', 0x02, 0x00}, 6, "finished command (2) must have 2 elements"},
      {"unknown", {0x81, 0x82, 0x61, 'a', 0x03}, 5, "command 1: unknown type 3"},
      {"empty", {0x80}, 1, "commands: array is empty"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    dcbor_owned_command *c;
    size_t n;
    char why[200] = "";
    cr_assert_eq(dcbor_decode_commands(cases[i].b, cases[i].n, &c, &n, why, sizeof why), -1, "%s accepted", cases[i].name);
    cr_assert(strstr(why, cases[i].expect), "%s: \"%s\" lacks \"%s\"", cases[i].name, why, cases[i].expect);
  }
}

Test(dcbor, indefinite_encoding_never_splits_a_character)
{
  /* Each string's midpoint falls inside a multi-byte character. */
  dcbor_response r[] = {
      {.cid = "ab\xd3\xbf" "cd", .type = DRSP_AT, .message = "\xe2\x82\xac\xe2\x82\xac"},
      {.cid = "x\xf0\x9f\x98\x80", .type = DRSP_ERROR, .cme = 514, .message = "\xc3\xa9"},
  };
  uint8_t *enc;
  size_t en, n;
  dcbor_response *back;
  char why[200];
  cr_assert_eq(dcbor_encode_responses(r, 2, 1, &enc, &en), 0);
  cr_assert_eq(dcbor_decode_responses(enc, en, &back, &n, why, sizeof why), 0, "%s", why);
  cr_assert_eq(n, 2);
  for (size_t i = 0; i < 2; i++) {
    cr_assert_str_eq(back[i].cid, r[i].cid);
    cr_assert_str_eq(back[i].message, r[i].message);
  }
  dcbor_responses_free(back, n);
  free(enc);
}
