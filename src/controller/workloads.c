/* Workloads as the controller sees them: recorded in the store, carried out by the
 * agent of their host. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/controller.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/util.h"

#define AGENT_ACTION_TIMEOUT_MS 60000

int workloads_create(ctl_t *c, json_t *body, json_t **ret, flyt_error_t *err)
{
	static const char *const keys[] = { "name", "kind", "host", "spec", "start", NULL };
	const char *name = NULL, *kind = NULL, *host = NULL;
	json_t *spec = NULL;
	bool start = true;
	if (flyt_json_check_keys(body, "workload", keys, err) < 0 ||
	    flyt_json_get_string(body, "name", true, 63, &name, err) < 0 ||
	    flyt_json_get_string(body, "kind", true, 15, &kind, err) < 0 ||
	    flyt_json_get_string(body, "host", true, 63, &host, err) < 0 ||
	    flyt_json_get_object(body, "spec", true, &spec, err) < 0 ||
	    flyt_json_get_bool(body, "start", false, &start, err) < 0)
		return -1;
	if (!flyt_name_valid(name))
		return flyt_error_set(
		    err, FLYT_E_INVALID, 0,
		    "workload name \"%.63s\" is not valid: use 1-63 of a-z 0-9 . _ -, starting with a letter or digit",
		    name);
	_cleanup_free_ char *url = NULL;
	if (hosts_online_url(c, host, &url, err) < 0)
		return -1;
	char id[33];
	if (flyt_new_id(id, err) < 0)
		return -1;
	/* the name is taken in the store first, so that two creates cannot race */
	_cleanup_json_ json_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:O, s:s}", "id", id, "name", name, "kind", kind,
					       "host", host, "spec", spec, "state", "creating");
	if (store_workload_insert(c->store, rec, flyt_wall_ms(), err) < 0)
		return -1;
	flyt_http_client_t cl = ctl_agent_client(c, url, AGENT_ACTION_TIMEOUT_MS);
	_cleanup_json_ json_t *req =
	    json_pack("{s:s, s:s, s:s, s:O, s:b}", "id", id, "name", name, "kind", kind, "spec", spec, "start", start);
	_cleanup_json_ json_t *ans = NULL;
	if (flyt_http_call(&cl, "POST", "/v1/workloads", req, &ans, NULL, err) < 0) {
		store_workload_delete(c->store, name, NULL);
		return flyt_error_prefix(err, "on %s", host);
	}
	store_workload_update(c->store, name, NULL, flyt_json_str(ans, "state", "running"), ans, flyt_wall_ms(), NULL);
	ctl_publish(c, "workload.created", json_pack("{s:s, s:s, s:s}", "workload", name, "kind", kind, "host", host));
	*ret = store_workload_get(c->store, name);
	return 0;
}

/* The agent of a known workload; FLYT_E_NOT_FOUND or UNAVAILABLE otherwise. */
static int agent_of(ctl_t *c, const char *name, json_t **ret_w, char **ret_url, flyt_error_t *err)
{
	json_t *w = store_workload_get(c->store, name);
	if (!w)
		return flyt_error_set(err, FLYT_E_NOT_FOUND, 0, "no workload %s", name);
	if (hosts_online_url(c, flyt_json_str(w, "host", ""), ret_url, err) < 0) {
		json_decref(w);
		return -1;
	}
	*ret_w = w;
	return 0;
}

int workloads_show(ctl_t *c, const char *name, json_t **ret, flyt_error_t *err)
{
	json_t *w = store_workload_get(c->store, name);
	if (!w)
		return flyt_error_set(err, FLYT_E_NOT_FOUND, 0, "no workload %s", name);
	_cleanup_free_ char *url = NULL;
	flyt_error_t herr = FLYT_ERROR_INIT;
	if (hosts_online_url(c, flyt_json_str(w, "host", ""), &url, &herr) == 0) {
		flyt_http_client_t cl = ctl_agent_client(c, url, 5000);
		_cleanup_free_ char *esc = flyt_url_escape(name);
		_cleanup_free_ char *path = flyt_asprintf("/v1/workloads/%s", esc);
		_cleanup_json_ json_t *live = NULL;
		if (flyt_http_call(&cl, "GET", path, NULL, &live, NULL, &herr) == 0) {
			static const char *const keys[] = { "state",	   "pid",	  "rss_bytes",
							    "cpu_percent", "cpu_seconds", "processes",
							    "error",	   "files_dir",	  NULL };
			/* a workload reconciliation marked failed (two copies) keeps the
			 * inventory's state and reason; the host's view is its own */
			bool keep = json_is_array(json_object_get(w, "copies"));
			for (const char *const *k = keys; *k; k++)
				if (json_object_get(live, *k) &&
				    !(keep && (!strcmp(*k, "state") || !strcmp(*k, "error"))))
					json_object_set(w, *k, json_object_get(live, *k));
		} else if (herr.code == FLYT_E_NOT_FOUND && !json_is_string(json_object_get(w, "migration"))) {
			json_object_set_new(w, "note",
					    json_string("its host does not know it (moved or removed outside flyt?)"));
		}
	} else {
		json_object_set_new(w, "state", json_string("unknown"));
		json_object_set_new(w, "note", json_string(herr.msg));
	}
	_cleanup_json_ json_t *m = store_migration_active_for(c->store, name);
	if (m)
		json_object_set(w, "migration", json_object_get(m, "id"));
	*ret = w;
	return 0;
}

