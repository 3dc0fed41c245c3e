/* Checked accessors over a libcbor tree. Debian's libcbor 0.8 asserts the preconditions
 * of its accessors (cbor_is_null on a half float, cbor_get_int on a text string,
 * cbor_bytestring_handle on an indefinite byte string...) and an assertion aborts the
 * whole server, so no decoder in proto/ or sim/ calls those accessors directly: each
 * function here first checks the item's type and width (or definiteness) with libcbor's
 * own predicates and answers -1 (or 0 for the yes/no questions) when the item is not of
 * the asked kind, including a NULL item. Not a shape validator: messages and their
 * defects stay with each decoder. */
#ifndef NRFPROV_PROTO_CBORGET_H
#define NRFPROV_PROTO_CBORGET_H

#include <stddef.h>
#include <stdint.h>
#include <cbor.h>

/* What the item is, in words for an error message ("a half-precision float", "undefined",
 * "an indefinite-length byte string", "nothing" for NULL). Never asserts. */
const char *cborget_describe(const cbor_item_t *it);

/* 1 if the item is nil (simple value 22), else 0; any item, any float width. */
int cborget_is_nil(const cbor_item_t *it);
/* A simple value (major type 7 without a float: false, true, nil, undefined, others) into
 * *v; 0, or -1 for anything else. */
int cborget_simple(const cbor_item_t *it, uint8_t *v);
/* A float of any width (16, 32 or 64 bits) into *v; 0, or -1 for anything else. */
int cborget_float(const cbor_item_t *it, double *v);

/* An unsigned integer of any width into *v; 0, or -1. */
int cborget_uint(const cbor_item_t *it, uint64_t *v);
/* An unsigned or negative integer that fits int64_t into *v; 0, or -1. */
int cborget_int(const cbor_item_t *it, int64_t *v);

/* A definite-length byte string's content (p is never NULL, even for zero bytes); 0, or
 * -1 for anything else, an indefinite-length (chunked) byte string included. */
int cborget_bytes(const cbor_item_t *it, const uint8_t **p, size_t *n);
/* The same for a definite-length text string (not NUL-terminated, not checked as UTF-8). */
int cborget_text(const cbor_item_t *it, const char **p, size_t *n);
/* A text string, definite or chunked, as chunks: *count gets 1 for a definite string, the
 * chunk count for a chunked one; 0, or -1 when it is not text or a chunk is not definite
 * text. cborget_text_part then gives chunk i (0-based) of that string; 0, or -1. */
int cborget_text_parts(const cbor_item_t *it, size_t *count);
int cborget_text_part(const cbor_item_t *it, size_t i, const char **p, size_t *n);

/* An array's elements (definite or indefinite); 0, or -1. */
int cborget_array(const cbor_item_t *it, cbor_item_t *const **items, size_t *n);
/* A map's pairs (definite or indefinite); 0, or -1. */
int cborget_map(const cbor_item_t *it, const struct cbor_pair **pairs, size_t *n);
/* A tag's number and the item it tags (borrowed: it lives as long as the tag); 0, or -1. */
int cborget_tag(const cbor_item_t *it, uint64_t *tag, const cbor_item_t **content);

#endif
