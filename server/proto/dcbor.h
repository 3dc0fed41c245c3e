/* The device CBOR messages of docs/device-protocol.md §5: `commands` (server to device: AT,
 * config, finished) and `responses` (device to server: error 99, AT 100, config ack 101,
 * finished ack 102). Commands are encoded with definite lengths and shortest heads into
 * the caller's buffer (the per-request fast path, no allocation); responses are decoded
 * with both definite and indefinite lengths. The reverse directions exist for the
 * simulator and the tests. No I/O, no knowledge of queues or command states. */
#ifndef NRFPROV_PROTO_DCBOR_H
#define NRFPROV_PROTO_DCBOR_H

#include <stddef.h>
#include <stdint.h>

#define DCBOR_MAX_IGNORE 6  /* ignore_cme_errors holds 0..6 codes */
#define DCBOR_MAX_PAIRS 10  /* a config map holds 0..10 pairs */
#define DCBOR_MAX_RESPONSES 256 /* a `responses` message holds at most 256 responses */
/* Data items a `responses` message may hold in all: 256 responses of up to 5 items, each
 * string in a few chunks, with room to spare; what libcbor builds stays near 1 MiB. */
#define DCBOR_MAX_RESPONSE_ITEMS 8192

typedef enum { DCMD_AT = 0, DCMD_CONFIG = 1, DCMD_FINISHED = 2 } dcmd_type;

/* One command as the server holds it; NULL strings encode as "". */
typedef struct {
  const char *cid; dcmd_type type;
  const char *set_cmd; const char *params; const unsigned *ignore_cme; size_t n_ignore; /* AT */
  const char *const *keys; const char *const *values; size_t n_pairs;                   /* config */
} dcbor_command;

/* Encoded bytes of this one array element (0 for an unknown type). */
size_t dcbor_command_size(const dcbor_command *c);
/* Bytes of the outer array header for n items. */
size_t dcbor_array_header_size(size_t n);
/* Encode [cmds...] into buf; returns the byte count, or -1 if it does not fit, n is 0 or a
 * command has an unknown type. */
int dcbor_encode_commands(const dcbor_command *cmds, size_t n, uint8_t *buf, size_t bufsz);

typedef enum { DRSP_ERROR = 99, DRSP_AT = 100, DRSP_CONFIG_ACK = 101, DRSP_FINISHED_ACK = 102 } drsp_type;

/* One response; message is NULL for 101/102, cme is 0 except for 99. */
typedef struct { char *cid; drsp_type type; unsigned cme; char *message; } dcbor_response;

/* Decode a `responses` array (at least one) into a malloc'd array; 0, or -1 with why. */
int dcbor_decode_responses(const uint8_t *buf, size_t len, dcbor_response **out, size_t *n,
                           char *why, size_t whysz);
void dcbor_responses_free(dcbor_response *r, size_t n);
/* Encode responses (indefinite != 0: indefinite arrays and chunked indefinite strings) into
 * a malloc'd buffer; 0 or -1. */
int dcbor_encode_responses(const dcbor_response *r, size_t n, int indefinite, uint8_t **out, size_t *len);

/* A decoded command with its own storage, for the simulator. */
typedef struct {
  char *cid; dcmd_type type;
  char *set_cmd; char *params; unsigned *ignore_cme; size_t n_ignore;
  char **keys; char **values; size_t n_pairs;
} dcbor_owned_command;

/* Decode a `commands` array (at least one); 0, or -1 with why. */
int dcbor_decode_commands(const uint8_t *buf, size_t len, dcbor_owned_command **out, size_t *n,
                          char *why, size_t whysz);
void dcbor_commands_free(dcbor_owned_command *c, size_t n);

#endif
