/* The snapshot directory: naming, the {"name"}/{"path"} rules, creating, listing and
 * deleting snapshot files (docs/control-api.md §2, §5). See snapshots.h. */
#include "snapshots.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "files.h"
#include "service/control.h"

#define NAME_MAX_LEN 64

struct snapshots {
  pthread_mutex_t lock;  /* guards making the temporary directory */
  char *dir;             /* absolute; NULL while a temporary one is not made */
  bool temporary;
};

int snapshots_open(snapshots **out, const char *dir, const char *data_dir, bool in_memory, char *why, size_t whysz) {
  snapshots *s = calloc(1, sizeof *s);
  if (!s) return snprintf(why, whysz, "out of memory"), -1;
  pthread_mutex_init(&s->lock, NULL);
  char path[PATH_MAX];
  *why = 0;
  if (dir || !in_memory) {
    if (dir) snprintf(path, sizeof path, "%s", dir);
    else snprintf(path, sizeof path, "%s/snapshots", data_dir);
    char resolved[PATH_MAX];
    if (files_mkdirs(path, 0700, why, whysz) || !realpath(path, resolved)) {
      if (!*why) snprintf(why, whysz, "--snapshot-dir: cannot resolve %s: %s", path, strerror(errno));
      snapshots_close(s);
      return -1;
    }
    s->dir = strdup(resolved);
  } else {
    s->temporary = true;
  }
  *out = s;
  return 0;
}

void snapshots_close(snapshots *s) {
  if (!s) return;
  if (s->temporary && s->dir) {
    DIR *d = opendir(s->dir);
    struct dirent *de;
    while (d && (de = readdir(d)))
      if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) unlinkat(dirfd(d), de->d_name, 0);
    if (d) closedir(d);
    rmdir(s->dir);
  }
  free(s->dir);
  pthread_mutex_destroy(&s->lock);
  free(s);
}

const char *snapshots_dir(snapshots *s) {
  pthread_mutex_lock(&s->lock);
  const char *d = s->dir;
  pthread_mutex_unlock(&s->lock);
  return d;
}

/* The directory, made now when it is a temporary one not made yet; NULL on failure. */
static const char *ensure_dir(snapshots *s, err_t *e) {
  pthread_mutex_lock(&s->lock);
  if (!s->dir) {
    const char *tmp = getenv("TMPDIR");
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/nrfprov-snapshots-XXXXXX", tmp && *tmp == '/' ? tmp : "/tmp");
    if (mkdtemp(path)) s->dir = strdup(path); /* mkdtemp makes it 0700 */
    else err_set(e, ERR_INTERNAL, "cannot make a temporary snapshot directory: %s", strerror(errno));
  }
  const char *d = s->dir;
  pthread_mutex_unlock(&s->lock);
  return d;
}

/* 1–64 of A-Z a-z 0-9 . _ -, not starting with '.'. */
static bool name_ok(const char *n, size_t len) {
  if (!len || len > NAME_MAX_LEN || n[0] == '.') return false;
  for (size_t i = 0; i < len; i++)
    if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-", n[i]) || !n[i]) return false;
  return true;
}

#define NAME_RULE "1 to 64 of A-Z a-z 0-9 . _ -, not starting with '.'"

/* The file a {"name"} or {"path"} body names, directly inside the directory dir: its
 * file name (file) and snapshot name. 40001/40004 otherwise, touching nothing. */
static int file_of(const char *dir, json_t *body, char file[NAME_MAX_LEN + 8], char name[NAME_MAX_LEN + 1], err_t *e) {
  json_t *n = json_object_get(body, "name"), *p = json_object_get(body, "path");
  bool has_n = n && !json_is_null(n), has_p = p && !json_is_null(p);
  if (has_n && has_p) return err_set(e, ERR_BAD_FIELD, "name, path: give one of them, not both");
  if (has_n) {
    if (!json_is_string(n)) return err_set(e, ERR_BAD_FIELD, "name: must be a string of " NAME_RULE);
    if (!json_string_length(n)) return err_set(e, ERR_MISSING_FIELD, "name: required");
    if (!name_ok(json_string_value(n), json_string_length(n)))
      return err_set(e, ERR_BAD_FIELD, "name: '%.80s' is not a snapshot name (" NAME_RULE ")", json_string_value(n));
    snprintf(name, NAME_MAX_LEN + 1, "%s", json_string_value(n));
    snprintf(file, NAME_MAX_LEN + 8, "%s.db", name);
    return 0;
  }
  if (!has_p) return err_set(e, ERR_MISSING_FIELD, "name: required, the snapshot's name (" NAME_RULE ")");
  if (!json_is_string(p) || !json_string_length(p)) return err_set(e, ERR_BAD_FIELD, "path: must be a string naming a file");
  const char *path = json_string_value(p);
  const char *slash = strrchr(path, '/');
  size_t dlen = strlen(dir);
  /* Only a file directly inside the directory, named as it is: no relative path, no
   * "..", no second directory. */
  if (strlen(path) != json_string_length(p) || path[0] != '/' || !slash || (size_t)(slash - path) != dlen ||
      strncmp(path, dir, dlen))
    return err_set(e, ERR_BAD_FIELD, "path: must be an absolute path directly inside the snapshot directory %s; "
                   "better, give a \"name\"", dir);
  const char *base = slash + 1;
  size_t blen = strlen(base);
  size_t nlen = blen > 3 && !strcmp(base + blen - 3, ".db") ? blen - 3 : blen;
  if (!name_ok(base, nlen) || !name_ok(base, blen > NAME_MAX_LEN ? nlen : blen))
    return err_set(e, ERR_BAD_FIELD, "path: the file name '%.80s' is not a snapshot name (" NAME_RULE ", .db after)", base);
  snprintf(name, NAME_MAX_LEN + 1, "%.*s", (int)nlen, base);
  snprintf(file, NAME_MAX_LEN + 8, "%s", base);
  return 0;
}

