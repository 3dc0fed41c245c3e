/* Files on disk, the one home for what the server, the PKI and the simulator need of
 * them: mkdir -p, an atomic whole-file write and a capped whole-file read. Each verb
 * reports a failure as a sentence naming the path in the caller's why buffer and -1.
 * Not a file-format layer: what the bytes mean is the caller's business. */
#ifndef NRFPROV_FILES_H
#define NRFPROV_FILES_H

#include <stddef.h>
#include <sys/types.h>

/* files_read: refuse a symbolic link as the last path component. */
#define FILES_NOFOLLOW 1u

/* Create dir and its missing parents with mode; an existing directory is kept as it is.
 * Fails when dir (or a parent) exists and is not a directory. */
int files_mkdirs(const char *dir, mode_t mode, char *why, size_t whysz);
/* Replace path with len bytes of data, atomically: a fresh temporary file (mkstemp) in
 * the same directory, written, given mode (umask aside), fsync'd, then renamed over path.
 * A symbolic link at path is replaced, never written through. */
int files_write(const char *path, const void *data, size_t len, mode_t mode, char *why, size_t whysz);
/* Make the renames done in dir durable (fsync of the directory); best effort. */
void files_sync_dir(const char *dir);
/* Read a regular file of at most max bytes whole into *data (malloc'd, NUL-terminated;
 * *len excludes the NUL). flags: FILES_NOFOLLOW or 0. */
int files_read(const char *path, size_t max, unsigned flags, char **data, size_t *len, char *why, size_t whysz);

#endif
