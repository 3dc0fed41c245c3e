/* Unit tests of server/pki: the CA, the server certificate, device certificates.
 *
 * Every certificate is checked with mbedTLS's own verifier and parser, the way a device
 * would; the subjectAltName extension is read from the DER by hand because mbedTLS 2.28
 * neither lists nor checks iPAddress entries. TLS stacks reading the PEM are covered by
 * test_pki_tls.c.
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/asn1.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>

#include "pki/pki.h"

#define TEST_TIMEOUT .timeout = 120

static char why[256];

/* Scratch directories. */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

static char scratch[64];

static void make_scratch(void) {
  strcpy(scratch, "/tmp/test_pki.XXXXXX");
  cr_assert_not_null(mkdtemp(scratch));
}

static void remove_scratch(void) {
  if (scratch[0]) nftw(scratch, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static char *path_in(const char *dir, const char *name) {
  static char buf[16][512];
  static int next;
  char *p = buf[next++ % 16];
  snprintf(p, 512, "%s/%s", dir, name);
  return p;
}

static char *read_text(const char *path) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "cannot open %s", path);
  char *buf = calloc(1, 1 << 16);
  size_t n = fread(buf, 1, (1 << 16) - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f, "cannot create %s", path);
  fputs(text, f);
  fclose(f);
}

static unsigned mode_of(const char *path) {
  struct stat st;
  cr_assert_eq(stat(path, &st), 0, "stat %s: %s", path, strerror(errno));
  return st.st_mode & 07777;
}

/* Certificates. */

static void parse(mbedtls_x509_crt *crt, const char *pem) {
  mbedtls_x509_crt_init(crt);
  int ret = mbedtls_x509_crt_parse(crt, (const unsigned char *)pem, strlen(pem) + 1);
  cr_assert_eq(ret, 0, "certificate PEM does not parse: -0x%04x", (unsigned)-ret);
}

static int count_certs(const char *pem) {
  int n = 0;
  for (const char *s = pem; (s = strstr(s, "-----BEGIN CERTIFICATE-----")); s++) n++;
  return n;
}

/* mbedTLS's verdict on leaf against the CA PEM, for host cn (NULL = any). */
static uint32_t verify(const char *leaf_pem, const char *ca_pem, const char *cn) {
  mbedtls_x509_crt leaf, ca;
  parse(&leaf, leaf_pem);
  parse(&ca, ca_pem);
  uint32_t flags = 0;
  int ret = mbedtls_x509_crt_verify(&leaf, &ca, NULL, cn, &flags, NULL, NULL);
  if (ret != 0 && flags == 0) flags = 0x80000000u;
  mbedtls_x509_crt_free(&leaf);
  mbedtls_x509_crt_free(&ca);
  return flags;
}

/* Point *val at the extnValue of extension oid in crt by walking its TBSCertificate. */
static int find_ext(const mbedtls_x509_crt *crt, const char *oid, size_t oid_len, unsigned char **val,
                    size_t *val_len) {
  unsigned char *p = crt->tbs.p, *end = p + crt->tbs.len;
  size_t n;
  if (mbedtls_asn1_get_tag(&p, end, &n, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) return -1;
  end = p + n;
  while (p < end) {
    unsigned char tag = *p++;
    if (mbedtls_asn1_get_len(&p, end, &n)) return -1;
    if (tag != (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 3)) {
      p += n;
      continue;
    }
    unsigned char *xend = p + n;
    if (mbedtls_asn1_get_tag(&p, xend, &n, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) return -1;
    while (p < xend) {
      if (mbedtls_asn1_get_tag(&p, xend, &n, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) return -1;
      unsigned char *one = p + n;
      size_t id_len;
      if (mbedtls_asn1_get_tag(&p, one, &id_len, MBEDTLS_ASN1_OID)) return -1;
      unsigned char *id = p;
      p += id_len;
      int critical;
      if (*p == MBEDTLS_ASN1_BOOLEAN && mbedtls_asn1_get_bool(&p, one, &critical)) return -1;
      if (mbedtls_asn1_get_tag(&p, one, &n, MBEDTLS_ASN1_OCTET_STRING)) return -1;
      if (id_len == oid_len && memcmp(id, oid, oid_len) == 0) {
        *val = p;
        *val_len = n;
        return 0;
      }
      p = one;
    }
  }
  return -1;
}

/* Whether the leaf's subjectAltName holds a GeneralName [tag] with these bytes. */
static int has_san(const char *leaf_pem, int tag, const void *bytes, size_t len) {
  mbedtls_x509_crt crt;
  parse(&crt, leaf_pem);
  unsigned char *p, *end;
  size_t n;
  int found = 0;
  cr_assert_eq(find_ext(&crt, MBEDTLS_OID_SUBJECT_ALT_NAME, MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME),
                        &p, &n),
               0, "no subjectAltName extension");
  end = p + n;
  cr_assert_eq(mbedtls_asn1_get_tag(&p, end, &n, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE), 0);
  cr_assert_eq(p + n, end, "GeneralNames does not fill the extension");
  while (p < end) {
    unsigned char t = *p++;
    cr_assert_eq(mbedtls_asn1_get_len(&p, end, &n), 0);
    if (t == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | tag) && n == len && memcmp(p, bytes, len) == 0) found = 1;
    p += n;
  }
  mbedtls_x509_crt_free(&crt);
  return found;
}

static int has_ip(const char *leaf_pem, const char *ip) {
  unsigned char b[16];
  if (inet_pton(AF_INET, ip, b) == 1) return has_san(leaf_pem, 7, b, 4);
  cr_assert_eq(inet_pton(AF_INET6, ip, b), 1);
  return has_san(leaf_pem, 7, b, 16);
}

static int has_dns(const char *leaf_pem, const char *name) { return has_san(leaf_pem, 2, name, strlen(name)); }

/* The value of the subject's CN, NUL-terminated in out. */
static void subject_cn(const mbedtls_x509_crt *crt, char *out, size_t size) {
  out[0] = '\0';
  for (const mbedtls_x509_name *n = &crt->subject; n; n = n->next) {
    if (n->oid.len == MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_CN) &&
        memcmp(n->oid.p, MBEDTLS_OID_AT_CN, n->oid.len) == 0) {
      size_t len = n->val.len < size - 1 ? n->val.len : size - 1;
      memcpy(out, n->val.p, len);
      out[len] = '\0';
    }
  }
}

static pki *open_ok(const pki_options *o) {
  pki *p = NULL;
  why[0] = '\0';
  int ret = pki_open(&p, o, why, sizeof why);
  cr_assert_eq(ret, 0, "pki_open failed: %s", why);
  cr_assert_not_null(p);
  return p;
}

static void open_fails(const pki_options *o, const char *needle) {
  pki *p = (pki *)1;
  why[0] = '\0';
  cr_assert_eq(pki_open(&p, o, why, sizeof why), -1, "pki_open should fail");
  cr_assert_null(p);
  cr_assert(strchr(why, '\n') == NULL && why[0], "reason should be one line: \"%s\"", why);
  if (needle) cr_assert(strstr(why, needle), "reason \"%s\" should mention \"%s\"", why, needle);
}

