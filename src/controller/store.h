/* The controller's store: hosts, workloads, migrations with their phase journal,
 * and events, in SQLite (WAL). The schema carries a version and is migrated
 * forward when the controller starts. One connection, serialised by a mutex:
 * every function here is safe to call from any thread.
 *
 * Objects come and go as JSON (jansson) in the shapes the REST API shows, so that
 * the API layer adds only live data. Getters return new references or NULL. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "energy/signal.h"
#include "lib/error.h"

typedef struct store store_t;

int store_open(const char *path, store_t **ret, flyt_error_t *err);
void store_close(store_t *st);
int store_schema_version(store_t *st);

/* ---- hosts ---- */

/* Inserts or updates a host from what its agent says about itself. *ret_new tells
 * whether it was unknown (may be NULL). */
int store_host_upsert(store_t *st, const char *name, const char *url, json_t *facts, int64_t now_ms, bool *ret_new,
		      flyt_error_t *err);
/* Records a sign of life with the load and memory it reported (may be NULL).
 * FLYT_E_NOT_FOUND when the host is unknown. */
int store_host_seen(store_t *st, const char *name, json_t *load, json_t *memory, int64_t now_ms, flyt_error_t *err);
/* Sets state ("online"/"offline"); returns 1 when it changed, 0 when not. */
int store_host_set_state(store_t *st, const char *name, const char *state, flyt_error_t *err);
json_t *store_host_get(store_t *st, const char *name);
json_t *store_hosts_list(store_t *st);
/* Names and last-seen times of all hosts: [{"name","url","state","last_seen_ms"}]. */
json_t *store_hosts_liveness(store_t *st);
int store_host_delete(store_t *st, const char *name, flyt_error_t *err);

/* ---- workloads ---- */

/* w: {"id","name","kind","host","spec","state"}; FLYT_E_CONFLICT on a taken name. */
int store_workload_insert(store_t *st, json_t *w, int64_t now_ms, flyt_error_t *err);
json_t *store_workload_get(store_t *st, const char *name);
/* When the workload was last placed on a host: created, or its last migration
 * started or ended (0: no such workload). */
int64_t store_workload_placed_ms(store_t *st, const char *name);
json_t *store_workloads_list(store_t *st, const char *host, const char *kind, const char *state, const char *q,
			     int64_t limit, int64_t offset, int64_t *ret_total);
/* Updates the given fields (NULL: unchanged). status is the last live status. */
int store_workload_update(store_t *st, const char *name, const char *host, const char *state, json_t *status,
			  int64_t now_ms, flyt_error_t *err);
int store_workload_delete(store_t *st, const char *name, flyt_error_t *err);
int64_t store_workloads_on_host(store_t *st, const char *host);

/* ---- migrations ---- */

/* m: {"id","workload","kind","source","target","mode_requested","mode","mode_reason","options"}.
 * FLYT_E_CONFLICT when the workload already has an unfinished migration. */
int store_migration_insert(store_t *st, json_t *m, int64_t now_ms, flyt_error_t *err);
/* Applies fields of upd (state, error, note, stats ...) and bumps the version. */
int store_migration_update(store_t *st, const char *id, json_t *upd, int64_t now_ms, flyt_error_t *err);
int store_migration_journal(store_t *st, const char *id, const char *phase, const char *note, int64_t now_ms,
			    flyt_error_t *err);
json_t *store_migration_get(store_t *st, const char *id);
json_t *store_migrations_list(store_t *st, const char *workload, const char *state, int64_t limit);
/* Ids of migrations that have not reached a terminal state. */
json_t *store_migrations_unfinished(store_t *st);
/* The unfinished migration of a workload, or NULL. */
json_t *store_migration_active_for(store_t *st, const char *workload);

/* ---- events ---- */

int store_event_add(store_t *st, int64_t seq, json_t *event, flyt_error_t *err);
json_t *store_events_since(store_t *st, int64_t since, int64_t limit);
int64_t store_events_last(store_t *st);

/* ---- energy-aware placement ---- */

/* Sets what the operator decides about a host: changes may hold "area" (string,
 * or null to fall back to the agent's --area), "idle_watts" and "max_watts"
 * (numbers, or null for the policy's defaults) and "drain" (bool); checked by the
 * caller. FLYT_E_NOT_FOUND when the host is unknown. */
int store_host_set(store_t *st, const char *name, json_t *changes, flyt_error_t *err);
int store_workload_set_auto(store_t *st, const char *name, bool on, flyt_error_t *err);

