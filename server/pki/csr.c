/* PKCS#10 CertificationRequest reader (RFC 2986) over mbedTLS 2.28's public ASN.1 and
 * X.509 readers. mbedtls_x509_csr_parse_der cannot read an empty subject Name (it fails
 * with "out of data"), yet an empty Name is valid DER and a device stack may send one
 * (docs/keygen.md), so this file reads the outer structure itself:
 *
 *   SEQUENCE { CertificationRequestInfo SEQUENCE { version 0, subject Name,
 *              SubjectPublicKeyInfo, attributes [0] }, signatureAlgorithm, signature }
 *
 * and hands each part to mbedTLS (mbedtls_x509_get_name, mbedtls_pk_parse_subpubkey,
 * mbedtls_x509_get_alg/_sig_alg/_sig). It then checks the self-signature over the DER of
 * the CertificationRequestInfo. It does not interpret the attributes (the certificate's
 * extensions are the CA's choice) and does not issue anything (pki.c). */
#include "pki/internal.h"
#include "proto/defect.h"

#include <stdint.h>
#include <string.h>

#include <mbedtls/asn1.h>
#include <mbedtls/platform.h>
#include <mbedtls/platform_util.h>

#define SEQ (MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)
#define ATTRIBUTES (MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_CONTEXT_SPECIFIC | 0)

void pki__csr_free(pki_csr *c) {
  mbedtls_x509_name *n = c->subject.next;
  while (n) {
    mbedtls_x509_name *next = n->next;
    mbedtls_platform_zeroize(n, sizeof *n);
    mbedtls_free(n);
    n = next;
  }
  c->subject.next = NULL;
  mbedtls_pk_free(&c->pk);
}

/* The CertificationRequestInfo between p and end: version, subject, key, attributes. */
static int read_info(unsigned char *p, const unsigned char *end, pki_csr *out, char *why, size_t whysz) {
  char e[120];
  size_t n;
  int version, ret;
  if (mbedtls_asn1_get_int(&p, end, &version) != 0) return defect(why, whysz, "CSR: no version");
  if (version != 0) return defect(why, whysz, "CSR: version must be 0 (PKCS#10 v1), got %d", version);
  if (mbedtls_asn1_get_tag(&p, end, &n, SEQ) != 0) return defect(why, whysz, "CSR: the subject is not a DER Name");
  const unsigned char *name_end = p + n;
  out->subject_empty = n == 0;
  if (n && (ret = mbedtls_x509_get_name(&p, name_end, &out->subject)) != 0)
    return defect(why, whysz, "CSR: the subject is not a DER Name: %s", pki__tls_err(ret, e, sizeof e));
  if (p != name_end) return defect(why, whysz, "CSR: trailing bytes in the subject");
  if ((ret = mbedtls_pk_parse_subpubkey(&p, end, &out->pk)) != 0)
    return defect(why, whysz, "CSR: the subject public key cannot be read: %s", pki__tls_err(ret, e, sizeof e));
  /* attributes [0] is required by RFC 2986; some writers leave it out when empty. */
  if (p < end) {
    if (mbedtls_asn1_get_tag(&p, end, &n, ATTRIBUTES) != 0)
      return defect(why, whysz, "CSR: expected the attributes [0] after the public key");
    p += n;
  }
  if (p != end) return defect(why, whysz, "CSR: trailing bytes in the CertificationRequestInfo");
  return 0;
}

int pki__csr_read(const uint8_t *der, size_t len, pki_csr *out, char *why, size_t whysz) {
  char e[120];
  size_t n;
  int ret;
  memset(out, 0, sizeof *out);
  mbedtls_pk_init(&out->pk);
  if (!der || len == 0) return defect(why, whysz, "CSR: empty");
  unsigned char *p = (unsigned char *)(uintptr_t)der; /* mbedTLS reads through a non-const cursor */
  const unsigned char *end = der + len;
  if (mbedtls_asn1_get_tag(&p, end, &n, SEQ) != 0) return defect(why, whysz, "CSR: not a DER SEQUENCE");
  if (p + n != end) return defect(why, whysz, "CSR: trailing bytes after the request");

  const unsigned char *info = p;
  if (mbedtls_asn1_get_tag(&p, end, &n, SEQ) != 0)
    return defect(why, whysz, "CSR: no CertificationRequestInfo SEQUENCE");
  const unsigned char *info_end = p + n;
  if (read_info(p, info_end, out, why, whysz) != 0) return -1;
  p = (unsigned char *)(uintptr_t)info_end;

  mbedtls_x509_buf alg, params, sig;
  mbedtls_md_type_t md = MBEDTLS_MD_NONE;
  mbedtls_pk_type_t sig_pk = MBEDTLS_PK_NONE;
  void *sig_opts = NULL;
  memset(&params, 0, sizeof params);
  if ((ret = mbedtls_x509_get_alg(&p, end, &alg, &params)) != 0)
    return defect(why, whysz, "CSR: the signature algorithm cannot be read: %s", pki__tls_err(ret, e, sizeof e));
  if ((ret = mbedtls_x509_get_sig_alg(&alg, &params, &md, &sig_pk, &sig_opts)) != 0)
    return defect(why, whysz, "CSR: unknown signature algorithm: %s", pki__tls_err(ret, e, sizeof e));
  /* Only RSASSA-PSS allocates options; no EC key can use them. */
  mbedtls_free(sig_opts);
  if ((ret = mbedtls_x509_get_sig(&p, end, &sig)) != 0)
    return defect(why, whysz, "CSR: the signature cannot be read: %s", pki__tls_err(ret, e, sizeof e));
  if (p != end) return defect(why, whysz, "CSR: trailing bytes after the signature");

  /* The self-signature: proof that the requester holds the private key. */
  if (md != MBEDTLS_MD_SHA256 && md != MBEDTLS_MD_SHA384 && md != MBEDTLS_MD_SHA512)
    return defect(why, whysz, "CSR: signed with a digest weaker than SHA-256");
  if (!mbedtls_pk_can_do(&out->pk, MBEDTLS_PK_ECKEY)) return defect(why, whysz, "CSR: the public key is not an EC key");
  if (sig_pk != MBEDTLS_PK_ECDSA) return defect(why, whysz, "CSR: the signature algorithm is not ECDSA");
  const mbedtls_md_info_t *mi = mbedtls_md_info_from_type(md);
  unsigned char hash[MBEDTLS_MD_MAX_SIZE];
  if (!mi || mbedtls_md(mi, info, (size_t)(info_end - info), hash) != 0)
    return defect(why, whysz, "CSR: cannot hash the request");
  if ((ret = mbedtls_pk_verify(&out->pk, md, hash, mbedtls_md_get_size(mi), sig.p, sig.len)) != 0)
    return defect(why, whysz, "CSR: the signature does not verify: %s", pki__tls_err(ret, e, sizeof e));
  return 0;
}
