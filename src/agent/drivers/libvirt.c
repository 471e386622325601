/* The libvirt driver: domains of a libvirt connection (flytd --libvirt-uri),
 * adopted by name and migrated by libvirt itself, peer to peer.
 *
 * Spec: {"domain": "NAME"} (and "legacy": the old system's fields, kept as they
 * came, when it was created from its spec). flyt adopts the domain as it is:
 * start runs it if it is defined but not running, stop and destroy power it off
 * (virDomainDestroy; the definition stays). The old system's VM spec (Type "VM",
 * VMProperties {DomainName, ConnectionURI}) maps to this driver in the controller
 * (legacy.c): {"domain": DomainName} on the host it is created on, whose
 * --libvirt-uri should be ConnectionURI.
 *
 * Migration (see migrate.c for the protocol around these slots):
 *   receive       target: checks its libvirt connection and that no domain of
 *                 that name runs here; answers with the URI other hosts' libvirtd
 *                 reach this one at (flytd --libvirt-migrate-uri)
 *   send          source: virDomainMigrateToURI3 with LIVE | PEER2PEER |
 *                 PERSIST_DEST | UNDEFINE_SOURCE (+ POSTCOPY, AUTO_CONVERGE,
 *                 COMPRESSED for XBZRLE, PARALLEL for multifd) in a thread, while
 *                 this one polls virDomainGetJobStats for progress, aborts the job
 *                 on cancel, and starts postcopy after N passes or on demand.
 *                 libvirt resumes the source when its migration fails; once it
 *                 succeeds the domain runs on the target (libvirt's own
 *                 switch-over), so flyt's decision is "commit" from then on
 *   restore       target: the domain is there and runs; its downtime from
 *                 libvirt's completed job statistics
 *   resume        target: resumes it if paused
 *   dump_finish   source, rollback: the domain must run here again
 *   discard       target: nothing (libvirt removes a domain whose migration
 *                 failed; one that arrived is the VM and is never destroyed) */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/util.h"

#ifdef FLYT_HAVE_LIBVIRT
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#define POLL_MS 100

static void conn_closep(virConnectPtr *c)
{
	if (*c)
		virConnectClose(*c);
}
static void dom_freep(virDomainPtr *d)
{
	if (*d)
		virDomainFree(*d);
}
#define _cleanup_conn_ __attribute__((cleanup(conn_closep)))
#define _cleanup_dom_ __attribute__((cleanup(dom_freep)))

static int lv_error(flyt_error_t *err, const char *what)
{
	virErrorPtr e = virGetLastError();
	return flyt_error_set(err, FLYT_E_IO, 0, "%s: %s", what, e && e->message ? e->message : "libvirt error");
}

static void silence(void *data, virErrorPtr e)
{
	/* libvirt prints every error on stderr by default: flyt reports them itself */
}

static virConnectPtr lv_open(agent_t *a, flyt_error_t *err)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, (void (*)(void))virInitialize);
	virSetErrorFunc(NULL, silence);
	virConnectPtr c = virConnectOpen(a->libvirt_uri);
	if (!c)
		lv_error(err, "libvirt connection");
	return c;
}

static virDomainPtr lv_domain(virConnectPtr c, json_t *spec, flyt_error_t *err)
{
	const char *name = flyt_json_str(spec, "domain", "");
	virDomainPtr d = virDomainLookupByName(c, name);
	if (!d)
		lv_error(err, "domain");
	return d;
}

static int lv_state(virDomainPtr d)
{
	int state = VIR_DOMAIN_NOSTATE, reason = 0;
	if (virDomainGetState(d, &state, &reason, 0) < 0)
		return -1;
	return state;
}

static int libvirt_probe(agent_t *a, json_t *caps, flyt_error_t *err)
{
	const char *reason = a->libvirt_uri ? NULL : "no libvirt connection: start flytd with --libvirt-uri URI";
	json_object_set_new(caps, "available", json_boolean(!reason));
	if (reason)
		json_object_set_new(caps, "reason", json_string(reason));
	json_object_set_new(caps, "migration", json_true());
	json_object_set_new(caps, "live", json_true());
	json_object_set_new(caps, "modes", json_pack("[s, s]", "precopy", "postcopy"));
	return 0;
}

static int libvirt_validate(agent_t *a, json_t *spec, flyt_error_t *err)
{
	static const char *const keys[] = { "domain", "legacy", NULL };
	const char *name = NULL;
	if (flyt_json_check_keys(spec, "libvirt spec", keys, err) < 0 ||
	    flyt_json_get_string(spec, "domain", true, 64, &name, err) < 0)
		return flyt_error_prefix(err, "libvirt spec");
	if (!name[0] ||
	    strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != strlen(name))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "libvirt spec: bad domain name");
	return 0;
}