int workloads_action(ctl_t *c, const char *name, const char *action, json_t **ret, flyt_error_t *err)
{
	_cleanup_json_ json_t *w = NULL;
	_cleanup_free_ char *url = NULL;
	if (agent_of(c, name, &w, &url, err) < 0)
		return -1;
	_cleanup_json_ json_t *m = store_migration_active_for(c->store, name);
	if (m)
		return flyt_error_set(err, FLYT_E_CONFLICT, 0, "workload %s is migrating (%s)", name,
				      flyt_json_str(m, "id", ""));
	flyt_http_client_t cl = ctl_agent_client(c, url, AGENT_ACTION_TIMEOUT_MS);
	_cleanup_free_ char *esc = flyt_url_escape(name);
	_cleanup_free_ char *path = flyt_asprintf("/v1/workloads/%s/%s", esc, action);
	_cleanup_json_ json_t *ans = NULL;
	if (flyt_http_call(&cl, "POST", path, NULL, &ans, NULL, err) < 0)
		return -1;
	const char *state = flyt_json_str(ans, "state", NULL);
	store_workload_update(c->store, name, NULL, state, ans, flyt_wall_ms(), NULL);
	if (state)
		ctl_publish(c, "workload.state",
			    json_pack("{s:s, s:s, s:s}", "workload", name, "host", flyt_json_str(w, "host", ""),
				      "state", state));
	*ret = store_workload_get(c->store, name);
	return 0;
}

int workloads_delete(ctl_t *c, const char *name, bool force, flyt_error_t *err)
{
	_cleanup_json_ json_t *w = store_workload_get(c->store, name);
	if (!w)
		return flyt_error_set(err, FLYT_E_NOT_FOUND, 0, "no workload %s", name);
	_cleanup_json_ json_t *m = store_migration_active_for(c->store, name);
	if (m)
		return flyt_error_set(err, FLYT_E_CONFLICT, 0, "workload %s is migrating (%s)", name,
				      flyt_json_str(m, "id", ""));
	_cleanup_free_ char *url = NULL;
	flyt_error_t herr = FLYT_ERROR_INIT;
	if (hosts_online_url(c, flyt_json_str(w, "host", ""), &url, &herr) == 0) {
		flyt_http_client_t cl = ctl_agent_client(c, url, AGENT_ACTION_TIMEOUT_MS);
		_cleanup_free_ char *esc = flyt_url_escape(name);
		_cleanup_free_ char *path = flyt_asprintf("/v1/workloads/%s", esc);
		if (flyt_http_call(&cl, "DELETE", path, NULL, NULL, NULL, &herr) < 0 && herr.code != FLYT_E_NOT_FOUND) {
			*err = herr;
			return -1;
		}
	} else if (!force) {
		return flyt_error_set(err, herr.code, 0, "%s; use force to forget the workload anyway", herr.msg);
	}
	if (store_workload_delete(c->store, name, err) < 0)
		return -1;
	ctl_publish(c, "workload.deleted",
		    json_pack("{s:s, s:s}", "workload", name, "host", flyt_json_str(w, "host", "")));
	return 0;
}

int workloads_logs(ctl_t *c, const char *name, const char *stream, uint64_t tail, char **ret, size_t *ret_len,
		   flyt_error_t *err)
{
	_cleanup_json_ json_t *w = NULL;
	_cleanup_free_ char *url = NULL;
	if (agent_of(c, name, &w, &url, err) < 0)
		return -1;
	flyt_http_client_t cl = ctl_agent_client(c, url, 10000);
	_cleanup_free_ char *esc = flyt_url_escape(name);
	_cleanup_free_ char *path =
	    flyt_asprintf("/v1/workloads/%s/logs?stream=%s&tail=%llu", esc,
			  strcmp(stream, "stderr") == 0 ? "stderr" : "stdout", (unsigned long long)tail);
	return flyt_http_call_raw(&cl, "GET", path, NULL, ret, ret_len, NULL, err);
}
