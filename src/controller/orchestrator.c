/* Migrations as the controller runs them: the pre-flight check (both hosts able,
 * compatible, the mode chosen), then a thread per migration that prepares the
 * target, starts the source and follows the source's record until it ends,
 * journaling every phase. The agents carry the data and decide the switch-over
 * (src/agent/migrate.c); the controller keeps the record, and picks up unfinished
 * migrations again when it restarts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/controller.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/util.h"

#define FOLLOW_WAIT_MS 10000
/* how long the source may not answer before the target is asked, and how often */
#define ASK_TARGET_AFTER_MS 10000
#define PREFLIGHT_TIMEOUT_MS 15000
#define LAUNCH_UNKNOWN (-2) /* the source did not answer whether it started */

static bool state_terminal(const char *s)
{
	return s && (strcmp(s, "committed") == 0 || strcmp(s, "rolled_back") == 0 || strcmp(s, "failed") == 0);
}

/* Facts of a host fresh from its agent. */
static int host_facts(ctl_t *c, const char *host, char **ret_url, json_t **ret_facts, flyt_error_t *err)
{
	if (hosts_online_url(c, host, ret_url, err) < 0)
		return -1;
	flyt_http_client_t cl = ctl_agent_client(c, *ret_url, PREFLIGHT_TIMEOUT_MS);
	if (flyt_http_call(&cl, "GET", "/v1/host", NULL, ret_facts, NULL, err) < 0)
		return flyt_error_prefix(err, "host %s", host);
	return 0;
}

static bool mode_available(json_t *facts, const char *mode, const char **reason)
{
	json_t *m = json_object_get(json_object_get(facts, "modes"), mode);
	*reason = flyt_json_str(m, "reason", "not offered by this agent");
	return json_is_true(json_object_get(m, "available"));
}

/* CPU features the source has and the target lacks, comma-separated (empty: none). */
static char *missing_cpu_flags(json_t *src, json_t *dst)
{
	json_t *sf = json_object_get(json_object_get(src, "cpu"), "flags");
	json_t *df = json_object_get(json_object_get(dst, "cpu"), "flags");
	char *out = flyt_strdup("");
	size_t i, k;
	json_t *f, *g;
	int n = 0;
	json_array_foreach (sf, i, f) {
		bool found = false;
		json_array_foreach (df, k, g)
			if (json_equal(f, g)) {
				found = true;
				break;
			}
		if (found)
			continue;
		if (n++ < 12) {
			char *o = flyt_asprintf("%s%s%s", out, out[0] ? ", " : "", json_string_value(f));
			free(out);
			out = o;
		}
	}
	if (n > 12) {
		char *o = flyt_asprintf("%s and %d more", out, n - 12);
		free(out);
		out = o;
	}
	return out;
}

/* Whether a driver's capabilities (from host facts) allow a mode: a driver that
 * lists no "modes" can do every mode its host can. */
static bool driver_can(json_t *drv, const char *mode)
{
	json_t *modes = json_object_get(drv, "modes");
	if (!json_is_array(modes))
		return true;
	size_t i;
	json_t *v;
	json_array_foreach (modes, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), mode) == 0)
			return true;
	return false;
}

/* True when the driver capabilities list mode among its "modes". */
static bool driver_has_mode(json_t *drv, const char *mode)
{
	size_t i;
	json_t *v;
	json_array_foreach (json_object_get(drv, "modes"), i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), mode) == 0)
			return true;
	return false;
}

/* Kinds whose engine migrates them live (qemu): no CRIU involved; the modes are
 * those both drivers offer, auto meaning precopy. */
static int preflight_live(const char *kind, const char *requested, const char *sname, json_t *sf, const char *tname,
			  json_t *tdrv, char *mode, size_t mode_size, char *reason, size_t reason_size,
			  flyt_error_t *err)
{
	json_t *sdrv = json_object_get(json_object_get(sf, "drivers"), kind);
	if (!json_is_true(json_object_get(sdrv, "available")))
		return flyt_error_set(err, FLYT_E_UNSUPPORTED, 0, "%s cannot run %s workloads: %s", sname, kind,
				      flyt_json_str(sdrv, "reason", "no such driver"));
	bool automatic = strcmp(requested, "auto") == 0;
	const char *want = automatic ? "precopy" : requested;
	if (!driver_has_mode(sdrv, want) || !driver_has_mode(tdrv, want))
		return flyt_error_set(err, FLYT_E_UNSUPPORTED, 0,
				      "mode %s is not available for %s workloads between %s and %s", want, kind, sname,
				      tname);
	snprintf(mode, mode_size, "%s", want);
	snprintf(reason, reason_size, "%s", automatic ? "auto: precopy, done by the VM's engine" : "requested");
	return 0;
}