int snapshots_take(snapshots *s, svc *v, json_t *body, json_t **out, err_t *e) {
  char file[NAME_MAX_LEN + 8], name[NAME_MAX_LEN + 1];
  const char *dir = ensure_dir(s, e);
  if (!dir) return -(int)ERR_INTERNAL;
  int rc = file_of(dir, body, file, name, e);
  if (rc) return rc;
  char path[PATH_MAX], tmp[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  snprintf(tmp, sizeof tmp, "%s/.%s.XXXXXX", dir, file);
  /* The name first: an existing name (or anything planted there, a symbolic link
   * included) is refused, never overwritten or followed. */
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0 && errno == EEXIST) return err_set(e, ERR_NAME_EXISTS, "name: a snapshot named '%s' exists", name);
  if (fd < 0) return err_set(e, ERR_INTERNAL, "cannot create %s: %s", path, strerror(errno));
  close(fd);
  /* The content goes to a fresh file beside it and replaces the empty name once whole. */
  fd = mkstemp(tmp);
  if (fd < 0) {
    unlink(path);
    return err_set(e, ERR_INTERNAL, "cannot create a temporary file in %s: %s", dir, strerror(errno));
  }
  close(fd);
  rc = svc_snapshot(v, tmp, e);
  /* On disk before it is answered, and before it takes the name. */
  if (!rc && (fd = open(tmp, O_RDONLY | O_CLOEXEC)) >= 0) {
    if (fsync(fd)) rc = err_set(e, ERR_INTERNAL, "cannot sync %s: %s", tmp, strerror(errno));
    close(fd);
  }
  if (!rc && rename(tmp, path)) rc = err_set(e, ERR_INTERNAL, "cannot rename the snapshot into %s: %s", path, strerror(errno));
  if (rc) {
    unlink(tmp);
    unlink(path);
    return rc;
  }
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  struct stat st;
  int64_t bytes = lstat(path, &st) == 0 ? (int64_t)st.st_size : 0;
  *out = json_pack("{s:s, s:s, s:I}", "name", name, "path", path, "bytes", (json_int_t)bytes);
  return 0;
}

int snapshots_restore(snapshots *s, svc *v, json_t *body, err_t *e) {
  char file[NAME_MAX_LEN + 8], name[NAME_MAX_LEN + 1], path[PATH_MAX], label[NAME_MAX_LEN + 32];
  const char *dir = ensure_dir(s, e);
  if (!dir) return -(int)ERR_INTERNAL;
  int rc = file_of(dir, body, file, name, e);
  if (rc) return rc;
  snprintf(path, sizeof path, "%s/%s", dir, file);
  struct stat st;
  bool by_name = json_is_string(json_object_get(body, "name"));
  if (lstat(path, &st) && errno == ENOENT)
    return err_set(e, ERR_BAD_FIELD, "%s: no snapshot %s in %s", by_name ? "name" : "path", by_name ? name : file, dir);
  snprintf(label, sizeof label, "%s: snapshot %s", by_name ? "name" : "path", by_name ? name : file);
  return svc_restore(v, path, label, e);
}

static int by_name(const void *a, const void *b) {
  return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "name")),
                json_string_value(json_object_get(*(json_t *const *)b, "name")));
}

int snapshots_list(snapshots *s, json_t **out, err_t *e) {
  const char *dir = snapshots_dir(s);
  json_t *items = json_array();
  DIR *d = dir ? opendir(dir) : NULL;
  if (dir && !d) {
    json_decref(items);
    return err_set(e, ERR_INTERNAL, "cannot read %s: %s", dir, strerror(errno));
  }
  struct dirent *de;
  size_t n = 0, cap = 0;
  json_t **v = NULL;
  while (d && (de = readdir(d))) {
    size_t len = strlen(de->d_name);
    struct stat st;
    if (len < 4 || strcmp(de->d_name + len - 3, ".db") || !name_ok(de->d_name, len - 3)) continue;
    if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISREG(st.st_mode)) continue;
    char when[32];
    clock_format_iso((int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000, when, sizeof when);
    if (n == cap) {
      cap = cap ? cap * 2 : 16;
      json_t **g = realloc(v, cap * sizeof *v);
      if (!g) break;
      v = g;
    }
    v[n++] = json_pack("{s:s%, s:I, s:s}", "name", de->d_name, len - 3, "bytes", (json_int_t)st.st_size, "createdAt", when);
  }
  if (d) closedir(d);
  if (n) qsort(v, n, sizeof *v, by_name);
  for (size_t i = 0; i < n; i++) json_array_append_new(items, v[i]);
  free(v);
  *out = json_pack("{s:o}", "items", items);
  return 0;
}

int snapshots_delete(snapshots *s, const char *name, err_t *e) {
  if (!name_ok(name, strlen(name))) return err_set(e, ERR_BAD_FIELD, "name: '%.80s' is not a snapshot name (" NAME_RULE ")", name);
  const char *dir = snapshots_dir(s);
  char path[PATH_MAX];
  struct stat st;
  snprintf(path, sizeof path, "%s/%s.db", dir ? dir : "", name);
  if (!dir || lstat(path, &st) || !S_ISREG(st.st_mode)) return err_set(e, ERR_NOT_FOUND, "no snapshot named %s", name);
  if (unlink(path)) return err_set(e, ERR_INTERNAL, "cannot delete %s: %s", path, strerror(errno));
  return 0;
}
