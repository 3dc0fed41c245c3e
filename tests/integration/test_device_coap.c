/* The device-facing CoAP and CoAPs resources through the real binary (docs/device-protocol.md
 * §3): the scenario table over both transports, then what only CoAP has — per-session
 * authentication, Content-Format on the auth POST, .dtls/suspend, Block2 answers equal
 * to the HTTP bytes, Block1 uploads, DTLS server verification, announcement and logs. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness_coap.h"
#include "harness_scenarios.h"
#include "proto/dcbor.h"
#include "proto/jwt.h"

static mock m;
static void start(void) { mock_start(&m, NULL); }
static void stop(void) { cr_assert_eq(mock_stop(&m), 0, "the mock exits cleanly"); }

TestSuite(device_coap, .init = start, .fini = stop, .timeout = 60);
SCENARIO_TESTS(device_coap, DEV_COAP)

TestSuite(device_coaps, .init = start, .fini = stop, .timeout = 60);
SCENARIO_TESTS(device_coaps, DEV_COAPS)

TestSuite(coap, .init = start, .fini = stop, .timeout = 60);

static const dev_transport both[] = {DEV_COAP, DEV_COAPS};

/* A fresh JWT for a device id. */
static void jwt_for(const char *uuid, char *jwt, size_t n) {
  char iss[80];
  snprintf(iss, sizeof iss, "nrf-352656106118683.%s", uuid);
  int64_t now = (int64_t)time(NULL);
  cr_assert(jwt_make(iss, "nrf-352656106118683.fw.1", now, now + 600, NULL, jwt, n) > 0);
}

Test(coap, cmd_and_rsp_without_auth_are_4_01) {
  for (size_t i = 0; i < 2; i++) {
    dev_client d;
    dev_open(&d, &m, both[i], "");
    uint8_t *out;
    size_t n;
    cr_assert_eq(dev_coap_request(&d, "GET", "p/cmd?after=&rxMaxSize=2048", -1, true, NULL, 0, 0, &out, &n), 401,
                 "%s: %s", dev_transport_name(both[i]), dev_coap_failure(&d));
    cr_assert(n > 0 && strstr((char *)out, "authenticated"), "a diagnostic payload says why");
    free(out);
    const uint8_t cbor[] = {0x80};
    cr_assert_eq(dev_coap_request(&d, "POST", "p/rsp", 60, true, cbor, 1, 0, NULL, NULL), 401);
    dev_close(&d);
  }
}

Test(coap, dtls_suspend_is_4_04) {
  for (size_t i = 0; i < 2; i++) {
    dev_client d;
    dev_open(&d, &m, both[i], "");
    cr_assert_eq(dev_coap_request(&d, "POST", ".dtls/suspend", -1, false, NULL, 0, 0, NULL, NULL), 404, "%s: %s",
                 dev_transport_name(both[i]), dev_coap_failure(&d));
    dev_close(&d);
  }
}

Test(coap, auth_accepts_any_content_format) {
  char cred[1200], uuid[37], jwt[1024];
  sc_claim(&m, cred, uuid);
  jwt_for(uuid, jwt, sizeof jwt);
  const int formats[] = {60, 0, -1, 50};
  for (size_t t = 0; t < 2; t++) {
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
      dev_client d;
      dev_open(&d, &m, both[t], jwt);
      cr_assert_eq(dev_coap_request(&d, "POST", "p/auth-jwt?mver=1.3.5&cver=2.6.0", formats[i], true, jwt, strlen(jwt), 0,
                                    NULL, NULL),
                   201, "%s, Content-Format %d: %s", dev_transport_name(both[t]), formats[i], dev_coap_failure(&d));
      cr_assert_eq(dev_coap_request(&d, "GET", "p/cmd?after=", -1, true, NULL, 0, 0, NULL, NULL), 205);
      dev_close(&d);
    }
  }
}