static int libvirt_start(agent_t *a, workload_t *w, flyt_error_t *err)
{
	_cleanup_conn_ virConnectPtr c = lv_open(a, err);
	if (!c)
		return -1;
	_cleanup_dom_ virDomainPtr d = lv_domain(c, w->spec, err);
	if (!d)
		return -1;
	int st = lv_state(d);
	if (st == VIR_DOMAIN_PAUSED && virDomainResume(d) < 0)
		return lv_error(err, "resume");
	if (st != VIR_DOMAIN_RUNNING && st != VIR_DOMAIN_PAUSED && virDomainCreate(d) < 0)
		return lv_error(err, "start");
	w->pid = 0;
	w->state = WL_RUNNING;
	w->error[0] = '\0';
	return 0;
}

static int libvirt_stop(agent_t *a, workload_t *w, flyt_error_t *err)
{
	_cleanup_conn_ virConnectPtr c = lv_open(a, err);
	if (!c)
		return -1;
	_cleanup_dom_ virDomainPtr d = lv_domain(c, w->spec, err);
	if (d && virDomainIsActive(d) == 1 && virDomainDestroy(d) < 0)
		return lv_error(err, "power off");
	w->state = WL_STOPPED;
	return 0;
}

static int libvirt_status(agent_t *a, workload_t *w, json_t *ret, flyt_error_t *err)
{
	json_object_set_new(ret, "pid", json_null());
	flyt_error_t lerr = FLYT_ERROR_INIT;
	_cleanup_conn_ virConnectPtr c = lv_open(a, &lerr);
	if (!c)
		return 0; /* libvirtd down: say nothing rather than "exited" */
	_cleanup_dom_ virDomainPtr d = lv_domain(c, w->spec, &lerr);
	int st = d ? lv_state(d) : VIR_DOMAIN_SHUTOFF;
	static const char *const names[] = { "nostate",	 "running", "blocked", "paused",
					     "shutdown", "shutoff", "crashed", "pmsuspended" };
	json_object_set_new(ret, "domain_state",
			    json_string(st >= 0 && st < (int)ELEMENTSOF(names) ? names[st] : "unknown"));
	if (w->state == WL_RUNNING && (st == VIR_DOMAIN_SHUTOFF || st == VIR_DOMAIN_CRASHED))
		w->state = WL_EXITED;
	return 0;
}

/* ---- migration ---- */

static int libvirt_incoming(migration_t *m, json_t *info, flyt_error_t *err)
{
	agent_t *a = m->agent;
	_cleanup_conn_ virConnectPtr c = lv_open(a, err);
	if (!c)
		return -1;
	virDomainPtr d = virDomainLookupByName(c, flyt_json_str(m->w->spec, "domain", ""));
	if (d) {
		int active = virDomainIsActive(d);
		virDomainFree(d);
		if (active == 1)
			return flyt_error_set(err, FLYT_E_CONFLICT, 0, "a domain of that name runs here already");
	}
	json_object_set_new(info, "uri", json_string(a->libvirt_migrate_uri ? a->libvirt_migrate_uri : a->libvirt_uri));
	return 0;
}

typedef struct {
	virDomainPtr dom;
	const char *uri;
	virTypedParameterPtr params;
	int nparams;
	unsigned flags;
	int result;
	char error[512];
	atomic_bool done;
} migrate_call_t;

static void *migrate_thread(void *arg)
{
	migrate_call_t *mc = arg;
	mc->result = virDomainMigrateToURI3(mc->dom, mc->uri, mc->params, (unsigned)mc->nparams, mc->flags);
	if (mc->result < 0) {
		virErrorPtr e = virGetLastError();
		snprintf(mc->error, sizeof(mc->error), "%s", e && e->message ? e->message : "libvirt error");
	}
	atomic_store(&mc->done, true);
	return NULL;
}

static uint64_t param_u64(virTypedParameterPtr p, int n, const char *name)
{
	unsigned long long v = 0;
	virTypedParamsGetULLong(p, n, name, &v);
	return v;
}

static void decide_commit(migration_t *m)
{
	pthread_mutex_lock(&m->agent->lock);
	m->decision = DECISION_COMMIT;
	migration_changed(m);
	flyt_error_t err = FLYT_ERROR_INIT;
	if (migration_save(m, &err) < 0)
		log_warn("migration %s: cannot save the decision: %s", m->id, err.msg);
	pthread_mutex_unlock(&m->agent->lock);
}

