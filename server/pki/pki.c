/* The mock's local PKI, built on mbedTLS 2.28.
 *
 * It owns one CA (generated, loaded from the data directory, or given by --ca-cert and
 * --ca-key), one server certificate for the HTTPS and CoAPs listeners (generated and
 * signed by that CA, or given by --tls-cert and --tls-key), and it signs device
 * certificates from PKCS#10 CSRs. It is not a general CA: no revocation, no policies, no
 * passphrase-protected keys; the keys it makes are EC P-256 (a given CA or server key may
 * also be RSA), and device CSRs must carry EC keys, as %KEYGEN makes them.
 *
 * Files in the directory follow two rules. The CA pair is trust state: devices have
 * flashed it, so it is created only when ca.pem is absent (ca.pem is written last and
 * marks a complete CA) and any other defect is an error that names the file. The server
 * pair is derived state: when it is missing, unreadable, mismatched, no longer chains to
 * the CA, has expired or names other hosts than --tls-hosts asks for, it is made anew.
 * That rule also covers a crash between the renames of server.key and server.pem.
 */
#include "pki.h"
#include "files.h"
#include "pki/internal.h"
#include "proto/defect.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/asn1.h>
#include <mbedtls/asn1write.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>

#define MAX_FILE_SIZE (1024 * 1024)
#define MAX_HOSTS 32
#define MAX_HOST_LEN 253
#define MAX_CN_LEN 64 /* ub-common-name in RFC 5280 */
#define KEY_PEM_SIZE 16000
#define CERT_DER_SIZE 16384
#define CA_YEARS 20
#define LEAF_YEARS 10

#define PEM_CERT_BEGIN "-----BEGIN CERTIFICATE-----\n"
#define PEM_CERT_END "-----END CERTIFICATE-----\n"

struct pki {
  /* Guards drbg and ca_key: serials, keys and ECDSA blinding all draw from the DRBG. */
  pthread_mutex_t lock;
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  mbedtls_x509_crt ca; /* the CA file's certificates; the first one signs */
  mbedtls_pk_context ca_key;
  char *ca_pem;
  char *server_chain_pem;
  char *server_leaf_pem;
  char *server_key_pem;
  /* Lazy mode (pki_options.lazy): generation waits for the first use. */
  pthread_mutex_t once_lock;
  int pending;      /* 1 while nothing is generated yet */
  int failed;       /* the deferred generation failed */
  char *lazy_hosts; /* the tls_hosts to generate with */
};

/* One subjectAltName entry, as it goes into the certificate. */
typedef struct {
  unsigned char tag; /* context-specific [2] dNSName or [7] iPAddress */
  size_t len;
  unsigned char val[MAX_HOST_LEN];
  char text[MAX_HOST_LEN + 1]; /* as the user wrote it, for the CN */
} san_entry;

typedef struct {
  san_entry e[MAX_HOSTS];
  size_t n;
} host_list;

#define SAN_DNS (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2)
#define SAN_IP (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7)
#define SAN_DER_SIZE (MAX_HOSTS * (MAX_HOST_LEN + 4) + 8)

/* What one certificate to be signed looks like. */
typedef struct {
  mbedtls_pk_context *key;          /* the subject's public key */
  const char *subject;              /* in mbedTLS string form, e.g. "CN=x,O=y" */
  const mbedtls_x509_name *subject_name; /* a parsed name used instead of subject, or NULL */
  int is_ca;
  unsigned key_usage;
  const char *eku_oid;              /* one extended key usage, or NULL */
  size_t eku_len;
  const unsigned char *san;         /* subjectAltName extension value, or NULL */
  size_t san_len;
  int years;
} cert_spec;

/* mbedTLS's own sentence for an error code, for the tail of a reason. */
static const char *tls_err(int ret, char *buf, size_t size) {
  mbedtls_strerror(ret, buf, size);
  return buf;
}

static void free_secret(char *s) {
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

static int file_exists(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0;
}

/* Write data to dir/name atomically (files_write) with mode. */
static int write_file(const char *dir, const char *name, const char *data, mode_t mode, char *why,
                      size_t whysz) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return files_write(path, data, strlen(data), mode, why, whysz);
}

/* Certificates and keys in memory. */

