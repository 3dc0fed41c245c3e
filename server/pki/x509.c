/* Writing X.509 certificates for the local PKI with mbedTLS 2.28's writer, and the
 * extensions it cannot write as RFC 5280 wants them (extendedKeyUsage, a critical
 * basicConstraints, an authorityKeyIdentifier taken from the issuer). One verb signs a
 * cert_spec; which certificates exist, and when, is ca.c's and device.c's business. */
#include "pki/internal.h"
#include "proto/defect.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/asn1.h>
#include <mbedtls/asn1write.h>
#include <mbedtls/ecp.h>
#include <mbedtls/oid.h>
#include <mbedtls/platform.h>

#define CERT_DER_SIZE 16384

/* Walk the TBSCertificate of crt to the extension oid; point *val at its extnValue bytes. */
int pki__find_ext(const mbedtls_x509_crt *crt, const char *oid, size_t oid_len,
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

int pki__gen_ec_key(pki *p, mbedtls_pk_context *key) {
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
  if (issuer && pki__find_ext(issuer, MBEDTLS_OID_SUBJECT_KEY_IDENTIFIER,
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
int pki__sign_cert(pki *p, const cert_spec *s, mbedtls_x509_crt *out, char *why, size_t whysz) {
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
  if (ret != 0) return defect(why, whysz, "cannot sign a certificate: %s", pki__tls_err(ret, e, sizeof e));
  return 0;
}

