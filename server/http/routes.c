/* The route table: every HTTP path the mock serves, in one place. Handlers live in one
 * file per resource family (handlers.h). A path matching a pattern whose method differs
 * answers 405 with Allow. Each row's flags (exchange.h) say what the pipeline does before
 * its handler runs: OWNER rows are authenticated with the API key first, CONTROL rows
 * skip the fault rules and the journal, DEVICE rows are device calls. */
#include "handlers.h"

#define OWNER EXCHANGE_OWNER
#define CONTROL EXCHANGE_CONTROL
#define DEVICE EXCHANGE_DEVICE
#define CBOR_BODY EXCHANGE_CBOR_BODY
#define POLL EXCHANGE_POLL
#define PATH_DEVICE EXCHANGE_PATH_DEVICE
#define PAGE EXCHANGE_PAGE
#define OFFLOAD EXCHANGE_OFFLOAD

const http_route http__routes[] = {
  /* Control API (docs/control-api.md §2). */
  {"GET", "/_mock/health", control_health, CONTROL},
  {"GET", "/_mock/config", control_config, CONTROL},
  {"POST", "/_mock/reset", control_reset, CONTROL},
  {"GET", "/_mock/ca", control_ca, CONTROL},

  /* Control API: request journal, fault rules, metrics, snapshot and restore, fixtures
   * (docs/control-api.md §2, §4). */
  {"GET", "/_mock/requests", control_requests, CONTROL},
  {"DELETE", "/_mock/requests", control_requests_clear, CONTROL},
  {"POST", "/_mock/faults", control_faults_add, CONTROL},
  {"GET", "/_mock/faults", control_faults_list, CONTROL},
  {"DELETE", "/_mock/faults", control_faults_clear, CONTROL},
  {"DELETE", "/_mock/faults/{}", control_faults_delete, CONTROL},
  {"GET", "/_mock/metrics", control_metrics, CONTROL},
  {"POST", "/_mock/snapshot", control_snapshot, CONTROL},
  {"POST", "/_mock/restore", control_restore, CONTROL},
  {"GET", "/_mock/snapshots", control_snapshots_list, CONTROL},
  {"DELETE", "/_mock/snapshots/{}", control_snapshots_delete, CONTROL},
  {"POST", "/_mock/fixtures", control_fixtures, CONTROL},

  /* Claimed devices (docs/owner-api.md §2). */
  {"POST", "/v1/claimed-devices", claimed_devices_claim, OWNER | OFFLOAD},
  {"GET", "/v1/claimed-devices", claimed_devices_list, OWNER},
  {"POST", "/v1/identities/claimed-devices", claimed_devices_claim, OWNER | OFFLOAD},
  {"POST", "/v1/claimed-devices/bulk", claimed_devices_bulk, OWNER | OFFLOAD},
  {"GET", "/v1/bulk-ops-requests/{}", bulk_ops_get, OWNER},
  {"GET", "/v1/claimed-devices/{}", claimed_devices_get, OWNER | PATH_DEVICE},
  {"DELETE", "/v1/claimed-devices/{}", claimed_devices_unclaim, OWNER | PATH_DEVICE},
  {"POST", "/v1/claimed-devices/{}/block", claimed_devices_block, OWNER | PATH_DEVICE},
  {"POST", "/v1/claimed-devices/{}/unblock", claimed_devices_unblock, OWNER | PATH_DEVICE},
  {"PUT", "/v1/claimed-devices/{}/tags", claimed_devices_tags, OWNER | PATH_DEVICE},

  /* Provisioning commands (docs/owner-api.md §3) and their control calls. */
  {"POST", "/v1/claimed-devices/{}/provisioning", commands_create, OWNER | PATH_DEVICE},
  {"GET", "/v1/claimed-devices/{}/provisioning", commands_list, OWNER | PATH_DEVICE},
  {"DELETE", "/v1/claimed-devices/{}/provisioning", commands_reset, OWNER | PATH_DEVICE},
  {"GET", "/v1/claimed-devices/{}/provisioning/{}", commands_get, OWNER | PATH_DEVICE},
  {"DELETE", "/v1/claimed-devices/{}/provisioning/{}", commands_discard, OWNER | PATH_DEVICE},
  {"POST", "/_mock/claimed-devices/{}/provisioning/{}/result", control_settle, CONTROL | OWNER},
  {"POST", "/_mock/claimed-devices/{}/provisioning/{}/deliver", control_deliver, CONTROL | OWNER},

  /* Provisioning rules (docs/owner-api.md §4). */
  {"POST", "/v1/provisioning-rules", rules_create, OWNER},
  {"GET", "/v1/provisioning-rules", rules_list, OWNER},
  {"GET", "/v1/provisioning-rules/{}", rules_get, OWNER},
  {"PATCH", "/v1/provisioning-rules/{}", rules_update, OWNER},
  {"DELETE", "/v1/provisioning-rules/{}", rules_delete, OWNER},

  /* Provisioning tags and groups (docs/owner-api.md §5). A tag may hold '/' (decoded from
   * %2F), so the rest of the path names it. */
  {"GET", "/v1/provisioning/tags", tags_list, OWNER},
  {"POST", "/v1/provisioning/tags", tags_create, OWNER},
  {"GET", "/v1/provisioning/tags/{*}", tags_get, OWNER},
  {"DELETE", "/v1/provisioning/tags/{*}", tags_delete, OWNER},

  /* Device management: onboarded devices (docs/owner-api.md §6). */
  {"GET", "/v1/devices", devices_list, OWNER},
  {"GET", "/v1/devices/{}", devices_get, OWNER | PATH_DEVICE},
  {"DELETE", "/v1/devices/{}", devices_delete, OWNER | PATH_DEVICE},

  /* Device identities, a control call (docs/control-api.md §2, docs/device-protocol.md §4.3). */
  {"POST", "/_mock/identities", identities_create, CONTROL},
  {"GET", "/_mock/identities", identities_list, CONTROL},
  {"GET", "/_mock/identities/{}", identities_get, CONTROL},
  {"DELETE", "/_mock/identities/{}", identities_delete, CONTROL},

  /* The portal pages, embedded at build time; off with --ui false (docs/portal.md). */
  {"GET", "/", ui_index, PAGE},
  {"GET", "/favicon.ico", ui_favicon, PAGE},
  {"GET", "/ui/rule-templates.json", ui_templates, PAGE},
  {"GET", "/ui/{}", ui_file, PAGE},

  /* The device-facing protocol (docs/device-protocol.md §2). */
  {"GET", "/v1/provisioning/commands", device_commands, DEVICE | POLL},
  {"POST", "/v1/provisioning/response", device_response, DEVICE | CBOR_BODY},

  /* Zones: no handler, so their paths answer 404, but a path no route matches takes the
   * flags of the first zone it falls in: an unknown /_mock path is still a control call,
   * and an unknown path under a device still names the device. */
  {NULL, "/_mock", NULL, CONTROL},
  {NULL, "/_mock/", NULL, CONTROL},
  {NULL, "/_mock/{*}", NULL, CONTROL},
  {NULL, "/v1/claimed-devices/{}/{*}", NULL, PATH_DEVICE},
  {NULL, "/v1/devices/{}/{*}", NULL, PATH_DEVICE},
};

const size_t http__n_routes = sizeof http__routes / sizeof http__routes[0];
