/* The control plane's checks (docs/control-api.md §5): Host allow-list, Origin, control
 * token or peer list, body type. See guard.h for the order and what each answers. */
#include "guard.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

#define MAX_PEERS 64
#define MAX_NAMES 64

/* One --control-peers entry: an address and the length of its prefix in bits. */
typedef struct {
  int family; /* AF_INET or AF_INET6 */
  uint8_t addr[16];
  int bits;
} peer_net;

struct guard {
  char *token;              /* NULL: no token, the peer list applies */
  size_t token_len;
  peer_net peers[MAX_PEERS];
  size_t n_peers;
  char *names[MAX_NAMES];   /* --tls-hosts DNS names, lower case */
  size_t n_names;
};

/* Parse "addr" or "addr/bits" (IPv4 or IPv6) into p; -1 when it is neither. */
static int parse_net(const char *text, peer_net *p) {
  char buf[80];
  if (snprintf(buf, sizeof buf, "%s", text) >= (int)sizeof buf) return -1;
  char *slash = strchr(buf, '/');
  if (slash) *slash = 0;
  memset(p, 0, sizeof *p);
  if (inet_pton(AF_INET, buf, p->addr) == 1) p->family = AF_INET, p->bits = 32;
  else if (inet_pton(AF_INET6, buf, p->addr) == 1) p->family = AF_INET6, p->bits = 128;
  else return -1;
  if (slash) {
    char *end;
    long bits = strtol(slash + 1, &end, 10);
    if (!slash[1] || *end || bits < 0 || bits > p->bits) return -1;
    p->bits = (int)bits;
  }
  return 0;
}

/* True when the first bits of a and b agree. */
static bool prefix_equal(const uint8_t *a, const uint8_t *b, int bits) {
  int bytes = bits / 8, rest = bits % 8;
  if (memcmp(a, b, (size_t)bytes)) return false;
  if (!rest) return true;
  uint8_t mask = (uint8_t)(0xFF << (8 - rest));
  return (a[bytes] & mask) == (b[bytes] & mask);
}

/* The peer as a family and address; an IPv4-mapped IPv6 address counts as IPv4. */
static int peer_addr(const struct sockaddr *sa, uint8_t out[16]) {
  if (!sa) return -1;
  if (sa->sa_family == AF_INET) {
    memcpy(out, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
    return AF_INET;
  }
  if (sa->sa_family == AF_INET6) {
    const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a)) {
      memcpy(out, a->s6_addr + 12, 4);
      return AF_INET;
    }
    memcpy(out, a->s6_addr, 16);
    return AF_INET6;
  }
  return -1;
}

static bool peer_allowed(const guard *g, const struct sockaddr *sa) {
  uint8_t a[16];
  int family = peer_addr(sa, a);
  for (size_t i = 0; i < g->n_peers; i++)
    if (g->peers[i].family == family && prefix_equal(a, g->peers[i].addr, g->peers[i].bits)) return true;
  return false;
}

static bool is_loopback_bind(const char *bind) {
  uint8_t a[16];
  if (inet_pton(AF_INET, bind, a) == 1) return a[0] == 127;
  if (inet_pton(AF_INET6, bind, a) == 1) return IN6_IS_ADDR_LOOPBACK((struct in6_addr *)(void *)a);
  return false;
}

int guard_open(guard **out, const options *o, char *why, size_t whysz) {
  guard *g = calloc(1, sizeof *g);
  if (!g) return snprintf(why, whysz, "out of memory"), -1;
  if (o->control_token && *o->control_token) {
    g->token = strdup(o->control_token);
    g->token_len = strlen(g->token);
  }
  const char *lists[2] = {o->control_peers ? o->control_peers : "", o->tls_hosts ? o->tls_hosts : ""};
  for (int l = 0; l < 2; l++) {
    char *copy = strdup(lists[l]), *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
      while (isspace((unsigned char)*item)) item++;
      size_t n = strlen(item);
      while (n && isspace((unsigned char)item[n - 1])) item[--n] = 0;
      if (!n) continue;
      if (l == 0) {
        if (g->n_peers == MAX_PEERS || parse_net(item, &g->peers[g->n_peers])) {
          snprintf(why, whysz, "--control-peers: '%.80s' is not an IPv4 or IPv6 address or CIDR (or more than %d entries)",
                   item, MAX_PEERS);
          free(copy);
          guard_free(g);
          return -1;
        }
        g->n_peers++;
      } else if (g->n_names < MAX_NAMES) {
        for (char *p = item; *p; p++) *p = (char)tolower((unsigned char)*p);
        g->names[g->n_names++] = strdup(item);
      }
    }
    free(copy);
  }
  *out = g;
  return 0;
}

