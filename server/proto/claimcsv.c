/* Bulk-claim CSV over libcsv in strict mode. libcsv already skips blank lines, folds CRLF
 * and undoubles quotes; this file collects the fields of each record into a row, counts
 * records for the per-row report, and stops as soon as the row limit is passed so that an
 * oversized body costs no more than the limit. */
#include "proto/claimcsv.h"
#include "proto/defect.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <csv.h>
#include <jansson.h>

/* Bodies are fed to libcsv in slices so that the row limit can end the parse early. */
#define SLICE 65536

typedef struct {
  claimcsv_row *rows;
  size_t n, cap, max_rows;
  size_t fields;    /* fields seen in the current record */
  char *token;      /* field 1 of the current record */
  char *tags;       /* fields 2.. of the current record, joined with ',' */
  size_t tags_len;
  int too_many;     /* more than max_rows records */
  int bad;          /* 1 out of memory, 2 invalid UTF-8 */
  size_t bad_row;
} collector;

static char *copy(const void *p, size_t n)
{
  char *s = malloc(n + 1);
  if (!s) return NULL;
  if (n) memcpy(s, p, n);
  s[n] = '\0';
  return s;
}

static void on_field(void *field, size_t len, void *data)
{
  collector *c = data;
  if (c->too_many || c->bad) return;
  if (c->fields++ == 0) {
    c->token = copy(field, len);
    if (!c->token) c->bad = 1;
    return;
  }
  /* Field 2 and any later ones become one comma-separated tag list. */
  size_t sep = c->tags ? 1 : 0;
  char *t = realloc(c->tags, c->tags_len + sep + len + 1);
  if (!t) {
    c->bad = 1;
    return;
  }
  if (sep) t[c->tags_len++] = ',';
  if (len) memcpy(t + c->tags_len, field, len);
  c->tags_len += len;
  t[c->tags_len] = '\0';
  c->tags = t;
}

/* Text of a row must be UTF-8: it goes back out in JSON reports. */
static int utf8_ok(const char *s)
{
  if (!s) return 1;
  json_t *j = json_string(s);
  if (!j) return 0;
  json_decref(j);
  return 1;
}

static void on_record(int term, void *data)
{
  (void)term;
  collector *c = data;
  if (c->too_many || c->bad) goto reset;
  if (c->n == c->max_rows) {
    c->too_many = 1;
    goto reset;
  }
  if (!utf8_ok(c->token) || !utf8_ok(c->tags)) {
    c->bad = 2;
    c->bad_row = c->n + 1;
    goto reset;
  }
  if (c->n == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 16;
    claimcsv_row *r = realloc(c->rows, cap * sizeof *r);
    if (!r) {
      c->bad = 1;
      goto reset;
    }
    c->rows = r;
    c->cap = cap;
  }
  if (c->tags && c->tags_len == 0) {
    free(c->tags);
    c->tags = NULL;
  }
  if (!c->token && !(c->token = copy("", 0))) {
    c->bad = 1;
    goto reset;
  }
  c->rows[c->n].row = c->n + 1;
  c->rows[c->n].token = c->token;
  c->rows[c->n].tags = c->tags;
  c->n++;
  c->token = c->tags = NULL;
reset:
  free(c->token);
  free(c->tags);
  c->token = c->tags = NULL;
  c->tags_len = 0;
  c->fields = 0;
}

void claimcsv_free(claimcsv_row *rows, size_t n)
{
  if (!rows) return;
  for (size_t i = 0; i < n; i++) {
    free(rows[i].token);
    free(rows[i].tags);
  }
  free(rows);
}

int claimcsv_parse(const char *body, size_t len, size_t max_rows, claimcsv_row **rows, size_t *n,
                   char *why, size_t whysz)
{
  if (!rows || !n) return defect(why, whysz, "no output");
  *rows = NULL;
  *n = 0;
  if (!body && len) return defect(why, whysz, "no CSV body");
  const char *nul = len ? memchr(body, '\0', len) : NULL;
  if (nul) return defect(why, whysz, "CSV contains a NUL byte (at offset %zu)", (size_t)(nul - body));

  struct csv_parser p;
  if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI) != 0) return defect(why, whysz, "out of memory");
  collector c;
  memset(&c, 0, sizeof c);
  c.max_rows = max_rows;
  int parse_error = 0;
  for (size_t off = 0; off < len && !c.too_many && !c.bad && !parse_error; off += SLICE) {
    size_t k = len - off < SLICE ? len - off : SLICE;
    if (csv_parse(&p, body + off, k, on_field, on_record, &c) != k) parse_error = 1;
  }
  int unterminated = 0;
  if (!parse_error && !c.too_many && !c.bad && csv_fini(&p, on_field, on_record, &c) != 0)
    unterminated = 1;
  int csv_status = csv_error(&p);
  csv_free(&p);
  /* A record cut short by an error leaves its fields behind. */
  free(c.token);
  free(c.tags);

  int rc = 0;
  if (c.too_many) {
    defect(why, whysz, "CSV has more than %zu rows", max_rows);
    rc = -2;
  } else if (c.bad == 1 || (parse_error && csv_status == CSV_ENOMEM)) {
    rc = defect(why, whysz, "out of memory parsing the CSV");
  } else if (c.bad == 2) {
    rc = defect(why, whysz, "CSV row %zu is not valid UTF-8", c.bad_row);
  } else if (parse_error) {
    rc = defect(why, whysz, "CSV row %zu: a quote inside an unquoted field, or text after a closing quote",
              c.n + 1);
  } else if (unterminated) {
    rc = defect(why, whysz, "CSV row %zu: quoted field is not closed", c.n + 1);
  }
  if (rc != 0) {
    claimcsv_free(c.rows, c.n);
    return rc;
  }
  *rows = c.rows;
  *n = c.n;
  return 0;
}
