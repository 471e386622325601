/* The controller's REST API under /api/v1/: one table of routes, one small handler
 * each. docs/api.md and docs/openapi.yaml describe the same table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/controller.h"
#include "flyt-config.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/util.h"

static ctl_t *C(flyt_http_request_t *req)
{
	return req->user;
}

/* Optional query filter that must be a valid name. */
static int query_name(flyt_http_request_t *req, const char *key, const char **ret, flyt_error_t *err)
{
	const char *v = flyt_http_query(req, key);
	if (v && *v && !flyt_name_valid(v) && strcmp(key, "q") != 0)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "query argument %s: \"%.64s\" is not a valid name", key,
				      v);
	if (v && strlen(v) > 63)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "query argument %s is too long", key);
	*ret = v && *v ? v : NULL;
	return 0;
}

static int with_body(flyt_http_request_t *req, json_t **ret, flyt_error_t *err)
{
	return flyt_http_body_json(req, ret, err);
}

static int h_health(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	flyt_http_reply_json(res, 200,
			     json_pack("{s:s, s:i}", "status", "ok", "schema", store_schema_version(C(req)->store)));
	return 0;
}

/* ---- hosts ---- */

static int h_hosts(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	flyt_http_reply_json(res, 200, json_pack("{s:o}", "hosts", store_hosts_list(C(req)->store)));
	return 0;
}

static int h_host_show(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	const char *name = NULL;
	if (flyt_http_param_name(req, "name", &name, err) < 0)
		return -1;
	json_t *h = store_host_get(C(req)->store, name);
	if (!h)
		return flyt_error_set(err, FLYT_E_NOT_FOUND, 0, "no host %s", name);
	flyt_http_reply_json(res, 200, h);
	return 0;
}

static int h_host_add(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	_cleanup_json_ json_t *body = NULL;
	json_t *out = NULL;
	if (with_body(req, &body, err) < 0 || hosts_add(C(req), body, &out, err) < 0)
		return -1;
	flyt_http_reply_json(res, 201, out);
	return 0;
}

static int h_host_delete(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	const char *name = NULL;
	if (flyt_http_param_name(req, "name", &name, err) < 0 || hosts_remove(C(req), name, err) < 0)
		return -1;
	flyt_http_reply_json(res, 200, json_pack("{s:s}", "removed", name));
	return 0;
}

static int h_agent_register(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	_cleanup_json_ json_t *body = NULL;
	json_t *out = NULL;
	if (with_body(req, &body, err) < 0 ||
	    hosts_register(C(req), body, req->peer_cert ? req->peer_cert->cn : NULL, &out, err) < 0)
		return -1;
	flyt_http_reply_json(res, 200, out);
	return 0;
}

#define PKI_HANDLER(h, fn)                                                                   \
	static int h(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err) \
	{                                                                                    \
		return fn(C(req), req, res, err);                                            \
	}
PKI_HANDLER(h_agent_renew, pki_renew)
PKI_HANDLER(h_ca, pki_ca)
PKI_HANDLER(h_enroll, pki_enroll)
PKI_HANDLER(h_join_tokens, pki_join_tokens)
PKI_HANDLER(h_join_token_create, pki_join_token_create)
PKI_HANDLER(h_join_token_delete, pki_join_token_delete)
PKI_HANDLER(h_token_rotate, pki_token_rotate)
PKI_HANDLER(h_host_rotate_cert, pki_host_rotate_cert)

static int h_agent_heartbeat(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	const char *name = NULL;
	_cleanup_json_ json_t *body = NULL;
	if (flyt_http_param_name(req, "name", &name, err) < 0 || with_body(req, &body, err) < 0 ||
	    hosts_heartbeat(C(req), name, body, err) < 0)
		return -1;
	flyt_http_reply_json(res, 200, json_pack("{s:b}", "ok", 1));
	return 0;
}

/* ---- workloads ---- */

static int h_workloads(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	const char *host = NULL, *kind = NULL, *state = NULL, *q = NULL;
	uint64_t limit = 1000, offset = 0;
	if (query_name(req, "host", &host, err) < 0 || query_name(req, "kind", &kind, err) < 0 ||
	    query_name(req, "state", &state, err) < 0 || query_name(req, "q", &q, err) < 0 ||
	    flyt_http_query_u64(req, "limit", 10000, &limit, err) < 0 ||
	    flyt_http_query_u64(req, "offset", INT64_MAX, &offset, err) < 0)
		return -1;
	int64_t total = 0;
	json_t *list =
	    store_workloads_list(C(req)->store, host, kind, state, q, (int64_t)limit, (int64_t)offset, &total);
	flyt_http_reply_json(res, 200, json_pack("{s:o, s:I}", "workloads", list, "total", (json_int_t)total));
	return 0;
}