/* Checks that the two hosts can migrate this kind of workload and picks the mode.
 * Fills mode and reason. */
static int preflight(const char *kind, const char *requested, const char *sname, json_t *sf, const char *tname,
		     json_t *tf, char *mode, size_t mode_size, char *reason, size_t reason_size, flyt_error_t *err)
{
	json_t *tdrv = json_object_get(json_object_get(tf, "drivers"), kind);
	if (!json_is_true(json_object_get(tdrv, "available")))
		return flyt_error_set(err, FLYT_E_UNSUPPORTED, 0, "%s cannot run %s workloads: %s", tname, kind,
				      flyt_json_str(tdrv, "reason", "no such driver"));
	if (strcmp(kind, "fake") == 0) {
		snprintf(mode, mode_size, "%s", strcmp(requested, "auto") == 0 ? "stop-copy" : requested);
		snprintf(reason, reason_size, "fake workloads move their state file");
		return 0;
	}
	if (json_is_true(json_object_get(tdrv, "live")))
		return preflight_live(kind, requested, sname, sf, tname, tdrv, mode, mode_size, reason, reason_size,
				      err);
	json_t *sc = json_object_get(sf, "criu"), *tc = json_object_get(tf, "criu");
	if (!json_is_true(json_object_get(sc, "ok")))
		return flyt_error_set(err, FLYT_E_UNSUPPORTED, 0, "%s: %s", sname,
				      flyt_json_str(sc, "reason", "no usable CRIU"));
	if (!json_is_true(json_object_get(tc, "ok")))
		return flyt_error_set(err, FLYT_E_UNSUPPORTED, 0, "%s: %s", tname,
				      flyt_json_str(tc, "reason", "no usable CRIU"));
	const char *sv = flyt_json_str(sc, "version", ""), *tv = flyt_json_str(tc, "version", "");
	if (flyt_version_cmp(tv, sv) < 0)
		return flyt_error_set(
		    err, FLYT_E_UNSUPPORTED, 0,
		    "%s has CRIU %s, older than %s's %s: its images may not restore there; upgrade %s", tname, tv,
		    sname, sv, tname);
	_cleanup_free_ char *missing = missing_cpu_flags(sf, tf);
	if (missing[0])
		return flyt_error_set(err, FLYT_E_UNSUPPORTED, 0,
				      "%s lacks CPU features %s has and the workload may use: %s", tname, sname,
				      missing);
	const char *why_s, *why_t;
	json_t *sdrv = json_object_get(json_object_get(sf, "drivers"), kind);
	if (strcmp(requested, "auto") != 0) {
		if (!driver_can(sdrv, requested) || !driver_can(tdrv, requested))
			return flyt_error_set(err, FLYT_E_UNSUPPORTED, 0, "the %s driver cannot migrate in mode %s",
					      kind, requested);
		if (!mode_available(sf, requested, &why_s))
			return flyt_error_set(err, FLYT_E_UNSUPPORTED, 0, "mode %s is not available on %s: %s",
					      requested, sname, why_s);
		if (!mode_available(tf, requested, &why_t))
			return flyt_error_set(err, FLYT_E_UNSUPPORTED, 0, "mode %s is not available on %s: %s",
					      requested, tname, why_t);
		snprintf(mode, mode_size, "%s", requested);
		snprintf(reason, reason_size, "requested");
		return 0;
	}
	/* auto: the least downtime both hosts can do, safest first at equal cost */
	static const char *const order[] = { "precopy", "lazy", "stop-copy" };
	char skipped[400] = "";
	for (size_t i = 0; i < ELEMENTSOF(order); i++) {
		if (!driver_can(sdrv, order[i]) || !driver_can(tdrv, order[i])) {
			size_t n = strlen(skipped);
			snprintf(skipped + n, sizeof(skipped) - n, "%s%s not supported by the %s driver", n ? "; " : "",
				 order[i], kind);
			continue;
		}
		bool s_ok = mode_available(sf, order[i], &why_s);
		bool t_ok = mode_available(tf, order[i], &why_t);
		if (s_ok && t_ok) {
			snprintf(mode, mode_size, "%s", order[i]);
			snprintf(reason, reason_size, "auto: %s%s%s", order[i], skipped[0] ? "; " : "", skipped);
			return 0;
		}
		size_t n = strlen(skipped);
		snprintf(skipped + n, sizeof(skipped) - n, "%s%s unavailable on %s: %s", n ? "; " : "", order[i],
			 s_ok ? tname : sname, s_ok ? why_t : why_s);
	}
	return flyt_error_set(err, FLYT_E_UNSUPPORTED, 0, "no migration mode works between %s and %s: %s", sname, tname,
			      skipped);
}

