/* The mock's local PKI: a CA, the HTTPS/DTLS server certificate, device certificates.
 *
 * On first open with a directory it creates an EC P-256 CA and a server certificate
 * there (ca.pem, ca.key, server.pem, server.key; keys 0600) and reuses them afterwards,
 * so devices keep trusting the same CA across restarts. It knows nothing of HTTP, CoAP
 * or the store; it only turns options into PEM strings and CSRs into certificates.
 */
#ifndef NRFPROV_PKI_H
#define NRFPROV_PKI_H

#include <stddef.h>
#include <stdint.h>

typedef struct pki pki;

typedef struct {
  const char *dir;       /* directory for ca.pem, ca.key, server.pem, server.key; NULL = in memory only */
  const char *tls_hosts; /* comma-separated DNS names and IPs for the server cert SANs; NULL = PKI_DEFAULT_TLS_HOSTS */
  const char *ca_cert, *ca_key;   /* optional files: use this CA (both or neither) */
  const char *tls_cert, *tls_key; /* optional files: use this server cert/key (both or neither) */
  int lazy;              /* in memory with no files given: generate on first use (faster start) */
} pki_options;

/* The device hosts, the owner API host of each nRF Cloud stage (reached through the
 * proxy listener, docs/install.md), and this machine. */
#define PKI_DEFAULT_TLS_HOSTS                                                                  \
  "provisioning-http.nrfcloud.com,coap.nrfcloud.com,api.provisioning.nrfcloud.com,"            \
  "api.provisioning.dev.nrfcloud.com,api.provisioning.beta.nrfcloud.com,"                      \
  "api.provisioning.feature.nrfcloud.com,localhost,127.0.0.1"

/* Load or create the PKI described by o (NULL = all defaults, in memory); -1 and why on failure. */
int pki_open(pki **out, const pki_options *o, char *why, size_t whysz);
/* Free p and everything it holds; NULL is a no-op. */
void pki_close(pki *p);
/* Why the generation of a lazy PKI failed (the getters then answer NULL), or NULL when it
 * did not fail (or has not run yet). */
const char *pki_error(const pki *p);
/* CA certificate PEM (every certificate of a given CA file, the signing one first). */
const char *pki_ca_pem(const pki *p);
/* Server certificate chain PEM: the leaf first, then the CA, so TLS stacks send the chain. */
const char *pki_server_cert_pem(const pki *p);
/* Server certificate PEM alone. */
const char *pki_server_leaf_pem(const pki *p);
/* Server private key PEM ("BEGIN EC PRIVATE KEY", SEC1: GnuTLS and OpenSSL read it). */
const char *pki_server_key_pem(const pki *p);
/* Verify a DER PKCS#10 CSR (an empty subject included) and issue a device certificate
 * whose subject is the CSR's, or CN = device_id when that is empty; *cert_pem is malloc'd. */
int pki_issue_device_cert(pki *p, const uint8_t *csr_der, size_t csr_len, const char *device_id,
                          char **cert_pem, char *why, size_t whysz);
/* The serial number of a PEM certificate as lower-case hex (no separators); -1 if unreadable. */
int pki_cert_serial_hex(const char *pem, char *out, size_t n);
/* DER SubjectPublicKeyInfo to "BEGIN PUBLIC KEY" PEM, malloc'd; -1 if not a valid public key. */
int pki_pubkey_der_to_pem(const uint8_t *der, size_t len, char **pem, char *why, size_t whysz);

#endif
