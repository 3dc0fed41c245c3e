/* A database file in a fresh temporary directory, for the unit tests of store/ that need
 * a file (WAL, checkpoints): made in a suite's .init, removed with its WAL and shared-memory
 * files in its .fini. */
#ifndef NRFPROV_TESTS_TMPDB_H
#define NRFPROV_TESTS_TMPDB_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct {
  char dir[64], path[96];
} tmpdb;

/* A new directory /tmp/<name>.XXXXXX and the path t.db in it. */
static inline void tmpdb_make(tmpdb *t, const char *name) {
  snprintf(t->dir, sizeof t->dir, "/tmp/%s.XXXXXX", name);
  cr_assert_not_null(mkdtemp(t->dir));
  snprintf(t->path, sizeof t->path, "%s/t.db", t->dir);
}

static inline void tmpdb_remove(const tmpdb *t) {
  const char *ext[] = {"", "-wal", "-shm"};
  for (size_t i = 0; i < 3; i++) {
    char p[128];
    snprintf(p, sizeof p, "%s%s", t->path, ext[i]);
    unlink(p);
  }
  rmdir(t->dir);
}

#endif
