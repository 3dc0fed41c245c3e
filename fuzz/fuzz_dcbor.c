/* libFuzzer target for the device CBOR codec (proto/dcbor over cborscan and libcbor). The
 * first byte picks the direction (even: responses, odd: commands); the rest is the
 * message. Whatever decodes must survive a round trip: re-encoded (definite and
 * indefinite for responses, through the server's encoder for commands) it decodes to the
 * same values, and the encoder's size arithmetic matches its output. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/dcbor.h"

static int same(const char *a, const char *b)
{
  return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void responses(const uint8_t *data, size_t size)
{
  dcbor_response *r, *r2;
  size_t n, n2;
  char why[256];
  if (dcbor_decode_responses(data, size, &r, &n, why, sizeof why) != 0) return;
  for (int indefinite = 0; indefinite <= 1; indefinite++) {
    uint8_t *enc;
    size_t en;
    if (dcbor_encode_responses(r, n, indefinite, &enc, &en) != 0) abort();
    if (dcbor_decode_responses(enc, en, &r2, &n2, why, sizeof why) != 0 || n2 != n) abort();
    for (size_t i = 0; i < n; i++)
      if (!same(r[i].cid, r2[i].cid) || r[i].type != r2[i].type || r[i].cme != r2[i].cme ||
          !same(r[i].message, r2[i].message))
        abort();
    dcbor_responses_free(r2, n2);
    free(enc);
  }
  dcbor_responses_free(r, n);
}

static void commands(const uint8_t *data, size_t size)
{
  dcbor_owned_command *c, *c2;
  size_t n, n2;
  char why[256];
  if (dcbor_decode_commands(data, size, &c, &n, why, sizeof why) != 0) return;
  dcbor_command *v = calloc(n, sizeof *v);
  if (!v) abort();
  size_t total = dcbor_array_header_size(n);
  for (size_t i = 0; i < n; i++) {
    v[i].cid = c[i].cid;
    v[i].type = c[i].type;
    v[i].set_cmd = c[i].set_cmd;
    v[i].params = c[i].params;
    v[i].ignore_cme = c[i].ignore_cme;
    v[i].n_ignore = c[i].n_ignore;
    v[i].keys = (const char *const *)c[i].keys;
    v[i].values = (const char *const *)c[i].values;
    v[i].n_pairs = c[i].n_pairs;
    total += dcbor_command_size(&v[i]);
  }
  uint8_t *buf = malloc(total);
  if (!buf) abort();
  if (dcbor_encode_commands(v, n, buf, total) != (int)total) abort();
  if (total > 0 && dcbor_encode_commands(v, n, buf, total - 1) != -1) abort();
  if (dcbor_decode_commands(buf, total, &c2, &n2, why, sizeof why) != 0 || n2 != n) abort();
  for (size_t i = 0; i < n; i++) {
    if (!same(c[i].cid, c2[i].cid) || c[i].type != c2[i].type || !same(c[i].set_cmd, c2[i].set_cmd) ||
        !same(c[i].params, c2[i].params) || c[i].n_ignore != c2[i].n_ignore || c[i].n_pairs != c2[i].n_pairs)
      abort();
    for (size_t k = 0; k < c[i].n_ignore; k++)
      if (c[i].ignore_cme[k] != c2[i].ignore_cme[k]) abort();
    for (size_t k = 0; k < c[i].n_pairs; k++)
      if (!same(c[i].keys[k], c2[i].keys[k]) || !same(c[i].values[k], c2[i].values[k])) abort();
  }
  dcbor_commands_free(c2, n2);
  free(buf);
  free(v);
  dcbor_commands_free(c, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size); /* called by libFuzzer */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1) return 0;
  if (data[0] & 1)
    commands(data + 1, size - 1);
  else
    responses(data + 1, size - 1);
  return 0;
}