static int libvirt_send(migration_t *m, flyt_error_t *err)
{
	agent_t *a = m->agent;
	_cleanup_conn_ virConnectPtr c = lv_open(a, err);
	if (!c)
		return -1;
	_cleanup_dom_ virDomainPtr d = lv_domain(c, m->w->spec, err);
	if (!d)
		return -1;
	/* the migration call blocks its connection: progress goes over another one */
	_cleanup_conn_ virConnectPtr c2 = lv_open(a, err);
	if (!c2)
		return -1;
	_cleanup_dom_ virDomainPtr d2 = lv_domain(c2, m->w->spec, err);
	if (!d2)
		return -1;
	migrate_call_t mc = { .dom = d, .uri = m->live_uri };
	mc.flags = VIR_MIGRATE_LIVE | VIR_MIGRATE_PEER2PEER | VIR_MIGRATE_PERSIST_DEST | VIR_MIGRATE_UNDEFINE_SOURCE;
	int maxp = 0;
	if (m->mode == MODE_POSTCOPY)
		mc.flags |= VIR_MIGRATE_POSTCOPY;
	if (m->auto_converge)
		mc.flags |= VIR_MIGRATE_AUTO_CONVERGE;
	if (m->xbzrle)
		mc.flags |= VIR_MIGRATE_COMPRESSED;
	if (m->multifd) {
		mc.flags |= VIR_MIGRATE_PARALLEL;
		virTypedParamsAddInt(&mc.params, &mc.nparams, &maxp, VIR_MIGRATE_PARAM_PARALLEL_CONNECTIONS,
				     (int)m->multifd);
	}
	if (m->bandwidth)
		virTypedParamsAddULLong(&mc.params, &mc.nparams, &maxp, VIR_MIGRATE_PARAM_BANDWIDTH,
					m->bandwidth / (1024 * 1024));
	if (m->max_downtime_ms > 0 && virDomainMigrateSetMaxDowntime(d2, (unsigned long long)m->max_downtime_ms, 0) < 0)
		log_warn("migration %s: cannot set the downtime limit before the job", m->id);
	pthread_t t;
	if (pthread_create(&t, NULL, migrate_thread, &mc) != 0) {
		virTypedParamsFree(mc.params, mc.nparams);
		return flyt_error_set(err, FLYT_E_INTERNAL, errno, "migration thread");
	}
	bool aborted = false;
	while (!atomic_load(&mc.done)) {
		int type = 0, n = 0;
		virTypedParameterPtr p = NULL;
		if (virDomainGetJobStats(d2, &type, &p, &n, 0) == 0 && type != VIR_DOMAIN_JOB_NONE) {
			pthread_mutex_lock(&a->lock);
			m->bytes = param_u64(p, n, VIR_DOMAIN_JOB_DATA_PROCESSED);
			m->remaining_bytes = param_u64(p, n, VIR_DOMAIN_JOB_DATA_REMAINING);
			m->passes = (unsigned)param_u64(p, n, VIR_DOMAIN_JOB_MEMORY_ITERATION);
			m->dirty_rate = param_u64(p, n, VIR_DOMAIN_JOB_MEMORY_DIRTY_RATE) *
					param_u64(p, n, VIR_DOMAIN_JOB_MEMORY_PAGE_SIZE);
			migration_changed(m);
			pthread_mutex_unlock(&a->lock);
		}
		virTypedParamsFree(p, n);
		if (atomic_load(&m->cancel) && !aborted && !m->postcopy_started) {
			aborted = true;
			if (virDomainAbortJob(d2) < 0)
				log_warn("migration %s: aborting libvirt's job failed", m->id);
		}
		if (m->mode == MODE_POSTCOPY && !m->postcopy_started && !aborted &&
		    (m->passes > m->postcopy_after || atomic_load(&m->postcopy_now))) {
			decide_commit(m);
			if (virDomainMigrateStartPostCopy(d2, 0) == 0) {
				pthread_mutex_lock(&a->lock);
				m->postcopy_started = true;
				snprintf(m->note, sizeof(m->note), "switched to postcopy after %u pass%s", m->passes,
					 m->passes == 1 ? "" : "es");
				migration_changed(m);
				pthread_mutex_unlock(&a->lock);
			} else {
				/* not started yet on libvirt's side: try again next time */
				pthread_mutex_lock(&a->lock);
				m->decision = DECISION_NONE;
				migration_save(m, NULL);
				pthread_mutex_unlock(&a->lock);
			}
		}
		flyt_sleep_ms(POLL_MS);
	}
	pthread_join(t, NULL);
	virTypedParamsFree(mc.params, mc.nparams);
	if (mc.result < 0) {
		if (aborted)
			return flyt_error_set(err, FLYT_E_CANCELLED, 0, "cancelled by request");
		return flyt_error_set(err, FLYT_E_IO, 0, "libvirt: %s", mc.error);
	}
	/* libvirt switched over: the domain runs on the target now, not here */
	decide_commit(m);
	pthread_mutex_lock(&a->lock);
	m->postcopy_started = true; /* no way back from here */
	m->remaining_bytes = 0;
	m->t_freeze = flyt_now_ms();
	migration_changed(m);
	pthread_mutex_unlock(&a->lock);
	return 0;
}