void guard_warn_exposed(const options *o) {
  if ((!o->control_token || !*o->control_token) && !is_loopback_bind(o->bind))
    log_msg(LOG_WARN, "--bind %s is reachable from other machines and no --control-token is set: the control API "
            "(/_mock/) answers only --control-peers (%s); set --control-token to steer the mock from elsewhere "
            "(docs/safety.md)", o->bind, o->control_peers ? o->control_peers : "");
}

void guard_free(guard *g) {
  if (!g) return;
  free(g->token);
  for (size_t i = 0; i < g->n_names; i++) free(g->names[i]);
  free(g);
}

/* The host of a Host header, its port and brackets taken off, into out. */
static void host_only(const char *host, char *out, size_t n) {
  if (host[0] == '[') {
    const char *end = strchr(host, ']');
    snprintf(out, n, "%.*s", end ? (int)(end - host - 1) : 0, host + 1);
    return;
  }
  const char *colon = strchr(host, ':');
  /* One colon: host:port. More: a bare IPv6 literal, kept whole. */
  if (colon && !strchr(colon + 1, ':')) snprintf(out, n, "%.*s", (int)(colon - host), host);
  else snprintf(out, n, "%s", host);
}

/* Host (port aside) is an IP literal, localhost, or a name in --tls-hosts. */
static bool host_allowed(const guard *g, const char *host) {
  char h[300];
  uint8_t a[16];
  if (!host || !*host || strlen(host) >= sizeof h) return false;
  host_only(host, h, sizeof h);
  if (!*h) return false;
  if (inet_pton(AF_INET, h, a) == 1 || inet_pton(AF_INET6, h, a) == 1) return true;
  size_t n = strlen(h);
  if (n > 1 && h[n - 1] == '.') h[--n] = 0; /* a fully qualified name's final dot */
  if (!strcasecmp(h, "localhost")) return true;
  for (size_t i = 0; i < g->n_names; i++)
    if (!strcasecmp(h, g->names[i])) return true;
  return false;
}

/* Origin is exactly <scheme>://<Host> (scheme and host without regard to case). */
static bool same_origin(const char *origin, const char *scheme, const char *host) {
  size_t sl = strlen(scheme);
  if (!host || strncasecmp(origin, scheme, sl) || strncmp(origin + sl, "://", 3)) return false;
  return !strcasecmp(origin + sl + 3, host);
}

/* Equal without an early exit, so the time taken does not tell how much matched. */
static bool token_equal(const guard *g, const char *given) {
  size_t n = strlen(given);
  unsigned char diff = n != g->token_len;
  for (size_t i = 0; i < g->token_len; i++) diff |= (unsigned char)(g->token[i] ^ (i < n ? given[i] : 0));
  return !diff;
}

/* Content-Type is application/json, parameters (charset) aside. */
static bool is_json(const char *type) {
  if (!type) return false;
  while (*type == ' ' || *type == '\t') type++;
  size_t n = strcspn(type, "; \t");
  return n == 16 && !strncasecmp(type, "application/json", 16);
}

int guard_check(const guard *g, const guard_request *q, err_t *e) {
  if (!q->control && !q->owner) return 0;
  if ((q->control || q->origin) && !host_allowed(g, q->host))
    return err_set(e, ERR_MISDIRECTED, "Host: '%.100s' is not an address or name this mock serves (an IP literal, "
                   "localhost, or a name in --tls-hosts)", q->host ? q->host : "(missing)");
  if (q->origin && !same_origin(q->origin, q->scheme, q->host))
    return err_set(e, ERR_FORBIDDEN, "Origin: '%.100s' is not this mock's own origin (%s://%.100s); pages of other "
                   "sites may not call it", q->origin, q->scheme, q->host ? q->host : "");
  if (!q->control) return 0;
  if (!q->health) {
    if (g->token) {
      if (!q->token) return err_set(e, ERR_UNAUTHORIZED, "X-Mock-Token: missing; this mock's control API needs its control token");
      if (!token_equal(g, q->token)) return err_set(e, ERR_UNAUTHORIZED, "X-Mock-Token: not this mock's control token");
    } else if (!peer_allowed(g, q->peer)) {
      return err_set(e, ERR_FORBIDDEN, "the control API answers only --control-peers without a --control-token; "
                     "this peer is not one of them");
    }
  }
  if (q->has_body && !is_json(q->content_type))
    return err_set(e, ERR_UNSUPPORTED_TYPE, "Content-Type: '%.80s' is not application/json; control calls take JSON only",
                   q->content_type ? q->content_type : "(missing)");
  return 0;
}
