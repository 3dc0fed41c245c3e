/* The option table: every server option is one row, and that row drives command-line
 * parsing, the NRFPROV_* environment variables, --help and GET /_mock/config.
 *
 * Adding an option means adding a field to `options` and a row to the table in
 * options.c; nothing else parses flags.
 */
#ifndef NRFPROV_OPTIONS_H
#define NRFPROV_OPTIONS_H

#include <stdbool.h>
#include <stdio.h>

typedef struct json_t json_t;

typedef struct {
  char *bind;
  int http_port, https_port, coap_port, coaps_port, proxy_port;
  char *data_dir;
  bool in_memory;
  char *api_keys;
  bool strict_identity;
  char *fixtures;
  char *tls_hosts;
  char *ca_cert, *ca_key, *tls_cert, *tls_key;
  int journal_size;
  char *log_level;
  char *log_format;
  char *ready_file;
  int threads;
  char *snapshot_dir;
  char *control_token;
  char *control_peers;
  char *test_disk_full_file;
  /* Limits (docs/control-api.md §5). */
  int max_connections, max_connections_per_ip, header_timeout_ms, idle_timeout_ms, coap_max_sessions;
  bool ui;
} options;

/* Fill o with defaults, then environment variables, then argv (argv wins).
 * Returns 0, 1 when --help or --version was printed, or -1 with the reason in why. */
int options_parse(options *o, int argc, char **argv, char *why, size_t whysz);
/* Print the option table as --help text. */
void options_print_help(FILE *out);
/* Print the option table as a Markdown table (docs/reference/options.md). */
void options_print_markdown(FILE *out);
/* The effective values as a JSON object (secrets masked) plus "version"; caller decrefs. */
json_t *options_to_json(const options *o);
/* Free the strings held by o. */
void options_free(options *o);

#endif