Test(coap, old_auth_takes_a_bare_token_or_a_jwt) {
  char cred[1200], uuid[37], jwt[1024];
  sc_claim(&m, cred, uuid);
  jwt_for(uuid, jwt, sizeof jwt);
  dev_client d;
  dev_open(&d, &m, DEV_COAP, cred);
  cr_assert_eq(dev_coap_request(&d, "POST", "p/auth?mver=1.3.1&cver=1", 60, true, cred + 4, strlen(cred + 4), 0, NULL, NULL), 201);
  cr_assert_eq(dev_coap_request(&d, "POST", "p/auth", 60, true, jwt, strlen(jwt), 0, NULL, NULL), 201);
  /* A token file sent as is keeps its newline. */
  char line[1300];
  snprintf(line, sizeof line, "%s\n", cred + 4);
  cr_assert_eq(dev_coap_request(&d, "POST", "p/auth", 0, true, line, strlen(line), 0, NULL, NULL), 201);
  cr_assert_eq(dev_fetch(&d, "after=", NULL, NULL), DEV_NOTHING);
  /* An empty payload is a missing credential: "not claimed", as on HTTP. */
  cr_assert_eq(dev_coap_request(&d, "POST", "p/auth-jwt", 0, true, NULL, 0, 0, NULL, NULL), 401);
  dev_close(&d);
}

Test(coap, a_refused_auth_withdraws_the_session_authentication) {
  char cred[1200], uuid[37], id[37], jwt[1024];
  sc_claim(&m, cred, uuid);
  sc_queue(&m, uuid, "{\"finished\":{}}", id);
  jwt_for(uuid, jwt, sizeof jwt);
  for (size_t t = 0; t < 2; t++) {
    dev_client d;
    dev_open(&d, &m, both[t], jwt);
    uint8_t *body;
    size_t len;
    cr_assert_eq(dev_fetch(&d, "after=", &body, &len), DEV_COMMANDS, "%s", dev_transport_name(both[t]));
    free(body);
    cr_assert_eq(dev_coap_request(&d, "POST", "p/auth-jwt", 60, true, "eyJhbGciOiJFUzI1NiJ9.e30.c2ln", strlen("eyJhbGciOiJFUzI1NiJ9.e30.c2ln"), 0, NULL, NULL), 403);
    cr_assert_eq(dev_coap_request(&d, "GET", "p/cmd?after=", -1, true, NULL, 0, 0, NULL, NULL), 401,
                 "the session is no longer authenticated");
    /* And a good auth restores it. */
    cr_assert_eq(dev_fetch(&d, "after=", &body, &len), DEV_COMMANDS);
    free(body);
    dev_close(&d);
  }
}

Test(coap, sessions_are_separate) {
  char cred[1200], uuid[37];
  sc_claim(&m, cred, uuid);
  dev_client a, b;
  dev_open(&a, &m, DEV_COAP, cred);
  dev_open(&b, &m, DEV_COAP, cred);
  cr_assert_eq(dev_fetch(&a, "after=", NULL, NULL), DEV_NOTHING);
  cr_assert_eq(dev_coap_request(&b, "GET", "p/cmd?after=", -1, true, NULL, 0, 0, NULL, NULL), 401,
               "another client address:port is another session");
  dev_close(&a);
  dev_close(&b);
}

Test(coap, unclaim_and_block_are_seen_on_an_authenticated_session) {
  char cred[1200], uuid[37], path[200];
  sc_claim(&m, cred, uuid);
  dev_client d;
  dev_open(&d, &m, DEV_COAPS, cred);
  cr_assert_eq(dev_fetch(&d, "after=", NULL, NULL), DEV_NOTHING);
  snprintf(path, sizeof path, "/v1/claimed-devices/%s/block", uuid);
  http_resp_free(owner(&m, SC_KEY, "POST", path, NULL));
  cr_assert_eq(dev_fetch(&d, "after=", NULL, NULL), DEV_FORBIDDEN);
  const uint8_t cbor[] = {0x81, 0x82, 0x61, 0x78, 0x18, 0x66};
  cr_assert_eq(dev_report(&d, cbor, sizeof cbor), DEV_FORBIDDEN);
  snprintf(path, sizeof path, "/v1/claimed-devices/%s/unblock", uuid);
  http_resp_free(owner(&m, SC_KEY, "POST", path, NULL));
  cr_assert_eq(dev_fetch(&d, "after=", NULL, NULL), DEV_NOTHING, "still authenticated once unblocked");
  snprintf(path, sizeof path, "/v1/claimed-devices/%s", uuid);
  http_resp_free(owner(&m, SC_KEY, "DELETE", path, NULL));
  cr_assert_eq(dev_fetch(&d, "after=", NULL, NULL), DEV_NOT_CLAIMED);
  cr_assert_eq(dev_report(&d, cbor, sizeof cbor), DEV_NOT_CLAIMED);
  dev_close(&d);
}

