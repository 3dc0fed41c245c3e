/* CoAP side of the device harness: not written yet, so CoAP scenarios fail loudly. */
#include <criterion/criterion.h>

#include "harness_device.h"

void dev__coap_open(dev_client *d) { (void)d; cr_assert_fail("CoAP client not available"); }
dev_result dev__coap_fetch(dev_client *d, const char *q, uint8_t **b, size_t *l) { (void)d, (void)q, (void)b, (void)l; return DEV_OTHER; }
dev_result dev__coap_report(dev_client *d, const uint8_t *c, size_t l) { (void)d, (void)c, (void)l; return DEV_OTHER; }
void dev__coap_close(dev_client *d) { (void)d; }
