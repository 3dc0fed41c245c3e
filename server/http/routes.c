/* The route table: every HTTP path the mock serves, in one place. Handlers live in one
 * file per resource family (handlers.h). A path matching a pattern whose method differs
 * answers 405 with Allow. */
#include "handlers.h"

const http_route http__routes[] = {
  /* Control API (control-api.md §2). */
  {"GET", "/_mock/health", control_health},
  {"GET", "/_mock/config", control_config},
  {"POST", "/_mock/reset", control_reset},
  {"GET", "/_mock/ca", control_ca},

  /* Control API: request journal, fault rules, metrics, snapshot and restore, fixtures
   * (control-api.md §2, §4). */
  {"GET", "/_mock/requests", control_requests},
  {"DELETE", "/_mock/requests", control_requests_clear},
  {"POST", "/_mock/faults", control_faults_add},
  {"GET", "/_mock/faults", control_faults_list},
  {"DELETE", "/_mock/faults", control_faults_clear},
  {"DELETE", "/_mock/faults/{}", control_faults_delete},
  {"GET", "/_mock/metrics", control_metrics},
  {"POST", "/_mock/snapshot", control_snapshot},
  {"POST", "/_mock/restore", control_restore},
  {"POST", "/_mock/fixtures", control_fixtures},

  /* Claimed devices (owner-api.md §2). */
  {"POST", "/v1/claimed-devices", claimed_devices_claim},
  {"GET", "/v1/claimed-devices", claimed_devices_list},
  {"POST", "/v1/identities/claimed-devices", claimed_devices_claim},
  {"POST", "/v1/claimed-devices/bulk", claimed_devices_bulk},
  {"GET", "/v1/bulk-ops-requests/{}", bulk_ops_get},
  {"GET", "/v1/claimed-devices/{}", claimed_devices_get},
  {"DELETE", "/v1/claimed-devices/{}", claimed_devices_unclaim},
  {"POST", "/v1/claimed-devices/{}/block", claimed_devices_block},
  {"POST", "/v1/claimed-devices/{}/unblock", claimed_devices_unblock},
  {"PUT", "/v1/claimed-devices/{}/tags", claimed_devices_tags},

  /* Provisioning commands (owner-api.md §3) and their control calls. */
  {"POST", "/v1/claimed-devices/{}/provisioning", commands_create},
  {"GET", "/v1/claimed-devices/{}/provisioning", commands_list},
  {"DELETE", "/v1/claimed-devices/{}/provisioning", commands_reset},
  {"GET", "/v1/claimed-devices/{}/provisioning/{}", commands_get},
  {"DELETE", "/v1/claimed-devices/{}/provisioning/{}", commands_discard},
  {"POST", "/_mock/claimed-devices/{}/provisioning/{}/result", control_settle},
  {"POST", "/_mock/claimed-devices/{}/provisioning/{}/deliver", control_deliver},

  /* Provisioning rules (owner-api.md §4). */
  {"POST", "/v1/provisioning-rules", rules_create},
  {"GET", "/v1/provisioning-rules", rules_list},
  {"GET", "/v1/provisioning-rules/{}", rules_get},
  {"PATCH", "/v1/provisioning-rules/{}", rules_update},
  {"DELETE", "/v1/provisioning-rules/{}", rules_delete},

  /* Provisioning tags and groups (owner-api.md §5). A tag may hold '/' (decoded from
   * %2F), so one to four segments name it; tags.c takes the rest of the path. */
  {"GET", "/v1/provisioning/tags", tags_list},
  {"POST", "/v1/provisioning/tags", tags_create},
  {"GET", "/v1/provisioning/tags/{}", tags_get},
  {"DELETE", "/v1/provisioning/tags/{}", tags_delete},
  {"GET", "/v1/provisioning/tags/{}/{}", tags_get},
  {"DELETE", "/v1/provisioning/tags/{}/{}", tags_delete},
  {"GET", "/v1/provisioning/tags/{}/{}/{}", tags_get},
  {"DELETE", "/v1/provisioning/tags/{}/{}/{}", tags_delete},
  {"GET", "/v1/provisioning/tags/{}/{}/{}/{}", tags_get},
  {"DELETE", "/v1/provisioning/tags/{}/{}/{}/{}", tags_delete},

  /* Device management: onboarded devices (owner-api.md §6). */
  {"GET", "/v1/devices", devices_list},
  {"GET", "/v1/devices/{}", devices_get},
  {"DELETE", "/v1/devices/{}", devices_delete},

  /* Device identities, a control call (control-api.md §2, device-protocol.md §4.3). */
  {"POST", "/_mock/identities", identities_create},
  {"GET", "/_mock/identities", identities_list},
  {"GET", "/_mock/identities/{}", identities_get},
  {"DELETE", "/_mock/identities/{}", identities_delete},

  /* The device-facing protocol (device-protocol.md §2). */
  {"GET", "/v1/provisioning/commands", device_commands},
  {"POST", "/v1/provisioning/response", device_response},
};

const size_t http__n_routes = sizeof http__routes / sizeof http__routes[0];
