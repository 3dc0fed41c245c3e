/* The --tls-hosts list: names and IP literals split, checked and de-duplicated, and
 * encoded as the server certificate's subjectAltName extension value. Nothing else. */
#include "pki/internal.h"
#include "proto/defect.h"

#include <arpa/inet.h>
#include <string.h>

#include <mbedtls/asn1write.h>


static int valid_dns_name(const char *s, size_t n) {
  if (n == 0 || n > MAX_HOST_LEN) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '-' || c == '.' || c == '_' || c == '*';
    if (!ok) return 0;
  }
  return 1;
}

/* Split a --tls-hosts value into SAN entries: IP literals (IPv6 optionally in brackets)
 * become iPAddress, everything else dNSName. Duplicates are dropped, order is kept. */
int pki__parse_hosts(const char *spec, host_list *h, char *why, size_t whysz) {
  h->n = 0;
  const char *s = spec;
  while (*s) {
    const char *comma = strchr(s, ',');
    const char *stop = comma ? comma : s + strlen(s);
    const char *a = s, *b = stop;
    while (a < b && (*a == ' ' || *a == '\t')) a++;
    while (b > a && (b[-1] == ' ' || b[-1] == '\t')) b--;
    s = comma ? comma + 1 : stop;
    if (a == b) continue;
    size_t n = (size_t)(b - a);
    if (n > MAX_HOST_LEN) return defect(why, whysz, "tls hosts: a name is longer than %d characters", MAX_HOST_LEN);
    if (h->n == MAX_HOSTS) return defect(why, whysz, "tls hosts: more than %d hosts", MAX_HOSTS);
    san_entry *e = &h->e[h->n];
    memcpy(e->text, a, n);
    e->text[n] = '\0';
    char bare[MAX_HOST_LEN + 1];
    memcpy(bare, e->text, n + 1);
    if (n > 2 && bare[0] == '[' && bare[n - 1] == ']') {
      memmove(bare, bare + 1, n - 2);
      bare[n - 2] = '\0';
    }
    unsigned char ip[16];
    if (inet_pton(AF_INET, bare, ip) == 1) {
      e->tag = SAN_IP;
      e->len = 4;
      memcpy(e->val, ip, 4);
    } else if (inet_pton(AF_INET6, bare, ip) == 1) {
      e->tag = SAN_IP;
      e->len = 16;
      memcpy(e->val, ip, 16);
      memcpy(e->text, bare, strlen(bare) + 1);
    } else if (valid_dns_name(e->text, n)) {
      e->tag = SAN_DNS;
      e->len = n;
      memcpy(e->val, e->text, n);
    } else {
      return defect(why, whysz, "tls hosts: \"%s\" is neither a DNS name nor an IP address", e->text);
    }
    int dup = 0;
    for (size_t i = 0; i < h->n && !dup; i++)
      dup = h->e[i].tag == e->tag && h->e[i].len == e->len && memcmp(h->e[i].val, e->val, e->len) == 0;
    if (!dup) h->n++;
  }
  if (h->n == 0) return defect(why, whysz, "tls hosts: no host named");
  return 0;
}

/* The subjectAltName extension value (GeneralNames) for h; returns its length, or -1. */
int pki__san_der(const host_list *h, unsigned char *buf, size_t size, unsigned char **start) {
  unsigned char *p = buf + size;
  size_t len = 0;
  int ret;
  for (size_t i = h->n; i-- > 0;) {
    size_t one = 0;
    MBEDTLS_ASN1_CHK_ADD(one, mbedtls_asn1_write_raw_buffer(&p, buf, h->e[i].val, h->e[i].len));
    MBEDTLS_ASN1_CHK_ADD(one, mbedtls_asn1_write_len(&p, buf, one));
    MBEDTLS_ASN1_CHK_ADD(one, mbedtls_asn1_write_tag(&p, buf, h->e[i].tag));
    len += one;
  }
  MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_len(&p, buf, len));
  MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
  *start = p;
  return (int)len;
}