typedef struct {
	ctl_t *c;
	char id[33];
} follow_t;

static void journal(ctl_t *c, const char *id, const char *workload, const char *state, const char *note)
{
	int64_t now = flyt_wall_ms();
	_cleanup_json_ json_t *upd = json_pack("{s:s}", "state", state);
	if (note && note[0] && (strcmp(state, "rolled_back") == 0 || strcmp(state, "failed") == 0))
		json_object_set_new(upd, "error", json_string(note));
	/* the journal entry first: whoever sees the new state finds its entry */
	store_migration_journal(c->store, id, state, note, now, NULL);
	store_migration_update(c->store, id, upd, now, NULL);
	ctl_changed(c);
	ctl_publish(c, "migration.phase",
		    json_pack("{s:s, s:s, s:s}", "migration", id, "workload", workload, "state", state));
}

static const char *const phase_order[] = { "preparing", "transferring", "restoring", "switching", "verifying" };

static int phase_index(const char *p)
{
	for (size_t i = 0; i < ELEMENTSOF(phase_order); i++)
		if (strcmp(phase_order[i], p) == 0)
			return (int)i;
	return state_terminal(p) ? (int)ELEMENTSOF(phase_order) : -1;
}

/* Journals the phases strictly between from and to that the source records. */
static void backfill(ctl_t *c, const char *id, const char *workload, const char *from, const char *to, json_t *phase_ms)
{
	int a = phase_index(from), b = phase_index(to);
	for (int i = a + 1; i < b; i++)
		if (json_object_get(phase_ms, phase_order[i]))
			journal(c, id, workload, phase_order[i], NULL);
}

/* Ends a migration: the workload's record follows the outcome. */
static void conclude(ctl_t *c, json_t *m, const char *state, const char *error, json_t *agent_view)
{
	const char *id = flyt_json_str(m, "id", ""), *workload = flyt_json_str(m, "workload", "");
	const char *source = flyt_json_str(m, "source", ""), *target = flyt_json_str(m, "target", "");
	int64_t now = flyt_wall_ms();
	if (agent_view) {
		static const char *const keys[] = { "total_ms", "downtime_ms", "bytes",	     "images_bytes",
						    "dump_ms",	"transfer_ms", "restore_ms", "pages_ms",
						    "phase_ms", "passes",      "dirty_rate", "remaining_bytes",
						    NULL };
		_cleanup_json_ json_t *stats = json_object();
		for (const char *const *k = keys; *k; k++)
			if (json_object_get(agent_view, *k))
				json_object_set(stats, *k, json_object_get(agent_view, *k));
		/* the user's total runs from the request, not from the source's start */
		json_object_set_new(stats, "total_ms", json_integer(now - flyt_json_int(m, "created_ms", now)));
		_cleanup_json_ json_t *upd = json_pack("{s:O}", "stats", stats);
		if (json_is_string(json_object_get(agent_view, "note")))
			json_object_set(upd, "note", json_object_get(agent_view, "note"));
		store_migration_update(c->store, id, upd, now, NULL);
	}
	/* the workload's record first: whoever sees the migration end must find the
	 * workload where it now is */
	if (strcmp(state, "committed") == 0)
		store_workload_update(c->store, workload, target, "running", NULL, now, NULL);
	else
		store_workload_update(c->store, workload, NULL, strcmp(state, "failed") == 0 ? "failed" : "running",
				      NULL, now, NULL);
	journal(c, id, workload, state, error);
	if (strcmp(state, "committed") == 0) {
		ctl_publish(c, "workload.moved",
			    json_pack("{s:s, s:s, s:s}", "workload", workload, "from", source, "to", target));
		log_info("migration %s: %s moved %s -> %s", id, workload, source, target);
	} else {
		log_warn("migration %s of %s: %s: %s", id, workload, state, error ? error : "");
		/* a target that was prepared but never contacted drops its ticket */
		_cleanup_free_ char *turl = NULL;
		if (hosts_online_url(c, target, &turl, NULL) == 0) {
			flyt_http_client_t cl = ctl_agent_client(c, turl, 5000);
			_cleanup_free_ char *path = flyt_asprintf("/v1/incoming/%s", id);
			flyt_http_call(&cl, "DELETE", path, NULL, NULL, NULL, NULL);
		}
	}
	_cleanup_json_ json_t *final = store_migration_get(c->store, id);
	ctl_publish(c, "migration.finished",
		    json_pack("{s:s, s:s, s:s, s:O, s:O}", "migration", id, "workload", workload, "state", state,
			      "downtime_ms", json_object_get(final, "downtime_ms"), "total_ms",
			      json_object_get(final, "total_ms")));
}

