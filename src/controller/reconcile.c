/* Reconciliation: the inventory against what the agents report in their
 * heartbeats. Migrations settle the workloads they move (orchestrator.c); this
 * handles what no migration explains:
 *
 *   - a host reports a workload the inventory places on another host (a
 *     controller restored from an older database, a migration record lost): the
 *     inventory's host is asked; when it no longer has the workload, the
 *     inventory follows the host that runs it;
 *   - both hosts have it: two copies. flyt stops neither (it cannot know which
 *     one holds the newer data); the workload is marked failed with both hosts
 *     and the reason, until one copy is gone;
 *   - the inventory's host no longer has the workload: the inventory follows
 *     the one other host that has it, or the workload is marked failed with the
 *     reason.
 *
 * Nothing is stopped or removed here, and nothing is decided while a migration
 * of the workload is unfinished or within a grace period after the workload was
 * created or moved (a heartbeat may have been taken just before). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "controller/controller.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/util.h"

#define RECONCILE_GRACE_MS 10000
#define ASK_TIMEOUT_MS 3000

/* One reconciliation at a time: heartbeats of several hosts arrive on their own
 * threads and may concern the same workload. */
static pthread_mutex_t reconcile_lock = PTHREAD_MUTEX_INITIALIZER;

static bool migration_unfinished(ctl_t *c, const char *wname)
{
	_cleanup_json_ json_t *m = store_migration_active_for(c->store, wname);
	return m != NULL;
}

/* What host says of the workload: 1 it has it (its state in state), 0 it does
 * not, -1 it cannot tell now (offline, no answer). */
static int ask_host(ctl_t *c, const char *host, const char *wname, char state[32])
{
	_cleanup_free_ char *url = NULL;
	if (hosts_online_url(c, host, &url, NULL) < 0)
		return -1;
	flyt_http_client_t cl = ctl_agent_client(c, url, ASK_TIMEOUT_MS);
	_cleanup_free_ char *path = flyt_asprintf("/v1/workloads/%s", wname);
	_cleanup_json_ json_t *ans = NULL;
	flyt_error_t err = FLYT_ERROR_INIT;
	if (flyt_http_call(&cl, "GET", path, NULL, &ans, NULL, &err) < 0)
		return err.code == FLYT_E_NOT_FOUND ? 0 : -1;
	snprintf(state, 32, "%s", flyt_json_str(ans, "state", "unknown"));
	return 1;
}

static bool young(ctl_t *c, json_t *known)
{
	return flyt_wall_ms() - store_workload_placed_ms(c->store, flyt_json_str(known, "name", "")) <
	       RECONCILE_GRACE_MS;
}

/* The other host of a recorded two-copy conflict, or NULL. */
static const char *conflict_other(json_t *known, const char *host)
{
	if (strcmp(flyt_json_str(known, "state", ""), "failed") != 0)
		return NULL;
	json_t *copies = json_object_get(known, "copies");
	size_t i;
	json_t *h;
	json_array_foreach (copies, i, h)
		if (json_is_string(h) && strcmp(json_string_value(h), host) != 0)
			return json_string_value(h);
	return NULL;
}

static void move_record(ctl_t *c, const char *wname, const char *from, const char *to, const char *state,
			const char *why)
{
	_cleanup_json_ json_t *status = json_object();
	store_workload_update(c->store, wname, to, state, status, flyt_wall_ms(), NULL);
	log_warn("reconciled workload %s: the inventory had it on %s, it runs on %s (%s)", wname, from, to, why);
	ctl_publish(c, "workload.reconciled",
		    json_pack("{s:s, s:s, s:s, s:s}", "workload", wname, "from", from, "to", to, "reason", why));
}

static void mark_failed(ctl_t *c, const char *wname, json_t *status, const char *reason)
{
	json_object_set_new(status, "error", json_string(reason));
	store_workload_update(c->store, wname, NULL, "failed", status, flyt_wall_ms(), NULL);
	log_error("workload %s: %s", wname, reason);
	ctl_publish(c, "workload.failed", json_pack("{s:s, s:s}", "workload", wname, "reason", reason));
}

static void foreign_locked(ctl_t *c, const char *host, json_t *reported, json_t *known);

void reconcile_foreign(ctl_t *c, const char *host, json_t *reported, json_t *stale)
{
	pthread_mutex_lock(&reconcile_lock);
	/* what the inventory says now, not when the heartbeat was read */
	_cleanup_json_ json_t *known = store_workload_get(c->store, flyt_json_str(stale, "name", ""));
	if (known && strcmp(flyt_json_str(known, "host", ""), host) != 0)
		foreign_locked(c, host, reported, known);
	pthread_mutex_unlock(&reconcile_lock);
}