/* Device keys and CSRs. */

typedef struct {
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
} rng;

static void rng_init(rng *r) {
  mbedtls_entropy_init(&r->entropy);
  mbedtls_ctr_drbg_init(&r->drbg);
  cr_assert_eq(mbedtls_ctr_drbg_seed(&r->drbg, mbedtls_entropy_func, &r->entropy, NULL, 0), 0);
}

static void rng_free(rng *r) {
  mbedtls_ctr_drbg_free(&r->drbg);
  mbedtls_entropy_free(&r->entropy);
}

static void new_key(rng *r, mbedtls_pk_context *key) {
  mbedtls_pk_init(key);
  cr_assert_eq(mbedtls_pk_setup(key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
  cr_assert_eq(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*key), mbedtls_ctr_drbg_random,
                                   &r->drbg),
               0);
}

/* A DER CSR for key with subject, written to csr; returns its length. */
static size_t make_csr(rng *r, mbedtls_pk_context *key, const char *subject, unsigned char *csr, size_t size) {
  mbedtls_x509write_csr w;
  mbedtls_x509write_csr_init(&w);
  mbedtls_x509write_csr_set_md_alg(&w, MBEDTLS_MD_SHA256);
  mbedtls_x509write_csr_set_key(&w, key);
  cr_assert_eq(mbedtls_x509write_csr_set_subject_name(&w, subject), 0);
  int len = mbedtls_x509write_csr_der(&w, csr, size, mbedtls_ctr_drbg_random, &r->drbg);
  mbedtls_x509write_csr_free(&w);
  cr_assert_gt(len, 0);
  memmove(csr, csr + size - (size_t)len, (size_t)len);
  return (size_t)len;
}

static size_t pubkey_der(mbedtls_pk_context *key, unsigned char *out, size_t size) {
  int len = mbedtls_pk_write_pubkey_der(key, out, size);
  cr_assert_gt(len, 0);
  memmove(out, out + size - (size_t)len, (size_t)len);
  return (size_t)len;
}

/* The server certificate. */

Test(pki, in_memory_server_cert_chains_to_ca_with_default_hosts, TEST_TIMEOUT) {
  pki_options o = {0};
  pki *p = open_ok(&o);
  const char *ca = pki_ca_pem(p), *leaf = pki_server_leaf_pem(p), *chain = pki_server_cert_pem(p);
  cr_assert_eq(count_certs(ca), 1);
  cr_assert_eq(count_certs(leaf), 1);
  cr_assert_eq(count_certs(chain), 2);
  cr_assert_eq(strncmp(chain, leaf, strlen(leaf)), 0, "the chain starts with the leaf");
  cr_assert(strstr(chain, ca), "the chain holds the CA");

  cr_assert_eq(verify(leaf, ca, "localhost"), 0);
  cr_assert_eq(verify(leaf, ca, "provisioning-http.nrfcloud.com"), 0);
  cr_assert_eq(verify(leaf, ca, "coap.nrfcloud.com"), 0);
  cr_assert(verify(leaf, ca, "example.com") & MBEDTLS_X509_BADCERT_CN_MISMATCH);
  cr_assert(has_ip(leaf, "127.0.0.1"));
  cr_assert(has_dns(leaf, "localhost"));
  cr_assert_not(has_dns(leaf, "127.0.0.1"), "IP addresses are not dNSNames");

  mbedtls_x509_crt crt, cacrt;
  parse(&crt, leaf);
  parse(&cacrt, ca);
  char cn[128];
  subject_cn(&crt, cn, sizeof cn);
  cr_assert_str_eq(cn, "provisioning-http.nrfcloud.com");
  cr_assert_not(crt.ca_istrue);
  cr_assert_eq(mbedtls_x509_crt_check_extended_key_usage(&crt, MBEDTLS_OID_SERVER_AUTH,
                                                         MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)),
               0);
  cr_assert_eq(mbedtls_x509_crt_check_key_usage(&crt, MBEDTLS_X509_KU_DIGITAL_SIGNATURE), 0);
  cr_assert(mbedtls_pk_can_do(&crt.pk, MBEDTLS_PK_ECKEY));
  cr_assert_eq(mbedtls_pk_ec(crt.pk)->grp.id, MBEDTLS_ECP_DP_SECP256R1);
  cr_assert_eq(crt.valid_to.year - crt.valid_from.year, 10);

  cr_assert(cacrt.ca_istrue);
  cr_assert_eq(cacrt.max_pathlen, 1, "pathlen 0 (mbedTLS stores it plus one)");
  cr_assert_eq(mbedtls_x509_crt_check_key_usage(&cacrt, MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN), 0);
  cr_assert_eq(cacrt.valid_to.year - cacrt.valid_from.year, 20);
  cr_assert_eq(mbedtls_pk_ec(cacrt.pk)->grp.id, MBEDTLS_ECP_DP_SECP256R1);
  subject_cn(&cacrt, cn, sizeof cn);
  cr_assert_eq(strncmp(cn, "nrfprov-mock local CA ", 22), 0, "CA CN is \"%s\"", cn);
  unsigned char *ski;
  size_t ski_len;
  cr_assert_eq(find_ext(&cacrt, MBEDTLS_OID_SUBJECT_KEY_IDENTIFIER,
                        MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_KEY_IDENTIFIER), &ski, &ski_len),
               0, "the CA has a subjectKeyIdentifier");

  /* The key is SEC1 and belongs to the leaf. */
  const char *key = pki_server_key_pem(p);
  cr_assert_eq(strncmp(key, "-----BEGIN EC PRIVATE KEY-----", 30), 0);
  mbedtls_pk_context pk;
  mbedtls_pk_init(&pk);
  cr_assert_eq(mbedtls_pk_parse_key(&pk, (const unsigned char *)key, strlen(key) + 1, NULL, 0), 0);
  cr_assert_eq(mbedtls_pk_check_pair(&crt.pk, &pk), 0);
  mbedtls_pk_free(&pk);
  mbedtls_x509_crt_free(&crt);
  mbedtls_x509_crt_free(&cacrt);
  pki_close(p);
}

/* A lazy PKI generates on first use; a healthy generation leaves no failure reason. */
Test(pki, lazy_generation_on_first_use, TEST_TIMEOUT) {
  pki_options o = {.lazy = 1};
  pki *p = open_ok(&o);
  cr_assert_null(pki_error(p), "nothing failed before generation");
  cr_assert_eq(count_certs(pki_ca_pem(p)), 1);
  cr_assert_eq(verify(pki_server_leaf_pem(p), pki_ca_pem(p), "localhost"), 0);
  cr_assert_null(pki_error(p), "nothing failed after it");
  pki_close(p);
}

