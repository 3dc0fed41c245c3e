/* bench_tokens: claim tokens (and matching device JWTs) for the claim and poll benchmarks.
 *
 * Writes --count devices with random UUIDs, encoded by proto/'s attest_encode (unsigned:
 * the mock accepts unverifiable signatures for devices without a registered key):
 *   --out FILE          one POST body per line, {"claimToken":"<token>"}, or with --csv
 *                       the bare token per line (the bulk-claim CSV);
 *   --ids FILE          the device UUID of each line;
 *   --jwts FILE         a device JWT for each line (iss "nrf-<imei>.<uuid>", valid for an
 *                       hour, random signature), for CoAP p/auth-jwt.
 * Line i of every file is the same device. Not for: fixtures or tests (they use the
 * simulator and fixtures/), nor tokens verifiable against a registered identity.
 */
#include "proto/attest.h"
#ifdef BENCH_HAVE_JWT
#include "proto/jwt.h"
#endif

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static void die(const char *msg) {
  fprintf(stderr, "bench_tokens: %s\n", msg);
  exit(1);
}

static void random_bytes(void *p, size_t n) {
  if (getrandom(p, n, 0) != (ssize_t)n) die("getrandom failed");
}

/* A version-4 UUID's bytes. */
static void random_uuid(uint8_t u[16]) {
  random_bytes(u, 16);
  u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);
  u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
}

static FILE *open_out(const char *path) {
  if (!path) return NULL;
  FILE *f = fopen(path, "w");
  if (!f) {
    perror(path);
    exit(1);
  }
  return f;
}

static void usage(FILE *f) {
  fputs("usage: bench_tokens --count N --out FILE [--csv] [--ids FILE] [--jwts FILE]\n"
        "                    [--device-type 3]\n",
        f);
}

int main(int argc, char **argv) {
  long count = 0;
  int csv = 0;
  unsigned long long device_type = 3; /* nrf9160_SICA */
  const char *out_path = NULL, *ids_path = NULL, *jwts_path = NULL;
  static const struct option opts[] = {
      {"count", required_argument, NULL, 'n'}, {"out", required_argument, NULL, 'o'},
      {"csv", no_argument, NULL, 'c'},         {"ids", required_argument, NULL, 'i'},
      {"jwts", required_argument, NULL, 'j'},  {"device-type", required_argument, NULL, 't'},
      {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0}};
  for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
    switch (c) {
      case 'n': count = strtol(optarg, NULL, 10); break;
      case 'o': out_path = optarg; break;
      case 'c': csv = 1; break;
      case 'i': ids_path = optarg; break;
      case 'j': jwts_path = optarg; break;
      case 't': device_type = strtoull(optarg, NULL, 10); break;
      case 'h': usage(stdout); return 0;
      default: usage(stderr); return 2;
    }
  }
  if (count < 1 || count > 10000000 || !out_path) {
    usage(stderr);
    return 2;
  }
#ifndef BENCH_HAVE_JWT
  if (jwts_path) die("--jwts needs server/proto/jwt.h, which this build did not have");
#endif

  FILE *out = open_out(out_path), *ids = open_out(ids_path), *jwts = open_out(jwts_path);
  uint8_t firmware_id[16];
  random_uuid(firmware_id);
  char fw[37];
  attest_uuid_format(firmware_id, fw);
  int64_t now = (int64_t)time(NULL);

  for (long i = 0; i < count; i++) {
    uint8_t device_id[16], nonce[16];
    char token[2048], id[37];
    random_uuid(device_id);
    random_bytes(nonce, sizeof nonce);
    attest_uuid_format(device_id, id);
    if (attest_encode(device_id, device_type, firmware_id, nonce, NULL, token, sizeof token) < 0)
      die("attest_encode failed");
    if (csv) fprintf(out, "%s\n", token);
    else fprintf(out, "{\"claimToken\":\"%s\"}\n", token);
    if (ids) fprintf(ids, "%s\n", id);
#ifdef BENCH_HAVE_JWT
    if (jwts) {
      char iss[128], jti[128], jwt[2048];
      unsigned long long imei_tail;
      random_bytes(&imei_tail, sizeof imei_tail);
      snprintf(iss, sizeof iss, "nrf-35%013llu.%s", imei_tail % 10000000000000ull, id);
      snprintf(jti, sizeof jti, "nrf9160.%s.%08lx", fw, (unsigned long)i);
      /* No key: a random signature, which the mock cannot check and therefore accepts. */
      if (jwt_make(iss, jti, now, now + 3600, NULL, jwt, sizeof jwt) < 0) die("jwt_make failed");
      fprintf(jwts, "%s\n", jwt);
    }
#endif
  }
  (void)now;
  int bad = fclose(out) != 0;
  if (ids) bad |= fclose(ids) != 0;
  if (jwts) bad |= fclose(jwts) != 0;
  if (bad) die("write failed");
  return 0;
}