static void foreign_locked(ctl_t *c, const char *host, json_t *reported, json_t *known)
{
	const char *wname = flyt_json_str(known, "name", "");
	const char *state = flyt_json_str(reported, "state", "");
	const char *owner = flyt_json_str(known, "host", "");
	if (!strcmp(state, "incoming") || !strcmp(state, "migrating") ||
	    !strcmp(flyt_json_str(known, "state", ""), "migrating") || young(c, known) ||
	    migration_unfinished(c, wname))
		return;
	if (conflict_other(known, owner) && strcmp(conflict_other(known, owner), host) == 0)
		return; /* known already */
	char theirs[32];
	int r = ask_host(c, owner, wname, theirs);
	if (r < 0)
		return; /* cannot tell now; the next heartbeat asks again */
	if (r == 0) {
		move_record(c, wname, owner, host, state, "its host in the inventory no longer has it");
		return;
	}
	if (!strcmp(theirs, "incoming"))
		return;
	_cleanup_free_ char *reason = flyt_asprintf(
	    "two copies: it runs on %s (state %s) and on %s (state %s); flyt stopped neither: delete the stale copy "
	    "on its host (DELETE /v1/workloads/%s on that agent) and the inventory follows the other",
	    owner, theirs, host, state, wname);
	_cleanup_json_ json_t *status = json_pack("{s:[s,s]}", "copies", owner, host);
	mark_failed(c, wname, status, reason);
	ctl_publish(c, "workload.conflict", json_pack("{s:s, s:[s,s]}", "workload", wname, "hosts", owner, host));
}

static bool own_locked(ctl_t *c, const char *host, json_t *reported);

bool reconcile_own(ctl_t *c, const char *host, json_t *reported, json_t *known)
{
	if (!conflict_other(known, host))
		return true;
	pthread_mutex_lock(&reconcile_lock);
	bool r = own_locked(c, host, reported);
	pthread_mutex_unlock(&reconcile_lock);
	return r;
}

static bool own_locked(ctl_t *c, const char *host, json_t *reported)
{
	_cleanup_json_ json_t *known = store_workload_get(c->store, flyt_json_str(reported, "name", ""));
	if (!known || strcmp(flyt_json_str(known, "host", ""), host) != 0)
		return false; /* moved meanwhile: the next heartbeat tells */
	const char *other = conflict_other(known, host);
	if (!other)
		return true;
	const char *wname = flyt_json_str(known, "name", "");
	char theirs[32];
	if (ask_host(c, other, wname, theirs) != 0)
		return false; /* the other copy is still there, or cannot tell: stays failed */
	_cleanup_free_ char *why = flyt_asprintf("the copy on %s is gone", other);
	move_record(c, wname, host, host, flyt_json_str(reported, "state", "running"), why);
	return true;
}

/* Looks for the workload on the other online hosts (at most MAX_ASKED of them);
 * true when exactly one has it (its name in where, the workload's state there in
 * state). */
#define MAX_ASKED 32
static bool find_elsewhere(ctl_t *c, const char *host, const char *wname, char where[64], char state[32])
{
	_cleanup_json_ json_t *hosts = store_hosts_list(c->store);
	size_t i, asked = 0, found = 0;
	json_t *h;
	json_array_foreach (hosts, i, h) {
		const char *name = flyt_json_str(h, "name", "");
		if (!strcmp(name, host) || strcmp(flyt_json_str(h, "state", ""), "online") != 0)
			continue;
		if (++asked > MAX_ASKED)
			break;
		char st[32];
		if (ask_host(c, name, wname, st) == 1) {
			snprintf(where, 64, "%s", name);
			snprintf(state, 32, "%s", st);
			found++;
		}
	}
	return found == 1;
}

static void missing_locked(ctl_t *c, const char *host, json_t *reported);

void reconcile_missing(ctl_t *c, const char *host, json_t *reported)
{
	pthread_mutex_lock(&reconcile_lock);
	missing_locked(c, host, reported);
	pthread_mutex_unlock(&reconcile_lock);
}

static void missing_locked(ctl_t *c, const char *host, json_t *reported)
{
	_cleanup_json_ json_t *mine = store_workloads_list(c->store, host, NULL, NULL, NULL, 100000, 0, NULL);
	json_t *list = json_is_array(mine) ? mine : json_object_get(mine, "workloads");
	_cleanup_json_ json_t *present = json_object(); /* the reported names, as a set */
	size_t i;
	json_t *known, *r;
	json_array_foreach (reported, i, r)
		if (json_is_string(json_object_get(r, "name")))
			json_object_set_new(present, flyt_json_str(r, "name", ""), json_true());
	json_array_foreach (list, i, known) {
		const char *wname = flyt_json_str(known, "name", "");
		if (json_object_get(present, wname) || young(c, known) || migration_unfinished(c, wname))
			continue;
		/* re-read: a migration may have concluded since the list was taken */
		_cleanup_json_ json_t *now = store_workload_get(c->store, wname);
		if (!now || strcmp(flyt_json_str(now, "host", ""), host) != 0 || young(c, now))
			continue;
		json_t *err = json_object_get(now, "error");
		if (!strcmp(flyt_json_str(now, "state", ""), "failed") && json_is_string(err) &&
		    strstr(json_string_value(err), "no longer has"))
			continue; /* said already */
		char where[64], theirs[32];
		if (find_elsewhere(c, host, wname, where, theirs)) {
			_cleanup_free_ char *why = flyt_asprintf("%s no longer has it", host);
			move_record(c, wname, host, where, theirs, why);
			continue;
		}
		_cleanup_free_ char *reason = flyt_asprintf(
		    "%s no longer has this workload (its agent lost or removed it outside flyt); delete it here or "
		    "create it again",
		    host);
		_cleanup_json_ json_t *status = json_object();
		mark_failed(c, wname, status, reason);
	}
}
