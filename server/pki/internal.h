/* What the files of pki/ share and nobody else sees: the pki struct, the shapes passed
 * between the files, and their cross-file verbs (pki__*). Not part of the module's
 * interface (that is pki.h): other layers never include this header.
 *
 *   pki.c     opening, closing, lazy generation, the getters
 *   ca.c      the CA and the server certificate: load, reuse or make
 *   device.c  device certificates, public-key PEM, serials
 *   csr.c     PKCS#10 requests (an empty subject included)
 *   x509.c    signing certificates and writing their extensions
 *   hosts.c   the --tls-hosts list and its subjectAltName
 *   pem.c     files, PEM texts and secrets
 */
#ifndef NRFPROV_PKI_INTERNAL_H
#define NRFPROV_PKI_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <mbedtls/asn1.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509.h>
#include <mbedtls/x509_crt.h>

#include "pki/pki.h"

#define MAX_HOSTS 32
#define MAX_HOST_LEN 253
#define LEAF_YEARS 10

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
  int pending;          /* 1 while nothing is generated yet */
  int failed;           /* the deferred generation failed ... */
  char failed_why[256]; /* ... and why (pki_error) */
  char *lazy_hosts;     /* the tls_hosts to generate with */
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
  mbedtls_pk_context *key;               /* the subject's public key */
  const char *subject;                   /* in mbedTLS string form, e.g. "CN=x,O=y" */
  const mbedtls_x509_name *subject_name; /* a parsed name used instead of subject, or NULL */
  int is_ca;
  unsigned key_usage;
  const char *eku_oid;                   /* one extended key usage, or NULL */
  size_t eku_len;
  const unsigned char *san;              /* subjectAltName extension value, or NULL */
  size_t san_len;
  int years;
} cert_spec;

/* pem.c */
/* mbedTLS's own sentence for an error code, for the tail of a reason; returns buf. */
const char *pki__tls_err(int ret, char *buf, size_t size);
/* Wipe and free a NUL-terminated secret; NULL is a no-op. */
void pki__free_secret(char *s);
/* 1 when something (a link included) exists at path. */
int pki__file_exists(const char *path);
/* Write data to dir/name atomically (files_write) with mode; 0 or -1 with why. */
int pki__write_file(const char *dir, const char *name, const char *data, mode_t mode, char *why, size_t whysz);
/* PEM of the first a_max certificates of a, then of every certificate of b (may be NULL); malloc'd. */
char *pki__chain_pem(const mbedtls_x509_crt *a, size_t a_max, const mbedtls_x509_crt *b);
/* The private key as PEM (SEC1 for EC keys, PKCS#1 for RSA ones); malloc'd, free with pki__free_secret. */
char *pki__key_pem(mbedtls_pk_context *key);
/* Append the certificates of the file at path (PEM or DER) to crt; 0 or -1 with why. */
int pki__load_certs(mbedtls_x509_crt *crt, const char *path, char *why, size_t whysz);
/* Load the unencrypted private key of the file at path (PEM or DER); 0 or -1 with why. */
int pki__load_key(mbedtls_pk_context *key, const char *path, char *why, size_t whysz);

/* hosts.c */
/* Split a --tls-hosts value into SAN entries (IP literals, DNS names); 0 or -1 with why. */
int pki__parse_hosts(const char *spec, host_list *h, char *why, size_t whysz);
/* The subjectAltName extension value for h, written backwards ending at buf + size;
 * *start gets its first byte. Its length, or -1. */
int pki__san_der(const host_list *h, unsigned char *buf, size_t size, unsigned char **start);

/* x509.c */
/* Point *val at the extnValue of crt's extension oid; 0, or -1 when it has none. */
int pki__find_ext(const mbedtls_x509_crt *crt, const char *oid, size_t oid_len, const unsigned char **val,
                  size_t *val_len);
/* A fresh EC P-256 key from p's DRBG; 0 or an mbedTLS error. */
int pki__gen_ec_key(pki *p, mbedtls_pk_context *key);
/* Sign s with the CA (or self-sign when p->ca holds no certificate yet) and parse the
 * result into out. Called with p->lock held or before p is shared; 0 or -1 with why. */
int pki__sign_cert(pki *p, const cert_spec *s, mbedtls_x509_crt *out, char *why, size_t whysz);

/* ca.c */
/* The CA of o: given files, the data directory's, or a new one; 0 or -1 with why. */
int pki__setup_ca(pki *p, const pki_options *o, char *why, size_t whysz);
/* The server certificate of o: given files, the data directory's, or a new one. */
int pki__setup_server(pki *p, const pki_options *o, char *why, size_t whysz);

/* pki.c */
/* Generate a lazy PKI on first use; 0, or -1 when that failed (pki_error says why). */
int pki__ensure(const pki *p);

/* csr.c */
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
