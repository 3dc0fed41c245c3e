/* The request journal (docs/control-api.md §2, GET /_mock/requests): a ring buffer of the last N
 * exchanges of the owner and device APIs, over every protocol, for tests and QA to read
 * back what a device or a tool really sent and got. Thread-safe, bounded memory (each
 * entry's path, query and bodies are cut to 2 KiB), one lock per add.
 *
 * Not a log (log.h prints every request line) and not a store: nothing survives a
 * restart. Control calls (/_mock/...) are not journaled; the transports decide that.
 */
#ifndef NRFPROV_JOURNAL_H
#define NRFPROV_JOURNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes kept of each path, query and body. */
#define JOURNAL_CUT 2048

typedef struct journal journal;

/* One exchange as a transport describes it. Strings may be NULL (unknown); every field is
 * copied by journal_add, so the caller's buffers may go right after. */
typedef struct {
  int64_t time_ms;          /* wall clock at the start of the exchange, ms since the epoch */
  const char *request_id;
  const char *protocol;     /* "http", "https", "coap", "coaps" */
  const char *method;       /* HTTP method or CoAP code name ("GET", "POST") */
  const char *path;         /* without the query; CoAP: Uri-Path joined with '/' */
  const char *query;        /* without the '?'; NULL or "" when none */
  int status;               /* HTTP status, or CoAP class*100+detail (205 = "2.05");
                               0 = no answer sent (connection closed, datagram dropped) */
  const char *device_id;
  const char *team;         /* the team's ownerId */
  double duration_ms;
  const void *request_body; /* request_len bytes */
  size_t request_len;
  bool request_binary;      /* shown as base64 (CBOR); otherwise text when it is UTF-8 */
  const void *response_body;
  size_t response_len;
  bool response_binary;
  const char *fault;        /* id of the fault rule that fired, NULL when none */
} journal_entry;

/* A journal holding the last cap exchanges; cap 0 = off (adds are no-ops). NULL on OOM. */
journal *journal_new(size_t cap);
void journal_free(journal *j);
/* False when the journal is off, so a transport can skip building the entry. */
bool journal_enabled(const journal *j);
/* Record one exchange (copied, cut to JOURNAL_CUT), evicting the oldest when full. */
void journal_add(journal *j, const journal_entry *e);
/* Up to limit entries, newest first, whose path starts with path_prefix (NULL = any; a
 * leading '/' is ignored on both sides) and whose device is device_id (NULL = any), as a
 * JSON array; *total = every held entry that matches. */
json_t *journal_query(journal *j, int limit, const char *path_prefix, const char *device_id, int *total);
/* Entries held now, and the capacity. */
size_t journal_count(journal *j);
size_t journal_capacity(const journal *j);
/* Forget every entry. */
void journal_clear(journal *j);

#endif
