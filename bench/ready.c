/* Atomic ready-file writer for the baseline servers (see ready.h). */
#include "ready.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

int ready_write(const char *path, const char *json) {
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) return -1;
  FILE *f = fopen(tmp, "w");
  if (!f) return -1;
  size_t len = strlen(json);
  /* A reader polling for the file must never see it half written, hence the rename. */
  int bad = fwrite(json, 1, len, f) != len || fputc('\n', f) == EOF;
  bad |= fclose(f) != 0;
  if (bad || rename(tmp, path) != 0) {
    unlink(tmp);
    return -1;
  }
  return 0;
}