/* A JSON value stored under key (new reference), or NULL. */
json_t *store_setting_get(store_t *st, const char *key);
int store_setting_put(store_t *st, const char *key, json_t *value, flyt_error_t *err);

/* The cache of fetched signal samples: put stores every sample of set (finished)
 * with its source and replaces what was there at the same times, and drops
 * samples older than keep_after_ms; load merges the cached samples from since_ms
 * on into set. */
int store_signals_put(store_t *st, const energy_set_t *set, const char *source, int64_t now_ms, int64_t keep_after_ms,
		      flyt_error_t *err);
int store_signals_load(store_t *st, int64_t since_ms, energy_set_t *set, flyt_error_t *err);

/* Decisions of the policy: d has "id", "time_ms", "policy_ms", "workload",
 * "action", "code", "host", "target", "reason", "detail" (the whole decision)
 * and "migration" (may be null). The store keeps the newest 20000. */
int store_decision_add(store_t *st, json_t *d, flyt_error_t *err);
/* Newest first, filtered by workload and action (NULL: any), limit of them
 * after skipping offset; *ret_total (when not NULL) is how many match. */
json_t *store_decisions_list(store_t *st, const char *workload, const char *action, int64_t limit, int64_t offset,
			     int64_t *ret_total);
json_t *store_decision_get(store_t *st, const char *id);

/* Holds after failed policy migrations: {"WORKLOAD": {"failures", "hold_until_ms", "reason"}}. */
json_t *store_holds(store_t *st);
/* Counts one more failure of workload and holds it until hold_until_ms (policy
 * time); returns the new number of failures, or -1. */
int store_hold_fail(store_t *st, const char *workload, int64_t hold_until_ms, const char *reason, flyt_error_t *err);
int store_hold_clear(store_t *st, const char *workload, flyt_error_t *err);

/* {"WORKLOAD": finished_ms} of each workload's last committed migration. */
json_t *store_last_moves(store_t *st);
/* Migrations started by the policy (options.origin.policy set) created at or
 * after created_ms. */
int64_t store_policy_migrations_since(store_t *st, int64_t created_ms);
/* Migrations that finished after finished_ms, oldest first:
 * [{"id","workload","state","error","finished_ms","origin"}]. */
json_t *store_migrations_finished_since(store_t *st, int64_t finished_ms);

/* Adds to the energy totals: items [{"scope":"host"|"workload","name","energy_wh",
 * "co2_g","cost","co2_wh","cost_wh"}] in one transaction. */
int store_energy_add(store_t *st, json_t *items, int64_t now_ms, flyt_error_t *err);
/* {"host": {NAME: totals}, "workload": {NAME: totals}} with totals
 * {"energy_wh","co2_g","cost","co2_wh","cost_wh","since"}. */
json_t *store_energy_totals(store_t *st);
/* ---- web UI sessions ---- */

/* sess: {"id","csrf","peer","agent","created_ms","expires_ms"}. Removes expired
 * sessions on the way. */
int store_session_add(store_t *st, json_t *sess, flyt_error_t *err);
/* The session with this id if it has not expired at now_ms, else NULL:
 * {"id","csrf","peer","agent","created_ms","expires_ms","created","expires"}. */
json_t *store_session_get(store_t *st, const char *id, int64_t now_ms);
/* Sessions that have not expired, newest first. */
json_t *store_sessions_list(store_t *st, int64_t now_ms);
/* Deletes the session id, or every session when id is NULL; *ret_deleted (may be
 * NULL) gets how many went. */
int store_session_delete(store_t *st, const char *id, int64_t *ret_deleted, flyt_error_t *err);

/* ---- join tokens (agent enrolment) ---- */

/* Saves a join token (its id and the SHA-256 of its secret), dropping expired ones. */
int store_join_token_add(store_t *st, const char *id, const char *secret_sha256, int64_t created_ms, int64_t expires_ms,
			 flyt_error_t *err);
/* The join token id when it has not expired at now_ms (counting the use), else NULL. */
json_t *store_join_token_use(store_t *st, const char *id, int64_t now_ms);
/* Join tokens that have not expired, without their secrets' hashes. */
json_t *store_join_tokens_list(store_t *st, int64_t now_ms);
int store_join_token_delete(store_t *st, const char *id, int64_t *ret_deleted, flyt_error_t *err);