/* PEM of the first a_max certificates of a, then of every certificate of b (may be NULL). */
static char *chain_pem(const mbedtls_x509_crt *a, size_t a_max, const mbedtls_x509_crt *b) {
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
static char *key_pem(mbedtls_pk_context *key) {
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

static int load_certs(mbedtls_x509_crt *crt, const char *path, char *why, size_t whysz) {
  unsigned char *buf;
  size_t len;
  if (read_file(path, &buf, &len, why, whysz) != 0) return -1;
  int ret = mbedtls_x509_crt_parse(crt, buf, parse_len(buf, len));
  free_file(buf, len);
  char e[160];
  if (ret < 0) return defect(why, whysz, "%s: not a certificate: %s", path, tls_err(ret, e, sizeof e));
  if (ret > 0) return defect(why, whysz, "%s: %d of its certificates do not parse", path, ret);
  return 0;
}

static int load_key(mbedtls_pk_context *key, const char *path, char *why, size_t whysz) {
  unsigned char *buf;
  size_t len;
  if (read_file(path, &buf, &len, why, whysz) != 0) return -1;
  int ret = mbedtls_pk_parse_key(key, buf, parse_len(buf, len), NULL, 0);
  free_file(buf, len);
  char e[160];
  if (ret == MBEDTLS_ERR_PK_PASSWORD_REQUIRED || ret == MBEDTLS_ERR_PK_PASSWORD_MISMATCH)
    return defect(why, whysz, "%s: encrypted private keys are not supported", path);
  if (ret != 0) return defect(why, whysz, "%s: not a private key: %s", path, tls_err(ret, e, sizeof e));
  return 0;
}

/* Walk the TBSCertificate of crt to the extension oid; point *val at its extnValue bytes. */
static int find_ext(const mbedtls_x509_crt *crt, const char *oid, size_t oid_len,
                    const unsigned char **val, size_t *val_len) {
  unsigned char *p = crt->tbs.p, *end = p + crt->tbs.len;
  size_t n;
  if (!p || mbedtls_asn1_get_tag(&p, end, &n, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE))
    return -1;
  end = p + n;
  while (p < end) {
    unsigned char tag = *p++;
    if (mbedtls_asn1_get_len(&p, end, &n) != 0) return -1;
    if (tag != (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 3)) {
      p += n;
      continue;
    }
    unsigned char *xend = p + n;
    if (mbedtls_asn1_get_tag(&p, xend, &n, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE))
      return -1;
    while (p < xend) {
      unsigned char *one;
      if (mbedtls_asn1_get_tag(&p, xend, &n, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE))
        return -1;
      one = p + n;
      mbedtls_asn1_buf id;
      if (mbedtls_asn1_get_tag(&p, one, &id.len, MBEDTLS_ASN1_OID)) return -1;
      id.p = p;
      p += id.len;
      int critical;
      if (p < one && *p == MBEDTLS_ASN1_BOOLEAN && mbedtls_asn1_get_bool(&p, one, &critical))
        return -1;
      if (mbedtls_asn1_get_tag(&p, one, &n, MBEDTLS_ASN1_OCTET_STRING)) return -1;
      if (id.len == oid_len && memcmp(id.p, oid, oid_len) == 0) {
        *val = p;
        *val_len = n;
        return 0;
      }
      p = one;
    }
    return -1;
  }
  return -1;
}

/* Host names. */

static int valid_dns_name(const char *s, size_t n) {
  if (n == 0 || n > MAX_HOST_LEN) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '-' || c == '.' || c == '_' || c == '*';
    if (!ok) return 0;
  }
  return 1;
}

/* Split a --tls-hosts value into SAN entries: IP literals (IPv6 optionally in brackets)
 * become iPAddress, everything else dNSName. Duplicates are dropped, order is kept. */
static int parse_hosts(const char *spec, host_list *h, char *why, size_t whysz) {
  h->n = 0;
  const char *s = spec;
  while (*s) {
    const char *comma = strchr(s, ',');
    const char *stop = comma ? comma : s + strlen(s);
    const char *a = s, *b = stop;
    while (a < b && (*a == ' ' || *a == '\t')) a++;
    while (b > a && (b[-1] == ' ' || b[-1] == '\t')) b--;
    s = comma ? comma + 1 : stop;
    if (a == b) continue;
    size_t n = (size_t)(b - a);
    if (n > MAX_HOST_LEN) return defect(why, whysz, "tls hosts: a name is longer than %d characters", MAX_HOST_LEN);
    if (h->n == MAX_HOSTS) return defect(why, whysz, "tls hosts: more than %d hosts", MAX_HOSTS);
    san_entry *e = &h->e[h->n];
    memcpy(e->text, a, n);
    e->text[n] = '\0';
    char bare[MAX_HOST_LEN + 1];
    memcpy(bare, e->text, n + 1);
    if (n > 2 && bare[0] == '[' && bare[n - 1] == ']') {
      memmove(bare, bare + 1, n - 2);
      bare[n - 2] = '\0';
    }
    unsigned char ip[16];
    if (inet_pton(AF_INET, bare, ip) == 1) {
      e->tag = SAN_IP;
      e->len = 4;
      memcpy(e->val, ip, 4);
    } else if (inet_pton(AF_INET6, bare, ip) == 1) {
      e->tag = SAN_IP;
      e->len = 16;
      memcpy(e->val, ip, 16);
      memcpy(e->text, bare, strlen(bare) + 1);
    } else if (valid_dns_name(e->text, n)) {
      e->tag = SAN_DNS;
      e->len = n;
      memcpy(e->val, e->text, n);
    } else {
      return defect(why, whysz, "tls hosts: \"%s\" is neither a DNS name nor an IP address", e->text);
    }
    int dup = 0;
    for (size_t i = 0; i < h->n && !dup; i++)
      dup = h->e[i].tag == e->tag && h->e[i].len == e->len && memcmp(h->e[i].val, e->val, e->len) == 0;
    if (!dup) h->n++;
  }
  if (h->n == 0) return defect(why, whysz, "tls hosts: no host named");
  return 0;
}

/* The subjectAltName extension value (GeneralNames) for h; returns its length, or -1. */
static int san_der(const host_list *h, unsigned char *buf, size_t size, unsigned char **start) {
  unsigned char *p = buf + size;
  size_t len = 0;
  int ret;
  for (size_t i = h->n; i-- > 0;) {
    size_t one = 0;
    MBEDTLS_ASN1_CHK_ADD(one, mbedtls_asn1_write_raw_buffer(&p, buf, h->e[i].val, h->e[i].len));
    MBEDTLS_ASN1_CHK_ADD(one, mbedtls_asn1_write_len(&p, buf, one));
    MBEDTLS_ASN1_CHK_ADD(one, mbedtls_asn1_write_tag(&p, buf, h->e[i].tag));
    len += one;
  }
  MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_len(&p, buf, len));
  MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
  *start = p;
  return (int)len;
}