/* flyt's workload or the old system's spec (then ?host=HOST says where). */
static int h_workload_create(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	_cleanup_json_ json_t *body = NULL, *converted = NULL;
	const char *host = NULL;
	json_t *out = NULL;
	if (with_body(req, &body, err) < 0 || query_name(req, "host", &host, err) < 0)
		return -1;
	if (legacy_is_workload_spec(body)) {
		if (legacy_workload_convert(body, host, &converted, err) < 0)
			return -1;
	} else if (host) {
		return flyt_error_set(err, FLYT_E_INVALID, 0,
				      "?host= goes with the old system's spec; flyt's names its host in \"host\"");
	}
	if (workloads_create(C(req), converted ? converted : body, &out, err) < 0)
		return -1;
	flyt_http_reply_json(res, 201, out);
	return 0;
}

static int h_import_guests(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	_cleanup_json_ json_t *body = NULL;
	json_t *out = NULL;
	if (with_body(req, &body, err) < 0 || legacy_guests_import(C(req), body, &out, err) < 0)
		return -1;
	flyt_http_reply_json(res, 200, out);
	return 0;
}

static int h_workload_show(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	const char *name = NULL;
	json_t *out = NULL;
	if (flyt_http_param_name(req, "name", &name, err) < 0 || workloads_show(C(req), name, &out, err) < 0)
		return -1;
	flyt_http_reply_json(res, 200, out);
	return 0;
}

static int workload_do(flyt_http_request_t *req, flyt_http_response_t *res, const char *action, flyt_error_t *err)
{
	const char *name = NULL;
	json_t *out = NULL;
	if (flyt_http_param_name(req, "name", &name, err) < 0 || workloads_action(C(req), name, action, &out, err) < 0)
		return -1;
	flyt_http_reply_json(res, 200, out);
	return 0;
}

static int h_workload_stop(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	return workload_do(req, res, "stop", err);
}

static int h_workload_start(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	return workload_do(req, res, "start", err);
}

static int h_workload_delete(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	const char *name = NULL;
	const char *force = flyt_http_query(req, "force");
	if (flyt_http_param_name(req, "name", &name, err) < 0 ||
	    workloads_delete(C(req), name, force && strcmp(force, "true") == 0, err) < 0)
		return -1;
	flyt_http_reply_json(res, 200, json_pack("{s:s}", "deleted", name));
	return 0;
}

static int h_workload_logs(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	const char *name = NULL;
	const char *stream = flyt_http_query(req, "stream");
	uint64_t tail = 16384;
	if (stream && strcmp(stream, "stdout") != 0 && strcmp(stream, "stderr") != 0)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "stream must be stdout or stderr");
	if (flyt_http_param_name(req, "name", &name, err) < 0 ||
	    flyt_http_query_u64(req, "tail", 1024 * 1024, &tail, err) < 0 ||
	    workloads_logs(C(req), name, stream ? stream : "stdout", tail, &res->body, &res->body_len, err) < 0)
		return -1;
	res->status = 200;
	res->content_type = "text/plain; charset=utf-8";
	return 0;
}

/* ---- migrations ---- */

static int h_migrations(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	const char *workload = NULL, *state = NULL;
	uint64_t limit = 100;
	if (query_name(req, "workload", &workload, err) < 0 || query_name(req, "state", &state, err) < 0 ||
	    flyt_http_query_u64(req, "limit", 10000, &limit, err) < 0)
		return -1;
	flyt_http_reply_json(
	    res, 200,
	    json_pack("{s:o}", "migrations", store_migrations_list(C(req)->store, workload, state, (int64_t)limit)));
	return 0;
}

static int h_migration_start(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	_cleanup_json_ json_t *body = NULL;
	json_t *out = NULL;
	if (with_body(req, &body, err) < 0 || orch_start(C(req), body, &out, err) < 0)
		return -1;
	flyt_http_reply_json(res, 202, out);
	return 0;
}

static int h_migration_show(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	const char *id = NULL;
	uint64_t since = 0, wait = 0;
	json_t *out = NULL;
	if (flyt_http_param_id(req, "id", &id, err) < 0 ||
	    flyt_http_query_u64(req, "since", INT64_MAX, &since, err) < 0 ||
	    flyt_http_query_u64(req, "wait", 30000, &wait, err) < 0 ||
	    orch_wait(C(req), id, since, (unsigned)wait, &out, err) < 0)
		return -1;
	flyt_http_reply_json(res, 200, out);
	return 0;
}

