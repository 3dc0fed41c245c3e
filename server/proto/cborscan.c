/* Resource guard for cbor_load: one pass of cbor_stream_decode that tracks open
 * containers on a small fixed stack. It refuses nesting beyond the caller's bound, counts
 * that cannot fit in the bytes left, misplaced breaks and chunks of indefinite strings that
 * are not definite strings of the same kind; it finds the end of the first item. Only
 * then does cbor_load build the tree, over exactly that many bytes (rewriting the one-byte
 * tag heads libcbor 0.8 cannot read, see walk()). With bounds, it also refuses more data
 * items in all, or more elements in the top-level container, than the caller allows,
 * before anything is built: libcbor spends some 80 bytes per item, so a 1 MiB body of
 * one-byte items would otherwise cost 80 MiB. */
#include "proto/cborscan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCAN_MAX_DEPTH 32

enum frame_kind { F_COUNTED, F_TAG, F_INDEF_ARRAY, F_INDEF_MAP, F_INDEF_BYTES, F_INDEF_TEXT };

typedef struct {
  enum frame_kind kind;
  uint64_t left;  /* items still expected (counted, tag) or items seen (indefinite map) */
} frame;

typedef struct {
  frame stack[SCAN_MAX_DEPTH];
  unsigned depth, max_depth;
  size_t remaining;  /* bytes after the current head: a bound on any declared count */
  int done;          /* the top-level item is complete */
  const char *error; /* first defect found, or NULL */
  size_t items, max_items; /* data items seen so far, and their bound (0 = none) */
  size_t top, max_top;     /* elements of the top-level container so far, and their bound */
  char msg[96];            /* the text of a bound's defect */
} scan;

/* One item (scalar, string or finished container) has ended: account for it upwards. */
static void item_done(scan *s)
{
  while (s->depth > 0) {
    frame *f = &s->stack[s->depth - 1];
    if (s->depth == 1 && s->max_top && ++s->top > s->max_top && !s->error) {
      snprintf(s->msg, sizeof s->msg, "the top-level container holds more than %zu elements", s->max_top);
      s->error = s->msg;
    }
    if (f->kind == F_COUNTED || f->kind == F_TAG) {
      if (--f->left > 0) return;
      s->depth--; /* the container itself is now one finished item */
      continue;
    }
    if (f->kind == F_INDEF_MAP) f->left++;
    return;
  }
  s->done = 1;
}

static void fail(scan *s, const char *msg)
{
  if (!s->error) s->error = msg;
}

/* Count one more data item (every head but a break): libcbor builds one node for each. */
static void head(scan *s)
{
  if (s->max_items && ++s->items > s->max_items && !s->error) {
    snprintf(s->msg, sizeof s->msg, "CBOR holds more than %zu data items", s->max_items);
    s->error = s->msg;
  }
}

/* Inside an indefinite string only definite chunks of the same major type may appear. */
static int chunk_context_ok(scan *s, enum frame_kind chunk_of)
{
  if (s->depth == 0) return 1;
  enum frame_kind k = s->stack[s->depth - 1].kind;
  if (k != F_INDEF_BYTES && k != F_INDEF_TEXT) return 1;
  if (k != chunk_of) {
    fail(s, "malformed CBOR: an indefinite-length string holds a chunk of another type");
    return 0;
  }
  return 1;
}

static int not_in_string(scan *s)
{
  return chunk_context_ok(s, (enum frame_kind)-1);
}

static void push(scan *s, enum frame_kind kind, uint64_t left)
{
  if (s->depth >= s->max_depth) {
    fail(s, "CBOR nested too deeply");
    return;
  }
  s->stack[s->depth].kind = kind;
  s->stack[s->depth].left = left;
  s->depth++;
}

static void on_scalar(void *ctx)
{
  scan *s = ctx;
  head(s);
  if (not_in_string(s)) item_done(s);
}
static void on_u8(void *ctx, uint8_t v) { (void)v; on_scalar(ctx); }
static void on_u16(void *ctx, uint16_t v) { (void)v; on_scalar(ctx); }
static void on_u32(void *ctx, uint32_t v) { (void)v; on_scalar(ctx); }
static void on_u64(void *ctx, uint64_t v) { (void)v; on_scalar(ctx); }
static void on_float(void *ctx, float v) { (void)v; on_scalar(ctx); }
static void on_double(void *ctx, double v) { (void)v; on_scalar(ctx); }
static void on_bool(void *ctx, bool v) { (void)v; on_scalar(ctx); }

