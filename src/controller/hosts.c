/* Hosts: agents registering themselves, hosts added by address, heartbeats, and
 * the monitor that marks silent hosts offline (probing them first). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/controller.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/util.h"

static int validate_url(ctl_t *c, const char *url, flyt_error_t *err)
{
	if (!flyt_startswith(url, "http://") && !flyt_startswith(url, "https://"))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "host URL must start with http:// or https://");
	/* TLS everywhere unless the controller was told otherwise */
	if (c->tls && !flyt_startswith(url, "https://"))
		return flyt_error_set(err, FLYT_E_INVALID, 0,
				      "host URL must start with https:// (this controller speaks TLS to agents; "
				      "--plain-http turns that off)");
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == '"' || *p == '\\')
			return flyt_error_set(err, FLYT_E_INVALID, 0, "host URL contains a forbidden character");
	return 0;
}

static int upsert(ctl_t *c, const char *name, const char *url, json_t *facts, json_t **ret, flyt_error_t *err)
{
	bool is_new = false;
	if (store_host_upsert(c->store, name, url, facts, flyt_wall_ms(), &is_new, err) < 0)
		return -1;
	log_info("host %s %s at %s", name, is_new ? "registered" : "re-registered", url);
	ctl_publish(c, is_new ? "host.registered" : "host.online", json_pack("{s:s, s:s}", "host", name, "url", url));
	if (ret)
		*ret = store_host_get(c->store, name);
	return 0;
}

int hosts_register(ctl_t *c, json_t *body, const char *cert_cn, json_t **ret, flyt_error_t *err)
{
	static const char *const keys[] = { "name", "url", "facts", NULL };
	const char *name = NULL, *url = NULL;
	json_t *facts = NULL;
	if (flyt_json_check_keys(body, "registration", keys, err) < 0 ||
	    flyt_json_get_string(body, "name", true, 63, &name, err) < 0 ||
	    flyt_json_get_string(body, "url", true, 255, &url, err) < 0 ||
	    flyt_json_get_object(body, "facts", true, &facts, err) < 0)
		return -1;
	if (!flyt_name_valid(name))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "bad host name \"%.63s\"", name);
	if (cert_cn && strcmp(cert_cn, name) != 0)
		return flyt_error_set(err, FLYT_E_FORBIDDEN, 0, "the certificate of agent %s may not register %s",
				      cert_cn, name);
	if (validate_url(c, url, err) < 0)
		return -1;
	return upsert(c, name, url, facts, ret, err);
}

int hosts_add(ctl_t *c, json_t *body, json_t **ret, flyt_error_t *err)
{
	static const char *const keys[] = { "url", NULL };
	const char *url = NULL;
	if (flyt_json_check_keys(body, "host", keys, err) < 0 ||
	    flyt_json_get_string(body, "url", true, 255, &url, err) < 0 || validate_url(c, url, err) < 0)
		return -1;
	_cleanup_free_ char *base = flyt_strdup(url);
	size_t n = strlen(base);
	while (n > 0 && base[n - 1] == '/')
		base[--n] = '\0';
	flyt_http_client_t cl = ctl_agent_client(c, base, 20000);
	_cleanup_json_ json_t *facts = NULL;
	if (flyt_http_call(&cl, "GET", "/v1/host", NULL, &facts, NULL, err) < 0)
		return flyt_error_prefix(err, "asking the agent at %s who it is", base);
	const char *name = flyt_json_str(facts, "name", NULL);
	if (!name || !flyt_name_valid(name))
		return flyt_error_set(err, FLYT_E_CORRUPT, 0, "the agent at %s gave no usable host name", base);
	return upsert(c, name, base, facts, ret, err);
}

