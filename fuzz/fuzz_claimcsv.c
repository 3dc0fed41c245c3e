/* libFuzzer target for the bulk-claim CSV parser (proto/claimcsv over libcsv). Checks the
 * row invariants: consecutive 1-based numbers, non-NULL tokens, never more than the limit. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/claimcsv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size); /* called by libFuzzer */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  claimcsv_row *rows;
  size_t n;
  char why[256];
  const size_t limit = 50;
  int rc = claimcsv_parse((const char *)data, size, limit, &rows, &n, why, sizeof why);
  if (rc != 0) {
    if ((rc != -1 && rc != -2) || rows || n) abort();
    return 0;
  }
  if (n > limit || (n == 0) != (rows == NULL)) abort();
  for (size_t i = 0; i < n; i++)
    if (rows[i].row != i + 1 || !rows[i].token || (rows[i].tags && !rows[i].tags[0])) abort();
  claimcsv_free(rows, n);
  return 0;
}
