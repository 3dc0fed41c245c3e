/* Unit tests of server/pki against a real TLS server: libmicrohttpd (GnuTLS) serves the
 * PEM key and chain pki_open made, and an mbedTLS client, configured the way a device
 * is (the CA as its only trust anchor, the host name it was built with), shakes hands.
 *
 * This checks that GnuTLS reads the SEC1 key and the chain, and that the chain is sent;
 * it says nothing about the mock's HTTP routes.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include <microhttpd.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "pki/pki.h"

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **state) {
  (void)cls, (void)url, (void)method, (void)version, (void)upload, (void)upload_size, (void)state;
  struct MHD_Response *r = MHD_create_response_from_buffer(2, (void *)"ok", MHD_RESPMEM_PERSISTENT);
  enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
  MHD_destroy_response(r);
  return ret;
}

static struct MHD_Daemon *serve(pki *p, unsigned *port) {
  struct MHD_Daemon *d = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TLS | MHD_USE_ERROR_LOG, 0, NULL, NULL, answer, NULL,
      MHD_OPTION_HTTPS_MEM_KEY, pki_server_key_pem(p), MHD_OPTION_HTTPS_MEM_CERT, pki_server_cert_pem(p),
      MHD_OPTION_END);
  cr_assert_not_null(d, "libmicrohttpd (GnuTLS) refused the key or the certificate");
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  cr_assert_not_null(info);
  *port = info->port;
  return d;
}

/* Handshake as a device trusting ca_pem and expecting host; returns the handshake result
 * and, on success, whether the server sent more than its leaf and what it answered. */
static int handshake(unsigned port, const char *ca_pem, const char *host, int *chain_len, char *reply,
                     size_t reply_size) {
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  mbedtls_net_context fd;
  mbedtls_ssl_context ssl;
  mbedtls_ssl_config conf;
  mbedtls_x509_crt ca;
  mbedtls_entropy_init(&entropy);
  mbedtls_ctr_drbg_init(&drbg);
  mbedtls_net_init(&fd);
  mbedtls_ssl_init(&ssl);
  mbedtls_ssl_config_init(&conf);
  mbedtls_x509_crt_init(&ca);
  cr_assert_eq(mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, NULL, 0), 0);
  cr_assert_eq(mbedtls_x509_crt_parse(&ca, (const unsigned char *)ca_pem, strlen(ca_pem) + 1), 0);
  char port_str[8];
  snprintf(port_str, sizeof port_str, "%u", port);
  cr_assert_eq(mbedtls_net_connect(&fd, "127.0.0.1", port_str, MBEDTLS_NET_PROTO_TCP), 0);
  cr_assert_eq(mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                           MBEDTLS_SSL_PRESET_DEFAULT),
               0);
  mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_REQUIRED);
  mbedtls_ssl_conf_ca_chain(&conf, &ca, NULL);
  mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg);
  cr_assert_eq(mbedtls_ssl_setup(&ssl, &conf), 0);
  cr_assert_eq(mbedtls_ssl_set_hostname(&ssl, host), 0);
  mbedtls_ssl_set_bio(&ssl, &fd, mbedtls_net_send, mbedtls_net_recv, NULL);

  int ret;
  while ((ret = mbedtls_ssl_handshake(&ssl)) == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE) {
  }
  if (ret == 0) {
    *chain_len = 0;
    for (const mbedtls_x509_crt *c = mbedtls_ssl_get_peer_cert(&ssl); c && c->raw.p; c = c->next) ++*chain_len;
    const char *req = "GET / HTTP/1.0\r\n\r\n";
    cr_assert_eq(mbedtls_ssl_write(&ssl, (const unsigned char *)req, strlen(req)), (int)strlen(req));
    size_t got = 0;
    int n;
    while (got < reply_size - 1 && (n = mbedtls_ssl_read(&ssl, (unsigned char *)reply + got, reply_size - 1 - got)) > 0)
      got += (size_t)n;
    reply[got] = '\0';
    mbedtls_ssl_close_notify(&ssl);
  }
  mbedtls_x509_crt_free(&ca);
  mbedtls_ssl_free(&ssl);
  mbedtls_ssl_config_free(&conf);
  mbedtls_net_free(&fd);
  mbedtls_ctr_drbg_free(&drbg);
  mbedtls_entropy_free(&entropy);
  return ret;
}

Test(pki_tls, gnutls_serves_the_chain_a_device_verifies, .timeout = 60) {
  pki *p;
  char why[256];
  cr_assert_eq(pki_open(&p, NULL, why, sizeof why), 0, "%s", why);
  unsigned port;
  struct MHD_Daemon *d = serve(p, &port);

  int chain_len = 0;
  char reply[512];
  int ret = handshake(port, pki_ca_pem(p), "localhost", &chain_len, reply, sizeof reply);
  cr_assert_eq(ret, 0, "handshake as localhost failed: -0x%04x", (unsigned)-ret);
  cr_assert_eq(chain_len, 2, "the server should send its leaf and the CA");
  cr_assert(strstr(reply, " 200 ") && strstr(reply, "ok"), "reply: %s", reply);

  ret = handshake(port, pki_ca_pem(p), "provisioning-http.nrfcloud.com", &chain_len, reply, sizeof reply);
  cr_assert_eq(ret, 0, "handshake as provisioning-http.nrfcloud.com failed: -0x%04x", (unsigned)-ret);

  /* Negative controls: another name, another CA. */
  cr_assert_neq(handshake(port, pki_ca_pem(p), "wrong.example", &chain_len, reply, sizeof reply), 0);
  pki *other;
  cr_assert_eq(pki_open(&other, NULL, why, sizeof why), 0, "%s", why);
  cr_assert_neq(handshake(port, pki_ca_pem(other), "localhost", &chain_len, reply, sizeof reply), 0);
  pki_close(other);

  MHD_stop_daemon(d);
  pki_close(p);
}