/* Sends the migration to the agents: prepare the target, start the source. */
static int launch(ctl_t *c, json_t *m, flyt_error_t *err)
{
	const char *id = flyt_json_str(m, "id", ""), *source = flyt_json_str(m, "source", ""),
		   *target = flyt_json_str(m, "target", "");
	json_t *opts = json_object_get(m, "options");
	_cleanup_free_ char *surl = NULL, *turl = NULL;
	if (hosts_online_url(c, source, &surl, err) < 0 || hosts_online_url(c, target, &turl, err) < 0)
		return -1;
	_cleanup_json_ json_t *th = store_host_get(c->store, target);
	int64_t data_port = flyt_json_int(th, "data_port", 0);
	/* the data channel goes to the host part of the target's API URL */
	char thost[160] = "";
	const char *p = strstr(turl, "://");
	p = p ? p + 3 : turl;
	size_t hl = strcspn(p, "/");
	if (hl >= sizeof(thost) || data_port <= 0)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "cannot tell the data address of %s", target);
	memcpy(thost, p, hl);
	thost[hl] = '\0';
	char *colon = strrchr(thost, ':');
	if (colon && (!strchr(thost, ']') || colon > strchr(thost, ']')))
		*colon = '\0';

	_cleanup_json_ json_t *prep = json_pack(
	    "{s:s, s:s, s:s, s:s, s:{s:s, s:s}}", "id", id, "workload", flyt_json_str(m, "workload", ""), "kind",
	    flyt_json_str(m, "kind", ""), "mode", flyt_json_str(m, "mode", ""), "source", "name", source, "url", surl);
	if (json_is_string(json_object_get(opts, "shared_dir")))
		json_object_set(prep, "shared_dir", json_object_get(opts, "shared_dir"));
	flyt_http_client_t tcl = ctl_agent_client(c, turl, 30000);
	_cleanup_json_ json_t *ticket = NULL;
	if (flyt_http_call(&tcl, "POST", "/v1/incoming", prep, &ticket, NULL, err) < 0)
		return flyt_error_prefix(err, "preparing %s", target);

	_cleanup_free_ char *data =
	    flyt_asprintf("%s:%lld", thost, (long long)flyt_json_int(ticket, "data_port", data_port));
	_cleanup_json_ json_t *start = json_pack(
	    "{s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s}}", "id", id, "workload", flyt_json_str(m, "workload", ""),
	    "mode", flyt_json_str(m, "mode", ""), "mode_reason", flyt_json_str(m, "mode_reason", ""), "target", "name",
	    target, "url", turl, "data", data, "ticket", flyt_json_str(ticket, "ticket", ""));
	static const char *const pass[] = { "shared_dir",      "bandwidth_mbps", "precopy_rounds",
					    "max_downtime_ms", "auto_converge",	 "xbzrle",
					    "multifd",	       "postcopy_after", NULL };
	for (const char *const *k = pass; *k; k++)
		if (json_object_get(opts, *k))
			json_object_set(start, *k, json_object_get(opts, *k));
	flyt_http_client_t scl = ctl_agent_client(c, surl, 30000);
	long status = 0;
	if (flyt_http_call(&scl, "POST", "/v1/migrations", start, NULL, &status, err) < 0) {
		flyt_error_prefix(err, "starting on %s", source);
		/* no answer is not a no: the source may have started it */
		return status == 0 ? LAUNCH_UNKNOWN : -1;
	}
	return 0;
}

/* The target's record of the migration, or NULL when it cannot be had. */
static json_t *target_view(ctl_t *c, json_t *m)
{
	_cleanup_free_ char *turl = NULL;
	if (hosts_online_url(c, flyt_json_str(m, "target", ""), &turl, NULL) < 0)
		return NULL;
	flyt_http_client_t cl = ctl_agent_client(c, turl, 5000);
	_cleanup_free_ char *path = flyt_asprintf("/v1/incoming/%s", flyt_json_str(m, "id", ""));
	json_t *view = NULL;
	if (flyt_http_call(&cl, "GET", path, NULL, &view, NULL, NULL) < 0)
		return NULL;
	return view;
}

/* Follows the source's record of the migration until it ends; when the source
 * stops answering, asks the target now and then whether it committed. */