/* Ten certificates of about 1 KB each: an answer of some 10 KB. */
static void queue_large_set(const char *uuid) {
  char pem[1200], req[1500], id[37];
  for (int i = 0; i < 10; i++) {
    size_t k = (size_t)snprintf(pem, sizeof pem, "-----BEGIN CERTIFICATE-----\\n");
    for (int line = 0; line < 15; line++) {
      for (int c = 0; c < 64; c++) pem[k++] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[(c + line + i) % 64];
      k += (size_t)snprintf(pem + k, sizeof pem - k, "\\n");
    }
    snprintf(pem + k, sizeof pem - k, "-----END CERTIFICATE-----\\n");
    snprintf(req, sizeof req, "{\"serverCertificate\":{\"secTag\":%d,\"content\":\"%s\"}}", 100 + i, pem);
    sc_queue(&m, uuid, req, id);
  }
}

Test(coap, block2_answer_equals_the_http_bytes) {
  char cred[1200], uuid[37];
  sc_claim(&m, cred, uuid);
  queue_large_set(uuid);
  dev_client h;
  dev_open(&h, &m, DEV_HTTP, cred);
  uint8_t *http_body;
  size_t http_len;
  cr_assert_eq(dev_fetch(&h, "after=", &http_body, &http_len), DEV_COMMANDS);
  dev_close(&h);
  cr_assert_gt(http_len, 8 * 1024, "a multi-block answer (%zu bytes)", http_len);
  for (size_t t = 0; t < 2; t++) {
    dev_client d;
    dev_open(&d, &m, both[t], cred);
    uint8_t *body;
    size_t len;
    /* dev_fetch asks for Block2 blocks of 512 bytes; libcoap reassembles them. */
    cr_assert_eq(dev_fetch(&d, "after=", &body, &len), DEV_COMMANDS, "%s", dev_transport_name(both[t]));
    cr_assert_eq(len, http_len, "%s: %zu bytes, HTTP %zu", dev_transport_name(both[t]), len, http_len);
    cr_assert(!memcmp(body, http_body, len), "%s: the same bytes as over HTTP", dev_transport_name(both[t]));
    free(body);
    /* Without a Block2 option libcoap picks the block size; the bytes are the same. */
    cr_assert_eq(dev_coap_request(&d, "GET", "p/cmd?after=", -1, true, NULL, 0, 0, &body, &len), 205);
    cr_assert(len == http_len && !memcmp(body, http_body, len));
    free(body);
    dev_close(&d);
  }
  free(http_body);
}

Test(coap, a_block2_number_past_the_end_is_4_00) {
  char cred[1200], uuid[37], id[37];
  sc_claim(&m, cred, uuid);
  sc_queue(&m, uuid, "{\"finished\":{}}", id);
  dev_client d;
  dev_open(&d, &m, DEV_COAP, cred);
  uint8_t *body;
  size_t len;
  cr_assert_eq(dev_fetch(&d, "after=", &body, &len), DEV_COMMANDS);
  free(body);
  cr_assert_eq(dev_coap_get_block(&d, "p/cmd?after=&limit=5", 40, 512, NULL, NULL), 400);
  /* Block 0 of the same answer is fine. */
  cr_assert_eq(dev_coap_get_block(&d, "p/cmd?after=&limit=5", 0, 512, NULL, NULL), 205);
  dev_close(&d);
}

Test(coap, answers_fit_rx_max_size) {
  char cred[1200], uuid[37], id[37], st[24];
  sc_claim(&m, cred, uuid);
  for (int i = 0; i < 6; i++) sc_queue(&m, uuid, "{\"clientPrivateKeyGeneration\":{\"secTag\":16842753}}", id);
  dev_client d;
  dev_open(&d, &m, DEV_COAP, cred);
  for (long rx = 200; rx <= 900; rx += 41) {
    char q[64];
    uint8_t *body;
    size_t len;
    snprintf(q, sizeof q, "after=&rxMaxSize=%ld", rx);
    if (dev_fetch(&d, q, &body, &len) == DEV_COMMANDS) {
      cr_assert_lt(len + 16, (size_t)rx, "payload of %zu bytes for rxMaxSize %ld", len, rx);
      free(body);
    }
  }
  cr_assert_str_eq(sc_device_status(&m, uuid, st), "PENDING");
  dev_close(&d);
}

