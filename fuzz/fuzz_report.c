/* libFuzzer target for device reports through the service verb (svc_device_report over
 * an in-memory store and PKI): the CBOR responses decoder (proto/dcbor, cborget,
 * cborscan) and everything a decoded report reaches — correlation ids, settling, the
 * %KEYGEN answers of both key generations (proto/keygen, cose), onboarding, rules. A
 * run of 'Q' as long as the queue id in the input becomes this run's queue id, so seeds
 * can answer real commands (see fuzzsvc.h). A report must either be refused as bad CBOR
 * with a message or be applied; an internal error is a finding. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzsvc.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size); /* called by libFuzzer */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static fuzzsvc f;
  static int ready;
  static unsigned applied;
  if (!ready) {
    log_configure(LOG_ERROR, false);
    fuzzsvc_open(&f, 1);
    fuzzsvc_queue(&f);
    ready = 1;
  }
  uint8_t *copy = malloc(size ? size : 1);
  if (!copy) return 0;
  if (size) memcpy(copy, data, size);
  fuzzsvc_patch_ids(&f, copy, size);
  err_t e;
  int rc = svc_device_report(f.svc, f.device_id, copy, size, &e);
  free(copy);
  if (rc != 0) {
    if (e.id != ERR_BAD_CBOR || !memchr(e.message, '\0', sizeof e.message) || !e.message[0]) abort();
    return 0;
  }
  /* Applied: commands may have settled, so start from a fresh queue (and, now and then,
   * a fresh store, so that nothing piles up over a long run). */
  if (++applied % 4096 == 0) {
    fuzzsvc_close(&f);
    fuzzsvc_open(&f, 1);
  }
  fuzzsvc_queue(&f);
  return 0;
}
