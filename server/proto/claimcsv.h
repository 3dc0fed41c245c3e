/* The bulk-claim CSV body of docs/owner-api.md §2.4, parsed with libcsv: RFC 4180 records (quoted
 * or bare fields, doubled quotes, LF or CRLF), blank lines skipped, no header row. Field 1
 * is the claim token, field 2 the optional comma-separated tags; fields after the second
 * are taken as more tags (`tok,a,b` reads as `tok,"a,b"`). This file only splits the body
 * into rows: it judges neither tokens nor tags. */
#ifndef NRFPROV_PROTO_CLAIMCSV_H
#define NRFPROV_PROTO_CLAIMCSV_H

#include <stddef.h>

/* row: 1-based record number, blank lines not counted. token may be "". tags: NULL when
 * absent or empty, else the text of field 2 (and any later fields joined with ','). */
typedef struct { size_t row; char *token; char *tags; } claimcsv_row;

/* Parse len bytes of body into a malloc'd array (NULL with *n == 0 for a body without
 * records). Returns 0; -1 if the CSV cannot be parsed (unterminated quote, stray quote, NUL
 * byte, invalid UTF-8), with why naming the row; -2 if it holds more than max_rows records. */
int claimcsv_parse(const char *body, size_t len, size_t max_rows, claimcsv_row **rows, size_t *n,
                   char *why, size_t whysz);
void claimcsv_free(claimcsv_row *rows, size_t n);

#endif
