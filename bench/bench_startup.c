/* bench_startup: time from exec to the first 200, and idle RSS, of an HTTP server.
 *
 * Runs the program given after `--` with `--ready-file F` appended, --runs times (plus
 * --warmup runs not counted). Each run: fork/exec, wait (inotify, bounded) for F to name
 * the HTTP port, GET --path until it answers 200, read VmRSS/VmHWM from /proc/PID/status
 * once that request has been served, then SIGTERM and wait (SIGKILL after a bound).
 * Prints one JSON line with the medians and every value:
 *   {"runs":20,"ready_ms":..,"file_ms":..,"rss_kb":..,"hwm_kb":..,"stop_ms":..,"all":{...}}
 * ready_ms is exec to first 200; file_ms is exec to ready file. Works for nrfprov-mock
 * and for bench_bare_mhd alike. Not for: load; it sends one request per run.
 */
#include "stats.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_RUNS 1000

typedef struct {
  double ready_ms, file_ms, stop_ms, rss_kb, hwm_kb;
} run_t;

static struct {
  const char *path, *key;
  double timeout;
  char **argv; /* the server's argv with room for --ready-file F and NULL */
  int argc;
} cfg = {.path = "/_mock/health", .key = "http", .timeout = 10};

/* The port under cfg.key in the ready file, or 0 while it is absent or incomplete. */
static int ready_port(const char *file, char *host, size_t hostsz) {
  json_t *root = json_load_file(file, 0, NULL);
  if (!root) return 0;
  json_t *l = json_object_get(root, cfg.key);
  json_int_t port = json_integer_value(json_object_get(l, "port"));
  const char *h = json_string_value(json_object_get(l, "host"));
  snprintf(host, hostsz, "%s", h ? h : "127.0.0.1");
  json_decref(root);
  return port > 0 && port < 65536 ? (int)port : 0;
}

/* One GET with Connection: close; the status, or -1 when it could not be had. */
static int http_status(const char *host, int port, const char *path) {
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) return -1;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct timeval tv = {.tv_sec = 1};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  char req[1024], buf[256];
  int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n\r\n",
                   path, host, port);
  int status = -1;
  size_t got = 0;
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
      send(fd, req, (size_t)n, MSG_NOSIGNAL) == n) {
    /* The status line is all we need; the rest goes when the socket closes. */
    while (got < 12) {
      ssize_t r = recv(fd, buf + got, sizeof buf - 1 - got, 0);
      if (r <= 0) break;
      got += (size_t)r;
    }
    buf[got] = '\0';
    if (got >= 12 && strncmp(buf, "HTTP/1.", 7) == 0) status = atoi(buf + 9);
  }
  close(fd);
  return status;
}

static void proc_memory(pid_t pid, double *rss_kb, double *hwm_kb) {
  char p[64], line[256];
  snprintf(p, sizeof p, "/proc/%ld/status", (long)pid);
  FILE *f = fopen(p, "r");
  *rss_kb = *hwm_kb = 0;
  if (!f) return;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "VmRSS:", 6) == 0) *rss_kb = atof(line + 6);
    if (strncmp(line, "VmHWM:", 6) == 0) *hwm_kb = atof(line + 6);
  }
  fclose(f);
}

static double ms_since(uint64_t t0) { return (double)(stats_now_us() - t0) / 1000.0; }

static void show_log(const char *log) {
  FILE *f = fopen(log, "r");
  char line[512];
  while (f && fgets(line, sizeof line, f)) fprintf(stderr, "  | %s", line);
  if (f) fclose(f);
}

/* Stop the server: SIGTERM, then SIGKILL once the bound has passed. */
static double stop(pid_t pid) {
  uint64_t t0 = stats_now_us();
  kill(pid, SIGTERM);
  for (;;) {
    pid_t w = waitpid(pid, NULL, WNOHANG);
    if (w == pid || (w < 0 && errno != EINTR)) break;
    if (ms_since(t0) > cfg.timeout * 1000) {
      fprintf(stderr, "bench_startup: server ignored SIGTERM; killing it\n");
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
      break;
    }
    poll(NULL, 0, 1);
  }
  return ms_since(t0);
}

