/* Metrics (docs/control-api.md §2, GET /_mock/metrics): request counters kept by the transports
 * and the Prometheus text exposition that gathers them with the journal's, the fault
 * rules' and the store's numbers.
 *
 * Counting is one short mutex hold per request over a fixed table (no allocation). Not
 * a metrics library: only the series the control API documents, no histograms.
 */
#ifndef NRFPROV_METRICS_H
#define NRFPROV_METRICS_H

#include <stddef.h>

#include "app.h"

typedef struct metrics metrics;

metrics *metrics_new(void);
void metrics_free(metrics *m);
/* Count one request: protocol ("http", "coap", ...), route (the matched route pattern,
 * e.g. "/v1/claimed-devices/{}" or "p/cmd"; "unmatched" for none) and status as it is
 * shown ("200", "2.05"; "none" when no answer was sent). */
void metrics_request(metrics *m, const char *protocol, const char *route, const char *status);
/* Count one device command fetch (HTTP GET /v1/provisioning/commands, CoAP GET p/cmd). */
void metrics_device_poll(metrics *m, const char *protocol);
/* The Prometheus text (version 0.0.4) of every metric, malloc'd, length in *len; NULL
 * when the store cannot be read. */
char *metrics_render(metrics *m, const app *a, size_t *len);

#endif
