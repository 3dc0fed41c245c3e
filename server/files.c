/* Files on disk: mkdir -p, atomic write (temporary file, fsync, rename) and capped read.
 * Used by the server (data directory, ready file), pki/ (CA and server certificate) and
 * the simulator (its device directory). Blocking I/O only: never on a request path. */
#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(char *why, size_t whysz, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *why, size_t whysz, const char *fmt, ...) {
  if (why && whysz) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whysz, fmt, ap);
    va_end(ap);
  }
  return -1;
}

int files_mkdirs(const char *dir, mode_t mode, char *why, size_t whysz) {
  size_t n = strlen(dir);
  char path[4096];
  if (n == 0 || n >= sizeof path) return fail(why, whysz, "directory name is empty or too long");
  memcpy(path, dir, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (path[i] != '/' && path[i] != '\0') continue;
    char c = path[i];
    path[i] = '\0';
    if (mkdir(path, mode) != 0 && errno != EEXIST)
      return fail(why, whysz, "%s: cannot create directory: %s", path, strerror(errno));
    path[i] = c;
  }
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    errno = ENOTDIR;
    return fail(why, whysz, "%s: not a directory", dir);
  }
  return 0;
}

int files_write(const char *path, const void *data, size_t len, mode_t mode, char *why, size_t whysz) {
  /* The temporary file sits next to path (rename is atomic within one file system only),
   * named after it and hidden: <dir>/.<name>.XXXXXX. */
  const char *slash = strrchr(path, '/');
  size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0;
  char tmp[4200];
  if ((size_t)snprintf(tmp, sizeof tmp, "%.*s.%s.XXXXXX", (int)dir_len, path, path + dir_len) >= sizeof tmp)
    return fail(why, whysz, "%s: path too long", path);
  int fd = mkostemp(tmp, O_CLOEXEC);
  if (fd < 0) return fail(why, whysz, "%s: cannot create a temporary file: %s", path, strerror(errno));
  int e = fchmod(fd, mode) == 0 ? 0 : errno;
  const char *p = data;
  size_t off = 0;
  while (!e && off < len) {
    ssize_t w = write(fd, p + off, len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) e = w < 0 ? errno : EIO;
    else off += (size_t)w;
  }
  if (!e && fsync(fd) != 0) e = errno;
  if (close(fd) != 0 && !e) e = errno;
  if (!e && rename(tmp, path) != 0) e = errno;
  if (e) {
    unlink(tmp);
    return fail(why, whysz, "%s: cannot write: %s", path, strerror(e));
  }
  return 0;
}

void files_sync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

int files_read(const char *path, size_t max, unsigned flags, char **data, size_t *len, char *why, size_t whysz) {
  *data = NULL;
  *len = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC | ((flags & FILES_NOFOLLOW) ? O_NOFOLLOW : 0));
  if (fd < 0) return fail(why, whysz, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return fail(why, whysz, "%s: not a regular file", path);
  }
  if ((unsigned long long)st.st_size > max) {
    close(fd);
    return fail(why, whysz, "%s: larger than %zu bytes", path, max);
  }
  size_t size = (size_t)st.st_size;
  char *b = malloc(size + 1);
  if (!b) {
    close(fd);
    return fail(why, whysz, "%s: out of memory", path);
  }
  size_t got = 0;
  while (got < size) {
    ssize_t r = read(fd, b + got, size - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int e = errno;
      close(fd);
      free(b);
      return fail(why, whysz, "%s: cannot read: %s", path, strerror(e));
    }
    if (r == 0) break; /* the file shrank since fstat: what is there is the file */
    got += (size_t)r;
  }
  close(fd);
  b[got] = '\0';
  *data = b;
  *len = got;
  return 0;
}