int hosts_heartbeat(ctl_t *c, const char *name, json_t *body, flyt_error_t *err)
{
	static const char *const keys[] = { "workloads", "load", "memory", NULL };
	json_t *workloads = NULL;
	if (flyt_json_check_keys(body, "heartbeat", keys, err) < 0 ||
	    flyt_json_get_array(body, "workloads", false, 100000, &workloads, err) < 0)
		return -1;
	int64_t now = flyt_wall_ms();
	if (store_host_seen(c->store, name, json_object_get(body, "load"), json_object_get(body, "memory"), now, err) <
	    0)
		return -1;
	if (store_host_set_state(c->store, name, "online", NULL) == 1) {
		log_info("host %s is back online", name);
		ctl_publish(c, "host.online", json_pack("{s:s}", "host", name));
	}
	/* refresh what the controller knows of this host's workloads */
	size_t i;
	json_t *w;
	json_array_foreach (workloads, i, w) {
		const char *wname = flyt_json_str(w, "name", NULL);
		const char *state = flyt_json_str(w, "state", NULL);
		if (!wname || !state || !flyt_name_valid(wname))
			continue;
		_cleanup_json_ json_t *known = store_workload_get(c->store, wname);
		if (!known)
			continue; /* not in the inventory: not flyt's (or not yet) */
		if (strcmp(flyt_json_str(known, "host", ""), name) != 0) {
			/* arriving (a migration settles it), or the inventory is wrong */
			reconcile_foreign(c, name, w, known);
			continue;
		}
		if (strcmp(state, "incoming") == 0 || !reconcile_own(c, name, w, known))
			continue;
		const char *old = flyt_json_str(known, "state", "");
		/* a migrating workload is the orchestrator's to update */
		if (strcmp(old, "migrating") == 0)
			state = NULL;
		_cleanup_json_ json_t *status = json_object();
		static const char *const live[] = { "pid",	 "rss_bytes", "cpu_percent", "cpu_seconds",
						    "processes", "error",     "serial_log",  NULL };
		for (const char *const *k = live; *k; k++)
			if (json_object_get(w, *k))
				json_object_set(status, *k, json_object_get(w, *k));
		store_workload_update(c->store, wname, NULL, state, status, now, NULL);
		if (state && strcmp(old, state) != 0)
			ctl_publish(c, "workload.state",
				    json_pack("{s:s, s:s, s:s}", "workload", wname, "host", name, "state", state));
	}
	if (workloads)
		reconcile_missing(c, name, workloads);
	return 0;
}

int hosts_remove(ctl_t *c, const char *name, flyt_error_t *err)
{
	int64_t n = store_workloads_on_host(c->store, name);
	if (n > 0)
		return flyt_error_set(err, FLYT_E_CONFLICT, 0,
				      "host %s still has %lld workload(s); move or remove them first", name,
				      (long long)n);
	if (store_host_delete(c->store, name, err) < 0)
		return -1;
	ctl_publish(c, "host.removed", json_pack("{s:s}", "host", name));
	return 0;
}

int hosts_online_url(ctl_t *c, const char *name, char **ret_url, flyt_error_t *err)
{
	_cleanup_json_ json_t *h = store_host_get(c->store, name);
	if (!h)
		return flyt_error_set(err, FLYT_E_NOT_FOUND, 0, "no host %s", name);
	if (strcmp(flyt_json_str(h, "state", ""), "online") != 0)
		return flyt_error_set(err, FLYT_E_UNAVAILABLE, 0, "host %s is offline (last seen %s)", name,
				      flyt_json_str(h, "last_seen", "never"));
	*ret_url = flyt_strdup(flyt_json_str(h, "url", ""));
	return 0;
}

/* Hosts that stopped sending heartbeats (or never send any: added by address)
 * are probed; those that neither beat nor answer for offline_after go offline. */
