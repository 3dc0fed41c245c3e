/* How every owner handler answers: a service verb's result, a verb without a body, and
 * the list page parameters. One place, so the resource files hold only their calls. */
#include "route.h"

void http__result(http_req *r, int rc, const err_t *e, unsigned ok_status, json_t *out) {
  if (rc) http__error(r, e);
  else http__json(r, ok_status, out);
}

void http__done(http_req *r, int rc, const err_t *e) {
  if (rc) http__error(r, e);
  else http__empty(r, 204);
}

bool http__page(http_req *r, svc_page *p) {
  err_t e;
  if (svc_page_parse(http__query(r, "pageLimit"), http__query(r, "pageNextToken"), p, &e)) {
    http__error(r, &e);
    return false;
  }
  return true;
}
