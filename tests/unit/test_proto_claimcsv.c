/* Unit tests of proto/claimcsv: RFC 4180 records over libcsv, blank lines skipped and not
 * counted, optional tags, extra fields joined as tags, the row limit, and refusal of
 * unparseable bodies with the row named. */
#include <criterion/criterion.h>
#include <string.h>

#include "proto/claimcsv.h"

static claimcsv_row *rows;
static size_t nrows;
static char why[200];

static int parse(const char *body, size_t max)
{
  why[0] = '\0';
  return claimcsv_parse(body, strlen(body), max, &rows, &nrows, why, sizeof why);
}

static void done(void)
{
  claimcsv_free(rows, nrows);
  rows = NULL;
  nrows = 0;
}

TestSuite(claimcsv, .fini = done);

Test(claimcsv, bare_fields_lf)
{
  cr_assert_eq(parse("tokA\ntokB,tag1\n", 10), 0, "%s", why);
  cr_assert_eq(nrows, 2);
  cr_assert_eq(rows[0].row, 1);
  cr_assert_str_eq(rows[0].token, "tokA");
  cr_assert_null(rows[0].tags);
  cr_assert_eq(rows[1].row, 2);
  cr_assert_str_eq(rows[1].token, "tokB");
  cr_assert_str_eq(rows[1].tags, "tag1");
}

Test(claimcsv, crlf_blank_lines_and_no_final_newline)
{
  cr_assert_eq(parse("\r\n\r\ntokA,\"a,b\"\r\n\r\n   \r\ntokB\r\n\ntokC", 10), 0, "%s", why);
  cr_assert_eq(nrows, 3);
  cr_assert_str_eq(rows[0].token, "tokA");
  cr_assert_str_eq(rows[0].tags, "a,b");
  cr_assert_eq(rows[1].row, 2, "blank lines are not counted");
  cr_assert_str_eq(rows[1].token, "tokB");
  cr_assert_str_eq(rows[2].token, "tokC");
  cr_assert_eq(rows[2].row, 3);
}

Test(claimcsv, quoted_fields_and_doubled_quotes)
{
  cr_assert_eq(parse("\"tok.A\",\"x \"\"quoted\"\" tag\"\n\"multi\nline\",t\n", 10), 0, "%s", why);
  cr_assert_eq(nrows, 2);
  cr_assert_str_eq(rows[0].token, "tok.A");
  cr_assert_str_eq(rows[0].tags, "x \"quoted\" tag");
  cr_assert_str_eq(rows[1].token, "multi\nline");
}

Test(claimcsv, empty_fields)
{
  cr_assert_eq(parse("tokA,\n,tags\n\"\"\n,\n", 10), 0, "%s", why);
  cr_assert_eq(nrows, 4);
  cr_assert_str_eq(rows[0].token, "tokA");
  cr_assert_null(rows[0].tags, "an empty second field is no tags");
  cr_assert_str_eq(rows[1].token, "", "an empty token is kept for the per-row report");
  cr_assert_str_eq(rows[1].tags, "tags");
  cr_assert_str_eq(rows[2].token, "");
  cr_assert_str_eq(rows[3].token, "");
  cr_assert_null(rows[3].tags);
}

Test(claimcsv, extra_fields_are_more_tags)
{
  cr_assert_eq(parse("tok,a,b,\"c,d\"\n", 10), 0, "%s", why);
  cr_assert_eq(nrows, 1);
  cr_assert_str_eq(rows[0].tags, "a,b,c,d");
}

Test(claimcsv, header_row_is_not_special)
{
  cr_assert_eq(parse("claimToken,tags\ntok\n", 10), 0, "%s", why);
  cr_assert_eq(nrows, 2);
  cr_assert_str_eq(rows[0].token, "claimToken");
}

Test(claimcsv, empty_body_has_no_rows)
{
  cr_assert_eq(parse("", 10), 0);
  cr_assert_eq(nrows, 0);
  cr_assert_null(rows);
  cr_assert_eq(parse("\n\r\n  \n", 10), 0);
  cr_assert_eq(nrows, 0);
}

Test(claimcsv, row_limit)
{
  cr_assert_eq(parse("a\nb\nc\n", 3), 0, "exactly the limit: %s", why);
  cr_assert_eq(nrows, 3);
  done();
  cr_assert_eq(parse("a\nb\nc\nd", 3), -2);
  cr_assert_eq(nrows, 0);
  cr_assert_null(rows);
  cr_assert(strstr(why, "more than 3 rows"), "%s", why);
  /* A big body stops early and still says -2. */
  static char big[200000];
  for (size_t i = 0; i + 2 <= sizeof big - 1; i += 2) memcpy(big + i, "t\n", 2);
  big[sizeof big - 1] = '\0';
  cr_assert_eq(parse(big, 1000), -2);
}

Test(claimcsv, unparseable_bodies_name_the_row)
{
  cr_assert_eq(parse("a\nb\n\"unterminated\n", 10), -1);
  cr_assert(strstr(why, "row 3") && strstr(why, "not closed"), "%s", why);
  cr_assert_eq(parse("a\nb\"c\n", 10), -1);
  cr_assert(strstr(why, "row 2") && strstr(why, "quote"), "%s", why);
  cr_assert_eq(parse("\"a\"b\n", 10), -1);
  cr_assert(strstr(why, "row 1"), "%s", why);
  cr_assert_eq(claimcsv_parse("a\0b\n", 4, 10, &rows, &nrows, why, sizeof why), -1);
  cr_assert(strstr(why, "NUL"), "%s", why);
  cr_assert_eq(parse("ok\n\xff\xfe\n", 10), -1);
  cr_assert(strstr(why, "row 2 is not valid UTF-8"), "%s", why);
  cr_assert_eq(nrows, 0);
}
