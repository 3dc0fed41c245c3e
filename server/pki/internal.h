/* What the files of pki/ share and nobody else sees. Not part of the module's interface
 * (that is pki.h): other layers never include this header. */
#ifndef NRFPROV_PKI_INTERNAL_H
#define NRFPROV_PKI_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509.h>

/* A PKCS#10 request as csr.c reads it. mbedTLS 2.28's own CSR parser refuses a request
 * whose subject is an empty Name (valid DER, and some device stacks send it), so csr.c
 * walks the outer structure itself and leaves the parts to mbedTLS's public readers. */
typedef struct {
  mbedtls_x509_name subject; /* the first name entry; more follow through next */
  int subject_empty;         /* the subject was an empty Name (subject holds nothing) */
  mbedtls_pk_context pk;     /* the requested public key */
} pki_csr;

/* Read one DER CertificationRequest (nothing after it) and check its self-signature with
 * its own key (SHA-256 or stronger); 0, or -1 with why ("CSR: ..."). Free with
 * pki__csr_free, also after a failure. */
int pki__csr_read(const uint8_t *der, size_t len, pki_csr *out, char *why, size_t whysz);
void pki__csr_free(pki_csr *c);

#endif