/* Signing. */

/* An X.509 validity time in the "YYYYMMDDhhmmss" form mbedTLS's writer takes. */
static void stamp(char out[16], unsigned y, unsigned mo, unsigned d, unsigned h, unsigned mi, unsigned s) {
  snprintf(out, 16, "%04u%02u%02u%02u%02u%02u", y % 10000u, mo % 100u, d % 100u, h % 100u, mi % 100u,
           s % 100u);
}

/* t plus whole calendar years (29 February becomes the 28th). */
static void time_str(time_t t, int years, char out[16]) {
  struct tm tm;
  gmtime_r(&t, &tm);
  tm.tm_year += years;
  if (years && tm.tm_mon == 1 && tm.tm_mday == 29) tm.tm_mday = 28;
  stamp(out, (unsigned)tm.tm_year + 1900, (unsigned)tm.tm_mon + 1, (unsigned)tm.tm_mday, (unsigned)tm.tm_hour,
        (unsigned)tm.tm_min, (unsigned)tm.tm_sec);
}

static int gen_ec_key(pki *p, mbedtls_pk_context *key) {
  int ret = mbedtls_pk_setup(key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
  if (ret == 0)
    ret = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*key), mbedtls_ctr_drbg_random,
                              &p->drbg);
  return ret;
}

/* Append a copy of the parsed name to the writer's list. The writer emits its list head
 * last, so prepending in DER order reproduces the issuer's order; tags are kept so the
 * child's issuer field matches the CA's subject byte for byte. */
static int copy_name(mbedtls_asn1_named_data **dst, const mbedtls_x509_name *src) {
  for (const mbedtls_x509_name *n = src; n; n = n->next) {
    if (!n->oid.p) continue;
    mbedtls_asn1_named_data *d = mbedtls_calloc(1, sizeof *d);
    if (!d) return MBEDTLS_ERR_X509_ALLOC_FAILED;
    d->next = *dst;
    *dst = d;
    d->oid.tag = n->oid.tag;
    d->oid.len = n->oid.len;
    d->oid.p = mbedtls_calloc(1, n->oid.len ? n->oid.len : 1);
    d->val.tag = n->val.tag;
    d->val.len = n->val.len;
    d->val.p = mbedtls_calloc(1, n->val.len ? n->val.len : 1);
    if (!d->oid.p || !d->val.p) return MBEDTLS_ERR_X509_ALLOC_FAILED;
    memcpy(d->oid.p, n->oid.p, n->oid.len);
    memcpy(d->val.p, n->val.p, n->val.len);
  }
  return 0;
}

/* A one-entry extendedKeyUsage, written by hand: mbedTLS 2.28 has no writer for it. */
static int set_eku(mbedtls_x509write_cert *w, const char *oid, size_t oid_len) {
  unsigned char buf[64], *p = buf + sizeof buf;
  size_t len = 0;
  int ret;
  MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_oid(&p, buf, oid, oid_len));
  MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_len(&p, buf, len));
  MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
  return mbedtls_x509write_crt_set_extension(w, MBEDTLS_OID_EXTENDED_KEY_USAGE,
                                             MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0, p, len);
}

/* basicConstraints, written by hand and critical: mbedTLS 2.28 writes it non-critical,
 * while RFC 5280 asks a CA certificate to mark it critical. */
static int set_basic_constraints(mbedtls_x509write_cert *w, int is_ca) {
  unsigned char buf[16], *p = buf + sizeof buf;
  size_t len = 0;
  int ret;
  if (is_ca) {
    MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_int(&p, buf, 0)); /* pathLenConstraint */
    MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_bool(&p, buf, 1));
  }
  MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_len(&p, buf, len));
  MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
  return mbedtls_x509write_crt_set_extension(w, MBEDTLS_OID_BASIC_CONSTRAINTS,
                                             MBEDTLS_OID_SIZE(MBEDTLS_OID_BASIC_CONSTRAINTS), 1, p, len);
}

/* authorityKeyIdentifier = the CA's own subjectKeyIdentifier when it has one: a CA made
 * elsewhere may have computed its key id another way, and OpenSSL refuses a chain whose
 * ids disagree. Without one, mbedTLS derives it from the CA key (RFC 5280 method 1). */
