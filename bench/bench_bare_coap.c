/* bench_bare_coap: the CoAP baseline for the mock's device resources.
 *
 * A bare libcoap 4.3.1 server on plain UDP with the resource p/cmd answering GET with an
 * empty 2.05 (the device poll with nothing queued), plus p/auth-jwt and p/auth answering
 * POST with 2.01 so that bench_coap_load runs the very same session script against it
 * and against the mock. One context, one thread, as the mock's CoAP listener. With
 * --port 0 it announces the bound port on stdout and in --ready-file. Not for: anything
 * but benchmarks; it checks no token and keeps no state.
 */
#include "ready.h"

#include <arpa/inet.h>
#include <coap3/coap.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stopping;

static void on_signal(int sig) {
  (void)sig;
  stopping = 1;
}

static void on_cmd(coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
                   const coap_string_t *query, coap_pdu_t *resp) {
  (void)r, (void)s, (void)req, (void)query;
  coap_pdu_set_code(resp, COAP_RESPONSE_CODE_CONTENT);
}

static void on_auth(coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
                    const coap_string_t *query, coap_pdu_t *resp) {
  (void)r, (void)s, (void)req, (void)query;
  coap_pdu_set_code(resp, COAP_RESPONSE_CODE_CREATED);
}

/* The port libcoap bound, read back from the endpoint's "address:port" description. */
static unsigned endpoint_port(const coap_endpoint_t *ep) {
  const char *str = coap_endpoint_str(ep);
  const char *colon = str ? strrchr(str, ':') : NULL;
  return colon ? (unsigned)strtoul(colon + 1, NULL, 10) : 0;
}

/* A free UDP port, for when the endpoint cannot tell us which one it bound. */
static unsigned free_udp_port(const struct sockaddr_in *sa) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in b = *sa;
  socklen_t len = sizeof b;
  b.sin_port = 0;
  unsigned port = 0;
  if (fd >= 0 && bind(fd, (struct sockaddr *)&b, sizeof b) == 0 &&
      getsockname(fd, (struct sockaddr *)&b, &len) == 0)
    port = ntohs(b.sin_port);
  if (fd >= 0) close(fd);
  return port;
}

static void usage(FILE *f) {
  fputs("usage: bench_bare_coap [--bind 127.0.0.1] [--port 0] [--ready-file FILE]\n", f);
}

int main(int argc, char **argv) {
  const char *bind_host = "127.0.0.1", *ready_file = NULL;
  long port = 0;
  static const struct option opts[] = {{"bind", required_argument, NULL, 'b'},
                                        {"port", required_argument, NULL, 'p'},
                                        {"ready-file", required_argument, NULL, 'r'},
                                        {"help", no_argument, NULL, 'h'},
                                        {NULL, 0, NULL, 0}};
  for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
    switch (c) {
      case 'b': bind_host = optarg; break;
      case 'p': port = strtol(optarg, NULL, 10); break;
      case 'r': ready_file = optarg; break;
      case 'h': usage(stdout); return 0;
      default: usage(stderr); return 2;
    }
  }
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (port < 0 || port > 65535 || inet_pton(AF_INET, bind_host, &sa.sin_addr) != 1) {
    usage(stderr);
    return 2;
  }

  struct sigaction act = {.sa_handler = on_signal};
  sigaction(SIGINT, &act, NULL);
  sigaction(SIGTERM, &act, NULL);

  coap_startup();
  coap_set_log_level(LOG_WARNING);
  coap_context_t *ctx = coap_new_context(NULL);
  coap_address_t addr;
  coap_address_init(&addr);
  addr.addr.sin = sa;
  addr.size = sizeof sa;
  coap_endpoint_t *ep = ctx ? coap_new_endpoint(ctx, &addr, COAP_PROTO_UDP) : NULL;
  unsigned bound = ep ? endpoint_port(ep) : 0;
  if (ep && bound == 0) {
    /* Older libcoap builds describe the endpoint by the requested address; rebind on a
     * port we picked ourselves (racy in theory, harmless on a benchmark machine). */
    coap_free_endpoint(ep);
    sa.sin_port = htons((uint16_t)free_udp_port(&sa));
    addr.addr.sin = sa;
    ep = coap_new_endpoint(ctx, &addr, COAP_PROTO_UDP);
    bound = ntohs(sa.sin_port);
  }
  if (!ep) {
    fprintf(stderr, "bench_bare_coap: cannot bind %s:%ld/udp\n", bind_host, port);
    return 1;
  }

  coap_resource_t *cmd = coap_resource_init(coap_make_str_const("p/cmd"), 0);
  coap_register_request_handler(cmd, COAP_REQUEST_GET, on_cmd);
  coap_add_resource(ctx, cmd);
  static const char *auth_paths[] = {"p/auth-jwt", "p/auth"};
  for (size_t i = 0; i < sizeof auth_paths / sizeof *auth_paths; i++) {
    coap_resource_t *auth = coap_resource_init(coap_make_str_const(auth_paths[i]), 0);
    coap_register_request_handler(auth, COAP_REQUEST_POST, on_auth);
    coap_add_resource(ctx, auth);
  }

  if (ready_file) {
    char json[256];
    snprintf(json, sizeof json, "{\"coap\":{\"host\":\"%s\",\"port\":%u}}", bind_host, bound);
    if (ready_write(ready_file, json) != 0) {
      perror("bench_bare_coap: ready file");
      return 1;
    }
  }
  printf("bench_bare_coap ready coap=%s:%u\n", bind_host, bound);
  fflush(stdout);

  /* The timeout bounds how long a stop signal can go unnoticed. */
  while (!stopping && coap_io_process(ctx, 200) >= 0) {
  }
  coap_free_context(ctx);
  coap_cleanup();
  return 0;
}