Test(pki, null_options_mean_defaults_and_installs_differ, TEST_TIMEOUT) {
  pki *a = open_ok(NULL), *b = open_ok(NULL);
  cr_assert_str_neq(pki_ca_pem(a), pki_ca_pem(b));
  mbedtls_x509_crt ca_a, ca_b;
  parse(&ca_a, pki_ca_pem(a));
  parse(&ca_b, pki_ca_pem(b));
  char cn_a[128], cn_b[128];
  subject_cn(&ca_a, cn_a, sizeof cn_a);
  subject_cn(&ca_b, cn_b, sizeof cn_b);
  cr_assert_str_neq(cn_a, cn_b, "two CAs should have different names");
  cr_assert_neq(verify(pki_server_leaf_pem(a), pki_ca_pem(b), NULL), 0, "a's server is not b's");
  mbedtls_x509_crt_free(&ca_a);
  mbedtls_x509_crt_free(&ca_b);
  pki_close(a);
  pki_close(b);
  pki_close(NULL);
}

Test(pki, custom_hosts_give_ipv6_and_dns_sans, TEST_TIMEOUT) {
  pki_options o = {.tls_hosts = " mock.example , ::1,[fe80::2],10.1.2.3,*.wild.example,mock.example"};
  pki *p = open_ok(&o);
  const char *leaf = pki_server_leaf_pem(p), *ca = pki_ca_pem(p);
  cr_assert_eq(verify(leaf, ca, "mock.example"), 0);
  cr_assert_eq(verify(leaf, ca, "x.wild.example"), 0);
  cr_assert(verify(leaf, ca, "localhost") & MBEDTLS_X509_BADCERT_CN_MISMATCH);
  cr_assert(has_ip(leaf, "::1"));
  cr_assert(has_ip(leaf, "fe80::2"));
  cr_assert(has_ip(leaf, "10.1.2.3"));
  mbedtls_x509_crt crt;
  parse(&crt, leaf);
  char cn[128];
  subject_cn(&crt, cn, sizeof cn);
  cr_assert_str_eq(cn, "mock.example");
  mbedtls_x509_crt_free(&crt);
  pki_close(p);
}