static void *follow_thread(void *arg)
{
	follow_t *f = arg;
	ctl_t *c = f->c;
	char id[33];
	snprintf(id, sizeof(id), "%s", f->id);
	free(f);
	_cleanup_json_ json_t *m = store_migration_get(c->store, id);
	if (!m) {
		atomic_fetch_sub(&c->orchestrators, 1);
		return NULL;
	}
	const char *workload = flyt_json_str(m, "workload", "");
	char state[32];
	snprintf(state, sizeof(state), "%s", flyt_json_str(m, "state", "planned"));
	flyt_error_t err = FLYT_ERROR_INIT;

	if (strcmp(state, "planned") == 0) {
		journal(c, id, workload, "preparing", NULL);
		snprintf(state, sizeof(state), "preparing");
		int lr = launch(c, m, &err);
		if (lr == LAUNCH_UNKNOWN) {
			log_warn("migration %s: %s; following it on its source in case it started", id, err.msg);
		} else if (lr < 0) {
			conclude(c, m, "rolled_back", err.msg, NULL);
			atomic_fetch_sub(&c->orchestrators, 1);
			return NULL;
		}
	}

	uint64_t version = 0;
	uint64_t unreachable_since = 0, asked_target_ms = 0;
	bool warned = false;
	while (!atomic_load(&c->stopping)) {
		_cleanup_free_ char *surl = NULL;
		_cleanup_json_ json_t *sh = store_host_get(c->store, flyt_json_str(m, "source", ""));
		if (sh)
			surl = flyt_strdup(flyt_json_str(sh, "url", ""));
		_cleanup_json_ json_t *view = NULL;
		flyt_error_t ferr = FLYT_ERROR_INIT;
		int r = -1;
		if (surl) {
			flyt_http_client_t cl = ctl_agent_client(c, surl, FOLLOW_WAIT_MS + 10000);
			char req[200];
			snprintf(req, sizeof(req), "/v1/migrations/%s?since=%llu&wait=%d", id,
				 (unsigned long long)version, FOLLOW_WAIT_MS);
			r = flyt_http_call(&cl, "GET", req, NULL, &view, NULL, &ferr);
		} else {
			flyt_error_set(&ferr, FLYT_E_NOT_FOUND, 0, "the source host is no longer known");
		}
		if (r < 0) {
			if (ferr.code == FLYT_E_NOT_FOUND && surl && strcmp(state, "preparing") == 0) {
				/* the source never got it (the controller restarted in between) */
				conclude(c, m, "rolled_back", "the source never started this migration", NULL);
				break;
			}
			if (!unreachable_since)
				unreachable_since = flyt_now_ms();
			/* the source may be gone for good: a target that runs the workload
			 * settles it (it only runs it after the source decided to commit) */
			if (flyt_now_ms() - unreachable_since > ASK_TARGET_AFTER_MS &&
			    flyt_now_ms() - asked_target_ms > ASK_TARGET_AFTER_MS) {
				asked_target_ms = flyt_now_ms();
				_cleanup_json_ json_t *tview = target_view(c, m);
				if (tview && strcmp(flyt_json_str(tview, "phase", ""), "committed") == 0 &&
				    strcmp(flyt_json_str(tview, "copy", "running"), "running") == 0) {
					log_warn("migration %s: the source does not answer (%s); the target runs the "
						 "workload and committed: concluding from the target",
						 id, ferr.msg);
					json_object_set_new(tview, "note",
							    json_string("concluded from the target: the source agent "
									"did not answer"));
					conclude(c, m, "committed", NULL, tview);
					break;
				}
			}
			if (!warned && flyt_now_ms() - unreachable_since > 5000) {
				log_warn("migration %s: cannot follow it on its source: %s (will keep trying)", id,
					 ferr.msg);
				_cleanup_json_ json_t *upd =
				    json_pack("{s:s}", "note", "the source agent does not answer; waiting for it");
				store_migration_update(c->store, id, upd, flyt_wall_ms(), NULL);
				warned = true;
			}
			flyt_sleep_ms(500);
			continue;
		}
		unreachable_since = 0;
		version = (uint64_t)flyt_json_int(view, "version", (json_int_t)version);
		const char *phase = flyt_json_str(view, "phase", "");
		/* progress: bytes and timings as they come */
		static const char *const live[] = { "bytes",	   "images_bytes", "downtime_ms",     "dump_ms",
						    "transfer_ms", "restore_ms",   "pages_ms",	      "phase_ms",
						    "passes",	   "dirty_rate",   "remaining_bytes", NULL };
		_cleanup_json_ json_t *stats = json_object();
		for (const char *const *k = live; *k; k++)
			if (json_object_get(view, *k) && !json_is_null(json_object_get(view, *k)))
				json_object_set(stats, *k, json_object_get(view, *k));
		_cleanup_json_ json_t *upd = json_pack("{s:O}", "stats", stats);
		store_migration_update(c->store, id, upd, flyt_wall_ms(), NULL);
		ctl_changed(c);
		/* progress for live views (the UI's bars): bytes as the source counts them */
		if (!state_terminal(phase) && phase[0]) {
			json_t *ev =
			    json_pack("{s:s, s:s, s:s}", "migration", id, "workload", workload, "phase", phase);
			static const char *const shown[] = { "bytes", "images_bytes", NULL };
			for (const char *const *k = shown; *k; k++)
				json_object_set(ev, *k,
						json_object_get(stats, *k) ? json_object_get(stats, *k) : json_null());
			ctl_publish(c, "migration.progress", ev);
		}
		/* a long poll can miss short phases: journal those the source went
		 * through (it keeps their durations) in their order */
		backfill(c, id, workload, state, phase, json_object_get(view, "phase_ms"));
		if (state_terminal(phase)) {
			conclude(c, m, phase, flyt_json_str(view, "error", NULL), view);
			break;
		}
		if (strcmp(phase, state) != 0) {
			journal(c, id, workload, phase, flyt_json_str(view, "note", NULL));
			snprintf(state, sizeof(state), "%s", phase);
		}
	}
	atomic_fetch_sub(&c->orchestrators, 1);
	return NULL;
}

