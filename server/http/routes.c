/* The route table: every HTTP path the mock serves, in one place. Handlers live in one
 * file per resource family. Order matters only between patterns that could match the
 * same path (literal segments before {} ones). */
#include "control.h"
#include "route.h"

const http_route http__routes[] = {
  {"GET", "/_mock/health", control_health},
  {"GET", "/_mock/config", control_config},
  {"POST", "/_mock/reset", control_reset},
};

const size_t http__n_routes = sizeof http__routes / sizeof http__routes[0];