static int h_migration_cancel(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	const char *id = NULL;
	json_t *out = NULL;
	if (flyt_http_param_id(req, "id", &id, err) < 0 || orch_cancel(C(req), id, &out, err) < 0)
		return -1;
	flyt_http_reply_json(res, 202, out);
	return 0;
}

static int h_migration_postcopy(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	const char *id = NULL;
	json_t *out = NULL;
	if (flyt_http_param_id(req, "id", &id, err) < 0 || orch_postcopy(C(req), id, &out, err) < 0)
		return -1;
	flyt_http_reply_json(res, 202, out);
	return 0;
}

/* ---- events ---- */

static int h_events(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	uint64_t since = flyt_events_last(C(req)->events);
	const char *last_id = flyt_http_header(req, "Last-Event-ID");
	if (last_id && flyt_parse_u64(last_id, INT64_MAX, &since) < 0)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "bad Last-Event-ID");
	if (flyt_http_query_u64(req, "since", INT64_MAX, &since, err) < 0)
		return -1;
	flyt_events_sse(C(req)->events, since, NULL, NULL, NULL, res);
	return 0;
}

static int h_events_poll(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	ctl_t *c = C(req);
	uint64_t since = 0, wait = 0, limit = 100;
	if (flyt_http_query_u64(req, "since", INT64_MAX, &since, err) < 0 ||
	    flyt_http_query_u64(req, "wait", 30000, &wait, err) < 0 ||
	    flyt_http_query_u64(req, "limit", 1000, &limit, err) < 0)
		return -1;
	json_t *evs = store_events_since(c->store, (int64_t)since, (int64_t)limit);
	if (json_array_size(evs) == 0 && wait > 0) {
		/* wait for the next event, then read it back from the store */
		json_decref(flyt_events_since(c->events, since, 1, (unsigned)wait));
		json_decref(evs);
		evs = store_events_since(c->store, (int64_t)since, (int64_t)limit);
	}
	size_t n = json_array_size(evs);
	json_int_t last =
	    n ? flyt_json_int(json_array_get(evs, n - 1), "seq", 0) : (json_int_t)flyt_events_last(c->events);
	flyt_http_reply_json(res, 200, json_pack("{s:o, s:I}", "events", evs, "last", last));
	return 0;
}

/* ---- energy-aware placement ---- */

static int h_host_set(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	const char *name = NULL;
	_cleanup_json_ json_t *body = NULL;
	json_t *out = NULL;
	if (flyt_http_param_name(req, "name", &name, err) < 0 || with_body(req, &body, err) < 0 ||
	    hosts_set(C(req), name, body, &out, err) < 0)
		return -1;
	flyt_http_reply_json(res, 200, out);
	return 0;
}

/* ---- browser sessions and what the web UI needs beyond the rest ---- */

static int h_session_open(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	_cleanup_json_ json_t *body = NULL;
	if (with_body(req, &body, err) < 0)
		return -1;
	return session_open(C(req), req, body, res, err);
}

static int h_session_show(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	return session_show(C(req), req, res, err);
}

static int h_session_close(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	return session_close(C(req), req, res, err);
}

static int h_sessions(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	return session_list(C(req), req, res, err);
}

static int h_sessions_revoke(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	return session_revoke_all(C(req), req, res, err);
}

static int h_workload_targets(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	const char *name = NULL;
	json_t *out = NULL;
	if (flyt_http_param_name(req, "name", &name, err) < 0 || orch_targets(C(req), name, &out, err) < 0)
		return -1;
	flyt_http_reply_json(res, 200, out);
	return 0;
}

static int h_workload_set(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	const char *name = NULL;
	_cleanup_json_ json_t *body = NULL;
	json_t *out = NULL;
	if (flyt_http_param_name(req, "name", &name, err) < 0 || with_body(req, &body, err) < 0 ||
	    workloads_set(C(req), name, body, &out, err) < 0)
		return -1;
	flyt_http_reply_json(res, 200, out);
	return 0;
}

static int h_policy(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	flyt_http_reply_json(res, 200, policy_status(C(req)));
	return 0;
}

static int h_policy_set(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	_cleanup_json_ json_t *body = NULL;
	json_t *out = NULL;
	if (with_body(req, &body, err) < 0 || policy_update(C(req), body, &out, err) < 0)
		return -1;
	flyt_http_reply_json(res, 200, out);
	return 0;
}