static int set_aki(mbedtls_x509write_cert *w, const mbedtls_x509_crt *issuer) {
  const unsigned char *ski;
  size_t ski_len, n;
  unsigned char *q;
  if (issuer && find_ext(issuer, MBEDTLS_OID_SUBJECT_KEY_IDENTIFIER,
                         MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_KEY_IDENTIFIER), &ski, &ski_len) == 0) {
    q = (unsigned char *)(uintptr_t)ski; /* mbedTLS reads through a non-const cursor */
    if (mbedtls_asn1_get_tag(&q, ski + ski_len, &n, MBEDTLS_ASN1_OCTET_STRING) == 0 && n > 0 && n <= 64) {
      unsigned char buf[80], *p = buf + sizeof buf;
      size_t len = 0;
      int ret;
      MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_raw_buffer(&p, buf, q, n));
      MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_len(&p, buf, len));
      MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 0));
      MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_len(&p, buf, len));
      MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
      return mbedtls_x509write_crt_set_extension(w, MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER,
                                                 MBEDTLS_OID_SIZE(MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER), 0,
                                                 p, len);
    }
  }
  return mbedtls_x509write_crt_set_authority_key_identifier(w);
}

/* Sign s with the CA (or self-sign when p->ca holds no certificate yet) and parse the
 * result into out. Called with p->lock held or before p is shared. */
static int sign_cert(pki *p, const cert_spec *s, mbedtls_x509_crt *out, char *why, size_t whysz) {
  int self = p->ca.raw.p == NULL;
  mbedtls_x509write_cert w;
  mbedtls_mpi serial;
  unsigned char rnd[16], *der = malloc(CERT_DER_SIZE);
  char e[160], from[16], to[16];
  time_t now = time(NULL);
  int ret;
  mbedtls_x509write_crt_init(&w);
  mbedtls_mpi_init(&serial);
  if (!der) {
    ret = MBEDTLS_ERR_X509_ALLOC_FAILED;
    goto done;
  }

  /* A positive serial of exactly 16 bytes: top bit clear, first byte non-zero. */
  if ((ret = mbedtls_ctr_drbg_random(&p->drbg, rnd, sizeof rnd)) != 0) goto done;
  rnd[0] = (unsigned char)((rnd[0] & 0x7f) | 0x01);
  if ((ret = mbedtls_mpi_read_binary(&serial, rnd, sizeof rnd)) != 0) goto done;

  time_str(now - 3600, 0, from);
  time_str(now - 3600, s->years, to);
  if (!self) {
    /* A child should not outlive its issuer. */
    const mbedtls_x509_time *t = &p->ca.valid_to;
    char ca_to[16];
    stamp(ca_to, (unsigned)t->year, (unsigned)t->mon, (unsigned)t->day, (unsigned)t->hour, (unsigned)t->min,
          (unsigned)t->sec);
    if (strcmp(ca_to, to) < 0) memcpy(to, ca_to, sizeof to);
  }

  mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
  mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
  mbedtls_x509write_crt_set_subject_key(&w, s->key);
  mbedtls_x509write_crt_set_issuer_key(&w, self ? s->key : &p->ca_key);
  if ((ret = mbedtls_x509write_crt_set_serial(&w, &serial)) != 0) goto done;
  if ((ret = mbedtls_x509write_crt_set_validity(&w, from, to)) != 0) goto done;
  if (s->subject_name)
    ret = copy_name(&w.subject, s->subject_name);
  else
    ret = mbedtls_x509write_crt_set_subject_name(&w, s->subject);
  if (ret != 0) goto done;
  if (self)
    ret = mbedtls_x509write_crt_set_issuer_name(&w, s->subject);
  else
    ret = copy_name(&w.issuer, &p->ca.subject);
  if (ret != 0) goto done;
  if ((ret = set_basic_constraints(&w, s->is_ca)) != 0) goto done;
  if ((ret = mbedtls_x509write_crt_set_key_usage(&w, s->key_usage)) != 0) goto done;
  if ((ret = mbedtls_x509write_crt_set_subject_key_identifier(&w)) != 0) goto done;
  if ((ret = set_aki(&w, self ? NULL : &p->ca)) != 0) goto done;
  if (s->eku_oid && (ret = set_eku(&w, s->eku_oid, s->eku_len)) != 0) goto done;
  if (s->san &&
      (ret = mbedtls_x509write_crt_set_extension(&w, MBEDTLS_OID_SUBJECT_ALT_NAME,
                                                 MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0,
                                                 s->san, s->san_len)) != 0)
    goto done;
  ret = mbedtls_x509write_crt_der(&w, der, CERT_DER_SIZE, mbedtls_ctr_drbg_random, &p->drbg);
  if (ret < 0) goto done;
  ret = mbedtls_x509_crt_parse_der(out, der + CERT_DER_SIZE - ret, (size_t)ret);

done:
  free(der);
  mbedtls_mpi_free(&serial);
  mbedtls_x509write_crt_free(&w);
  if (ret != 0) return defect(why, whysz, "cannot sign a certificate: %s", tls_err(ret, e, sizeof e));
  return 0;
}

