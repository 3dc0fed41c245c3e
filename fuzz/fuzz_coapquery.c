/* libFuzzer target for the CoAP request options the mock reads: the input is one CoAP
 * message (RFC 7252 framing over UDP) parsed by libcoap as the listener does; its
 * Uri-Query options go through coapsrv__read_query (coap/server.c) into a request's query
 * items, the device query values through svc_fetch_parse (rxMaxSize, limit: shared with
 * HTTP), and the Block1/Block2 options through libcoap's getters as on_request reads
 * them. The items must stay within the request's buffer, NUL-terminated and bounded in
 * count. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <coap3/coap.h>

#include "coap/route.h"
#include "service/svc.h"

static size_t frame(size_t n) { return 16 + n; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size); /* called by libFuzzer */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static int ready;
  if (!ready) {
    coap_startup();
    coap_set_log_level(LOG_EMERG);
    ready = 1;
  }
  if (size < 4) return 0;
  coap_pdu_t *pdu = coap_pdu_init(COAP_MESSAGE_CON, 0, 0, size);
  if (!pdu) return 0;
  if (!coap_pdu_parse(COAP_PROTO_UDP, data, size, pdu)) {
    coap_delete_pdu(pdu);
    return 0;
  }
  static coapsrv_req r;
  memset(&r, 0, sizeof r);
  size_t used = coapsrv__read_query(&r, pdu);
  if (r.n_query > COAPSRV_MAX_QUERY || used > sizeof r.query_buf) abort();
  for (size_t i = 0; i < r.n_query; i++) {
    const char *k = r.query[i].key, *v = r.query[i].value;
    if (!k || k < r.query_buf || k >= r.query_buf + used || strlen(k) >= used) abort();
    if (v && (v < r.query_buf || v + strlen(v) >= r.query_buf + used)) abort();
  }
  svc_fetch fe = {.frame = frame};
  err_t e;
  if (svc_fetch_parse(coapsrv__query(&r, "rxMaxSize"), coapsrv__query(&r, "limit"), &fe, &e) == 0) {
    if (fe.limit <= 0 || fe.rx_max < 0) abort();
  } else if (e.id != ERR_BAD_QUERY || !e.message[0]) {
    abort();
  }
  (void)coapsrv__query(&r, "after");
  coap_block_t b;
  if (coap_get_block(pdu, COAP_OPTION_BLOCK2, &b) && b.szx > 6) abort();
  if (coap_get_block(pdu, COAP_OPTION_BLOCK1, &b) && b.szx > 6) abort();
  size_t len = 0, offset = 0, total = 0;
  const uint8_t *payload = NULL;
  (void)coap_get_data_large(pdu, &len, &payload, &offset, &total);
  coap_delete_pdu(pdu);
  return 0;
}