Test(pki, bad_tls_hosts_are_refused, TEST_TIMEOUT) {
  const char *bad[] = {"", " , ,", "bad host", "ok.example,no/slash", "[::1", "é.example"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    pki_options o = {.tls_hosts = bad[i]};
    open_fails(&o, "tls hosts");
  }
  char many[4096] = "";
  for (int i = 0; i < 40; i++) snprintf(many + strlen(many), sizeof many - strlen(many), "h%d.example,", i);
  pki_options o = {.tls_hosts = many};
  open_fails(&o, "hosts");
  char longname[400];
  memset(longname, 'a', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  o.tls_hosts = longname;
  open_fails(&o, "longer");
}

/* The directory. */

Test(pki, dir_is_created_with_private_keys_and_reused, TEST_TIMEOUT) {
  make_scratch();
  char dir[256];
  snprintf(dir, sizeof dir, "%s/data/pki", scratch);
  pki_options o = {.dir = dir};
  pki *p = open_ok(&o);
  char *ca1 = strdup(pki_ca_pem(p)), *leaf1 = strdup(pki_server_leaf_pem(p));
  char *key1 = strdup(pki_server_key_pem(p));
  pki_close(p);

  cr_assert_eq(mode_of(dir), 0700);
  cr_assert_eq(mode_of(path_in(scratch, "data")), 0700);
  cr_assert_eq(mode_of(path_in(dir, "ca.key")), 0600);
  cr_assert_eq(mode_of(path_in(dir, "server.key")), 0600);
  cr_assert_eq(mode_of(path_in(dir, "ca.pem")), 0644);
  cr_assert_eq(mode_of(path_in(dir, "server.pem")), 0644);
  char *ca_file = read_text(path_in(dir, "ca.pem")), *server_file = read_text(path_in(dir, "server.pem"));
  cr_assert_str_eq(ca_file, ca1);
  cr_assert_eq(count_certs(server_file), 2, "server.pem holds the chain");
  cr_assert_eq(strncmp(server_file, leaf1, strlen(leaf1)), 0);
  char *ca_key = read_text(path_in(dir, "ca.key"));
  cr_assert_eq(strncmp(ca_key, "-----BEGIN EC PRIVATE KEY-----", 30), 0);

  /* Nothing but the four files and the lock is left behind. */
  const char *expected[] = {"ca.pem", "ca.key", "server.pem", "server.key", "pki.lock"};
  for (size_t i = 0; i < 5; i++) cr_assert_eq(access(path_in(dir, expected[i]), F_OK), 0);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 5", dir);
  cr_assert_eq(system(cmd), 0, "stray files in %s", dir);

  /* A second open (with the default hosts spelled out) reuses everything. */
  pki_options again = {.dir = dir, .tls_hosts = PKI_DEFAULT_TLS_HOSTS};
  p = open_ok(&again);
  cr_assert_str_eq(pki_ca_pem(p), ca1);
  cr_assert_str_eq(pki_server_leaf_pem(p), leaf1);
  cr_assert_str_eq(pki_server_key_pem(p), key1);
  pki_close(p);
  free(ca1), free(leaf1), free(key1), free(ca_file), free(server_file), free(ca_key);
  remove_scratch();
}

Test(pki, new_tls_hosts_regenerate_the_server_cert_and_keep_the_ca, TEST_TIMEOUT) {
  make_scratch();
  pki_options o = {.dir = scratch};
  pki *p = open_ok(&o);
  char *ca1 = strdup(pki_ca_pem(p)), *leaf1 = strdup(pki_server_leaf_pem(p));
  pki_close(p);

  o.tls_hosts = "device.local,192.168.1.10";
  p = open_ok(&o);
  cr_assert_str_eq(pki_ca_pem(p), ca1);
  cr_assert_str_neq(pki_server_leaf_pem(p), leaf1);
  cr_assert_eq(verify(pki_server_leaf_pem(p), ca1, "device.local"), 0);
  cr_assert(has_ip(pki_server_leaf_pem(p), "192.168.1.10"));
  cr_assert_not(has_dns(pki_server_leaf_pem(p), "localhost"));
  char *leaf2 = strdup(pki_server_leaf_pem(p));
  pki_close(p);

  /* The stored file follows, and the same hosts again change nothing. */
  char *server_file = read_text(path_in(scratch, "server.pem"));
  cr_assert_eq(strncmp(server_file, leaf2, strlen(leaf2)), 0);
  p = open_ok(&o);
  cr_assert_str_eq(pki_server_leaf_pem(p), leaf2);
  pki_close(p);

  /* Another order is another certificate: the first host is the CN. */
  o.tls_hosts = "192.168.1.10,device.local";
  p = open_ok(&o);
  cr_assert_str_neq(pki_server_leaf_pem(p), leaf2);
  cr_assert_str_eq(pki_ca_pem(p), ca1);
  pki_close(p);
  free(ca1), free(leaf1), free(leaf2), free(server_file);
  remove_scratch();
}

Test(pki, damaged_server_files_are_made_anew, TEST_TIMEOUT) {
  make_scratch();
  pki_options o = {.dir = scratch};
  pki *p = open_ok(&o);
  char *ca1 = strdup(pki_ca_pem(p)), *leaf1 = strdup(pki_server_leaf_pem(p));
  pki_close(p);

  write_text(path_in(scratch, "server.key"), "not a key\n");
  p = open_ok(&o);
  cr_assert_str_eq(pki_ca_pem(p), ca1);
  cr_assert_str_neq(pki_server_leaf_pem(p), leaf1);
  cr_assert_eq(verify(pki_server_leaf_pem(p), ca1, "localhost"), 0);
  pki_close(p);
  cr_assert_eq(mode_of(path_in(scratch, "server.key")), 0600);

  cr_assert_eq(unlink(path_in(scratch, "server.pem")), 0);
  p = open_ok(&o);
  cr_assert_eq(verify(pki_server_leaf_pem(p), ca1, "localhost"), 0);
  pki_close(p);
  cr_assert_eq(access(path_in(scratch, "server.pem"), F_OK), 0);
  free(ca1), free(leaf1);
  remove_scratch();
}

Test(pki, ca_file_defects_are_errors_naming_the_file, TEST_TIMEOUT) {
  make_scratch();
  char a[256], b[256];
  snprintf(a, sizeof a, "%s/a", scratch);
  snprintf(b, sizeof b, "%s/b", scratch);
  pki_options oa = {.dir = a}, ob = {.dir = b};
  pki_close(open_ok(&oa));
  pki_close(open_ok(&ob));

  /* A CA key of another install. */
  char *other_key = read_text(path_in(b, "ca.key"));
  char *own_key = read_text(path_in(a, "ca.key"));
  write_text(path_in(a, "ca.key"), other_key);
  open_fails(&oa, "ca.key");

  /* A damaged CA certificate. */
  write_text(path_in(a, "ca.key"), own_key);
  char *own_ca = read_text(path_in(a, "ca.pem"));
  write_text(path_in(a, "ca.pem"), "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
  open_fails(&oa, "ca.pem");

  /* The key gone while the certificate stays. */
  write_text(path_in(a, "ca.pem"), own_ca);
  cr_assert_eq(unlink(path_in(a, "ca.key")), 0);
  open_fails(&oa, "ca.key");

  /* A directory that is a file. */
  pki_options of = {.dir = path_in(a, "ca.pem")};
  open_fails(&of, "ca.pem");
  free(other_key), free(own_key), free(own_ca);
  remove_scratch();
}

/* Given files. */

Test(pki, given_ca_signs_the_server_and_device_certs, TEST_TIMEOUT) {
  make_scratch();
  pki_options oa = {.dir = scratch};
  pki *a = open_ok(&oa);
  char *ca = strdup(pki_ca_pem(a));
  pki_close(a);

  pki_options ob = {.ca_cert = path_in(scratch, "ca.pem"), .ca_key = path_in(scratch, "ca.key")};
  pki *b = open_ok(&ob);
  cr_assert_str_eq(pki_ca_pem(b), ca);
  cr_assert_eq(verify(pki_server_leaf_pem(b), ca, "localhost"), 0);

  rng r;
  rng_init(&r);
  mbedtls_pk_context key;
  new_key(&r, &key);
  unsigned char csr[1024];
  size_t csr_len = make_csr(&r, &key, "CN=dev-1", csr, sizeof csr);
  char *cert = NULL;
  cr_assert_eq(pki_issue_device_cert(b, csr, csr_len, "dev-1", &cert, why, sizeof why), 0, "%s", why);
  cr_assert_eq(verify(cert, ca, NULL), 0);
  free(cert);
  mbedtls_pk_free(&key);
  rng_free(&r);
  pki_close(b);
  free(ca);
  remove_scratch();
}

static void write_bytes(const char *path, const unsigned char *data, size_t len) {
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f, "cannot create %s", path);
  cr_assert_eq(fwrite(data, 1, len, f), len);
  fclose(f);
}

Test(pki, foreign_der_ca_is_reproduced_byte_for_byte_and_bounds_its_children, TEST_TIMEOUT) {
  /* A CA made elsewhere: DER files, a PrintableString country, no subjectKeyIdentifier,
   * and one year of validity, shorter than the ten a server certificate asks for. */
  make_scratch();
  rng r;
  rng_init(&r);
  mbedtls_pk_context key;
  new_key(&r, &key);
  mbedtls_x509write_cert w;
  mbedtls_mpi serial;
  mbedtls_x509write_crt_init(&w);
  mbedtls_mpi_init(&serial);
  mbedtls_mpi_lset(&serial, 7);
  const char *name = "C=NO,O=Test Org,OU=Lab,CN=Test Root";
  mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
  mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
  mbedtls_x509write_crt_set_subject_key(&w, &key);
  mbedtls_x509write_crt_set_issuer_key(&w, &key);
  cr_assert_eq(mbedtls_x509write_crt_set_serial(&w, &serial), 0);
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  char not_after[16];
  int end_year = tm.tm_year + 1900 + 1;
  snprintf(not_after, sizeof not_after, "%04d0101000000", end_year % 10000);
  cr_assert_eq(mbedtls_x509write_crt_set_validity(&w, "20200101000000", not_after), 0);
  cr_assert_eq(mbedtls_x509write_crt_set_subject_name(&w, name), 0);
  cr_assert_eq(mbedtls_x509write_crt_set_issuer_name(&w, name), 0);
  cr_assert_eq(mbedtls_x509write_crt_set_basic_constraints(&w, 1, -1), 0);
  unsigned char der[2048], key_der[512];
  int len = mbedtls_x509write_crt_der(&w, der, sizeof der, mbedtls_ctr_drbg_random, &r.drbg);
  cr_assert_gt(len, 0);
  write_bytes(path_in(scratch, "ca.der"), der + sizeof der - len, (size_t)len);
  int key_len = mbedtls_pk_write_key_der(&key, key_der, sizeof key_der);
  cr_assert_gt(key_len, 0);
  write_bytes(path_in(scratch, "ca.key.der"), key_der + sizeof key_der - key_len, (size_t)key_len);
  mbedtls_x509write_crt_free(&w);
  mbedtls_mpi_free(&serial);

  pki_options o = {.ca_cert = path_in(scratch, "ca.der"), .ca_key = path_in(scratch, "ca.key.der")};
  pki *p = open_ok(&o);
  cr_assert_eq(verify(pki_server_leaf_pem(p), pki_ca_pem(p), "localhost"), 0);
  mbedtls_x509_crt ca, leaf;
  parse(&ca, pki_ca_pem(p));
  parse(&leaf, pki_server_leaf_pem(p));
  cr_assert_eq(ca.raw.len, (size_t)len);
  cr_assert_eq(memcmp(ca.raw.p, der + sizeof der - len, (size_t)len), 0);
  cr_assert_eq(leaf.issuer_raw.len, ca.subject_raw.len);
  cr_assert_eq(memcmp(leaf.issuer_raw.p, ca.subject_raw.p, ca.subject_raw.len), 0,
               "the issuer name must match the CA's subject byte for byte (GnuTLS compares raw names)");
  cr_assert_eq(leaf.valid_to.year, end_year, "the server certificate should end with its CA");
  cr_assert_eq(leaf.valid_to.mon, 1);
  mbedtls_x509_crt_free(&ca);
  mbedtls_x509_crt_free(&leaf);
  pki_close(p);
  mbedtls_pk_free(&key);
  rng_free(&r);
  remove_scratch();
}

Test(pki, given_ca_in_a_dir_keeps_the_server_cert_until_the_ca_changes, TEST_TIMEOUT) {
  make_scratch();
  char a[256], c[256];
  snprintf(a, sizeof a, "%s/a", scratch);
  snprintf(c, sizeof c, "%s/c", scratch);
  pki_options oa = {.dir = a};
  pki_close(open_ok(&oa));
  char *ca_a = read_text(path_in(a, "ca.pem"));

  pki_options oc = {.dir = c, .ca_cert = path_in(a, "ca.pem"), .ca_key = path_in(a, "ca.key")};
  pki *p = open_ok(&oc);
  char *leaf1 = strdup(pki_server_leaf_pem(p));
  pki_close(p);
  cr_assert_eq(verify(leaf1, ca_a, "localhost"), 0);
  cr_assert_neq(access(path_in(c, "ca.pem"), F_OK), 0, "a given CA is not copied");
  cr_assert_neq(access(path_in(c, "ca.key"), F_OK), 0, "a given CA key is not copied");
  cr_assert_eq(access(path_in(c, "server.pem"), F_OK), 0);

  p = open_ok(&oc);
  cr_assert_str_eq(pki_server_leaf_pem(p), leaf1, "same CA, same server cert");
  pki_close(p);

  /* Without the given CA the directory gets its own, and a server cert that chains to it. */
  pki_options own = {.dir = c};
  p = open_ok(&own);
  cr_assert_str_neq(pki_ca_pem(p), ca_a);
  cr_assert_str_neq(pki_server_leaf_pem(p), leaf1);
  cr_assert_eq(verify(pki_server_leaf_pem(p), pki_ca_pem(p), "localhost"), 0);
  pki_close(p);
  free(ca_a), free(leaf1);
  remove_scratch();
}

Test(pki, given_ca_defects_are_refused, TEST_TIMEOUT) {
  make_scratch();
  char a[256], b[256];
  snprintf(a, sizeof a, "%s/a", scratch);
  snprintf(b, sizeof b, "%s/b", scratch);
  pki_options oa = {.dir = a}, ob = {.dir = b};
  pki_close(open_ok(&oa));
  pki_close(open_ok(&ob));

  pki_options o = {.ca_cert = path_in(a, "ca.pem"), .ca_key = path_in(b, "ca.key")};
  open_fails(&o, path_in(b, "ca.key"));

  /* A server certificate is no CA, even with its own key. */
  o = (pki_options){.ca_cert = path_in(a, "server.pem"), .ca_key = path_in(a, "server.key")};
  open_fails(&o, "not a CA");

  o = (pki_options){.ca_cert = path_in(a, "missing.pem"), .ca_key = path_in(a, "ca.key")};
  open_fails(&o, "missing.pem");

  write_text(path_in(scratch, "garbage"), "garbage\n");
  o = (pki_options){.ca_cert = path_in(a, "ca.pem"), .ca_key = path_in(scratch, "garbage")};
  open_fails(&o, "garbage");
  o = (pki_options){.ca_cert = path_in(scratch, "garbage"), .ca_key = path_in(a, "ca.key")};
  open_fails(&o, "garbage");

  o = (pki_options){.ca_cert = path_in(a, "ca.pem")};
  open_fails(&o, "--ca-key");
  o = (pki_options){.tls_key = path_in(a, "server.key")};
  open_fails(&o, "--tls-cert");
  remove_scratch();
}

Test(pki, given_server_cert_is_served_as_is, TEST_TIMEOUT) {
  make_scratch();
  char a[256], b[256];
  snprintf(a, sizeof a, "%s/a", scratch);
  snprintf(b, sizeof b, "%s/b", scratch);
  pki_options oa = {.dir = a}, ob = {.dir = b};
  pki_close(open_ok(&oa));
  pki_close(open_ok(&ob));
  char *server_a = read_text(path_in(a, "server.pem")), *key_a = read_text(path_in(a, "server.key"));

  pki_options o = {.tls_cert = path_in(a, "server.pem"), .tls_key = path_in(a, "server.key")};
  pki *p = open_ok(&o);
  cr_assert_str_eq(pki_server_cert_pem(p), server_a);
  cr_assert_eq(strncmp(server_a, pki_server_leaf_pem(p), strlen(pki_server_leaf_pem(p))), 0);
  cr_assert_eq(count_certs(pki_server_leaf_pem(p)), 1);
  cr_assert_str_eq(pki_server_key_pem(p), key_a);
  pki_close(p);

  /* In a directory the given pair is used, and nothing of the server is written. */
  char c[256];
  snprintf(c, sizeof c, "%s/c", scratch);
  o.dir = c;
  p = open_ok(&o);
  cr_assert_str_eq(pki_server_cert_pem(p), server_a);
  cr_assert_eq(access(path_in(c, "ca.pem"), F_OK), 0, "the CA is still made for device certs");
  cr_assert_neq(access(path_in(c, "server.pem"), F_OK), 0);
  pki_close(p);

  o = (pki_options){.tls_cert = path_in(a, "server.pem"), .tls_key = path_in(b, "server.key")};
  open_fails(&o, "does not match");
  free(server_a), free(key_a);
  remove_scratch();
}

/* Device certificates. */

Test(pki, device_cert_carries_the_csr_key_and_subject, TEST_TIMEOUT) {
  pki *p = open_ok(NULL);
  rng r;
  rng_init(&r);
  mbedtls_pk_context key;
  new_key(&r, &key);
  unsigned char csr[1024];
  size_t csr_len = make_csr(&r, &key, "CN=what the device says,O=Nordic", csr, sizeof csr);

  char *cert = NULL;
  const char *id = "nrf-352656100123456";
  cr_assert_eq(pki_issue_device_cert(p, csr, csr_len, id, &cert, why, sizeof why), 0, "%s", why);
  cr_assert_not_null(cert);
  cr_assert_eq(count_certs(cert), 1);
  cr_assert_eq(verify(cert, pki_ca_pem(p), NULL), 0);

  mbedtls_x509_crt crt;
  parse(&crt, cert);
  char dn[256];
  mbedtls_x509_dn_gets(dn, sizeof dn, &crt.subject);
  cr_assert_str_eq(dn, "CN=what the device says, O=Nordic", "the certificate names what the CSR names");
  /* Byte for byte: the same attributes, order and string types. */
  mbedtls_x509_csr parsed;
  mbedtls_x509_csr_init(&parsed);
  cr_assert_eq(mbedtls_x509_csr_parse_der(&parsed, csr, csr_len), 0);
  cr_assert_eq(crt.subject_raw.len, parsed.subject_raw.len);
  cr_assert_eq(memcmp(crt.subject_raw.p, parsed.subject_raw.p, parsed.subject_raw.len), 0);
  mbedtls_x509_csr_free(&parsed);

  unsigned char want[200], got[200];
  size_t want_len = pubkey_der(&key, want, sizeof want), got_len = pubkey_der(&crt.pk, got, sizeof got);
  cr_assert_eq(got_len, want_len);
  cr_assert_eq(memcmp(got, want, got_len), 0, "the certificate carries the CSR's public key");

  cr_assert_not(crt.ca_istrue);
  cr_assert(crt.ext_types & MBEDTLS_X509_EXT_BASIC_CONSTRAINTS);
  cr_assert_eq(crt.key_usage, MBEDTLS_X509_KU_DIGITAL_SIGNATURE | MBEDTLS_X509_KU_KEY_AGREEMENT);
  cr_assert_eq(mbedtls_x509_crt_check_extended_key_usage(&crt, MBEDTLS_OID_CLIENT_AUTH,
                                                         MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)),
               0);
  cr_assert_neq(mbedtls_x509_crt_check_extended_key_usage(&crt, MBEDTLS_OID_SERVER_AUTH,
                                                          MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)),
                0);
  cr_assert_eq(crt.serial.len, 16);
  cr_assert_eq(crt.serial.p[0] & 0x80, 0, "the serial is positive");
  cr_assert_eq(crt.valid_to.year - crt.valid_from.year, 10);
  cr_assert_eq(mbedtls_x509_time_is_past(&crt.valid_from), 1);
  cr_assert_eq(mbedtls_x509_time_is_future(&crt.valid_to), 1);

  /* A second certificate for the same CSR gets another serial. */
  char *cert2 = NULL;
  cr_assert_eq(pki_issue_device_cert(p, csr, csr_len, id, &cert2, why, sizeof why), 0, "%s", why);
  mbedtls_x509_crt crt2;
  parse(&crt2, cert2);
  cr_assert_neq(memcmp(crt.serial.p, crt2.serial.p, 16), 0);

  mbedtls_x509_crt_free(&crt);
  mbedtls_x509_crt_free(&crt2);
  free(cert);
  free(cert2);
  mbedtls_pk_free(&key);
  rng_free(&r);
  pki_close(p);
}

