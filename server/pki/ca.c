/* The CA and the server certificate of the local PKI: loaded from given files, reused
 * from the data directory, or made anew, by the two rules at the top of pki.c (the CA is
 * trust state, the server pair derived state). Device certificates are device.c's. */
#include "pki/internal.h"
#include "proto/defect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/oid.h>

#define CA_YEARS 20

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
  if (pki__load_certs(&p->ca, cert_path, why, whysz) != 0) return -1;
  if (pki__load_key(&p->ca_key, key_path, why, whysz) != 0) return -1;
  if (check_ca(p, cert_path, key_path, why, whysz) != 0) return -1;
  if (!(p->ca_pem = pki__chain_pem(&p->ca, (size_t)-1, NULL))) return defect(why, whysz, "out of memory");
  return 0;
}

static int make_ca(pki *p, char *why, size_t whysz) {
  char e[160], subject[128];
  unsigned char rnd[4];
  int ret = pki__gen_ec_key(p, &p->ca_key);
  if (ret == 0) ret = mbedtls_ctr_drbg_random(&p->drbg, rnd, sizeof rnd);
  if (ret != 0) return defect(why, whysz, "cannot make the CA key: %s", pki__tls_err(ret, e, sizeof e));
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
  if (pki__sign_cert(p, &s, &p->ca, why, whysz) != 0) return -1;
  if (!(p->ca_pem = pki__chain_pem(&p->ca, (size_t)-1, NULL))) return defect(why, whysz, "out of memory");
  return 0;
}

/* The server certificate. */

/* Serve leaf's first certificate with key. own: a certificate this module made or stored,
 * whose chain is rebuilt from the CA in use; otherwise the given file's chain as it is. */
static int adopt_server(pki *p, const mbedtls_x509_crt *leaf, mbedtls_pk_context *key, int own, char *why,
                        size_t whysz) {
  p->server_leaf_pem = pki__chain_pem(leaf, 1, NULL);
  p->server_chain_pem = own ? pki__chain_pem(leaf, 1, &p->ca) : pki__chain_pem(leaf, (size_t)-1, NULL);
  p->server_key_pem = pki__key_pem(key);
  if (!p->server_leaf_pem || !p->server_chain_pem || !p->server_key_pem)
    return defect(why, whysz, "out of memory");
  return 0;
}

/* Whether dir's server.pem and server.key can be served as they are for hosts. */
static int server_reusable(pki *p, const char *cert_path, const char *key_path, const unsigned char *san,
                           size_t san_len, mbedtls_x509_crt *leaf, mbedtls_pk_context *key) {
  char ignored[8];
  if (!pki__file_exists(cert_path) || !pki__file_exists(key_path)) return 0;
  if (pki__load_certs(leaf, cert_path, ignored, sizeof ignored) != 0) return 0;
  if (pki__load_key(key, key_path, ignored, sizeof ignored) != 0) return 0;
  if (mbedtls_pk_check_pair(&leaf->pk, key) != 0) return 0;
  uint32_t flags = 0;
  mbedtls_x509_crt *rest = leaf->next;
  leaf->next = NULL;
  int ret = mbedtls_x509_crt_verify(leaf, &p->ca, NULL, NULL, &flags, NULL, NULL);
  leaf->next = rest;
  if (ret != 0 || flags != 0) return 0;
  const unsigned char *have;
  size_t have_len;
  if (pki__find_ext(leaf, MBEDTLS_OID_SUBJECT_ALT_NAME, MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), &have,
               &have_len) != 0)
    return 0;
  return have_len == san_len && memcmp(have, san, san_len) == 0;
}

static int make_server(pki *p, const host_list *h, const unsigned char *san, size_t san_len,
                       mbedtls_x509_crt *leaf, mbedtls_pk_context *key, char *why, size_t whysz) {
  char e[160], subject[MAX_HOST_LEN + 32];
  int ret = pki__gen_ec_key(p, key);
  if (ret != 0) return defect(why, whysz, "cannot make the server key: %s", pki__tls_err(ret, e, sizeof e));
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
  if (pki__sign_cert(p, &s, leaf, why, whysz) != 0) return -1;
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
  int ret = pki__load_certs(&leaf, o->tls_cert, why, whysz);
  if (ret == 0) ret = pki__load_key(&key, o->tls_key, why, whysz);
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
  if (pki__parse_hosts(o->tls_hosts ? o->tls_hosts : PKI_DEFAULT_TLS_HOSTS, h, why, whysz) != 0) return -1;
  int san_len = pki__san_der(h, san_buf, SAN_DER_SIZE, &san);
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
    ret = pki__write_file(o->dir, "server.key", p->server_key_pem, 0600, why, whysz);
    if (ret == 0) ret = pki__write_file(o->dir, "server.pem", p->server_chain_pem, 0644, why, whysz);
  }
  mbedtls_x509_crt_free(&leaf);
  mbedtls_pk_free(&key);
  return ret;
}

int pki__setup_server(pki *p, const pki_options *o, char *why, size_t whysz) {
  if (o->tls_cert) return given_server(p, o, why, whysz);
  host_list *h = malloc(sizeof *h);
  unsigned char *san_buf = malloc(SAN_DER_SIZE);
  int ret = h && san_buf ? own_server(p, o, h, san_buf, why, whysz) : defect(why, whysz, "out of memory");
  free(h);
  free(san_buf);
  return ret;
}


int pki__setup_ca(pki *p, const pki_options *o, char *why, size_t whysz) {
  if (o->ca_cert) return load_ca(p, o->ca_cert, o->ca_key, why, whysz);
  if (!o->dir) return make_ca(p, why, whysz);
  char cert_path[4200], key_path[4200];
  snprintf(cert_path, sizeof cert_path, "%s/ca.pem", o->dir);
  snprintf(key_path, sizeof key_path, "%s/ca.key", o->dir);
  if (pki__file_exists(cert_path)) {
    if (!pki__file_exists(key_path))
      return defect(why, whysz, "%s: missing while ca.pem exists (remove ca.pem to make a new CA)", key_path);
    return load_ca(p, cert_path, key_path, why, whysz);
  }
  /* No ca.pem: a CA never finished (or deliberately removed) is replaced wholesale. */
  if (make_ca(p, why, whysz) != 0) return -1;
  char *key = pki__key_pem(&p->ca_key);
  if (!key) return defect(why, whysz, "out of memory");
  int ret = pki__write_file(o->dir, "ca.key", key, 0600, why, whysz);
  pki__free_secret(key);
  if (ret == 0) ret = pki__write_file(o->dir, "ca.pem", p->ca_pem, 0644, why, whysz);
  return ret;
}

