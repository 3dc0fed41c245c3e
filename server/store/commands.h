/* Provisioning commands of a claim, and the claim's queue state (queue id, sequence
 * numbers, last report). */
#ifndef NRFPROV_STORE_COMMANDS_H
#define NRFPROV_STORE_COMMANDS_H

#include "store.h"

typedef struct {
  int64_t seq, claim_seq, qseq;
  char id[37], type[40], status[16], rule_id[37];
  char *description, *request, *response; /* malloc'd; request/response are JSON text */
  int pre_done;
  int64_t created_at, updated_at;
} store_command;

void store_command_free(store_command *c);
/* Take the claim's next queue sequence number. */
int store_claim_take_qseq(store *s, int64_t claim_seq, int64_t *qseq);
int store_command_insert(store *s, int64_t claim_seq, int64_t qseq, const char *id, const char *type,
                         const char *description, const char *request, const char *rule_id);
/* PENDING + IN_PROGRESS commands of the claim. */
int store_command_count_unfinished(store *s, int64_t claim_seq, int64_t *n);
/* One command by id (0 found, 1 none). */
int store_command_get(store *s, int64_t claim_seq, const char *id, store_command *out);
/* One command by queue sequence number (0 found, 1 none). */
int store_command_by_qseq(store *s, int64_t claim_seq, int64_t qseq, store_command *out);
/* Commands oldest first with seq > after; fn per row; *total = all. */
int store_command_list(store *s, int64_t claim_seq, int64_t after, int limit,
                       void (*fn)(const store_command *c, void *ud), void *ud, int64_t *total);
/* Unfinished commands (PENDING, IN_PROGRESS) with qseq >= from_qseq, in queue order. */
int store_command_unfinished(store *s, int64_t claim_seq, int64_t from_qseq,
                             void (*fn)(const store_command *c, void *ud), void *ud);
/* Set status (and response JSON text when not NULL). */
int store_command_set_status(store *s, int64_t seq, const char *status, const char *response);
int store_command_set_pre_done(store *s, int64_t seq);
/* Every PENDING/IN_PROGRESS command of the claim with qseq > after_qseq becomes CANCELLED. */
int store_command_cancel_after(store *s, int64_t claim_seq, int64_t after_qseq);
int store_command_delete(store *s, int64_t seq);
/* Remove every command and applied-rule mark; give the queue a new id; no report yet. */
int store_commands_reset(store *s, int64_t claim_seq, const char *queue_id);
/* Record the outcome of the latest report (1 ok, 2 failed). */
int store_claim_set_report(store *s, int64_t claim_seq, int outcome);

#endif
