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
 *
 * This file opens and closes the PKI and generates a lazy one on first use, keeping the
 * reason when that fails (pki_error); the other files of pki/ are listed in internal.h.
 */
#include "pki.h"
#include "files.h"
#include "pki/internal.h"
#include "proto/defect.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>

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
    defect(why, whysz, "cannot seed the random generator: %s", pki__tls_err(ret, e, sizeof e));
    pki_close(p);
    return -1;
  }

  if (o->lazy && !o->dir && !o->ca_cert && !o->tls_cert) {
    /* Check the host list now, so a bad --tls-hosts still fails at start. */
    host_list h;
    if (pki__parse_hosts(o->tls_hosts ? o->tls_hosts : PKI_DEFAULT_TLS_HOSTS, &h, why, whysz) != 0) {
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
  ret = pki__setup_ca(p, o, why, whysz);
  if (ret == 0) ret = pki__setup_server(p, o, why, whysz);
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
  pki__free_secret(p->server_key_pem);
  free(p->lazy_hosts);
  pthread_mutex_destroy(&p->lock);
  pthread_mutex_destroy(&p->once_lock);
  free(p);
}

/* Generate a lazy PKI on first use. The getters take a const pki because, to callers,
 * the PKI is one fixed thing; generating it late does not change what it is. */
int pki__ensure(const pki *cp) {
  pki *p = (pki *)(uintptr_t)cp;
  pthread_mutex_lock(&p->once_lock);
  if (p->pending) {
    pki_options o = {.tls_hosts = p->lazy_hosts};
    p->failed = pki__setup_ca(p, &o, p->failed_why, sizeof p->failed_why) != 0 ||
                pki__setup_server(p, &o, p->failed_why, sizeof p->failed_why) != 0;
    p->pending = 0;
  }
  int rc = p->failed ? -1 : 0;
  pthread_mutex_unlock(&p->once_lock);
  return rc;
}

const char *pki_error(const pki *p) {
  if (!p) return "no PKI";
  pthread_mutex_lock((pthread_mutex_t *)(uintptr_t)&p->once_lock);
  const char *why = p->failed ? p->failed_why : NULL;
  pthread_mutex_unlock((pthread_mutex_t *)(uintptr_t)&p->once_lock);
  return why;
}

const char *pki_ca_pem(const pki *p) { return pki__ensure(p) ? NULL : p->ca_pem; }
const char *pki_server_cert_pem(const pki *p) { return pki__ensure(p) ? NULL : p->server_chain_pem; }
const char *pki_server_leaf_pem(const pki *p) { return pki__ensure(p) ? NULL : p->server_leaf_pem; }
const char *pki_server_key_pem(const pki *p) { return pki__ensure(p) ? NULL : p->server_key_pem; }