static int one_run(run_t *r) {
  char dir[] = "/tmp/bench-startup-XXXXXX", file[64], log[64], host[64];
  if (!mkdtemp(dir)) return -1;
  snprintf(file, sizeof file, "%s/ready.json", dir);
  snprintf(log, sizeof log, "%s/stderr.log", dir);
  cfg.argv[cfg.argc + 1] = file;
  int ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (ino < 0 || inotify_add_watch(ino, dir, IN_MOVED_TO | IN_CLOSE_WRITE) < 0) return -1;

  uint64_t t0 = stats_now_us();
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_RDWR), err = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(null, 0);
    dup2(null, 1);
    if (err >= 0) dup2(err, 2);
    execvp(cfg.argv[0], cfg.argv);
    fprintf(stderr, "exec %s: %s\n", cfg.argv[0], strerror(errno));
    _exit(127);
  }
  if (pid < 0) return -1;

  int rc = -1, port = 0;
  uint64_t deadline = t0 + (uint64_t)(cfg.timeout * 1e6);
  while (stats_now_us() < deadline) {
    if ((port = ready_port(file, host, sizeof host)) > 0) break;
    if (waitpid(pid, NULL, WNOHANG) == pid) {
      fprintf(stderr, "bench_startup: %s exited before it was ready\n", cfg.argv[0]);
      show_log(log);
      pid = 0;
      break;
    }
    /* Sleep until the directory changes; the 5 ms bound catches a missed event. */
    struct pollfd pfd = {.fd = ino, .events = POLLIN};
    if (poll(&pfd, 1, 5) > 0) {
      char ev[4096];
      while (read(ino, ev, sizeof ev) > 0) {
      }
    }
  }
  close(ino);
  if (port > 0) {
    r->file_ms = ms_since(t0);
    while (stats_now_us() < deadline) {
      if (http_status(host, port, cfg.path) == 200) {
        r->ready_ms = ms_since(t0);
        rc = 0;
        break;
      }
      poll(NULL, 0, 1);
    }
    if (rc == 0) proc_memory(pid, &r->rss_kb, &r->hwm_kb);
    else fprintf(stderr, "bench_startup: no 200 from GET %s within the bound\n", cfg.path);
  } else if (pid > 0) {
    fprintf(stderr, "bench_startup: no ready file within %.0f s\n", cfg.timeout);
    show_log(log);
  }
  if (pid > 0) r->stop_ms = stop(pid);
  unlink(file);
  unlink(log);
  rmdir(dir);
  return rc;
}

static void print_list(const char *name, const run_t *runs, int n, size_t off, int last) {
  printf("\"%s\":[", name);
  for (int i = 0; i < n; i++)
    printf("%s%.2f", i ? "," : "", *(const double *)((const char *)&runs[i] + off));
  printf("]%s", last ? "" : ",");
}

static double median_of(const run_t *runs, int n, size_t off) {
  double v[MAX_RUNS];
  for (int i = 0; i < n; i++) v[i] = *(const double *)((const char *)&runs[i] + off);
  return stats_median(v, (size_t)n);
}

static void usage(FILE *f) {
  fputs("usage: bench_startup [--runs 20] [--warmup 1] [--path /_mock/health] [--key http]\n"
        "                     [--timeout 10] -- PROGRAM [ARGS...]\n",
        f);
}

int main(int argc, char **argv) {
  int runs = 20, warmup = 1;
  static const struct option opts[] = {{"runs", required_argument, NULL, 'n'},
                                        {"warmup", required_argument, NULL, 'w'},
                                        {"path", required_argument, NULL, 'p'},
                                        {"key", required_argument, NULL, 'k'},
                                        {"timeout", required_argument, NULL, 't'},
                                        {"help", no_argument, NULL, 'h'},
                                        {NULL, 0, NULL, 0}};
  for (int c; (c = getopt_long(argc, argv, "+", opts, NULL)) != -1;) {
    switch (c) {
      case 'n': runs = atoi(optarg); break;
      case 'w': warmup = atoi(optarg); break;
      case 'p': cfg.path = optarg; break;
      case 'k': cfg.key = optarg; break;
      case 't': cfg.timeout = atof(optarg); break;
      case 'h': usage(stdout); return 0;
      default: usage(stderr); return 2;
    }
  }
  if (optind >= argc || runs < 1 || runs > MAX_RUNS || warmup < 0 || cfg.timeout <= 0) {
    usage(stderr);
    return 2;
  }
  cfg.argc = argc - optind;
  cfg.argv = calloc((size_t)cfg.argc + 3, sizeof *cfg.argv);
  if (!cfg.argv) return 1;
  memcpy(cfg.argv, argv + optind, (size_t)cfg.argc * sizeof *cfg.argv);
  cfg.argv[cfg.argc] = "--ready-file";
  signal(SIGPIPE, SIG_IGN);

  run_t *all = calloc((size_t)runs, sizeof *all), scratch;
  if (!all) return 1;
  for (int i = 0; i < warmup; i++)
    if (one_run(&scratch) != 0) return 1;
  for (int i = 0; i < runs; i++)
    if (one_run(&all[i]) != 0) return 1;

  printf("{\"runs\":%d,\"ready_ms\":%.2f,\"file_ms\":%.2f,\"rss_kb\":%.0f,\"hwm_kb\":%.0f,"
         "\"stop_ms\":%.2f,\"all\":{",
         runs, median_of(all, runs, offsetof(run_t, ready_ms)),
         median_of(all, runs, offsetof(run_t, file_ms)), median_of(all, runs, offsetof(run_t, rss_kb)),
         median_of(all, runs, offsetof(run_t, hwm_kb)), median_of(all, runs, offsetof(run_t, stop_ms)));
  print_list("ready_ms", all, runs, offsetof(run_t, ready_ms), 0);
  print_list("file_ms", all, runs, offsetof(run_t, file_ms), 0);
  print_list("rss_kb", all, runs, offsetof(run_t, rss_kb), 0);
  print_list("stop_ms", all, runs, offsetof(run_t, stop_ms), 1);
  printf("}}\n");
  free(all);
  free(cfg.argv);
  return 0;
}
