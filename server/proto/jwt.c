/* Device JWT codec over jansson (the JSON parts) and es256.c (the signature). The parser
 * names each defect in its own sentence for the device API's log and the tests; the
 * transports map every failure to 403 / 4.03. It does not know about claims, blocks or
 * identities: the service decides what a valid JWT of an unknown device is worth. */
#include "proto/jwt.h"
#include "proto/defect.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "proto/b64url.h"
#include "proto/es256.h"

int jwt_uuid_parse(const char *s, size_t n, char out[37])
{
  if (!s || n != 36) return -1;
  for (size_t i = 0; i < 36; i++) {
    char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return -1;
    } else if (c >= '0' && c <= '9') {
    } else if (c >= 'a' && c <= 'f') {
    } else if (c >= 'A' && c <= 'F') {
      c = (char)(c - 'A' + 'a');
    } else {
      return -1;
    }
    out[i] = c;
  }
  out[36] = '\0';
  return 0;
}

/* Decode one base64url part and parse it as a JSON object; NULL on either failure
 * (*b64_ok tells which). */
static json_t *part_json(const char *p, size_t n, int *b64_ok)
{
  size_t cap = b64url_decoded_max(n), got = 0;
  uint8_t *buf = malloc(cap ? cap : 1);
  *b64_ok = 0;
  if (!buf) return NULL;
  json_t *j = NULL;
  if (b64url_decode(p, n, buf, cap, &got) == 0) {
    *b64_ok = 1;
    json_error_t err;
    j = json_loadb((const char *)buf, got, JSON_REJECT_DUPLICATES, &err);
    if (j && !json_is_object(j)) {
      json_decref(j);
      j = NULL;
    }
  }
  free(buf);
  return j;
}

/* A NumericDate claim as whole seconds; -1 if it is not a number in range. */
static int numeric_date(const json_t *v, int64_t *out)
{
  if (json_is_integer(v)) {
    *out = (int64_t)json_integer_value(v);
    return 0;
  }
  if (json_is_real(v)) {
    double d = json_real_value(v);
    if (!isfinite(d) || d < -9.2e18 || d > 9.2e18) return -1;
    *out = (int64_t)d;
    return 0;
  }
  return -1;
}

static int check_header(const char *p, size_t n, char *why, size_t whysz)
{
  int b64_ok;
  json_t *h = part_json(p, n, &b64_ok);
  if (!b64_ok) return defect(why, whysz, "JWT header is not valid base64url");
  if (!h) return defect(why, whysz, "JWT header is not a JSON object");
  int rc = 0;
  json_t *alg = json_object_get(h, "alg");
  if (!alg)
    rc = defect(why, whysz, "JWT header has no alg");
  else if (!json_is_string(alg))
    rc = defect(why, whysz, "JWT header alg must be a string");
  else if (strcmp(json_string_value(alg), "ES256") != 0 || json_string_length(alg) != 5)
    rc = defect(why, whysz, "JWT header alg must be ES256");
  else if (json_object_get(h, "typ") && !json_is_string(json_object_get(h, "typ")))
    rc = defect(why, whysz, "JWT header typ must be a string");
  json_decref(h);
  return rc;
}

static int check_payload(const char *p, size_t n, int64_t now, jwt_device *out, char *why, size_t whysz)
{
  int b64_ok;
  json_t *pl = part_json(p, n, &b64_ok);
  if (!b64_ok) return defect(why, whysz, "JWT payload is not valid base64url");
  if (!pl) return defect(why, whysz, "JWT payload is not a JSON object");
  int rc = -1;
  json_t *iss = json_object_get(pl, "iss"), *exp = json_object_get(pl, "exp");
  json_t *iat = json_object_get(pl, "iat"), *jti = json_object_get(pl, "jti");
  if (!iss) {
    defect(why, whysz, "JWT payload has no iss");
    goto out;
  }
  if (!json_is_string(iss)) {
    defect(why, whysz, "JWT iss must be a string");
    goto out;
  }
  /* iss is "<chip>.<uuid>" in current releases and a bare UUID in some older ones. */
  const char *s = json_string_value(iss);
  size_t sl = json_string_length(iss);
  const char *u = s;
  for (size_t i = 0; i < sl; i++)
    if (s[i] == '.') u = s + i + 1;
  if (jwt_uuid_parse(u, sl - (size_t)(u - s), out->device_uuid) != 0) {
    defect(why, whysz, "JWT iss does not end in a device UUID");
    goto out;
  }
  if (exp) {
    if (numeric_date(exp, &out->exp) != 0) {
      defect(why, whysz, "JWT exp must be a number of seconds");
      goto out;
    }
    out->has_exp = 1;
    if (out->exp < now - JWT_EXP_SKEW_S) {
      defect(why, whysz, "JWT expired (exp %lld is more than %d s before now, %lld)",
           (long long)out->exp, JWT_EXP_SKEW_S, (long long)now);
      goto out;
    }
  }
  if (iat) {
    if (numeric_date(iat, &out->iat) != 0) {
      defect(why, whysz, "JWT iat must be a number of seconds");
      goto out;
    }
    out->has_iat = 1;
  }
  if (jti) {
    if (!json_is_string(jti)) {
      defect(why, whysz, "JWT jti must be a string");
      goto out;
    }
    if (json_string_length(jti) >= sizeof out->jti) {
      defect(why, whysz, "JWT jti longer than %zu characters", sizeof out->jti - 1);
      goto out;
    }
    /* A jti with an embedded NUL is cut there; it is informational only. */
    snprintf(out->jti, sizeof out->jti, "%s", json_string_value(jti));
  }
  rc = 0;
out:
  json_decref(pl);
  return rc;
}