static int h_plan(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	const char *workload = NULL;
	const char *all = flyt_http_query(req, "all");
	json_t *out = NULL;
	if (query_name(req, "workload", &workload, err) < 0 ||
	    policy_plan(C(req), all && strcmp(all, "true") == 0, workload, &out, err) < 0)
		return -1;
	flyt_http_reply_json(res, 200, out);
	return 0;
}

static int h_decisions(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	const char *workload = NULL;
	const char *action = flyt_http_query(req, "action");
	uint64_t limit = 100, offset = 0;
	if (action && *action && strcmp(action, "move") != 0 && strcmp(action, "stay") != 0 &&
	    strcmp(action, "blocked") != 0)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "action must be move, stay or blocked");
	if (query_name(req, "workload", &workload, err) < 0 ||
	    flyt_http_query_u64(req, "limit", 10000, &limit, err) < 0 ||
	    flyt_http_query_u64(req, "offset", INT64_MAX, &offset, err) < 0)
		return -1;
	int64_t total = 0;
	json_t *list = store_decisions_list(C(req)->store, workload, action && *action ? action : NULL, (int64_t)limit,
					    (int64_t)offset, &total);
	flyt_http_reply_json(res, 200, json_pack("{s:o, s:I}", "decisions", list, "total", (json_int_t)total));
	return 0;
}

static int h_decision_show(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	const char *id = NULL;
	if (flyt_http_param_id(req, "id", &id, err) < 0)
		return -1;
	json_t *d = store_decision_get(C(req)->store, id);
	if (!d)
		return flyt_error_set(err, FLYT_E_NOT_FOUND, 0, "no decision %s", id);
	flyt_http_reply_json(res, 200, d);
	return 0;
}

static int h_signals(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	flyt_http_reply_json(res, 200, signals_status(C(req)));
	return 0;
}

static int h_energy(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	flyt_http_reply_json(res, 200, policy_energy(C(req)));
	return 0;
}

static int h_info(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	ctl_t *c = C(req);
	flyt_http_reply_json(res, 200,
			     json_pack("{s:s, s:i, s:s, s:s, s:s, s:I, s:I, s:b, s:I}", "version", FLYT_VERSION,
				       "schema", store_schema_version(c->store), "listen", c->listen, "db", c->db_path,
				       "token_file", c->token_file, "offline_after_ms", (json_int_t)c->offline_after_ms,
				       "session_ttl_min", (json_int_t)c->session_ttl_min, "cookie_secure",
				       c->cookie_secure, "events_last", (json_int_t)flyt_events_last(c->events)));
	return 0;
}