static void spawn_follower(ctl_t *c, const char *id)
{
	follow_t *f = flyt_malloc0(sizeof(*f));
	f->c = c;
	snprintf(f->id, sizeof(f->id), "%s", id);
	pthread_t t;
	atomic_fetch_add(&c->orchestrators, 1);
	if (pthread_create(&t, NULL, follow_thread, f) != 0) {
		atomic_fetch_sub(&c->orchestrators, 1);
		free(f);
		log_error("migration %s: cannot start its thread", id);
		return;
	}
	pthread_detach(t);
}

int orch_start(ctl_t *c, json_t *body, json_t **ret, flyt_error_t *err)
{
	return orch_start_from(c, body, NULL, ret, err);
}

int orch_start_from(ctl_t *c, json_t *body, json_t *origin, json_t **ret, flyt_error_t *err)
{
	static const char *const keys[] = { "workload",	       "target",	 "mode",
					    "shared_dir",      "bandwidth_mbps", "precopy_rounds",
					    "max_downtime_ms", "auto_converge",	 "xbzrle",
					    "multifd",	       "postcopy_after", NULL };
	const char *wname = NULL, *target = NULL, *mode_req = "auto", *shared = NULL;
	int64_t bw = -1, rounds = -1, max_downtime = -1, multifd = -1, postcopy_after = -1;
	bool auto_converge = false, xbzrle = false;
	if (flyt_json_check_keys(body, "migration", keys, err) < 0 ||
	    flyt_json_get_string(body, "workload", true, 63, &wname, err) < 0 ||
	    flyt_json_get_string(body, "target", true, 63, &target, err) < 0 ||
	    flyt_json_get_string(body, "mode", false, 16, &mode_req, err) < 0 ||
	    flyt_json_get_string(body, "shared_dir", false, 500, &shared, err) < 0 ||
	    flyt_json_get_int(body, "bandwidth_mbps", false, 1, 1000000, &bw, err) < 0 ||
	    flyt_json_get_int(body, "precopy_rounds", false, 1, 20, &rounds, err) < 0 ||
	    flyt_json_get_int(body, "max_downtime_ms", false, 1, 600000, &max_downtime, err) < 0 ||
	    flyt_json_get_int(body, "multifd", false, 0, 64, &multifd, err) < 0 ||
	    flyt_json_get_int(body, "postcopy_after", false, 0, 1000, &postcopy_after, err) < 0 ||
	    flyt_json_get_bool(body, "auto_converge", false, &auto_converge, err) < 0 ||
	    flyt_json_get_bool(body, "xbzrle", false, &xbzrle, err) < 0)
		return -1;
	if (!flyt_name_valid(wname))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "\"%.63s\" is not a valid workload name", wname);
	if (!flyt_name_valid(target))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "\"%.63s\" is not a valid host name", target);
	static const char *const modes[] = { "auto", "stop-copy", "lazy", "precopy", "shared", "postcopy", NULL };
	bool known = false;
	for (const char *const *k = modes; *k; k++)
		known |= strcmp(*k, mode_req) == 0;
	if (!known)
		return flyt_error_set(err, FLYT_E_INVALID, 0,
				      "mode must be auto, stop-copy, lazy, precopy, shared or postcopy");
	if (strcmp(mode_req, "shared") == 0 && (!shared || shared[0] != '/'))
		return flyt_error_set(err, FLYT_E_INVALID, 0,
				      "mode shared needs shared_dir, an absolute path both hosts declare");
	_cleanup_json_ json_t *w = store_workload_get(c->store, wname);
	if (!w)
		return flyt_error_set(err, FLYT_E_NOT_FOUND, 0, "no workload %s", wname);
	const char *source = flyt_json_str(w, "host", "");
	if (strcmp(source, target) == 0)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "workload %s is already on %s", wname, target);
	_cleanup_json_ json_t *active = store_migration_active_for(c->store, wname);
	if (active)
		return flyt_error_set(err, FLYT_E_CONFLICT, 0, "workload %s is already migrating (%s)", wname,
				      flyt_json_str(active, "id", ""));
	_cleanup_json_ json_t *th = store_host_get(c->store, target);
	if (!th)
		return flyt_error_set(err, FLYT_E_NOT_FOUND, 0, "no host %s", target);

	_cleanup_free_ char *surl = NULL, *turl = NULL;
	_cleanup_json_ json_t *sf = NULL, *tf = NULL;
	if (host_facts(c, source, &surl, &sf, err) < 0 || host_facts(c, target, &turl, &tf, err) < 0)
		return -1;
	char mode[16], reason[512];
	if (preflight(flyt_json_str(w, "kind", ""), mode_req, source, sf, target, tf, mode, sizeof(mode), reason,
		      sizeof(reason), err) < 0)
		return -1;

	char id[33];
	if (flyt_new_id(id, err) < 0)
		return -1;
	_cleanup_json_ json_t *opts = json_object();
	if (shared)
		json_object_set_new(opts, "shared_dir", json_string(shared));
	if (bw > 0)
		json_object_set_new(opts, "bandwidth_mbps", json_integer(bw));
	if (rounds > 0)
		json_object_set_new(opts, "precopy_rounds", json_integer(rounds));
	if (origin)
		json_object_set(opts, "origin", origin);
	if (max_downtime > 0)
		json_object_set_new(opts, "max_downtime_ms", json_integer(max_downtime));
	if (multifd > 0)
		json_object_set_new(opts, "multifd", json_integer(multifd));
	if (postcopy_after >= 0)
		json_object_set_new(opts, "postcopy_after", json_integer(postcopy_after));
	if (auto_converge)
		json_object_set_new(opts, "auto_converge", json_true());
	if (xbzrle)
		json_object_set_new(opts, "xbzrle", json_true());
	_cleanup_json_ json_t *m =
	    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:O}", "id", id, "workload", wname, "kind",
		      flyt_json_str(w, "kind", ""), "source", source, "target", target, "mode_requested", mode_req,
		      "mode", mode, "mode_reason", reason, "options", opts);
	int64_t now = flyt_wall_ms();
	if (store_migration_insert(c->store, m, now, err) < 0)
		return -1;
	store_migration_journal(c->store, id, "planned", reason, now, NULL);
	store_workload_update(c->store, wname, NULL, "migrating", NULL, now, NULL);
	ctl_publish(c, "migration.created",
		    json_pack("{s:s, s:s, s:s, s:s, s:s}", "migration", id, "workload", wname, "source", source,
			      "target", target, "mode", mode));
	log_info("migration %s: %s %s -> %s, mode %s (%s)", id, wname, source, target, mode, reason);
	spawn_follower(c, id);
	*ret = store_migration_get(c->store, id);
	return 0;
}