int jwt_parse(const char *jwt, size_t len, int64_t now, jwt_device *out, char *why, size_t whysz)
{
  if (!out) return defect(why, whysz, "no output");
  memset(out, 0, sizeof *out);
  if (!jwt || len == 0) return defect(why, whysz, "JWT is empty");
  if (len > JWT_MAX_LEN) return defect(why, whysz, "JWT longer than %d characters", JWT_MAX_LEN);
  const char *d1 = memchr(jwt, '.', len);
  const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - jwt)) : NULL;
  if (!d1 || !d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - jwt)))
    return defect(why, whysz, "JWT must have three parts separated by '.'");
  size_t nh = (size_t)(d1 - jwt), np = (size_t)(d2 - d1 - 1), ns = len - (size_t)(d2 + 1 - jwt);
  if (nh == 0) return defect(why, whysz, "JWT header is empty");
  if (np == 0) return defect(why, whysz, "JWT payload is empty");
  if (ns == 0) return defect(why, whysz, "JWT signature is empty");
  if (check_header(jwt, nh, why, whysz) != 0) return -1;
  if (check_payload(d1 + 1, np, now, out, why, whysz) != 0) return -1;

  uint8_t sig[JWT_MAX_LEN];
  size_t got = 0;
  if (b64url_decode(d2 + 1, ns, sig, sizeof sig, &got) != 0)
    return defect(why, whysz, "JWT signature is not valid base64url");
  if (got != 64) return defect(why, whysz, "JWT signature must be 64 bytes, got %zu", got);
  memcpy(out->signature, sig, 64);
  out->signing_input = jwt;
  out->signing_input_len = (size_t)(d2 - jwt);
  return 0;
}

int jwt_verify(const jwt_device *j, const mbedtls_pk_context *pub)
{
  if (!j || !j->signing_input || !pub) return -1;
  return es256_verify(pub, (const uint8_t *)j->signing_input, j->signing_input_len, j->signature);
}

/* Append base64url(compact JSON of o) at out+*pos. */
static int put_json_part(json_t *o, char *out, size_t outsz, size_t *pos)
{
  if (!o) return -1;
  char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(o);
  if (!s) return -1;
  int n = b64url_encode((const uint8_t *)s, strlen(s), out + *pos, outsz - *pos);
  free(s);
  if (n < 0) return -1;
  *pos += (size_t)n;
  return 0;
}

int jwt_make(const char *iss, const char *jti, int64_t iat, int64_t exp, mbedtls_pk_context *key,
             char *out, size_t outsz)
{
  size_t pos = 0;
  uint8_t sig[64];
  if (!iss || !out || outsz == 0) return -1;
  json_t *pl = json_object();
  if (!pl) return -1;
  if (json_object_set_new(pl, "iss", json_string(iss)) != 0 ||
      (jti && json_object_set_new(pl, "jti", json_string(jti)) != 0) ||
      (iat && json_object_set_new(pl, "iat", json_integer((json_int_t)iat)) != 0) ||
      (exp && json_object_set_new(pl, "exp", json_integer((json_int_t)exp)) != 0) ||
      put_json_part(json_pack("{s:s, s:s}", "alg", "ES256", "typ", "JWT"), out, outsz, &pos) != 0 ||
      pos + 1 >= outsz) {
    json_decref(pl);
    return -1;
  }
  out[pos++] = '.';
  if (put_json_part(pl, out, outsz, &pos) != 0) return -1;
  if (key ? es256_sign(key, (const uint8_t *)out, pos, sig) != 0 : es256_rng(NULL, sig, sizeof sig) != 0)
    return -1;
  if (pos + 1 >= outsz) return -1;
  out[pos++] = '.';
  int n = b64url_encode(sig, sizeof sig, out + pos, outsz - pos);
  if (n < 0) return -1;
  pos += (size_t)n;
  return pos > 0x7fffffff ? -1 : (int)pos;
}
