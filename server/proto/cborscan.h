/* A resource guard in front of libcbor's cbor_load for untrusted input. cbor_load trusts
 * the element counts it reads (a 9-byte header can make it ask malloc for terabytes) and
 * frees nested items recursively, so every parser here first walks the input with
 * libcbor's streaming decoder, bounding nesting depth and declared counts, and learns
 * where the first data item ends. It also works around libcbor 0.8 refusing tags 6..20 in
 * their one-byte form (COSE_Sign1 is tag 18, byte 0xd2). Not a validator of any message's
 * shape. */
#ifndef NRFPROV_PROTO_CBORSCAN_H
#define NRFPROV_PROTO_CBORSCAN_H

#include <stddef.h>
#include <stdint.h>
#include <cbor.h>

/* Decode the one data item at the start of buf (nesting at most max_depth, max_depth <= 32)
 * and set *used to its length in bytes (trailing bytes are the caller's business); NULL
 * with a sentence in why ("truncated CBOR", "malformed CBOR", ...) on failure. The caller
 * cbor_decref()s the result. */
cbor_item_t *cborscan_load(const uint8_t *buf, size_t len, unsigned max_depth, size_t *used,
                           char *why, size_t whysz);

/* Bounds of cborscan_load_bounded besides nesting; 0 = no bound. */
typedef struct {
  size_t max_items; /* data items in all (every head but a break) */
  size_t max_top;   /* elements of the top-level array or map (a map counts keys and values) */
} cborscan_bounds;
/* cborscan_load refusing input past the bounds b (NULL = none) before anything is built. */
cbor_item_t *cborscan_load_bounded(const uint8_t *buf, size_t len, unsigned max_depth, const cborscan_bounds *b,
                                   size_t *used, char *why, size_t whysz);

#endif
