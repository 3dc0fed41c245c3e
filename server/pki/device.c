/* Device certificates: a CSR read by csr.c becomes a certificate signed by the local
 * CA, named after the CSR's subject or the device id (docs/keygen.md); also the PEM of a
 * bare public key and a certificate's serial, for the service's answers. */
#include "pki/internal.h"
#include "proto/defect.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/error.h>
#include <mbedtls/oid.h>

#define MAX_CN_LEN 64 /* ub-common-name in RFC 5280 */


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
  if (pki__ensure(p) != 0) return defect(why, whysz, "the local CA could not be generated: %s", pki_error(p));
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
  ret = pki__sign_cert(p, &s, &crt, why, whysz);
  pthread_mutex_unlock(&p->lock);
  if (ret != 0) goto done;
  if (!(*cert_pem = pki__chain_pem(&crt, 1, NULL))) ret = defect(why, whysz, "out of memory");

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
    return defect(why, whysz, "public key: not a DER SubjectPublicKeyInfo: %s", pki__tls_err(ret, e, sizeof e));
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

