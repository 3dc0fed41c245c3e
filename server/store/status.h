/* The derived device status (docs/owner-api.md §3.4) as one SQL expression over a claim
 * row aliased `c`. Schema version 3 stores its value in claims.status and keeps it
 * current with triggers built from this expression (store.c): changing it means a new
 * migration that recreates those triggers and recomputes the column. */
#ifndef NRFPROV_STORE_STATUS_H
#define NRFPROV_STORE_STATUS_H

#define STORE_CLAIM_STATUS_SQL                                                                   \
  "(CASE WHEN EXISTS (SELECT 1 FROM commands k WHERE k.claim_seq = c.seq"                        \
  "                   AND k.status IN ('PENDING', 'IN_PROGRESS'))"                                \
  "        OR EXISTS (SELECT 1 FROM claim_tags ct JOIN rule_tags rt ON rt.team_id = ct.team_id"   \
  "                   AND rt.tag = ct.tag JOIN rules r ON r.seq = rt.rule_seq AND r.active = 1"   \
  "                   WHERE ct.claim_seq = c.seq AND NOT EXISTS (SELECT 1 FROM rule_applied ra"   \
  "                   WHERE ra.rule_seq = r.seq AND ra.claim_seq = c.seq))"                       \
  "      THEN 'PENDING' WHEN c.last_report = 2 THEN 'ERROR'"                                     \
  "      WHEN c.last_report = 1 THEN 'PROVISIONED' ELSE 'READY' END)"

#endif
