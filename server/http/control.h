/* Handlers of the control API (control-api.md §2). */
#ifndef NRFPROV_HTTP_CONTROL_H
#define NRFPROV_HTTP_CONTROL_H

#include "route.h"

void control_health(http_req *r);
void control_config(http_req *r);
void control_reset(http_req *r);

#endif