static void on_bytes(void *ctx, cbor_data d, size_t n)
{
  (void)d, (void)n;
  scan *s = ctx;
  head(s);
  if (chunk_context_ok(s, F_INDEF_BYTES)) item_done(s);
}

static void on_text(void *ctx, cbor_data d, size_t n)
{
  (void)d, (void)n;
  scan *s = ctx;
  head(s);
  if (chunk_context_ok(s, F_INDEF_TEXT)) item_done(s);
}

static void on_bytes_start(void *ctx)
{
  scan *s = ctx;
  head(s);
  if (not_in_string(s)) push(s, F_INDEF_BYTES, 0);
}

static void on_text_start(void *ctx)
{
  scan *s = ctx;
  head(s);
  if (not_in_string(s)) push(s, F_INDEF_TEXT, 0);
}

static void on_array(void *ctx, size_t n)
{
  scan *s = ctx;
  head(s);
  if (!not_in_string(s)) return;
  if (n > s->remaining) {
    fail(s, "truncated CBOR: an array declares more elements than bytes remain");
    return;
  }
  if (s->depth == 0 && s->max_top && n > s->max_top && !s->error) {
    snprintf(s->msg, sizeof s->msg, "the top-level array holds %zu elements, more than %zu", n, s->max_top);
    s->error = s->msg;
    return;
  }
  if (n == 0)
    item_done(s);
  else
    push(s, F_COUNTED, n);
}

static void on_map(void *ctx, size_t n)
{
  scan *s = ctx;
  head(s);
  if (!not_in_string(s)) return;
  if (n > s->remaining / 2) {
    fail(s, "truncated CBOR: a map declares more entries than bytes remain");
    return;
  }
  if (n == 0)
    item_done(s);
  else
    push(s, F_COUNTED, 2 * (uint64_t)n);
}

static void on_indef_array(void *ctx)
{
  scan *s = ctx;
  head(s);
  if (not_in_string(s)) push(s, F_INDEF_ARRAY, 0);
}

static void on_indef_map(void *ctx)
{
  scan *s = ctx;
  head(s);
  if (not_in_string(s)) push(s, F_INDEF_MAP, 0);
}

static void on_tag(void *ctx, uint64_t t)
{
  (void)t;
  scan *s = ctx;
  head(s);
  if (not_in_string(s)) push(s, F_TAG, 1);
}

static void on_break(void *ctx)
{
  scan *s = ctx;
  if (s->depth == 0) {
    fail(s, "malformed CBOR: a break outside any indefinite-length item");
    return;
  }
  frame *f = &s->stack[s->depth - 1];
  if (f->kind == F_COUNTED || f->kind == F_TAG) {
    fail(s, "malformed CBOR: a break inside a definite-length item");
    return;
  }
  if (f->kind == F_INDEF_MAP && f->left % 2 != 0) {
    fail(s, "malformed CBOR: an indefinite-length map ends after a key");
    return;
  }
  s->depth--;
  item_done(s);
}

static const struct cbor_callbacks scan_callbacks = {
    .uint8 = on_u8, .uint16 = on_u16, .uint32 = on_u32, .uint64 = on_u64,
    .negint8 = on_u8, .negint16 = on_u16, .negint32 = on_u32, .negint64 = on_u64,
    .byte_string_start = on_bytes_start, .byte_string = on_bytes,
    .string = on_text, .string_start = on_text_start,
    .indef_array_start = on_indef_array, .array_start = on_array,
    .indef_map_start = on_indef_map, .map_start = on_map,
    .tag = on_tag,
    .float2 = on_float, .float4 = on_float, .float8 = on_double,
    .undefined = on_scalar, .null = on_scalar, .boolean = on_bool,
    .indef_break = on_break,
};

static void say(char *why, size_t whysz, const char *msg)
{
  if (why && whysz) snprintf(why, whysz, "%s", msg);
}

