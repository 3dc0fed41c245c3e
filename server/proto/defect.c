/* See defect.h. */
#include "proto/defect.h"

#include <stdarg.h>
#include <stdio.h>

int defect(char *why, size_t whysz, const char *fmt, ...) {
  if (why && whysz) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whysz, fmt, ap);
    va_end(ap);
  }
  return -1;
}