void *hosts_monitor(void *arg)
{
	ctl_t *c = arg;
	while (!atomic_load(&c->stopping)) {
		_cleanup_json_ json_t *hosts = store_hosts_liveness(c->store);
		int64_t now = flyt_wall_ms();
		size_t i;
		json_t *h;
		json_array_foreach (hosts, i, h) {
			const char *name = flyt_json_str(h, "name", "");
			int64_t silent = now - flyt_json_int(h, "last_seen_ms", 0);
			if (silent < 3000)
				continue;
			/* probe with the same request a heartbeat would answer */
			flyt_http_client_t cl = ctl_agent_client(c, flyt_json_str(h, "url", ""), 2000);
			_cleanup_json_ json_t *ans = NULL;
			flyt_error_t err = FLYT_ERROR_INIT;
			if (flyt_http_call(&cl, "GET", "/v1/workloads", NULL, &ans, NULL, &err) == 0) {
				_cleanup_json_ json_t *hb =
				    json_pack("{s:O}", "workloads", json_object_get(ans, "workloads"));
				hosts_heartbeat(c, name, hb, NULL);
				continue;
			}
			if (silent >= c->offline_after_ms &&
			    store_host_set_state(c->store, name, "offline", NULL) == 1) {
				log_warn("host %s is offline: silent for %lld ms (%s)", name, (long long)silent,
					 err.msg);
				ctl_publish(c, "host.offline",
					    json_pack("{s:s, s:s}", "host", name, "reason", err.msg));
			}
		}
		for (int k = 0; k < 10 && !atomic_load(&c->stopping); k++)
			flyt_sleep_ms(100);
	}
	return NULL;
}

/* PATCH /api/v1/hosts/NAME: {"area": "DK1"|null, "idle_watts": W|null,
 * "max_watts": W|null, "drain": bool}. A drain moves everything off the host
 * at the next policy tick, whatever the policy (see policy.c). */
int hosts_set(ctl_t *c, const char *name, json_t *body, json_t **ret, flyt_error_t *err)
{
	static const char *const keys[] = { "area", "idle_watts", "max_watts", "drain", NULL };
	if (flyt_json_check_keys(body, "host settings", keys, err) < 0)
		return -1;
	_cleanup_json_ json_t *changes = json_object();
	json_t *area = json_object_get(body, "area");
	if (area && !json_is_null(area)) {
		if (!json_is_string(area) || !energy_area_valid(json_string_value(area)))
			return flyt_error_set(err, FLYT_E_INVALID, 0,
					      "area must be 1-15 of A-Z a-z 0-9 _ - (such as DK1), or null");
		char up[ENERGY_AREA_MAX];
		snprintf(up, sizeof(up), "%s", json_string_value(area));
		for (char *p = up; *p; p++)
			if (*p >= 'a' && *p <= 'z')
				*p = (char)(*p - 'a' + 'A');
		json_object_set_new(changes, "area", json_string(up));
	} else if (area) {
		json_object_set_new(changes, "area", json_null());
	}
	static const char *const watts[] = { "idle_watts", "max_watts" };
	for (size_t i = 0; i < ELEMENTSOF(watts); i++) {
		json_t *v = json_object_get(body, watts[i]);
		if (!v)
			continue;
		if (!json_is_null(v) && (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 1e6))
			return flyt_error_set(err, FLYT_E_INVALID, 0,
					      "%s must be a number of watts in [0, 1e6], or null", watts[i]);
		json_object_set(changes, watts[i], v);
	}
	json_t *drain = json_object_get(body, "drain");
	if (drain && !json_is_boolean(drain))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "drain must be true or false");
	if (drain)
		json_object_set(changes, "drain", drain);
	if (store_host_set(c->store, name, changes, err) < 0)
		return -1;
	json_t *h = store_host_get(c->store, name);
	json_t *pw = json_object_get(h, "power");
	json_t *iw = json_object_get(pw, "idle_watts"), *mw = json_object_get(pw, "max_watts");
	if (json_is_number(iw) && json_is_number(mw) && json_number_value(mw) < json_number_value(iw))
		log_warn("host %s: max_watts %.0f is below idle_watts %.0f", name, json_number_value(mw),
			 json_number_value(iw));
	log_info("host %s set: area %s, drain %s", name, flyt_json_str(h, "area", "-"),
		 json_is_true(json_object_get(h, "drain")) ? "yes" : "no");
	ctl_publish(c, "host.changed", json_pack("{s:s, s:O}", "host", name, "changes", changes));
	policy_kick(c);
	*ret = h;
	return 0;
}