const flyt_route_t ctl_routes[] = {
	{ "GET", "/api/v1/health", h_health, FLYT_ROUTE_PUBLIC, "liveness (no authentication)" },
	{ "GET", "/api/v1/hosts", h_hosts, 0, "list hosts" },
	{ "POST", "/api/v1/hosts", h_host_add, FLYT_ROUTE_WRITE, "add a host by the URL of its agent" },
	{ "GET", "/api/v1/hosts/:name", h_host_show, 0, "one host with its facts" },
	{ "DELETE", "/api/v1/hosts/:name", h_host_delete, FLYT_ROUTE_WRITE, "forget a host without workloads" },
	{ "POST", "/api/v1/agents/register", h_agent_register, FLYT_ROUTE_WRITE | FLYT_ROUTE_AGENT,
	  "an agent registers itself" },
	{ "POST", "/api/v1/agents/:name/heartbeat", h_agent_heartbeat, FLYT_ROUTE_WRITE | FLYT_ROUTE_AGENT,
	  "an agent reports in" },
	{ "POST", "/api/v1/agents/:name/renew", h_agent_renew, FLYT_ROUTE_WRITE | FLYT_ROUTE_AGENT,
	  "an agent renews its certificate (with that certificate)" },
	{ "GET", "/api/v1/ca", h_ca, FLYT_ROUTE_PUBLIC,
	  "the cluster CA certificate and its SHA-256 (no authentication)" },
	{ "POST", "/api/v1/enroll", h_enroll, FLYT_ROUTE_PUBLIC | FLYT_ROUTE_WRITE,
	  "a new agent exchanges a join token and a certificate request for its certificate" },
	{ "GET", "/api/v1/join-tokens", h_join_tokens, 0, "join tokens that have not expired (without secrets)" },
	{ "POST", "/api/v1/join-tokens", h_join_token_create, FLYT_ROUTE_WRITE, "create a join token for new agents" },
	{ "DELETE", "/api/v1/join-tokens/:id", h_join_token_delete, FLYT_ROUTE_WRITE, "revoke a join token" },
	{ "POST", "/api/v1/tokens/rotate", h_token_rotate, FLYT_ROUTE_WRITE,
	  "replace the cluster (or read-only) token; the old one is refused at once" },
	{ "POST", "/api/v1/hosts/:name/rotate-cert", h_host_rotate_cert, FLYT_ROUTE_WRITE,
	  "have a host's agent renew its certificate now" },
	{ "GET", "/api/v1/workloads", h_workloads, 0, "list workloads (filters, paging)" },
	{ "POST", "/api/v1/workloads", h_workload_create, FLYT_ROUTE_WRITE,
	  "create a workload on a host (flyt's spec, or the old system's with ?host=HOST)" },
	{ "GET", "/api/v1/workloads/:name", h_workload_show, 0, "one workload with live status" },
	{ "DELETE", "/api/v1/workloads/:name", h_workload_delete, FLYT_ROUTE_WRITE, "stop and remove a workload" },
	{ "POST", "/api/v1/workloads/:name/stop", h_workload_stop, FLYT_ROUTE_WRITE, "stop a workload" },
	{ "POST", "/api/v1/workloads/:name/start", h_workload_start, FLYT_ROUTE_WRITE, "start a stopped workload" },
	{ "GET", "/api/v1/workloads/:name/logs", h_workload_logs, 0, "tail of the workload's output" },
	{ "GET", "/api/v1/migrations", h_migrations, 0, "list migrations, newest first" },
	{ "POST", "/api/v1/migrations", h_migration_start, FLYT_ROUTE_WRITE, "migrate a workload to another host" },
	{ "GET", "/api/v1/migrations/:id", h_migration_show, 0, "one migration with its journal; long-pollable" },
	{ "POST", "/api/v1/migrations/:id/cancel", h_migration_cancel, FLYT_ROUTE_WRITE,
	  "cancel before the switch-over" },
	{ "POST", "/api/v1/migrations/:id/postcopy", h_migration_postcopy, FLYT_ROUTE_WRITE,
	  "postcopy mode (VMs): switch to the target now" },
	{ "GET", "/api/v1/events", h_events, 0, "server-sent events" },
	{ "GET", "/api/v1/events/poll", h_events_poll, 0, "events as JSON, long-pollable" },
	{ "POST", "/api/v1/import/guests", h_import_guests, FLYT_ROUTE_WRITE,
	  "add the hosts of the old system's guests.json" },
	{ "PATCH", "/api/v1/hosts/:name", h_host_set, FLYT_ROUTE_WRITE, "set a host's area, power model, drain" },
	{ "PATCH", "/api/v1/workloads/:name", h_workload_set, FLYT_ROUTE_WRITE, "set a workload's auto-migrate flag" },
	{ "GET", "/api/v1/policy", h_policy, 0, "the automatic-migration policy, its clock and holds" },
	{ "PATCH", "/api/v1/policy", h_policy_set, FLYT_ROUTE_WRITE, "change policy settings" },
	{ "GET", "/api/v1/plan", h_plan, 0, "what the policy would do now and why, without doing it" },
	{ "GET", "/api/v1/decisions", h_decisions, 0, "the policy's stored decisions, newest first" },
	{ "GET", "/api/v1/decisions/:id", h_decision_show, 0, "one decision with its inputs and alternatives" },
	{ "GET", "/api/v1/signals", h_signals, 0, "energy signal sources and each area's values now" },
	{ "GET", "/api/v1/energy", h_energy, 0, "energy, CO2 and cost totals per host and workload, power now" },
	{ "POST", "/api/v1/session", h_session_open, FLYT_ROUTE_PUBLIC | FLYT_ROUTE_WRITE,
	  "sign in with the cluster token: a browser session cookie" },
	{ "GET", "/api/v1/session", h_session_show, FLYT_ROUTE_PUBLIC,
	  "whether the caller is signed in; its session's CSRF token" },
	{ "DELETE", "/api/v1/session", h_session_close, FLYT_ROUTE_WRITE, "sign out: end the caller's session" },
	{ "GET", "/api/v1/sessions", h_sessions, 0, "browser sessions that have not expired" },
	{ "DELETE", "/api/v1/sessions", h_sessions_revoke, FLYT_ROUTE_WRITE, "end every browser session" },
	{ "GET", "/api/v1/workloads/:name/targets", h_workload_targets, 0,
	  "hosts a workload could migrate to, and why not" },
	{ "GET", "/api/v1/info", h_info, 0, "the controller's version and settings" },
};
const size_t ctl_nroutes = ELEMENTSOF(ctl_routes);
