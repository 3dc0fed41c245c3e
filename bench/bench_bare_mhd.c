/* bench_bare_mhd: the HTTP baseline for the mock's owner and device endpoints.
 *
 * A bare libmicrohttpd server in the mock's threading mode (internal polling thread with
 * poll(), a thread pool of --threads, keep-alive on). It answers every GET and POST with
 * 200 "ok", or with a ~370-byte JSON object shaped like a claimed device when --json is
 * given (so "GET one device" compares like with like), and GET /v1/provisioning/commands
 * with 204 (the device poll with nothing queued). With --port 0 it announces the bound
 * port on stdout and in --ready-file, as nrfprov-mock does. Not for: anything but
 * benchmarks; it has no routes, no auth and no storage on purpose.
 */
#include "ready.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The docs/owner-api.md sample claimed device, compact: the size the mock renders. */
static const char device_json[] =
    "{\"id\":\"4961c873-408c-45ce-b1ba-7c0d99d88179\",\"deviceType\":\"nrf9160_SICA\","
    "\"firmwareId\":\"a4d580b9-aafb-4925-bc8d-db95f737d4ae\",\"imei\":\"352656106118683\","
    "\"ownerId\":\"a5592ec1-18ae-4d9d-bc44-1d9bd927bbe9\",\"ownershipStatus\":\"IDENTIFIED\","
    "\"tags\":[\"nrf-cloud-onboarding\"],\"status\":\"PENDING\",\"blocked\":false,"
    "\"claimedAt\":\"2026-11-25T14:17:14.352Z\",\"updatedAt\":\"2026-11-25T14:17:14.352Z\"}";

static int json_mode;

/* One marker address tells the second call of a request from the first. */
static int seen_headers;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
  (void)cls, (void)version, (void)upload_data;
  /* Like the mock, answer only once the headers (and any body) have been read. */
  if (*con_cls == NULL) {
    *con_cls = &seen_headers;
    return MHD_YES;
  }
  if (*upload_data_size != 0) {
    *upload_data_size = 0;
    return MHD_YES;
  }
  struct MHD_Response *resp;
  unsigned int status = MHD_HTTP_OK;
  if (strcmp(method, "GET") == 0 && strcmp(url, "/v1/provisioning/commands") == 0) {
    status = MHD_HTTP_NO_CONTENT;
    resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
  } else if (json_mode) {
    resp = MHD_create_response_from_buffer(sizeof device_json - 1, (void *)(uintptr_t)device_json,
                                           MHD_RESPMEM_PERSISTENT);
    if (resp) MHD_add_response_header(resp, "Content-Type", "application/json; charset=utf-8");
  } else {
    resp = MHD_create_response_from_buffer(2, (void *)"ok", MHD_RESPMEM_PERSISTENT);
    if (resp) MHD_add_response_header(resp, "Content-Type", "text/plain");
  }
  if (!resp) return MHD_NO;
  enum MHD_Result r = MHD_queue_response(conn, status, resp);
  MHD_destroy_response(resp);
  return r;
}

static void usage(FILE *f) {
  fputs("usage: bench_bare_mhd [--bind 127.0.0.1] [--port 0] [--threads 2] [--json]\n"
        "                      [--ready-file FILE]\n",
        f);
}

int main(int argc, char **argv) {
  const char *bind_host = "127.0.0.1", *ready_file = NULL;
  long port = 0, threads = 2;
  static const struct option opts[] = {
      {"bind", required_argument, NULL, 'b'},    {"port", required_argument, NULL, 'p'},
      {"threads", required_argument, NULL, 't'}, {"json", no_argument, NULL, 'j'},
      {"ready-file", required_argument, NULL, 'r'}, {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
    switch (c) {
      case 'b': bind_host = optarg; break;
      case 'p': port = strtol(optarg, NULL, 10); break;
      case 't': threads = strtol(optarg, NULL, 10); break;
      case 'j': json_mode = 1; break;
      case 'r': ready_file = optarg; break;
      case 'h': usage(stdout); return 0;
      default: usage(stderr); return 2;
    }
  }
  if (port < 0 || port > 65535 || threads < 1 || threads > 64) {
    usage(stderr);
    return 2;
  }
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, bind_host, &sa.sin_addr) != 1) {
    fprintf(stderr, "bench_bare_mhd: --bind needs an IPv4 address, got %s\n", bind_host);
    return 2;
  }

  /* Block the stop signals before MHD starts its threads, so that only sigwait sees them. */
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);

  /* A pool of one is no pool: MHD then runs the single internal thread, as the mock would. */
  struct MHD_Daemon *d = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL, NULL, on_request, NULL,
      MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE,
      (unsigned int)(threads > 1 ? threads : 0), MHD_OPTION_END);
  if (!d) {
    fprintf(stderr, "bench_bare_mhd: cannot start on %s:%ld\n", bind_host, port);
    return 1;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  unsigned bound = info ? info->port : (unsigned)port;

  if (ready_file) {
    char json[256];
    snprintf(json, sizeof json, "{\"http\":{\"host\":\"%s\",\"port\":%u}}", bind_host, bound);
    if (ready_write(ready_file, json) != 0) {
      perror("bench_bare_mhd: ready file");
      MHD_stop_daemon(d);
      return 1;
    }
  }
  printf("bench_bare_mhd ready http=%s:%u\n", bind_host, bound);
  fflush(stdout);

  int sig;
  sigwait(&stop, &sig);
  MHD_stop_daemon(d);
  return 0;
}