/* The CA. */

static int check_ca(pki *p, const char *cert_path, const char *key_path, char *why, size_t whysz) {
  if (!p->ca.ca_istrue)
    return defect(why, whysz, "%s: not a CA certificate (no basicConstraints CA:true)", cert_path);
  if (mbedtls_x509_crt_check_key_usage(&p->ca, MBEDTLS_X509_KU_KEY_CERT_SIGN) != 0)
    return defect(why, whysz, "%s: its keyUsage does not allow signing certificates", cert_path);
  if (mbedtls_pk_check_pair(&p->ca.pk, &p->ca_key) != 0)
    return defect(why, whysz, "%s: the key does not match the certificate in %s", key_path, cert_path);
  return 0;
}

static int load_ca(pki *p, const char *cert_path, const char *key_path, char *why, size_t whysz) {
  if (load_certs(&p->ca, cert_path, why, whysz) != 0) return -1;
  if (load_key(&p->ca_key, key_path, why, whysz) != 0) return -1;
  if (check_ca(p, cert_path, key_path, why, whysz) != 0) return -1;
  if (!(p->ca_pem = chain_pem(&p->ca, (size_t)-1, NULL))) return defect(why, whysz, "out of memory");
  return 0;
}

static int make_ca(pki *p, char *why, size_t whysz) {
  char e[160], subject[128];
  unsigned char rnd[4];
  int ret = gen_ec_key(p, &p->ca_key);
  if (ret == 0) ret = mbedtls_ctr_drbg_random(&p->drbg, rnd, sizeof rnd);
  if (ret != 0) return defect(why, whysz, "cannot make the CA key: %s", tls_err(ret, e, sizeof e));
  /* The random suffix tells two installs' CAs apart in a device's or a browser's list. */
  snprintf(subject, sizeof subject, "CN=nrfprov-mock local CA %02x%02x%02x%02x,O=nrfprov-mock",
           rnd[0], rnd[1], rnd[2], rnd[3]);
  cert_spec s = {
      .key = &p->ca_key,
      .subject = subject,
      .is_ca = 1,
      .key_usage = MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN,
      .years = CA_YEARS,
  };
  if (sign_cert(p, &s, &p->ca, why, whysz) != 0) return -1;
  if (!(p->ca_pem = chain_pem(&p->ca, (size_t)-1, NULL))) return defect(why, whysz, "out of memory");
  return 0;
}

/* The server certificate. */

/* Serve leaf's first certificate with key. own: a certificate this module made or stored,
 * whose chain is rebuilt from the CA in use; otherwise the given file's chain as it is. */
static int adopt_server(pki *p, const mbedtls_x509_crt *leaf, mbedtls_pk_context *key, int own, char *why,
                        size_t whysz) {
  p->server_leaf_pem = chain_pem(leaf, 1, NULL);
  p->server_chain_pem = own ? chain_pem(leaf, 1, &p->ca) : chain_pem(leaf, (size_t)-1, NULL);
  p->server_key_pem = key_pem(key);
  if (!p->server_leaf_pem || !p->server_chain_pem || !p->server_key_pem)
    return defect(why, whysz, "out of memory");
  return 0;
}

/* Whether dir's server.pem and server.key can be served as they are for hosts. */
static int server_reusable(pki *p, const char *cert_path, const char *key_path, const unsigned char *san,
                           size_t san_len, mbedtls_x509_crt *leaf, mbedtls_pk_context *key) {
  char ignored[8];
  if (!file_exists(cert_path) || !file_exists(key_path)) return 0;
  if (load_certs(leaf, cert_path, ignored, sizeof ignored) != 0) return 0;
  if (load_key(key, key_path, ignored, sizeof ignored) != 0) return 0;
  if (mbedtls_pk_check_pair(&leaf->pk, key) != 0) return 0;
  uint32_t flags = 0;
  mbedtls_x509_crt *rest = leaf->next;
  leaf->next = NULL;
  int ret = mbedtls_x509_crt_verify(leaf, &p->ca, NULL, NULL, &flags, NULL, NULL);
  leaf->next = rest;
  if (ret != 0 || flags != 0) return 0;
  const unsigned char *have;
  size_t have_len;
  if (find_ext(leaf, MBEDTLS_OID_SUBJECT_ALT_NAME, MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), &have,
               &have_len) != 0)
    return 0;
  return have_len == san_len && memcmp(have, san, san_len) == 0;
}

