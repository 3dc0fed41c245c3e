/* Snapshots by name (docs/control-api.md §2 and §5): the snapshot directory and the
 * files in it. POST /_mock/snapshot, POST /_mock/restore, GET /_mock/snapshots and
 * DELETE /_mock/snapshots/{name} go through here, and nothing else: a snapshot or a
 * restore never touches a file outside the directory.
 *
 * The directory is --snapshot-dir, else <data dir>/snapshots (both created 0700 at
 * start), else, with --in-memory, a private 0700 temporary directory made on first use
 * and removed with its files at exit. A snapshot file is <name>.db; its name is created
 * with O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600, and its content is written to a mkstemp
 * file in the same directory and renamed over it once complete.
 *
 * Not the store's business: copying and checking the database is svc_snapshot and
 * svc_restore (service/control.h). */
#ifndef NRFPROV_SNAPSHOTS_H
#define NRFPROV_SNAPSHOTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "errors.h"
#include "service/svc.h"

typedef struct snapshots snapshots;

/* Settle the directory: dir (may be NULL), else <data_dir>/snapshots unless in_memory,
 * else a temporary one made on first use. 0, or -1 with why (it cannot be created). */
int snapshots_open(snapshots **out, const char *dir, const char *data_dir, bool in_memory, char *why, size_t whysz);
/* Forget the directory; a temporary one is removed with its files. */
void snapshots_close(snapshots *s);
/* The directory's absolute path, or NULL while a temporary one is not made yet. */
const char *snapshots_dir(snapshots *s);

/* POST /_mock/snapshot {"name"} or {"path"}: *out {"name", "path", "bytes"}.
 * 40001/40004 for the body, 409/40902 when the name exists, 50000 when it cannot be
 * written (nothing is left behind then). */
int snapshots_take(snapshots *s, svc *v, json_t *body, json_t **out, err_t *e);
/* POST /_mock/restore {"name"} or {"path"}: 40004 with the reason when the file is
 * missing or fails a check; the state is untouched then. */
int snapshots_restore(snapshots *s, svc *v, json_t *body, err_t *e);
/* GET /_mock/snapshots: *out {"items": [{"name", "bytes", "createdAt"}]}, by name. */
int snapshots_list(snapshots *s, json_t **out, err_t *e);
/* DELETE /_mock/snapshots/{name}: 40004 for a bad name, 404 when there is none. */
int snapshots_delete(snapshots *s, const char *name, err_t *e);

#endif
