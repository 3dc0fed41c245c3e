/* libFuzzer target for the PKCS#10 reader of pki/csr.c (the outer structure read by hand
 * around mbedTLS's Name, SubjectPublicKeyInfo, algorithm and signature readers, then the
 * self-signature check). The input is one DER request. A request that is read must hold
 * a key and, unless its subject was empty, a first name entry. */
#include <stdint.h>
#include <stdlib.h>

#include "pki/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size); /* called by libFuzzer */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  pki_csr c;
  char why[256];
  if (pki__csr_read(data, size, &c, why, sizeof why) == 0) {
    if (!mbedtls_pk_can_do(&c.pk, MBEDTLS_PK_ECKEY)) abort();
    if (!c.subject_empty && !c.subject.oid.p) abort();
  }
  pki__csr_free(&c);
  return 0;
}