static int make_server(pki *p, const host_list *h, const unsigned char *san, size_t san_len,
                       mbedtls_x509_crt *leaf, mbedtls_pk_context *key, char *why, size_t whysz) {
  char e[160], subject[MAX_HOST_LEN + 32];
  int ret = gen_ec_key(p, key);
  if (ret != 0) return defect(why, whysz, "cannot make the server key: %s", tls_err(ret, e, sizeof e));
  snprintf(subject, sizeof subject, "CN=%s,O=nrfprov-mock", h->e[0].text);
  cert_spec s = {
      .key = key,
      .subject = subject,
      .key_usage = MBEDTLS_X509_KU_DIGITAL_SIGNATURE | MBEDTLS_X509_KU_KEY_AGREEMENT,
      .eku_oid = MBEDTLS_OID_SERVER_AUTH,
      .eku_len = MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH),
      .san = san,
      .san_len = san_len,
      .years = LEAF_YEARS,
  };
  if (sign_cert(p, &s, leaf, why, whysz) != 0) return -1;
  /* A CA whose subject mbedTLS cannot re-encode faithfully would yield a broken chain. */
  uint32_t flags = 0;
  if (mbedtls_x509_crt_verify(leaf, &p->ca, NULL, NULL, &flags, NULL, NULL) != 0 || flags != 0) {
    char info[256];
    mbedtls_x509_crt_verify_info(info, sizeof info, "", flags);
    info[strcspn(info, "\n")] = '\0';
    return defect(why, whysz, "the server certificate made with this CA does not verify: %s", info);
  }
  return 0;
}

/* --tls-cert and --tls-key: served as they are, whatever CA signed them. */
static int given_server(pki *p, const pki_options *o, char *why, size_t whysz) {
  mbedtls_x509_crt leaf;
  mbedtls_pk_context key;
  mbedtls_x509_crt_init(&leaf);
  mbedtls_pk_init(&key);
  int ret = load_certs(&leaf, o->tls_cert, why, whysz);
  if (ret == 0) ret = load_key(&key, o->tls_key, why, whysz);
  if (ret == 0 && mbedtls_pk_check_pair(&leaf.pk, &key) != 0)
    ret = defect(why, whysz, "%s: the key does not match the certificate in %s", o->tls_key, o->tls_cert);
  if (ret == 0) ret = adopt_server(p, &leaf, &key, 0, why, whysz);
  mbedtls_x509_crt_free(&leaf);
  mbedtls_pk_free(&key);
  return ret;
}

/* The server certificate for --tls-hosts, reused from the directory when still right. */
static int own_server(pki *p, const pki_options *o, host_list *h, unsigned char *san_buf, char *why,
                      size_t whysz) {
  unsigned char *san = NULL;
  if (parse_hosts(o->tls_hosts ? o->tls_hosts : PKI_DEFAULT_TLS_HOSTS, h, why, whysz) != 0) return -1;
  int san_len = san_der(h, san_buf, SAN_DER_SIZE, &san);
  if (san_len < 0) return defect(why, whysz, "tls hosts: cannot encode the subjectAltName");

  mbedtls_x509_crt leaf;
  mbedtls_pk_context key;
  mbedtls_x509_crt_init(&leaf);
  mbedtls_pk_init(&key);
  int ret = 0, reused = 0;
  if (o->dir) {
    char cert_path[4200], key_path[4200];
    snprintf(cert_path, sizeof cert_path, "%s/server.pem", o->dir);
    snprintf(key_path, sizeof key_path, "%s/server.key", o->dir);
    reused = server_reusable(p, cert_path, key_path, san, (size_t)san_len, &leaf, &key);
    if (!reused) {
      mbedtls_x509_crt_free(&leaf);
      mbedtls_pk_free(&key);
      mbedtls_x509_crt_init(&leaf);
      mbedtls_pk_init(&key);
    }
  }
  if (!reused) ret = make_server(p, h, san, (size_t)san_len, &leaf, &key, why, whysz);
  if (ret == 0) ret = adopt_server(p, &leaf, &key, 1, why, whysz);
  if (ret == 0 && o->dir && !reused) {
    /* The key first: server.pem names the pair complete (see the top of this file). */
    ret = write_file(o->dir, "server.key", p->server_key_pem, 0600, why, whysz);
    if (ret == 0) ret = write_file(o->dir, "server.pem", p->server_chain_pem, 0644, why, whysz);
  }
  mbedtls_x509_crt_free(&leaf);
  mbedtls_pk_free(&key);
  return ret;
}

static int setup_server(pki *p, const pki_options *o, char *why, size_t whysz) {
  if (o->tls_cert) return given_server(p, o, why, whysz);
  host_list *h = malloc(sizeof *h);
  unsigned char *san_buf = malloc(SAN_DER_SIZE);
  int ret = h && san_buf ? own_server(p, o, h, san_buf, why, whysz) : defect(why, whysz, "out of memory");
  free(h);
  free(san_buf);
  return ret;
}

/* Opening and closing. */

static int setup_ca(pki *p, const pki_options *o, char *why, size_t whysz) {
  if (o->ca_cert) return load_ca(p, o->ca_cert, o->ca_key, why, whysz);
  if (!o->dir) return make_ca(p, why, whysz);
  char cert_path[4200], key_path[4200];
  snprintf(cert_path, sizeof cert_path, "%s/ca.pem", o->dir);
  snprintf(key_path, sizeof key_path, "%s/ca.key", o->dir);
  if (file_exists(cert_path)) {
    if (!file_exists(key_path))
      return defect(why, whysz, "%s: missing while ca.pem exists (remove ca.pem to make a new CA)", key_path);
    return load_ca(p, cert_path, key_path, why, whysz);
  }
  /* No ca.pem: a CA never finished (or deliberately removed) is replaced wholesale. */
  if (make_ca(p, why, whysz) != 0) return -1;
  char *key = key_pem(&p->ca_key);
  if (!key) return defect(why, whysz, "out of memory");
  int ret = write_file(o->dir, "ca.key", key, 0600, why, whysz);
  free_secret(key);
  if (ret == 0) ret = write_file(o->dir, "ca.pem", p->ca_pem, 0644, why, whysz);
  return ret;
}

