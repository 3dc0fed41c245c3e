/* Certificates and keys between files, memory and PEM for the local PKI: reading a
 * certificate chain or a private key file (PEM or DER), writing one atomically (files.h),
 * and the PEM texts the listeners serve. Secrets are wiped before their memory is freed.
 * It makes no certificates (x509.c) and decides nothing about which files to keep (ca.c). */
#include "pki/internal.h"
#include "files.h"
#include "proto/defect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <mbedtls/error.h>
#include <mbedtls/pem.h>
#include <mbedtls/platform_util.h>

#define MAX_FILE_SIZE (1024 * 1024)
#define KEY_PEM_SIZE 16000
#define PEM_CERT_BEGIN "-----BEGIN CERTIFICATE-----\n"
#define PEM_CERT_END "-----END CERTIFICATE-----\n"

/* mbedTLS's own sentence for an error code, for the tail of a reason. */
const char *pki__tls_err(int ret, char *buf, size_t size) {
  mbedtls_strerror(ret, buf, size);
  return buf;
}

void pki__free_secret(char *s) {
  if (s) {
    mbedtls_platform_zeroize(s, strlen(s));
    free(s);
  }
}

/* Files. */

/* Read path whole, NUL-terminated; *len excludes the NUL. */
static int read_file(const char *path, unsigned char **buf, size_t *len, char *why, size_t whysz) {
  return files_read(path, MAX_FILE_SIZE, 0, (char **)buf, len, why, whysz);
}

static void free_file(unsigned char *buf, size_t len) {
  if (buf) {
    mbedtls_platform_zeroize(buf, len);
    free(buf);
  }
}

/* mbedTLS parses PEM only when the length counts the terminating NUL, DER only when not. */
static size_t parse_len(const unsigned char *buf, size_t len) {
  return strstr((const char *)buf, "-----BEGIN ") ? len + 1 : len;
}

int pki__file_exists(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0;
}

/* Write data to dir/name atomically (files_write) with mode. */
int pki__write_file(const char *dir, const char *name, const char *data, mode_t mode, char *why,
                      size_t whysz) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return files_write(path, data, strlen(data), mode, why, whysz);
}

/* Certificates and keys in memory. */

/* PEM of the first a_max certificates of a, then of every certificate of b (may be NULL). */
char *pki__chain_pem(const mbedtls_x509_crt *a, size_t a_max, const mbedtls_x509_crt *b) {
  const mbedtls_x509_crt *lists[2] = {a, b};
  size_t limits[2] = {a_max, (size_t)-1}, cap = 1, used = 0;
  for (int l = 0; l < 2; l++) {
    size_t k = 0;
    for (const mbedtls_x509_crt *c = lists[l]; c && c->raw.p && k < limits[l]; c = c->next, k++)
      cap += c->raw.len * 2 + 128;
  }
  char *out = malloc(cap);
  if (!out) return NULL;
  out[0] = '\0';
  for (int l = 0; l < 2; l++) {
    size_t k = 0;
    for (const mbedtls_x509_crt *c = lists[l]; c && c->raw.p && k < limits[l]; c = c->next, k++) {
      size_t olen = 0;
      if (mbedtls_pem_write_buffer(PEM_CERT_BEGIN, PEM_CERT_END, c->raw.p, c->raw.len,
                                   (unsigned char *)out + used, cap - used, &olen) != 0) {
        free(out);
        return NULL;
      }
      used += olen - 1; /* olen counts the NUL */
    }
  }
  return out;
}

/* The private key as PEM: SEC1 for EC keys, PKCS#1 for RSA ones. */
char *pki__key_pem(mbedtls_pk_context *key) {
  unsigned char *buf = malloc(KEY_PEM_SIZE);
  char *out = NULL;
  if (buf && mbedtls_pk_write_key_pem(key, buf, KEY_PEM_SIZE) == 0 && (out = malloc(strlen((char *)buf) + 1)))
    memcpy(out, buf, strlen((char *)buf) + 1);
  if (buf) {
    mbedtls_platform_zeroize(buf, KEY_PEM_SIZE);
    free(buf);
  }
  return out;
}

int pki__load_certs(mbedtls_x509_crt *crt, const char *path, char *why, size_t whysz) {
  unsigned char *buf;
  size_t len;
  if (read_file(path, &buf, &len, why, whysz) != 0) return -1;
  int ret = mbedtls_x509_crt_parse(crt, buf, parse_len(buf, len));
  free_file(buf, len);
  char e[160];
  if (ret < 0) return defect(why, whysz, "%s: not a certificate: %s", path, pki__tls_err(ret, e, sizeof e));
  if (ret > 0) return defect(why, whysz, "%s: %d of its certificates do not parse", path, ret);
  return 0;
}

int pki__load_key(mbedtls_pk_context *key, const char *path, char *why, size_t whysz) {
  unsigned char *buf;
  size_t len;
  if (read_file(path, &buf, &len, why, whysz) != 0) return -1;
  int ret = mbedtls_pk_parse_key(key, buf, parse_len(buf, len), NULL, 0);
  free_file(buf, len);
  char e[160];
  if (ret == MBEDTLS_ERR_PK_PASSWORD_REQUIRED || ret == MBEDTLS_ERR_PK_PASSWORD_MISMATCH)
    return defect(why, whysz, "%s: encrypted private keys are not supported", path);
  if (ret != 0) return defect(why, whysz, "%s: not a private key: %s", path, pki__tls_err(ret, e, sizeof e));
  return 0;
}