int orch_cancel(ctl_t *c, const char *id, json_t **ret, flyt_error_t *err)
{
	_cleanup_json_ json_t *m = store_migration_get(c->store, id);
	if (!m)
		return flyt_error_set(err, FLYT_E_NOT_FOUND, 0, "no migration %s", id);
	if (state_terminal(flyt_json_str(m, "state", "")))
		return flyt_error_set(err, FLYT_E_CONFLICT, 0, "migration %s has already ended (%s)", id,
				      flyt_json_str(m, "state", ""));
	_cleanup_free_ char *surl = NULL;
	if (hosts_online_url(c, flyt_json_str(m, "source", ""), &surl, err) < 0)
		return -1;
	flyt_http_client_t cl = ctl_agent_client(c, surl, 10000);
	_cleanup_free_ char *path = flyt_asprintf("/v1/migrations/%s/cancel", id);
	if (flyt_http_call(&cl, "POST", path, NULL, NULL, NULL, err) < 0)
		return -1;
	store_migration_journal(c->store, id, flyt_json_str(m, "state", ""), "cancel requested", flyt_wall_ms(), NULL);
	ctl_changed(c);
	*ret = store_migration_get(c->store, id);
	return 0;
}

/* Long poll: returns when the migration's version passes since, or after wait_ms. */
int orch_wait(ctl_t *c, const char *id, uint64_t since, unsigned wait_ms, json_t **ret, flyt_error_t *err)
{
	uint64_t deadline = flyt_now_ms() + wait_ms;
	uint64_t seen = 0;
	ctl_wait_change(c, &seen, 0); /* only reads the counter */
	for (;;) {
		json_t *m = store_migration_get(c->store, id);
		if (!m)
			return flyt_error_set(err, FLYT_E_NOT_FOUND, 0, "no migration %s", id);
		if ((uint64_t)flyt_json_int(m, "version", 0) > since || flyt_now_ms() >= deadline ||
		    atomic_load(&c->stopping)) {
			*ret = m;
			return 0;
		}
		json_decref(m);
		ctl_wait_change(c, &seen, deadline);
	}
}