int pki_open(pki **out, const pki_options *opts, char *why, size_t whysz) {
  static const pki_options defaults;
  const pki_options *o = opts ? opts : &defaults;
  char e[160];
  *out = NULL;
  if (!o->ca_cert != !o->ca_key) return defect(why, whysz, "--ca-cert and --ca-key go together");
  if (!o->tls_cert != !o->tls_key) return defect(why, whysz, "--tls-cert and --tls-key go together");

  pki *p = calloc(1, sizeof *p);
  if (!p) return defect(why, whysz, "out of memory");
  pthread_mutex_init(&p->lock, NULL);
  pthread_mutex_init(&p->once_lock, NULL);
  mbedtls_entropy_init(&p->entropy);
  mbedtls_ctr_drbg_init(&p->drbg);
  mbedtls_x509_crt_init(&p->ca);
  mbedtls_pk_init(&p->ca_key);

  static const char pers[] = "nrfprov-mock pki";
  int ret = mbedtls_ctr_drbg_seed(&p->drbg, mbedtls_entropy_func, &p->entropy, (const unsigned char *)pers,
                                  sizeof pers - 1);
  if (ret != 0) {
    defect(why, whysz, "cannot seed the random generator: %s", tls_err(ret, e, sizeof e));
    pki_close(p);
    return -1;
  }

  if (o->lazy && !o->dir && !o->ca_cert && !o->tls_cert) {
    /* Check the host list now, so a bad --tls-hosts still fails at start. */
    host_list h;
    if (parse_hosts(o->tls_hosts ? o->tls_hosts : PKI_DEFAULT_TLS_HOSTS, &h, why, whysz) != 0) {
      pki_close(p);
      return -1;
    }
    p->lazy_hosts = strdup(o->tls_hosts ? o->tls_hosts : PKI_DEFAULT_TLS_HOSTS);
    p->pending = 1;
    *out = p;
    return 0;
  }

  int lock_fd = -1;
  if (o->dir) {
    if (files_mkdirs(o->dir, 0700, why, whysz) != 0) {
      pki_close(p);
      return -1;
    }
    /* Two processes starting on one directory must not each write half a CA. */
    char lock_path[4200];
    snprintf(lock_path, sizeof lock_path, "%s/pki.lock", o->dir);
    lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (lock_fd < 0 || flock(lock_fd, LOCK_EX) != 0) {
      defect(why, whysz, "%s: cannot lock: %s", lock_path, strerror(errno));
      if (lock_fd >= 0) close(lock_fd);
      pki_close(p);
      return -1;
    }
  }
  ret = setup_ca(p, o, why, whysz);
  if (ret == 0) ret = setup_server(p, o, why, whysz);
  if (o->dir) {
    if (ret == 0) files_sync_dir(o->dir);
    close(lock_fd); /* releases the lock */
  }
  if (ret != 0) {
    pki_close(p);
    return -1;
  }
  *out = p;
  return 0;
}

void pki_close(pki *p) {
  if (!p) return;
  mbedtls_ctr_drbg_free(&p->drbg);
  mbedtls_entropy_free(&p->entropy);
  mbedtls_x509_crt_free(&p->ca);
  mbedtls_pk_free(&p->ca_key);
  free(p->ca_pem);
  free(p->server_chain_pem);
  free(p->server_leaf_pem);
  free_secret(p->server_key_pem);
  free(p->lazy_hosts);
  pthread_mutex_destroy(&p->lock);
  pthread_mutex_destroy(&p->once_lock);
  free(p);
}

/* Generate a lazy PKI on first use. The getters take a const pki because, to callers,
 * the PKI is one fixed thing; generating it late does not change what it is. */
static int ensure(const pki *cp) {
  pki *p = (pki *)(uintptr_t)cp;
  pthread_mutex_lock(&p->once_lock);
  if (p->pending) {
    pki_options o = {.tls_hosts = p->lazy_hosts};
    char why[256];
    p->failed = setup_ca(p, &o, why, sizeof why) != 0 || setup_server(p, &o, why, sizeof why) != 0;
    p->pending = 0;
  }
  int rc = p->failed ? -1 : 0;
  pthread_mutex_unlock(&p->once_lock);
  return rc;
}

const char *pki_ca_pem(const pki *p) { return ensure(p) ? NULL : p->ca_pem; }
const char *pki_server_cert_pem(const pki *p) { return ensure(p) ? NULL : p->server_chain_pem; }
const char *pki_server_leaf_pem(const pki *p) { return ensure(p) ? NULL : p->server_leaf_pem; }
const char *pki_server_key_pem(const pki *p) { return ensure(p) ? NULL : p->server_key_pem; }