Test(coap, block1_upload_of_a_large_report_is_applied) {
  char cred[1200], uuid[37], id[37], st[24], path[200];
  sc_claim(&m, cred, uuid);
  sc_queue(&m, uuid, "{\"certificateSigningRequest\":{\"secTag\":16842753,\"attributes\":\"CN=big\"}}", id);
  for (size_t t = 0; t < 2; t++) {
    dev_client d;
    dev_open(&d, &m, both[t], cred);
    uint8_t *body;
    size_t len, n;
    cr_assert_eq(dev_fetch(&d, "after=", &body, &len), DEV_COMMANDS);
    dcbor_owned_command *c;
    char why[100];
    cr_assert_eq(dcbor_decode_commands(body, len, &c, &n, why, sizeof why), 0, "%s", why);
    free(body);
    cr_assert_eq(n, 2);
    /* A 3 KB %KEYGEN answer: seven Block1 blocks of 512 bytes with a Request-Tag. */
    /* The DER part: a SEQUENCE around a 2.2 KB OCTET STRING (the answer's checks look at
     * the envelope and the digest; a certificateSigningRequest does not onboard). */
    static uint8_t der[2208];
    der[0] = 0x30, der[1] = 0x82, der[2] = (sizeof der - 4) >> 8, der[3] = (sizeof der - 4) & 0xff;
    der[4] = 0x04, der[5] = 0x82, der[6] = (sizeof der - 8) >> 8, der[7] = (sizeof der - 8) & 0xff;
    for (size_t i = 8; i < sizeof der; i++) der[i] = (uint8_t)(i * 7 + t);
    char *msg = sc_keygen_answer_der(uuid, 9, 16842753, der, sizeof der);
    dcbor_response r[] = {{c[0].cid, DRSP_AT, 0, ""}, {c[1].cid, DRSP_AT, 0, msg}};
    uint8_t *cbor;
    size_t clen;
    cr_assert_eq(dcbor_encode_responses(r, 2, 0, &cbor, &clen), 0);
    cr_assert_gt(clen, 3000);
    cr_assert_eq(dev_report(&d, cbor, clen), DEV_ACCEPTED, "%s: status %d", dev_transport_name(both[t]), d.status);
    cr_assert_eq(d.status, 204);
    free(cbor);
    dcbor_commands_free(c, n);
    dev_close(&d);
    cr_assert_str_eq(sc_command_status(&m, uuid, id, st), "SUCCEEDED");
    snprintf(path, sizeof path, "/v1/claimed-devices/%s/provisioning/%s", uuid, id);
    http_resp *h = owner(&m, SC_KEY, "GET", path, NULL);
    json_t *resp = json_object_get(json_object_get(h->json, "response"), "certificateSigningRequest");
    /* The whole 3 KB answer arrived: the stored AT response is the one sent. */
    cr_assert_eq(strlen(jstr(resp, "message")), strlen(msg));
    cr_assert_str_eq(jstr(resp, "message"), msg);
    cr_assert_gt(strlen(jstr(resp, "csr")), 3000);
    cr_assert(strstr(msg, jstr(resp, "csr")), "the CSR is taken from it");
    http_resp_free(h);
    free(msg);
    if (t == 0) {
      /* Again over CoAPs: a new command. */
      sc_queue(&m, uuid, "{\"certificateSigningRequest\":{\"secTag\":16842753,\"attributes\":\"CN=big\"}}", id);
    }
  }
}

Test(coap, dtls_server_is_verified_against_the_ca) {
  char cred[1200], uuid[37], other_ca[400];
  sc_claim(&m, cred, uuid);
  /* Another mock has another CA; keep a copy of it and stop that mock at once, so that
   * a failing assertion below cannot leave it running. */
  mock other;
  mock_start(&other, "--coap-port", "-1", "--coaps-port", "-1", NULL);
  size_t pem_len = 0;
  char *pem = read_file(mock_ca_file(&other), &pem_len);
  int other_rc = mock_stop(&other);
  snprintf(other_ca, sizeof other_ca, "%s/other-ca.pem", m.dir);
  FILE *f = fopen(other_ca, "w");
  cr_assert(f && pem && strstr(pem, "BEGIN CERTIFICATE"));
  fwrite(pem, 1, pem_len, f);
  fclose(f);
  free(pem);
  cr_assert_eq(other_rc, 0);
  dev_client d;
  dev_open(&d, &m, DEV_COAPS, cred);
  dev_coap_trust(&d, other_ca);
  cr_assert_eq(dev_coap_request(&d, "GET", "p/cmd?after=", -1, true, NULL, 0, 0, NULL, NULL), -1,
               "a client trusting another CA gets no answer");
  cr_assert(strstr(dev_coap_failure(&d), "DTLS"), "failure: %s", dev_coap_failure(&d));
  dev_close(&d);
  /* The mock's own CA works. */
  dev_open(&d, &m, DEV_COAPS, cred);
  cr_assert_eq(dev_fetch(&d, "after=", NULL, NULL), DEV_NOTHING, "%s", dev_coap_failure(&d));
  dev_close(&d);
}