void orch_resume_unfinished(ctl_t *c)
{
	_cleanup_json_ json_t *ids = store_migrations_unfinished(c->store);
	size_t i;
	json_t *id;
	json_array_foreach (ids, i, id) {
		log_info("migration %s was in progress when the controller stopped: following it again",
			 json_string_value(id));
		spawn_follower(c, json_string_value(id));
	}
}

/* A postcopy migration (VMs) switches to its target now, without waiting for its
 * precopy passes. */
int orch_postcopy(ctl_t *c, const char *id, json_t **ret, flyt_error_t *err)
{
	_cleanup_json_ json_t *m = store_migration_get(c->store, id);
	if (!m)
		return flyt_error_set(err, FLYT_E_NOT_FOUND, 0, "no migration %s", id);
	if (state_terminal(flyt_json_str(m, "state", "")))
		return flyt_error_set(err, FLYT_E_CONFLICT, 0, "migration %s has already ended (%s)", id,
				      flyt_json_str(m, "state", ""));
	_cleanup_free_ char *surl = NULL;
	if (hosts_online_url(c, flyt_json_str(m, "source", ""), &surl, err) < 0)
		return -1;
	flyt_http_client_t cl = ctl_agent_client(c, surl, 10000);
	_cleanup_free_ char *path = flyt_asprintf("/v1/migrations/%s/postcopy", id);
	if (flyt_http_call(&cl, "POST", path, NULL, NULL, NULL, err) < 0)
		return -1;
	store_migration_journal(c->store, id, flyt_json_str(m, "state", ""), "switch to postcopy requested",
				flyt_wall_ms(), NULL);
	ctl_changed(c);
	*ret = store_migration_get(c->store, id);
	return 0;
}

int orch_targets(ctl_t *c, const char *name, json_t **ret, flyt_error_t *err)
{
	_cleanup_json_ json_t *w = store_workload_get(c->store, name);
	if (!w)
		return flyt_error_set(err, FLYT_E_NOT_FOUND, 0, "no workload %s", name);
	const char *kind = flyt_json_str(w, "kind", ""), *source = flyt_json_str(w, "host", "");
	_cleanup_json_ json_t *sh = store_host_get(c->store, source);
	_cleanup_json_ json_t *hosts = store_hosts_list(c->store);
	json_t *targets = json_array();
	static const char *const modes[] = { "auto", "stop-copy", "lazy", "precopy", NULL };
	size_t i;
	json_t *h;
	json_array_foreach (hosts, i, h) {
		const char *tname = flyt_json_str(h, "name", "");
		if (strcmp(tname, source) == 0)
			continue;
		_cleanup_json_ json_t *th = store_host_get(c->store, tname);
		json_t *t =
		    json_pack("{s:s, s:s, s:b, s:n, s:n, s:n, s:{}}", "host", tname, "state",
			      flyt_json_str(h, "state", ""), "compatible", 0, "reason", "mode", "mode_reason", "modes");
		json_array_append_new(targets, t);
		const char *why = NULL;
		if (!sh || strcmp(flyt_json_str(sh, "state", ""), "online") != 0)
			why = "the workload's host is offline";
		else if (!th || strcmp(flyt_json_str(th, "state", ""), "online") != 0)
			why = "offline";
		if (why) {
			json_object_set_new(t, "reason", json_string(why));
			continue;
		}
		json_t *sf = json_object_get(sh, "facts"), *tf = json_object_get(th, "facts");
		for (const char *const *m = modes; *m; m++) {
			char mode[16], reason[512];
			flyt_error_t perr = FLYT_ERROR_INIT;
			bool ok = preflight(kind, *m, source, sf, tname, tf, mode, sizeof(mode), reason, sizeof(reason),
					    &perr) == 0;
			if (strcmp(*m, "auto") == 0) {
				json_object_set_new(t, "compatible", json_boolean(ok));
				json_object_set_new(t, "reason", ok ? json_null() : json_string(perr.msg));
				if (ok) {
					json_object_set_new(t, "mode", json_string(mode));
					json_object_set_new(t, "mode_reason", json_string(reason));
				}
			} else {
				json_object_set_new(
				    json_object_get(t, "modes"), *m,
				    json_pack("{s:b, s:s}", "available", ok, "reason", ok ? reason : perr.msg));
			}
		}
	}
	*ret = json_pack("{s:s, s:s, s:s, s:o}", "workload", name, "kind", kind, "source", source, "targets", targets);
	return 0;
}
