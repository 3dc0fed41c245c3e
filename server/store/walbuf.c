/* Write-combining for the WAL (docs/performance.md, "Writing the WAL"). SQLite writes
 * each WAL frame with two calls, its 24-byte header and then its page, so a commit of 20
 * pages costs 40 pwrite calls; the calls, not the bytes, were most of a commit's time
 * (one 82 KB write costs a quarter of forty small ones). This VFS wraps the default one
 * and, for WAL files only, gathers the frames appended to the log in a buffer written
 * with one call:
 *
 * - when the commit frame has been written in full (its header's "database size after
 *   commit" field is not zero), so every frame of a transaction is in the file before
 *   COMMIT goes on to publish it in the WAL index (shared memory, which the other
 *   connection reads), and an error of that write fails the COMMIT as it would have;
 * - before the file is read, sized, truncated, synced or closed, and before any write
 *   that does not append right after the buffer;
 * - when the buffer is full.
 *
 * Only appends are gathered: a write below the end of what this handle has written
 * since the log last started over (SQLite rewriting a frame's checksum in place) and the
 * log header itself go through at once, after the buffer. A process killed with frames
 * still gathered loses only a transaction that had not committed, so nothing
 * acknowledged is lost (scripts/durability.sh). Database and journal files pass through
 * untouched: their xOpen is the wrapped VFS's own.
 *
 * The wrapping itself (store__vfs_wrap_default, store__wrapped_*) is shared with the
 * test-only disk-full VFS (diskfull.c). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* What one gathered write may hold: a commit of 8 claims (about 20 frames, 82 KB) fits.
 * It must stay below 128 KiB: SQLite's unix VFS masks the length of every write it makes
 * to 17 bits (seekAndWriteFd), and a longer one ends short, as a full disk would. */
#define WALBUF_CAP (120 * 1024)
#define FRAME_HEADER 24

typedef struct {
  store__wrapped wrapped;
  unsigned char *buf;      /* allocated on the first gathered write */
  size_t len;
  sqlite3_int64 off;       /* where buf[0] goes */
  sqlite3_int64 end;       /* the end of what this handle wrote since the log started over */
  bool commit_pending;     /* the header of a commit frame was gathered, its page not yet */
} wal_file;

static sqlite3_vfs walbuf_vfs;
static sqlite3_vfs *real_vfs;

static sqlite3_file *real_of(sqlite3_file *f) { return ((store__wrapped *)f)->real; }

/* Write what is gathered, in one call. */
static int flush(wal_file *w) {
  if (!w->len) return SQLITE_OK;
  sqlite3_file *real = w->wrapped.real;
  int rc = real->pMethods->xWrite(real, w->buf, (int)w->len, w->off);
  w->len = 0;
  return rc;
}

static int w_close(sqlite3_file *f) {
  wal_file *w = (wal_file *)f;
  int rc = flush(w);
  free(w->buf);
  w->buf = NULL;
  int rc2 = store__wrapped_close(f);
  return rc ? rc : rc2;
}

static int w_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o) {
  int rc = flush((wal_file *)f);
  return rc ? rc : real_of(f)->pMethods->xRead(real_of(f), b, n, o);
}

static int w_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o) {
  wal_file *w = (wal_file *)f;
  /* The log header, at 0, is written when the log starts over: what follows it is new. */
  if (o == 0) w->end = 0;
  bool append = o > 0 && o >= w->end && n > 0 && n <= WALBUF_CAP;
  if (append && !w->buf && !(w->buf = malloc(WALBUF_CAP))) append = false;
  if (!append || (w->len && (o != w->off + (sqlite3_int64)w->len || w->len + (size_t)n > WALBUF_CAP))) {
    int rc = flush(w);
    if (rc) return rc;
  }
  if (!append) {
    w->commit_pending = false;
    if (o + n > w->end) w->end = o + n;
    return real_of(f)->pMethods->xWrite(real_of(f), b, n, o);
  }
  if (!w->len) w->off = o;
  memcpy(w->buf + w->len, b, (size_t)n);
  w->len += (size_t)n;
  w->end = o + n;
  if (n == FRAME_HEADER) {
    /* A frame header: bytes 4..7 are the database size after commit, 0 for the other
     * frames of a transaction. */
    const unsigned char *h = b;
    w->commit_pending = (h[4] | h[5] | h[6] | h[7]) != 0;
    return SQLITE_OK;
  }
  if (w->commit_pending) {
    w->commit_pending = false;
    return flush(w);
  }
  return SQLITE_OK;
}