Test(coap, ready_file_and_line_name_the_coap_listeners) {
  json_t *ready = json_load_file(m.ready_file, 0, NULL);
  cr_assert(ready);
  const char *keys[] = {"http", "https", "coap", "coaps"};
  for (size_t i = 0; i < 4; i++) {
    json_t *l = json_object_get(ready, keys[i]);
    cr_assert(l, "ready file has %s", keys[i]);
    cr_assert_str_eq(jstr(l, "host"), "127.0.0.1");
    cr_assert_gt(jint(l, "port"), 0);
  }
  cr_assert_eq(jint(json_object_get(ready, "coap"), "port"), m.coap_port);
  json_decref(ready);
  char *log = read_file(m.log_file, NULL), want[200];
  snprintf(want, sizeof want, " https=127.0.0.1:%d coap=127.0.0.1:%d coaps=127.0.0.1:%d\n", m.https_port, m.coap_port,
           m.coaps_port);
  cr_assert(strstr(log, "nrfprov-mock ready http=") && strstr(log, want), "ready line in order: %s", log);
  free(log);
}

Test(coap, listeners_can_be_turned_off) {
  mock off;
  mock_start(&off, "--coap-port", "-1", "--coaps-port", "-1", NULL);
  json_t *ready = json_load_file(off.ready_file, 0, NULL);
  cr_assert_eq(mock_stop(&off), 0);
  cr_assert_null(json_object_get(ready, "coap"));
  cr_assert_null(json_object_get(ready, "coaps"));
  cr_assert(json_object_get(ready, "http"));
  json_decref(ready);
}

Test(coap, requests_are_logged) {
  char cred[1200], uuid[37];
  sc_claim(&m, cred, uuid);
  for (size_t t = 0; t < 2; t++) {
    dev_client d;
    dev_open(&d, &m, both[t], cred);
    cr_assert_eq(dev_fetch(&d, "after=&rxMaxSize=2048", NULL, NULL), DEV_NOTHING);
    dev_close(&d);
  }
  char *log = read_file(m.log_file, NULL), want[200];
  const char *protos[] = {"coap", "coaps"};
  for (size_t t = 0; t < 2; t++) {
    snprintf(want, sizeof want, " %s POST p/auth 2.01 ", protos[t]);
    cr_assert(strstr(log, want), "log has '%s': %s", want, log);
    snprintf(want, sizeof want, " %s GET p/cmd 2.05 ", protos[t]);
    char *line = strstr(log, want);
    cr_assert(line, "log has '%s': %s", want, log);
    char *eol = strchr(line, '\n');
    if (eol) *eol = 0;
    snprintf(want, sizeof want, "device=%s", uuid);
    cr_assert(strstr(line, want), "the line names the device: %s", line);
    if (eol) *eol = '\n';
  }
  free(log);
}

Test(coap, a_port_in_use_fails_the_start_with_one_line) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t sl = sizeof sa;
  cr_assert(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
  char port[16], out[4096], err[4096];
  snprintf(port, sizeof port, "%d", ntohs(sa.sin_port));
  const char *flags[] = {"--coap-port", "--coaps-port"};
  for (size_t i = 0; i < 2; i++) {
    const char *a[] = {"--in-memory", "--http-port", "0", "--https-port", "-1", i ? "--coap-port" : "--coaps-port", "-1",
                       flags[i], port, NULL};
    int rc = run_mock_binary(a, out, sizeof out, err, sizeof err);
    cr_assert_eq(rc, 1, "exit 1 (got %d): %s", rc, err);
    cr_assert(strstr(err, i ? "cannot listen for coaps" : "cannot listen for coap "), "%s", err);
    cr_assert_eq(strchr(err, '\n'), err + strlen(err) - 1, "one line: %s", err);
    cr_assert(!strstr(out, "ready"), "nothing half-started");
  }
  close(fd);
}