static int libvirt_restore(migration_t *m, flyt_error_t *err)
{
	uint64_t t0 = flyt_now_ms();
	_cleanup_conn_ virConnectPtr c = lv_open(m->agent, err);
	if (!c)
		return -1;
	_cleanup_dom_ virDomainPtr d = lv_domain(c, m->w->spec, err);
	if (!d)
		return flyt_error_prefix(err, "the domain did not arrive");
	int st = lv_state(d);
	if (st != VIR_DOMAIN_RUNNING && st != VIR_DOMAIN_PAUSED)
		return flyt_error_set(err, FLYT_E_INTERNAL, 0, "the domain arrived but is not running (state %d)", st);
	int type = 0, n = 0;
	virTypedParameterPtr p = NULL;
	if (virDomainGetJobStats(d, &type, &p, &n, VIR_DOMAIN_JOB_STATS_COMPLETED) == 0) {
		unsigned long long downtime = 0;
		if (virTypedParamsGetULLong(p, n, VIR_DOMAIN_JOB_DOWNTIME, &downtime) == 1) {
			m->downtime_ms = (int64_t)downtime;
			m->downtime_final = true;
		}
		virTypedParamsFree(p, n);
	}
	m->restore_ms = (int64_t)(flyt_now_ms() - t0);
	return 0;
}

static int libvirt_resume(migration_t *m, flyt_error_t *err)
{
	_cleanup_conn_ virConnectPtr c = lv_open(m->agent, err);
	if (!c)
		return -1;
	_cleanup_dom_ virDomainPtr d = lv_domain(c, m->w->spec, err);
	if (!d)
		return -1;
	if (lv_state(d) == VIR_DOMAIN_PAUSED && virDomainResume(d) < 0)
		return lv_error(err, "resume");
	return 0;
}

static int libvirt_discard(migration_t *m, flyt_error_t *err)
{
	return 0;
}

static int libvirt_dump_finish(migration_t *m, bool commit, flyt_error_t *err)
{
	if (commit)
		return 0;
	if (m->postcopy_started)
		return flyt_error_set(err, FLYT_E_INTERNAL, 0,
				      "libvirt had switched the domain over to %s: it runs there, not here",
				      m->peer_name);
	_cleanup_conn_ virConnectPtr c = lv_open(m->agent, err);
	if (!c)
		return -1;
	_cleanup_dom_ virDomainPtr d = lv_domain(c, m->w->spec, err);
	if (!d)
		return -1;
	int st = lv_state(d);
	if (st == VIR_DOMAIN_PAUSED && virDomainResume(d) < 0)
		return lv_error(err, "resume");
	if (st != VIR_DOMAIN_RUNNING && st != VIR_DOMAIN_PAUSED)
		return flyt_error_set(err, FLYT_E_INTERNAL, 0, "the domain is not running here any more");
	m->w->state = WL_RUNNING;
	return 0;
}

static int libvirt_finish_source(migration_t *m, flyt_error_t *err)
{
	return 0; /* libvirt undefined the source domain itself (UNDEFINE_SOURCE) */
}

const driver_t driver_libvirt = {
	.kind = "libvirt",
	.probe = libvirt_probe,
	.validate = libvirt_validate,
	.start = libvirt_start,
	.stop = libvirt_stop,
	.destroy = libvirt_stop,
	.status = libvirt_status,
	.dump_finish = libvirt_dump_finish,
	.restore = libvirt_restore,
	.resume = libvirt_resume,
	.discard = libvirt_discard,
	.receive = libvirt_incoming,
	.send = libvirt_send,
	.finish_source = libvirt_finish_source,
};

#else /* built without libvirt */

static int libvirt_probe(agent_t *a, json_t *caps, flyt_error_t *err)
{
	json_object_set_new(caps, "available", json_false());
	json_object_set_new(caps, "reason", json_string("flytd was built without libvirt (install libvirt-dev)"));
	return 0;
}

static int libvirt_validate(agent_t *a, json_t *spec, flyt_error_t *err)
{
	return flyt_error_set(err, FLYT_E_UNSUPPORTED, 0, "flytd was built without libvirt");
}

static int libvirt_none(agent_t *a, workload_t *w, flyt_error_t *err)
{
	return flyt_error_set(err, FLYT_E_UNSUPPORTED, 0, "flytd was built without libvirt");
}

static int libvirt_status(agent_t *a, workload_t *w, json_t *ret, flyt_error_t *err)
{
	return 0;
}

const driver_t driver_libvirt = {
	.kind = "libvirt",
	.probe = libvirt_probe,
	.validate = libvirt_validate,
	.start = libvirt_none,
	.stop = libvirt_none,
	.destroy = libvirt_none,
	.status = libvirt_status,
};
#endif