static int w_truncate(sqlite3_file *f, sqlite3_int64 size) {
  wal_file *w = (wal_file *)f;
  int rc = flush(w);
  if (rc) return rc;
  if (w->end > size) w->end = size;
  return real_of(f)->pMethods->xTruncate(real_of(f), size);
}

static int w_sync(sqlite3_file *f, int flags) {
  int rc = flush((wal_file *)f);
  return rc ? rc : real_of(f)->pMethods->xSync(real_of(f), flags);
}

static int w_size(sqlite3_file *f, sqlite3_int64 *size) {
  int rc = flush((wal_file *)f);
  return rc ? rc : real_of(f)->pMethods->xFileSize(real_of(f), size);
}

static int w_control(sqlite3_file *f, int op, void *arg) {
  int rc = flush((wal_file *)f);
  return rc ? rc : real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}

/* Version 1: a WAL file has no shared memory and is never memory-mapped. */
static const sqlite3_io_methods wal_methods = {
  1, w_close, w_read, w_write, w_truncate, w_sync, w_size, store__wrapped_lock, store__wrapped_unlock,
  store__wrapped_check_lock, w_control, store__wrapped_sector_size, store__wrapped_caps, NULL, NULL, NULL, NULL, NULL, NULL,
};

static int v_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags, int *out_flags) {
  (void)v;
  /* Not a WAL file: the wrapped VFS's own file, in place (walbuf_vfs.szOsFile is larger
   * than it needs). */
  if (!(flags & SQLITE_OPEN_WAL)) return real_vfs->xOpen(real_vfs, name, f, flags, out_flags);
  memset(f, 0, sizeof(wal_file));
  return store__wrapped_open(real_vfs, sizeof(wal_file), &wal_methods, name, f, flags, out_flags);
}

int store__wrapped_open(sqlite3_vfs *real, size_t wrapper_size, const sqlite3_io_methods *m, const char *name,
                        sqlite3_file *f, int flags, int *out_flags) {
  store__wrapped *w = (store__wrapped *)f;
  w->real = (sqlite3_file *)((char *)f + wrapper_size);
  memset(w->real, 0, (size_t)real->szOsFile);
  int rc = real->xOpen(real, name, w->real, flags, out_flags);
  /* xClose is called even when xOpen fails, if pMethods is set: keep it set, and let
   * store__wrapped_close skip a real file that never opened. */
  f->pMethods = m;
  return rc;
}

int store__wrapped_close(sqlite3_file *f) {
  sqlite3_file *r = real_of(f);
  return r->pMethods ? r->pMethods->xClose(r) : SQLITE_OK;
}

int store__wrapped_lock(sqlite3_file *f, int level) { return real_of(f)->pMethods->xLock(real_of(f), level); }
int store__wrapped_unlock(sqlite3_file *f, int level) { return real_of(f)->pMethods->xUnlock(real_of(f), level); }
int store__wrapped_check_lock(sqlite3_file *f, int *out) { return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out); }
int store__wrapped_sector_size(sqlite3_file *f) { return real_of(f)->pMethods->xSectorSize(real_of(f)); }
int store__wrapped_caps(sqlite3_file *f) { return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f)); }

sqlite3_vfs *store__vfs_wrap_default(sqlite3_vfs *v, const char *name, int file_size,
                                     int (*open)(sqlite3_vfs *, const char *, sqlite3_file *, int, int *)) {
  sqlite3_vfs *real = sqlite3_vfs_find(NULL);
  if (!real) return NULL;
  *v = *real;
  v->zName = name;
  v->szOsFile = file_size + real->szOsFile;
  v->xOpen = open;
  v->pNext = NULL;
  return sqlite3_vfs_register(v, 1) == SQLITE_OK ? real : NULL;
}

int store__walbuf_register(void) {
  if (real_vfs) return 0;
  real_vfs = store__vfs_wrap_default(&walbuf_vfs, "nrfprov-walbuf", (int)sizeof(wal_file), v_open);
  return real_vfs ? 0 : -1;
}