/* mbedTLS 2.28's own CSR parser refuses an empty subject Name; pki/csr.c reads it, and
 * the certificate then names the device id (docs/keygen.md). */
Test(pki, empty_subject_csr_gets_the_device_id, TEST_TIMEOUT) {
  pki *p = open_ok(NULL);
  rng r;
  rng_init(&r);
  mbedtls_pk_context key;
  new_key(&r, &key);
  unsigned char csr[1024];
  size_t csr_len = make_csr(&r, &key, "", csr, sizeof csr);
  cr_assert_not_null(memmem(csr, csr_len, "\x30\x00", 2), "the subject is an empty SEQUENCE");
  mbedtls_x509_csr parsed;
  mbedtls_x509_csr_init(&parsed);
  cr_assert_neq(mbedtls_x509_csr_parse_der(&parsed, csr, csr_len), 0, "mbedTLS's parser still refuses it");
  mbedtls_x509_csr_free(&parsed);

  const char *id = "50363154-3931-44f0-8022-121b6401627d";
  char *cert = NULL;
  cr_assert_eq(pki_issue_device_cert(p, csr, csr_len, id, &cert, why, sizeof why), 0, "%s", why);
  cr_assert_eq(verify(cert, pki_ca_pem(p), NULL), 0);
  mbedtls_x509_crt crt;
  parse(&crt, cert);
  char dn[256];
  mbedtls_x509_dn_gets(dn, sizeof dn, &crt.subject);
  cr_assert_str_eq(dn, "CN=50363154-3931-44f0-8022-121b6401627d");
  unsigned char want[200], got[200];
  size_t want_len = pubkey_der(&key, want, sizeof want), got_len = pubkey_der(&crt.pk, got, sizeof got);
  cr_assert(got_len == want_len && !memcmp(got, want, got_len), "the certificate carries the CSR's public key");
  mbedtls_x509_crt_free(&crt);
  free(cert);

  /* The self-signature is checked on this path too. */
  csr[csr_len - 1] ^= 0x01;
  cr_assert_eq(pki_issue_device_cert(p, csr, csr_len, id, &cert, why, sizeof why), -1);
  cr_assert(strstr(why, "signature"), "%s", why);
  mbedtls_pk_free(&key);
  rng_free(&r);
  pki_close(p);
}

