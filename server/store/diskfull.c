/* A test-only stand-in for a full disk: an SQLite VFS that wraps the default one and,
 * while a flag file exists, fails every write with SQLITE_FULL, exactly as SQLite sees
 * ENOSPC. With the store in WAL mode the writes of a transaction reach the disk at
 * COMMIT, so this makes COMMIT itself fail, which is what docs/control-api.md §5
 * ("Storage") is about: nothing acknowledged that is not committed.
 *
 * Only `--test-disk-full-file` turns it on (docs/safety.md); it is never the default
 * VFS otherwise. Not a general fault-injection layer: reads, syncs and locks pass
 * through untouched. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "store.h"

static sqlite3_vfs full_vfs;
static sqlite3_vfs *real_vfs;
static char *flag_path;

static sqlite3_file *real_of(sqlite3_file *f) { return ((store__wrapped *)f)->real; }

static int f_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o) { return real_of(f)->pMethods->xRead(real_of(f), b, n, o); }
static int f_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o) {
  if (flag_path && access(flag_path, F_OK) == 0) return SQLITE_FULL;
  return real_of(f)->pMethods->xWrite(real_of(f), b, n, o);
}
static int f_truncate(sqlite3_file *f, sqlite3_int64 n) { return real_of(f)->pMethods->xTruncate(real_of(f), n); }
static int f_sync(sqlite3_file *f, int fl) { return real_of(f)->pMethods->xSync(real_of(f), fl); }
static int f_size(sqlite3_file *f, sqlite3_int64 *n) { return real_of(f)->pMethods->xFileSize(real_of(f), n); }
static int f_control(sqlite3_file *f, int op, void *arg) { return real_of(f)->pMethods->xFileControl(real_of(f), op, arg); }
static int f_shm_map(sqlite3_file *f, int pg, int sz, int ext, void volatile **pp) {
  return real_of(f)->pMethods->xShmMap(real_of(f), pg, sz, ext, pp);
}
static int f_shm_lock(sqlite3_file *f, int off, int n, int fl) { return real_of(f)->pMethods->xShmLock(real_of(f), off, n, fl); }
static void f_shm_barrier(sqlite3_file *f) { real_of(f)->pMethods->xShmBarrier(real_of(f)); }
static int f_shm_unmap(sqlite3_file *f, int del) { return real_of(f)->pMethods->xShmUnmap(real_of(f), del); }
static int f_fetch(sqlite3_file *f, sqlite3_int64 o, int n, void **pp) {
  *pp = NULL; /* no memory-mapped I/O: every write goes through f_write */
  (void)f, (void)o, (void)n;
  return SQLITE_OK;
}
static int f_unfetch(sqlite3_file *f, sqlite3_int64 o, void *p) {
  (void)f, (void)o, (void)p;
  return SQLITE_OK;
}

static const sqlite3_io_methods full_methods = {
  3, store__wrapped_close, f_read, f_write, f_truncate, f_sync, f_size, store__wrapped_lock, store__wrapped_unlock,
  store__wrapped_check_lock, f_control, store__wrapped_sector_size, store__wrapped_caps, f_shm_map, f_shm_lock, f_shm_barrier, f_shm_unmap, f_fetch, f_unfetch,
};

static int v_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags, int *out_flags) {
  (void)v;
  return store__wrapped_open(real_vfs, sizeof(store__wrapped), &full_methods, name, f, flags, out_flags);
}

int store_test_disk_full(const char *flag_file) {
  if (real_vfs) return 0;
  store__sqlite_setup();
  if (!(flag_path = strdup(flag_file))) return -1;
  real_vfs = store__vfs_wrap_default(&full_vfs, "nrfprov-test-disk-full", (int)sizeof(store__wrapped), v_open);
  return real_vfs ? 0 : -1;
}
