/* Integration-test harness: start the real nrfprov-mock on free ports, read its ready
 * file, talk HTTP to it with libcurl, stop it. Also small JSON and process helpers.
 * Every wait is bounded; nothing sleeps for timing. */
#ifndef NRFPROV_HARNESS_H
#define NRFPROV_HARNESS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct {
  pid_t pid;
  int http_port, https_port, coap_port, coaps_port;
  int proxy_port;       /* 0 unless the test asked for --proxy-port */
  char dir[256];        /* scratch directory of this instance */
  char ready_file[300];
  char log_file[300];
  char base[64];        /* http://127.0.0.1:PORT */
} mock;

/* Start the mock with --http-port 0 --ready-file … plus extra args (NULL-terminated);
 * --in-memory is added unless the extra args name --data-dir. Fails the test on error. */
void mock_start(mock *m, ...);
void mock_startv(mock *m, const char *const *extra);
/* SIGTERM and wait (bounded); returns the exit status (or -1). Removes the scratch dir. */
int mock_stop(mock *m);
/* Remove dir and everything below it (a test's scratch tree); fails the test when it cannot. */
void remove_tree(const char *dir);
/* Wait for exit without signalling (bounded); exit status or -1 on timeout. */
int mock_wait(mock *m, int timeout_ms);

/* Run bin with args (NULL-terminated), capturing stdout/stderr, waiting at most
 * timeout_ms for it to finish; its exit status, or -1 when it had to be killed. */
int run_binary(const char *bin, const char *const *args, int timeout_ms, char *out, size_t outsz, char *err,
               size_t errsz);
/* Run the mock binary with args (NULL-terminated), capture stdout/stderr, wait (bounded). */
int run_mock_binary(const char *const *args, char *out, size_t outsz, char *err, size_t errsz);
/* The path of the mock binary and of the fixtures directory. */
const char *mock_binary(void);
const char *fixtures_dir(void);

typedef struct {
  long status;
  char *body;
  size_t len;
  char *headers; /* raw header block */
  json_t *json;  /* parsed body when it is JSON */
} http_resp;

/* One HTTP request to the mock. headers: NULL-terminated "Name: value" list or NULL. */
http_resp *http_req(mock *m, const char *method, const char *path, const char *const *headers,
                    const void *body, size_t len);
/* Owner API call with "Authorization: Bearer key" and a JSON (or NULL) body. */
http_resp *owner(mock *m, const char *key, const char *method, const char *path, const char *json_body);
/* The value of a response header (case-insensitive), copied into buf; NULL if absent. */
const char *resp_header(const http_resp *r, const char *name, char *buf, size_t n);
void http_resp_free(http_resp *r);

/* A growing byte buffer, NUL-terminated, and the libcurl write callback that fills it. */
typedef struct {
  char *data;
  size_t len;
} growbuf;
size_t growbuf_collect(char *p, size_t size, size_t nmemb, void *ud);

/* Read a whole file (malloc'd, NUL-terminated). */
char *read_file(const char *path, size_t *len);
/* json_object_get + string, or "" */
const char *jstr(json_t *o, const char *key);



/* A fresh well-formed attestation token for a random device (type 3, unverifiable
 * signature); the device UUID in uuid_out (may be NULL). */
void make_token(char *out, size_t n, char uuid_out[37]);
/* The same for a given device id bytes and type. */
void make_token_for(const unsigned char id[16], unsigned type, char *out, size_t n);
/* Claim a fresh device for team key; returns its id in uuid_out. Asserts 201. */
void claim_new(mock *m, const char *key, const char *tags_json, char uuid_out[37]);
/* Integer field of a JSON object. */
long long jint(json_t *o, const char *key);

/* Assertions shared by the suites. */

/* Assert an error answer: the status, {"code": code}, and a message that names the
 * defect: one holding `names` when it is not NULL, else a sentence (over 5 characters).
 * r stays the caller's. */
void expect_error(http_resp *r, long status, long long code, const char *names);
/* expect_error, then free r (for answers used only to be checked). */
void expect_error_free(http_resp *r, long status, long long code, const char *names);
/* POST a fault rule to /_mock/faults; asserts 201 and writes the rule's id. */
void add_fault(mock *m, const char *json, char id[37]);
/* Poll, with a bound, until the held fault rules have fired `fired` times in total. */
void wait_fired(mock *m, long long fired);

#endif