/* The outer structure is read by hand, so its defects each get a sentence. */
Test(pki, csr_structure_defects_are_named, TEST_TIMEOUT) {
  pki *p = open_ok(NULL);
  rng r;
  rng_init(&r);
  mbedtls_pk_context key;
  new_key(&r, &key);
  unsigned char csr[1024], bad[1100];
  size_t len = make_csr(&r, &key, "CN=dev", csr, sizeof csr);
  char *cert = NULL;
  struct {
    const char *name, *expect;
  } cases[] = {
      {"trailing byte", "trailing bytes after the request"},
      {"truncated", "CSR"},
      {"not a sequence", "not a DER SEQUENCE"},
      {"version 1", "version must be 0"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t n = len;
    memcpy(bad, csr, len);
    if (i == 0) bad[n++] = 0;
    if (i == 1) n -= 10;
    if (i == 2) bad[0] = 0x31;
    if (i == 3) {
      /* The version INTEGER follows the two SEQUENCE headers (each 2 or 3 bytes long). */
      unsigned char *v = memmem(bad, 12, "\x02\x01\x00", 3);
      cr_assert_not_null(v);
      v[2] = 1;
    }
    cr_assert_eq(pki_issue_device_cert(p, bad, n, "dev", &cert, why, sizeof why), -1, "%s accepted", cases[i].name);
    cr_assert(strstr(why, cases[i].expect), "%s: %s", cases[i].name, why);
  }
  /* mbedTLS 2.28 (like older modem firmware) writes ecdsa-with-SHA256 with an explicit
   * NULL parameter; RFC 5758 leaves it out. Both forms are read (the signature does not
   * cover that field). */
  static const unsigned char alg[] = {0x30, 0x0c, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02, 0x05, 0x00};
  unsigned char *at = memmem(csr, len, alg, sizeof alg);
  cr_assert_not_null(at, "the NULL form as mbedTLS writes it");
  cr_assert_eq(csr[1], 0x81, "a CSR of 128 to 255 bytes");
  size_t off = (size_t)(at - csr);
  memcpy(bad, csr, off);
  bad[2] = (unsigned char)(csr[2] - 2);
  memcpy(bad + off, alg, sizeof alg - 2);
  bad[off + 1] = 0x0a;
  memcpy(bad + off + sizeof alg - 2, csr + off + sizeof alg, len - off - sizeof alg);
  cr_assert_eq(pki_issue_device_cert(p, bad, len - 2, "dev", &cert, why, sizeof why), 0, "%s", why);
  free(cert);
  mbedtls_pk_free(&key);
  rng_free(&r);
  pki_close(p);
}

/* CSRs made by OpenSSL (`openssl req -subj "/CN=..."` and `-subj "/"`): the RFC 5758
 * algorithm form without a NULL parameter, and an empty subject from another writer. */
Test(pki, openssl_csrs_with_and_without_a_subject, TEST_TIMEOUT) {
  pki *p = open_ok(NULL);
  const char *dir = getenv("NRFPROV_TEST_FIXTURES");
  cr_assert_not_null(dir, "NRFPROV_TEST_FIXTURES");
  const char *files[] = {"openssl-cn-uuid.der", "openssl-empty-subject.der"};
  const char *want[] = {"CN=50363154-3931-44f0-8022-121b6401627d", "CN=dev-from-openssl"};
  for (int i = 0; i < 2; i++) {
    char path[600];
    snprintf(path, sizeof path, "%s/csr/%s", dir, files[i]);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    unsigned char der[1024];
    size_t n = fread(der, 1, sizeof der, f);
    fclose(f);
    char *cert = NULL;
    cr_assert_eq(pki_issue_device_cert(p, der, n, "dev-from-openssl", &cert, why, sizeof why), 0, "%s: %s", files[i], why);
    mbedtls_x509_crt crt;
    parse(&crt, cert);
    char dn[256];
    mbedtls_x509_dn_gets(dn, sizeof dn, &crt.subject);
    cr_assert_str_eq(dn, want[i], "%s", files[i]);
    mbedtls_x509_crt_free(&crt);
    free(cert);
  }
  pki_close(p);
}

Test(pki, device_ids_are_checked_and_commas_survive, TEST_TIMEOUT) {
  pki *p = open_ok(NULL);
  rng r;
  rng_init(&r);
  mbedtls_pk_context key;
  new_key(&r, &key);
  unsigned char csr[1024];
  /* An empty subject: the certificate is named after the device id. */
  size_t csr_len = make_csr(&r, &key, "", csr, sizeof csr);

  const char *odd = "a,b=c+d 50f9e1c0-uuid";
  char *cert = NULL;
  cr_assert_eq(pki_issue_device_cert(p, csr, csr_len, odd, &cert, why, sizeof why), 0, "%s", why);
  mbedtls_x509_crt crt;
  parse(&crt, cert);
  char cn[128];
  subject_cn(&crt, cn, sizeof cn);
  cr_assert_str_eq(cn, odd);
  mbedtls_x509_crt_free(&crt);
  free(cert);

  char longest[65], too_long[66];
  memset(longest, 'x', 64), longest[64] = '\0';
  memset(too_long, 'x', 65), too_long[65] = '\0';
  cr_assert_eq(pki_issue_device_cert(p, csr, csr_len, longest, &cert, why, sizeof why), 0, "%s", why);
  free(cert);
  const char *bad[] = {"", too_long, "a\nb", "back\\slash", "del\x7f"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    cert = (char *)1;
    cr_assert_eq(pki_issue_device_cert(p, csr, csr_len, bad[i], &cert, why, sizeof why), -1);
    cr_assert_null(cert);
    cr_assert(strstr(why, "device id"), "%s", why);
  }
  cr_assert_eq(pki_issue_device_cert(p, csr, csr_len, NULL, &cert, why, sizeof why), -1);
  mbedtls_pk_free(&key);
  rng_free(&r);
  pki_close(p);
}

Test(pki, csr_with_a_broken_signature_is_refused, TEST_TIMEOUT) {
  pki *p = open_ok(NULL);
  rng r;
  rng_init(&r);
  mbedtls_pk_context key;
  new_key(&r, &key);
  unsigned char csr[1024], bad[1024];
  size_t len = make_csr(&r, &key, "CN=dev-123456", csr, sizeof csr);
  char *cert = NULL;

  /* A flipped bit in the signature's last byte. */
  memcpy(bad, csr, len);
  bad[len - 1] ^= 0x01;
  cr_assert_eq(pki_issue_device_cert(p, bad, len, "dev", &cert, why, sizeof why), -1);
  cr_assert_null(cert);
  cr_assert(strstr(why, "CSR"), "%s", why);

  /* A changed subject under the old signature. */
  memcpy(bad, csr, len);
  unsigned char *name = memmem(bad, len, "dev-123456", 10);
  cr_assert_not_null(name);
  name[4] = '9';
  cr_assert_eq(pki_issue_device_cert(p, bad, len, "dev", &cert, why, sizeof why), -1);
  cr_assert(strstr(why, "signature"), "%s", why);

  /* Another key's signature: the CSR of key1 with the public key of key2. */
  mbedtls_pk_context key2;
  new_key(&r, &key2);
  unsigned char csr2[1024], pub1[200], pub2[200];
  size_t len2 = make_csr(&r, &key2, "CN=dev-123456", csr2, sizeof csr2);
  size_t p1 = pubkey_der(&key, pub1, sizeof pub1), p2 = pubkey_der(&key2, pub2, sizeof pub2);
  cr_assert_eq(p1, p2);
  cr_assert_eq(len2 > 0, 1);
  memcpy(bad, csr, len);
  unsigned char *spki = memmem(bad, len, pub1, p1);
  cr_assert_not_null(spki);
  memcpy(spki, pub2, p2);
  cr_assert_eq(pki_issue_device_cert(p, bad, len, "dev", &cert, why, sizeof why), -1);

  /* The unmodified CSR still works, so the refusals were about the damage. */
  cr_assert_eq(pki_issue_device_cert(p, csr, len, "dev", &cert, why, sizeof why), 0, "%s", why);
  free(cert);
  mbedtls_pk_free(&key);
  mbedtls_pk_free(&key2);
  rng_free(&r);
  pki_close(p);
}

typedef struct {
  pki *p;
  int failures;
} worker_arg;

static void *issue_many(void *argp) {
  worker_arg *arg = argp;
  rng r;
  mbedtls_entropy_init(&r.entropy);
  mbedtls_ctr_drbg_init(&r.drbg);
  mbedtls_ctr_drbg_seed(&r.drbg, mbedtls_entropy_func, &r.entropy, NULL, 0);
  mbedtls_pk_context key;
  mbedtls_pk_init(&key);
  mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
  mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key), mbedtls_ctr_drbg_random, &r.drbg);
  mbedtls_x509write_csr w;
  mbedtls_x509write_csr_init(&w);
  mbedtls_x509write_csr_set_md_alg(&w, MBEDTLS_MD_SHA256);
  mbedtls_x509write_csr_set_key(&w, &key);
  mbedtls_x509write_csr_set_subject_name(&w, "CN=thread");
  unsigned char csr[1024];
  int len = mbedtls_x509write_csr_der(&w, csr, sizeof csr, mbedtls_ctr_drbg_random, &r.drbg);
  mbedtls_x509write_csr_free(&w);
  mbedtls_x509_crt ca;
  mbedtls_x509_crt_init(&ca);
  mbedtls_x509_crt_parse(&ca, (const unsigned char *)pki_ca_pem(arg->p), strlen(pki_ca_pem(arg->p)) + 1);
  for (int i = 0; i < 12; i++) {
    char *cert = NULL, err[256];
    if (len <= 0 ||
        pki_issue_device_cert(arg->p, csr + sizeof csr - len, (size_t)len, "thread", &cert, err, sizeof err)) {
      arg->failures++;
      continue;
    }
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    uint32_t flags = 0;
    if (mbedtls_x509_crt_parse(&crt, (const unsigned char *)cert, strlen(cert) + 1) != 0 ||
        mbedtls_x509_crt_verify(&crt, &ca, NULL, NULL, &flags, NULL, NULL) != 0)
      arg->failures++;
    mbedtls_x509_crt_free(&crt);
    free(cert);
  }
  mbedtls_x509_crt_free(&ca);
  mbedtls_pk_free(&key);
  rng_free(&r);
  return NULL;
}

