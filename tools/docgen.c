/* nrfprov-docgen: prints the code's own tables as Markdown, for docs/reference/.
 *
 *   nrfprov-docgen options|errors|routes
 *
 * The option table (server/options.c), the error table (server/errors.h) and the HTTP and
 * CoAP route tables (server/http/routes.c, server/coap/resources.c) are the truth; the
 * pages in docs/reference/ are this program's output, written by scripts/gen-docs.sh and
 * compared by the ctest docs_reference. It is not part of the server and serves nothing.
 */
#include <stdio.h>
#include <string.h>

#include "coap/route.h"
#include "errors.h"
#include "exchange.h"
#include "http/route.h"
#include "options.h"

static void print_options(FILE *out) {
  fputs("# Options\n\n"
        "Every option of `nrfprov-mock` is one row of the option table in `server/options.c`;\n"
        "this page is generated from it (`scripts/gen-docs.sh`). An option can be given on the\n"
        "command line (`--flag VALUE` or `--flag=VALUE`) or as the environment variable shown;\n"
        "the command line wins. `PORT` takes `-1` (listener off), `0` (any free port) or\n"
        "1..65535. `nrfprov-mock --help` prints the same table.\n\n",
        out);
  options_print_markdown(out);
}

static void print_errors(FILE *out) {
  fputs("# Errors\n\n"
        "Every error the mock answers is one row of the error table in `server/errors.h`; this\n"
        "page is generated from it (`scripts/gen-docs.sh`). HTTP answers carry\n"
        "`{\"code\": <code>, \"message\": \"...\"}` with the status shown; CoAP answers carry the\n"
        "CoAP response code shown and the message as diagnostic payload. The message in an\n"
        "answer names the defect; the default message below is used when there is nothing\n"
        "more precise to say. See [the owner API, section 1](../owner-api.md#1-general-rules).\n\n"
        "| Code | HTTP | CoAP | Name | Default message |\n|---|---|---|---|---|\n",
        out);
  for (int id = ERR_OK + 1; id < ERR__COUNT; id++)
    fprintf(out, "| %d | %d | %d.%02d | `%s` | %s |\n", err_code((err_id)id), err_http_status((err_id)id),
            err_coap_code((err_id)id) / 100, err_coap_code((err_id)id) % 100, err_name((err_id)id),
            err_default_message((err_id)id));
}

/* The route flags (exchange.h) in words, as the Kind column shows them. */
static const struct {
  unsigned bit;
  const char *word;
} flag_words[] = {
  {EXCHANGE_OWNER, "owner (API key)"},    {EXCHANGE_CONTROL, "control"},
  {EXCHANGE_DEVICE, "device"},            {EXCHANGE_CBOR_BODY, "CBOR body"},
  {EXCHANGE_POLL, "poll"},                {EXCHANGE_PATH_DEVICE, "device in path"},
  {EXCHANGE_BODY_CREDENTIAL, "credential in body"}, {EXCHANGE_OFFLOAD, "large body on its own thread"},
};

static void print_flags(FILE *out, unsigned flags) {
  const char *sep = "";
  for (size_t i = 0; i < sizeof flag_words / sizeof flag_words[0]; i++)
    if (flags & flag_words[i].bit) {
      fprintf(out, "%s%s", sep, flag_words[i].word);
      sep = ", ";
    }
}

static void print_routes(FILE *out) {
  fputs("# Routes\n\n"
        "Every path the mock serves is one row of a route table: HTTP and HTTPS in\n"
        "`server/http/routes.c`, CoAP and CoAPS in `server/coap/resources.c`. This page is\n"
        "generated from them (`scripts/gen-docs.sh`). `{}` matches one non-empty path segment;\n"
        "a final `{*}` matches the non-empty rest of the path, `/` included.\n"
        "A path that matches a pattern with another method answers 405 with `Allow`; a path\n"
        "that matches none answers 404. Kind is the row's flags, which the request pipeline\n"
        "reads before the handler runs: an owner route checks the API key first, a control\n"
        "route is neither faulted nor journaled, a device route answers with minimal headers.\n\n"
        "## HTTP\n\n| Method | Path | Kind |\n|---|---|---|\n",
        out);
  for (size_t i = 0; i < http__n_routes; i++)
    if (http__routes[i].handler) { /* zones (no handler) only lend their flags to 404s */
      fprintf(out, "| %s | `%s` | ", http__routes[i].method, http__routes[i].pattern);
      print_flags(out, http__routes[i].flags);
      fputs(" |\n", out);
    }
  fputs("\n## CoAP\n\n| Method | Resource | Kind |\n|---|---|---|\n", out);
  for (size_t i = 0; i < coapsrv__n_routes; i++) {
    fprintf(out, "| %s | `%s` | ", coapsrv__routes[i].method, coapsrv__routes[i].path);
    print_flags(out, coapsrv__routes[i].flags);
    fputs(" |\n", out);
  }
}

int main(int argc, char **argv) {
  static const struct {
    const char *name;
    void (*print)(FILE *);
  } pages[] = {{"options", print_options}, {"errors", print_errors}, {"routes", print_routes}};
  for (size_t i = 0; argc == 2 && i < sizeof pages / sizeof pages[0]; i++)
    if (!strcmp(argv[1], pages[i].name)) {
      pages[i].print(stdout);
      return fflush(stdout) ? 1 : 0;
    }
  fprintf(stderr, "usage: nrfprov-docgen options|errors|routes\n");
  return 2;
}
