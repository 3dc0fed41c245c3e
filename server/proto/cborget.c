/* Checked accessors over libcbor 0.8 (see cborget.h): every accessor call below is
 * preceded by the predicates its assertion demands, so a hostile item gets -1 instead of
 * an abort. Nothing here allocates. */
#include "proto/cborget.h"

static const uint8_t empty[1];

const char *cborget_describe(const cbor_item_t *it)
{
  if (!it) return "nothing";
  switch (cbor_typeof(it)) {
  case CBOR_TYPE_UINT: return "an unsigned integer";
  case CBOR_TYPE_NEGINT: return "a negative integer";
  case CBOR_TYPE_BYTESTRING:
    return cbor_bytestring_is_definite(it) ? "a byte string" : "an indefinite-length byte string";
  case CBOR_TYPE_STRING:
    return cbor_string_is_definite(it) ? "a text string" : "an indefinite-length text string";
  case CBOR_TYPE_ARRAY: return "an array";
  case CBOR_TYPE_MAP: return "a map";
  case CBOR_TYPE_TAG: return "a tagged item";
  case CBOR_TYPE_FLOAT_CTRL:
    switch (cbor_float_get_width(it)) {
    case CBOR_FLOAT_0: {
      uint8_t v = cbor_ctrl_value(it);
      return v == CBOR_CTRL_FALSE || v == CBOR_CTRL_TRUE ? "a boolean"
             : v == CBOR_CTRL_NULL                      ? "nil"
             : v == CBOR_CTRL_UNDEF                     ? "undefined"
                                                        : "a simple value";
    }
    case CBOR_FLOAT_16: return "a half-precision float";
    case CBOR_FLOAT_32: return "a single-precision float";
    case CBOR_FLOAT_64: return "a double-precision float";
    }
    break;
  }
  return "an unknown item";
}

int cborget_simple(const cbor_item_t *it, uint8_t *v)
{
  if (!it || !cbor_isa_float_ctrl(it) || cbor_float_get_width(it) != CBOR_FLOAT_0) return -1;
  *v = cbor_ctrl_value(it);
  return 0;
}

int cborget_is_nil(const cbor_item_t *it)
{
  uint8_t v;
  return cborget_simple(it, &v) == 0 && v == CBOR_CTRL_NULL;
}

int cborget_float(const cbor_item_t *it, double *v)
{
  if (!it || !cbor_isa_float_ctrl(it)) return -1;
  switch (cbor_float_get_width(it)) {
  case CBOR_FLOAT_16: *v = cbor_float_get_float2(it); return 0;
  case CBOR_FLOAT_32: *v = cbor_float_get_float4(it); return 0;
  case CBOR_FLOAT_64: *v = cbor_float_get_float8(it); return 0;
  case CBOR_FLOAT_0: break;
  }
  return -1;
}

/* The integer's magnitude field (the value for uint, -1 - value for negint) by width. */
static int raw_int(const cbor_item_t *it, uint64_t *v)
{
  switch (cbor_int_get_width(it)) {
  case CBOR_INT_8: *v = cbor_get_uint8(it); return 0;
  case CBOR_INT_16: *v = cbor_get_uint16(it); return 0;
  case CBOR_INT_32: *v = cbor_get_uint32(it); return 0;
  case CBOR_INT_64: *v = cbor_get_uint64(it); return 0;
  }
  return -1;
}

int cborget_uint(const cbor_item_t *it, uint64_t *v)
{
  if (!it || !cbor_isa_uint(it)) return -1;
  return raw_int(it, v);
}

int cborget_int(const cbor_item_t *it, int64_t *v)
{
  uint64_t raw;
  if (!it || !cbor_is_int(it) || raw_int(it, &raw) != 0 || raw > (uint64_t)INT64_MAX) return -1;
  *v = cbor_isa_uint(it) ? (int64_t)raw : -1 - (int64_t)raw;
  return 0;
}

int cborget_bytes(const cbor_item_t *it, const uint8_t **p, size_t *n)
{
  if (!it || !cbor_isa_bytestring(it) || !cbor_bytestring_is_definite(it)) return -1;
  *n = cbor_bytestring_length(it);
  *p = *n ? cbor_bytestring_handle(it) : NULL;
  if (!*p) {
    if (*n) return -1;
    *p = empty;
  }
  return 0;
}

int cborget_text(const cbor_item_t *it, const char **p, size_t *n)
{
  if (!it || !cbor_isa_string(it) || !cbor_string_is_definite(it)) return -1;
  *n = cbor_string_length(it);
  const unsigned char *h = *n ? cbor_string_handle(it) : NULL;
  if (!h) {
    if (*n) return -1;
    h = empty;
  }
  *p = (const char *)h;
  return 0;
}

int cborget_text_parts(const cbor_item_t *it, size_t *count)
{
  if (!it || !cbor_isa_string(it)) return -1;
  if (cbor_string_is_definite(it)) {
    *count = 1;
    return 0;
  }
  cbor_item_t **c = cbor_string_chunks_handle(it);
  size_t k = cbor_string_chunk_count(it);
  if (k && !c) return -1;
  for (size_t i = 0; i < k; i++)
    if (!c[i] || !cbor_isa_string(c[i]) || !cbor_string_is_definite(c[i])) return -1;
  *count = k;
  return 0;
}

int cborget_text_part(const cbor_item_t *it, size_t i, const char **p, size_t *n)
{
  if (!it || !cbor_isa_string(it)) return -1;
  if (cbor_string_is_definite(it)) return i == 0 ? cborget_text(it, p, n) : -1;
  cbor_item_t **c = cbor_string_chunks_handle(it);
  if (i >= cbor_string_chunk_count(it) || !c) return -1;
  return cborget_text(c[i], p, n);
}

int cborget_array(const cbor_item_t *it, cbor_item_t *const **items, size_t *n)
{
  if (!it || !cbor_isa_array(it)) return -1;
  *n = cbor_array_size(it);
  *items = cbor_array_handle(it);
  if (*n && !*items) return -1;
  for (size_t i = 0; i < *n; i++)
    if (!(*items)[i]) return -1;
  return 0;
}

int cborget_map(const cbor_item_t *it, const struct cbor_pair **pairs, size_t *n)
{
  if (!it || !cbor_isa_map(it)) return -1;
  *n = cbor_map_size(it);
  *pairs = cbor_map_handle(it);
  if (*n && !*pairs) return -1;
  for (size_t i = 0; i < *n; i++)
    if (!(*pairs)[i].key || !(*pairs)[i].value) return -1;
  return 0;
}

int cborget_tag(const cbor_item_t *it, uint64_t *tag, const cbor_item_t **content)
{
  if (!it || !cbor_isa_tag(it) || !it->metadata.tag_metadata.tagged_item) return -1;
  /* cbor_tag_item() takes a reference; the tag keeps the item alive, so drop it at once. */
  cbor_item_t *c = cbor_tag_item(it), *ref = c;
  cbor_decref(&ref);
  *tag = cbor_tag_value(it);
  *content = c;
  return 0;
}