Test(pki, device_certs_can_be_issued_from_many_threads, TEST_TIMEOUT) {
  pki *p = open_ok(NULL);
  pthread_t t[8];
  worker_arg args[8];
  for (int i = 0; i < 8; i++) {
    args[i] = (worker_arg){.p = p};
    cr_assert_eq(pthread_create(&t[i], NULL, issue_many, &args[i]), 0);
  }
  for (int i = 0; i < 8; i++) {
    pthread_join(t[i], NULL);
    cr_assert_eq(args[i].failures, 0, "thread %d failed %d times", i, args[i].failures);
  }
  pki_close(p);
}

/* Public keys. */

Test(pki, pubkey_der_to_pem_round_trips, TEST_TIMEOUT) {
  rng r;
  rng_init(&r);
  mbedtls_pk_context key;
  new_key(&r, &key);
  unsigned char der[200];
  size_t len = pubkey_der(&key, der, sizeof der);

  char *pem = NULL;
  cr_assert_eq(pki_pubkey_der_to_pem(der, len, &pem, why, sizeof why), 0, "%s", why);
  cr_assert_eq(strncmp(pem, "-----BEGIN PUBLIC KEY-----\n", 27), 0);
  cr_assert(strstr(pem, "-----END PUBLIC KEY-----\n"));
  mbedtls_pk_context back;
  mbedtls_pk_init(&back);
  cr_assert_eq(mbedtls_pk_parse_public_key(&back, (const unsigned char *)pem, strlen(pem) + 1), 0);
  unsigned char der2[200];
  size_t len2 = pubkey_der(&back, der2, sizeof der2);
  cr_assert_eq(len2, len);
  cr_assert_eq(memcmp(der, der2, len), 0);
  free(pem);

  /* Trailing bytes, a truncation, PEM text and a point off the curve are not keys. */
  unsigned char longer[201];
  memcpy(longer, der, len);
  longer[len] = 0;
  pem = (char *)1;
  cr_assert_eq(pki_pubkey_der_to_pem(longer, len + 1, &pem, why, sizeof why), -1);
  cr_assert_null(pem);
  cr_assert_eq(pki_pubkey_der_to_pem(der, len - 1, &pem, why, sizeof why), -1);
  const char *text = "-----BEGIN PUBLIC KEY-----\n";
  cr_assert_eq(pki_pubkey_der_to_pem((const uint8_t *)text, strlen(text), &pem, why, sizeof why), -1);
  unsigned char off[200];
  memcpy(off, der, len);
  off[len - 1] ^= 0x01; /* the last byte of the point's y coordinate */
  cr_assert_eq(pki_pubkey_der_to_pem(off, len, &pem, why, sizeof why), -1);
  cr_assert(strstr(why, "public key"), "%s", why);
  cr_assert_eq(pki_pubkey_der_to_pem(NULL, 0, &pem, why, sizeof why), -1);
  cr_assert_eq(pki_pubkey_der_to_pem(der, len, NULL, why, sizeof why), -1);
  cr_assert_eq(pki_pubkey_der_to_pem(der, len, &pem, NULL, 0), 0, "why may be NULL");
  free(pem);
  mbedtls_pk_free(&back);
  mbedtls_pk_free(&key);
  rng_free(&r);
}

