/* Every HTTP handler, by resource family; the route table (routes.c) names them. */
#ifndef NRFPROV_HTTP_HANDLERS_H
#define NRFPROV_HTTP_HANDLERS_H

#include "route.h"

/* control.c */
void control_health(http_req *r);
void control_config(http_req *r);
void control_reset(http_req *r);
void control_ca(http_req *r);
void control_requests(http_req *r);
void control_requests_clear(http_req *r);
void control_faults_add(http_req *r);
void control_faults_list(http_req *r);
void control_faults_clear(http_req *r);
void control_faults_delete(http_req *r);
void control_metrics(http_req *r);
void control_snapshot(http_req *r);
void control_restore(http_req *r);
void control_snapshots_list(http_req *r);
void control_snapshots_delete(http_req *r);
void control_fixtures(http_req *r);

/* claimed_devices.c */
void claimed_devices_claim(http_req *r);
void claimed_devices_bulk(http_req *r);
void bulk_ops_get(http_req *r);
void claimed_devices_list(http_req *r);
void claimed_devices_get(http_req *r);
void claimed_devices_unclaim(http_req *r);
void claimed_devices_block(http_req *r);
void claimed_devices_unblock(http_req *r);
void claimed_devices_tags(http_req *r);

/* commands.c */
void commands_create(http_req *r);
void commands_list(http_req *r);
void commands_get(http_req *r);
void commands_discard(http_req *r);
void commands_reset(http_req *r);
void control_settle(http_req *r);
void control_deliver(http_req *r);

/* device_api.c */
void device_commands(http_req *r);
void device_response(http_req *r);

/* rules.c */
void rules_create(http_req *r);
void rules_list(http_req *r);
void rules_get(http_req *r);
void rules_update(http_req *r);
void rules_delete(http_req *r);

/* tags.c */
void tags_list(http_req *r);
void tags_create(http_req *r);
void tags_get(http_req *r);
void tags_delete(http_req *r);

/* devices.c */
void devices_list(http_req *r);
void devices_get(http_req *r);
void devices_delete(http_req *r);

/* ui.c */
void ui_index(http_req *r);
void ui_file(http_req *r);
void ui_favicon(http_req *r);
void ui_templates(http_req *r);

/* identities.c */
void identities_create(http_req *r);
void identities_list(http_req *r);
void identities_get(http_req *r);
void identities_delete(http_req *r);

#endif