/* Device certificates. */

/* "CN=" + device_id with commas escaped, the only escape mbedTLS's name parser knows. */
static int device_subject(const char *id, char *out, size_t size, char *why, size_t whysz) {
  size_t n = strlen(id), o = 0;
  if (n == 0 || n > MAX_CN_LEN) return defect(why, whysz, "device id: must be 1 to %d bytes", MAX_CN_LEN);
  o += (size_t)snprintf(out, size, "CN=");
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)id[i];
    if (c < 0x20 || c == 0x7f || c == '\\')
      return defect(why, whysz, "device id: holds a control character or a backslash");
    if (c == ',') out[o++] = '\\';
    out[o++] = (char)c;
  }
  out[o] = '\0';
  return 0;
}

int pki_issue_device_cert(pki *p, const uint8_t *csr_der, size_t csr_len, const char *device_id,
                          char **cert_pem, char *why, size_t whysz) {
  char subject[3 + 2 * MAX_CN_LEN + 1];
  if (cert_pem) *cert_pem = NULL;
  if (!p || !cert_pem) return defect(why, whysz, "no PKI or no place for the certificate");
  if (ensure(p) != 0) return defect(why, whysz, "the local CA could not be generated");
  if (!csr_der || csr_len == 0) return defect(why, whysz, "CSR: empty");
  if (!device_id) return defect(why, whysz, "device id: missing");
  if (device_subject(device_id, subject, sizeof subject, why, whysz) != 0) return -1;

  pki_csr csr;
  mbedtls_x509_crt crt;
  mbedtls_x509_crt_init(&crt);
  int ret = pki__csr_read(csr_der, csr_len, &csr, why, whysz);
  if (ret != 0) goto done;

  /* The certificate names what the CSR names; an empty subject gets the device id the
   * service authenticated (docs/keygen.md). */
  cert_spec s = {
      .key = &csr.pk,
      .subject = subject,
      .subject_name = csr.subject_empty ? NULL : &csr.subject,
      .key_usage = MBEDTLS_X509_KU_DIGITAL_SIGNATURE | MBEDTLS_X509_KU_KEY_AGREEMENT,
      .eku_oid = MBEDTLS_OID_CLIENT_AUTH,
      .eku_len = MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH),
      .years = LEAF_YEARS,
  };
  pthread_mutex_lock(&p->lock);
  ret = sign_cert(p, &s, &crt, why, whysz);
  pthread_mutex_unlock(&p->lock);
  if (ret != 0) goto done;
  if (!(*cert_pem = chain_pem(&crt, 1, NULL))) ret = defect(why, whysz, "out of memory");

done:
  mbedtls_x509_crt_free(&crt);
  pki__csr_free(&csr);
  return ret ? -1 : 0;
}

int pki_pubkey_der_to_pem(const uint8_t *der, size_t len, char **pem, char *why, size_t whysz) {
  char e[160];
  if (pem) *pem = NULL;
  if (!pem) return defect(why, whysz, "no place for the PEM");
  if (!der || len == 0) return defect(why, whysz, "public key: empty");
  mbedtls_pk_context pk;
  mbedtls_pk_init(&pk);
  /* Exactly one DER SubjectPublicKeyInfo: trailing bytes mean the caller cut it wrong. */
  unsigned char *q = (unsigned char *)(uintptr_t)der; /* read only, as above */
  int ret = mbedtls_pk_parse_subpubkey(&q, der + len, &pk);
  if (ret == 0 && q != der + len) {
    mbedtls_pk_free(&pk);
    return defect(why, whysz, "public key: %zu bytes after the SubjectPublicKeyInfo", (size_t)(der + len - q));
  }
  if (ret != 0) {
    mbedtls_pk_free(&pk);
    return defect(why, whysz, "public key: not a DER SubjectPublicKeyInfo: %s", tls_err(ret, e, sizeof e));
  }
  size_t cap = len * 2 + 128;
  unsigned char *out = malloc(cap);
  if (!out) ret = -1;
  else ret = mbedtls_pk_write_pubkey_pem(&pk, out, cap);
  mbedtls_pk_free(&pk);
  if (ret != 0) {
    free(out);
    return defect(why, whysz, "public key: cannot write PEM");
  }
  *pem = (char *)out;
  return 0;
}

int pki_cert_serial_hex(const char *pem, char *out, size_t n) {
  mbedtls_x509_crt crt;
  mbedtls_x509_crt_init(&crt);
  int rc = mbedtls_x509_crt_parse(&crt, (const unsigned char *)pem, strlen(pem) + 1) ? -1 : 0;
  if (!rc && n < crt.serial.len * 2 + 1) rc = -1;
  for (size_t i = 0; !rc && i < crt.serial.len; i++) snprintf(out + 2 * i, 3, "%02x", crt.serial.p[i]);
  if (!rc && !crt.serial.len) *out = 0;
  mbedtls_x509_crt_free(&crt);
  return rc;
}