/* Garbage. */

Test(pki, garbage_input_never_crashes, TEST_TIMEOUT) {
  pki *p = open_ok(NULL);
  rng r;
  rng_init(&r);
  mbedtls_pk_context key;
  new_key(&r, &key);
  unsigned char csr[1024], pub[200], buf[1024];
  size_t csr_len = make_csr(&r, &key, "CN=garbage", csr, sizeof csr);
  size_t pub_len = pubkey_der(&key, pub, sizeof pub);
  char *out = NULL;

  /* Every truncation and every single-byte change of a valid CSR and public key. */
  for (size_t n = 0; n < csr_len; n++) {
    cr_assert_eq(pki_issue_device_cert(p, csr, n, "g", &out, why, sizeof why), -1, "truncated at %zu", n);
    cr_assert_null(out);
  }
  for (size_t i = 0; i < csr_len; i++) {
    memcpy(buf, csr, csr_len);
    buf[i] ^= 0xa5;
    if (pki_issue_device_cert(p, buf, csr_len, "g", &out, why, sizeof why) == 0) {
      /* Only bytes the signature does not cover (the outer framing) may change unnoticed. */
      cr_assert_not_null(out);
      free(out);
      out = NULL;
    }
  }
  for (size_t n = 0; n < pub_len; n++) cr_assert_eq(pki_pubkey_der_to_pem(pub, n, &out, why, sizeof why), -1);
  for (size_t i = 0; i < pub_len; i++) {
    memcpy(buf, pub, pub_len);
    buf[i] ^= 0x5a;
    if (pki_pubkey_der_to_pem(buf, pub_len, &out, why, sizeof why) == 0) free(out);
    out = NULL;
  }

  /* Random bytes, with and without a plausible SEQUENCE header. */
  srand(1234);
  for (int round = 0; round < 2000; round++) {
    size_t n = (size_t)(rand() % 600) + 1;
    for (size_t i = 0; i < n; i++) buf[i] = (unsigned char)rand();
    if (round % 2) {
      buf[0] = 0x30;
      buf[1] = 0x82;
      buf[2] = (unsigned char)((n - 4) >> 8);
      buf[3] = (unsigned char)(n - 4);
    }
    cr_assert_eq(pki_issue_device_cert(p, buf, n, "g", &out, why, sizeof why), -1);
    cr_assert_eq(pki_pubkey_der_to_pem(buf, n, &out, why, sizeof why), -1);
  }

  /* Missing arguments. */
  cr_assert_eq(pki_issue_device_cert(p, NULL, 10, "g", &out, why, sizeof why), -1);
  cr_assert_eq(pki_issue_device_cert(p, csr, 0, "g", &out, why, sizeof why), -1);
  cr_assert_eq(pki_issue_device_cert(p, csr, csr_len, "g", NULL, why, sizeof why), -1);
  cr_assert_eq(pki_issue_device_cert(NULL, csr, csr_len, "g", &out, why, sizeof why), -1);
  cr_assert_eq(pki_issue_device_cert(p, csr, csr_len, "g", &out, NULL, 0), 0, "why may be NULL");
  free(out);

  mbedtls_pk_free(&key);
  rng_free(&r);
  pki_close(p);
}