/* libcbor 0.8's decoder refuses the one-byte tag heads 0xc6..0xd4 (tags 6 to 20) as
 * "unassigned", although any tag is well-formed CBOR and COSE_Sign1 is tag 18 (0xd2). The
 * walk below accepts them as tags and, when out is given, rewrites each into the equivalent
 * two-byte head 0xd8 <n> that libcbor does read. */
#define SHORT_TAG_FIRST 0xc6
#define SHORT_TAG_LAST 0xd4

/* Walk the first item of buf; returns its length in buf, or 0 with s->error or *why set.
 * *fixes counts rewritten tag heads; with out, the rewritten item is written there. */
static size_t walk(scan *s, const uint8_t *buf, size_t len, uint8_t *out, size_t *fixes, const char **why)
{
  size_t pos = 0, o = 0;
  *fixes = 0;
  while (!s->done && !s->error) {
    if (pos >= len) {
      *why = "truncated CBOR";
      return 0;
    }
    s->remaining = len - pos - 1;
    struct cbor_decoder_result r = cbor_stream_decode(buf + pos, len - pos, &scan_callbacks, s);
    if (r.status == CBOR_DECODER_ERROR && buf[pos] >= SHORT_TAG_FIRST && buf[pos] <= SHORT_TAG_LAST) {
      on_tag(s, buf[pos] - 0xc0);
      if (out) {
        out[o++] = 0xd8;
        out[o++] = (uint8_t)(buf[pos] - 0xc0);
      }
      (*fixes)++;
      pos++;
      continue;
    }
    if (r.status == CBOR_DECODER_NEDATA) {
      *why = "truncated CBOR";
      return 0;
    }
    if (r.status != CBOR_DECODER_FINISHED || r.read == 0) {
      *why = "malformed CBOR (reserved or invalid initial byte)";
      return 0;
    }
    if (out) {
      memcpy(out + o, buf + pos, r.read);
      o += r.read;
    }
    pos += r.read;
  }
  if (s->error) {
    *why = s->error;
    return 0;
  }
  return pos;
}

cbor_item_t *cborscan_load(const uint8_t *buf, size_t len, unsigned max_depth, size_t *used,
                           char *why, size_t whysz)
{
  return cborscan_load_bounded(buf, len, max_depth, NULL, used, why, whysz);
}

cbor_item_t *cborscan_load_bounded(const uint8_t *buf, size_t len, unsigned max_depth, const cborscan_bounds *b,
                                   size_t *used, char *why, size_t whysz)
{
  scan s;
  const char *defect = NULL;
  size_t fixes = 0;
  if (!buf || len == 0) {
    say(why, whysz, "empty CBOR");
    return NULL;
  }
  memset(&s, 0, sizeof s);
  s.max_depth = max_depth > SCAN_MAX_DEPTH ? SCAN_MAX_DEPTH : max_depth;
  if (b) s.max_items = b->max_items, s.max_top = b->max_top;
  size_t pos = walk(&s, buf, len, NULL, &fixes, &defect);
  if (pos == 0) {
    say(why, whysz, defect ? defect : "malformed CBOR");
    return NULL;
  }
  const uint8_t *src = buf;
  size_t srclen = pos;
  uint8_t *copy = NULL;
  if (fixes) {
    copy = malloc(pos + fixes);
    if (!copy) {
      say(why, whysz, "out of memory decoding CBOR");
      return NULL;
    }
    memset(&s, 0, sizeof s);
    s.max_depth = max_depth > SCAN_MAX_DEPTH ? SCAN_MAX_DEPTH : max_depth;
    walk(&s, buf, pos, copy, &fixes, &defect);
    src = copy;
    srclen = pos + fixes;
  }
  struct cbor_load_result lr;
  cbor_item_t *item = cbor_load(src, srclen, &lr);
  free(copy);
  if (!item || lr.error.code != CBOR_ERR_NONE || lr.read != srclen) {
    if (item) cbor_decref(&item);
    /* The walk has ruled out the other syntax errors libcbor's builder reports, which
     * leaves text strings it checks and the walk does not: UTF-8. */
    say(why, whysz, lr.error.code == CBOR_ERR_MEMERROR      ? "out of memory decoding CBOR"
                    : lr.error.code == CBOR_ERR_SYNTAXERROR ? "malformed CBOR (a text string is not valid UTF-8)"
                                                            : "malformed CBOR");
    return NULL;
  }
  if (used) *used = pos;
  return item;
}
