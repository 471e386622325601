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
 * Disks not on shared storage are copied: every writable file disk of the domain
 * on a local file system (what libvirt itself calls unsafe to migrate without
 * copying: not NFS, GFS2, OCFS2, CephFS, SMB/CIFS, AFS, GPFS, Quobyte or
 * GlusterFS) moves with it by libvirt's NBD storage migration (NON_SHARED_DISK
 * with MIGRATE_DISKS), into STATE/libvirt-disks/DOMAIN/DEV.{img,qcow2} on the
 * target: libvirt does not create such files itself, so the target agent makes
 * each one empty, of the source's format and virtual size, and the domain's
 * definition on the target (DESTINATION_XML and PERSIST_XML) points there. The
 * source's file is left as it was at the switch-over; copies flyt made there
 * earlier (STATE/libvirt-disks/DOMAIN) go once the domain has left.
 *
 * Migration (see migrate.c for the protocol around these slots):
 *   offer         source: the local disks to copy (device, format, virtual size)
 *   receive       target: checks its libvirt connection and that no domain of
 *                 that name runs here (is defined here, with disks to copy);
 *                 creates the empty disk copies; answers with the URI other
 *                 hosts' libvirtd reach this one at (flytd --libvirt-migrate-uri)
 *                 and the copies' paths
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
 *                 (+ NON_SHARED_DISK with the target's XML when disks are copied)
 *   dump_finish   source, rollback: the domain must run here again
 *   discard       target: removes the disk copies (libvirt removes a domain
 *                 whose migration failed; one that arrived is the VM and is
 *                 never destroyed)
 *   finish_source source: removes the copies an earlier migration left here */
#include <errno.h>
#include <mntent.h>
#include <stdio.h>
#include <string.h>
#include <sys/vfs.h>

#include "agent/agent.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/util.h"

#ifdef FLYT_HAVE_LIBVIRT
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#define POLL_MS 100
#define MAX_COPIED_DISKS 16

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
static void xml_docp(xmlDocPtr *d)
{
	if (*d)
		xmlFreeDoc(*d);
}
#define _cleanup_conn_ __attribute__((cleanup(conn_closep)))
#define _cleanup_dom_ __attribute__((cleanup(dom_freep)))
#define _cleanup_xml_ __attribute__((cleanup(xml_docp)))

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

/* Whether the source's domain is paused for postcopy: libvirt has switched it
 * over (or failed in postcopy), and it runs on the target only. */
static bool in_postcopy(virDomainPtr d)
{
	int state = VIR_DOMAIN_NOSTATE, reason = 0;
	return virDomainGetState(d, &state, &reason, 0) == 0 && state == VIR_DOMAIN_PAUSED &&
	       (reason == VIR_DOMAIN_PAUSED_POSTCOPY || reason == VIR_DOMAIN_PAUSED_POSTCOPY_FAILED);
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
	/* libvirtd's migration stream encrypted (flytd keeps its credentials) */
	json_object_set_new(caps, "tls", json_boolean(a->libvirt_tls_dir != NULL));
	return 0;
}

static int libvirt_validate(agent_t *a, json_t *spec, flyt_error_t *err)
{
	static const char *const keys[] = { "domain", "legacy", NULL };
	const char *name = NULL;
	if (flyt_json_check_keys(spec, "libvirt spec", keys, err) < 0 ||
	    flyt_json_get_string(spec, "domain", true, 64, &name, err) < 0)
		return flyt_error_prefix(err, "libvirt spec");
	/* it names a directory (copies_dir): no "." or ".." or hidden names */
	if (!name[0] || name[0] == '.' ||
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

/* ---- disks not on shared storage ---- */

/* True when path is on a file system other hosts share (libvirt's own list,
 * virFileIsSharedFS): such disks stay where they are. */
static bool fs_shared(const char *path)
{
	struct statfs sb;
	if (statfs(path, &sb) < 0)
		return false;
	switch ((unsigned long)sb.f_type) {
	case 0x6969:	 /* NFS */
	case 0x01161970: /* GFS2 */
	case 0x7461636f: /* OCFS2 */
	case 0x6B414653: /* AFS */
	case 0x517B:	 /* SMB */
	case 0xFF534D42: /* CIFS */
	case 0xFE534D42: /* SMB2 */
	case 0x00C36400: /* CephFS */
	case 0x47504653: /* GPFS */
	case 0x51626f62: /* Quobyte */
		return true;
	case 0x65735546: /* FUSE: GlusterFS or Quobyte, by the mount's type */
		break;
	default:
		return false;
	}
	FILE *f = setmntent("/proc/self/mounts", "re");
	if (!f)
		return false;
	size_t best = 0;
	bool shared = false;
	struct mntent e;
	char buf[4096];
	while (getmntent_r(f, &e, buf, sizeof(buf))) { /* getmntent is not thread-safe */
		size_t n = strlen(e.mnt_dir);
		bool under = strncmp(path, e.mnt_dir, n) == 0 && (path[n] == '/' || path[n] == '\0' || n == 1);
		if (under && n >= best) {
			best = n;
			shared = !strcmp(e.mnt_type, "fuse.glusterfs") || !strcmp(e.mnt_type, "fuse.quobyte");
		}
	}
	endmntent(f);
	return shared;
}

static xmlNodePtr xml_child(xmlNodePtr n, const char *name)
{
	for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && xmlStrcmp(c->name, (const xmlChar *)name) == 0)
			return c;
	return NULL;
}

/* An attribute's value as a C string (owned), or NULL. */
static char *xml_attr(xmlNodePtr n, const char *name)
{
	xmlChar *v = n ? xmlGetProp(n, (const xmlChar *)name) : NULL;
	if (!v)
		return NULL;
	char *copy = flyt_strdup((const char *)v);
	xmlFree(v);
	return copy;
}

static bool attr_is(xmlNodePtr n, const char *name, const char *value, const char *absent)
{
	_cleanup_free_ char *v = xml_attr(n, name);
	return strcmp(v ? v : absent, value) == 0;
}

/* The domain's XML (flags: virDomainGetXMLDesc's), parsed. */
static xmlDocPtr domain_xml(virDomainPtr d, unsigned flags, flyt_error_t *err)
{
	char *text = virDomainGetXMLDesc(d, flags);
	if (!text) {
		lv_error(err, "domain XML");
		return NULL;
	}
	xmlDocPtr doc = xmlReadMemory(text, (int)strlen(text), "domain.xml", NULL,
				      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	free(text);
	if (!doc || !xmlDocGetRootElement(doc))
		flyt_error_set(err, FLYT_E_CORRUPT, 0, "libvirt gave domain XML that does not parse");
	return doc;
}

/* The disk element of doc whose target is dev, or NULL. */
static xmlNodePtr find_disk(xmlDocPtr doc, const char *dev)
{
	xmlNodePtr devices = xml_child(xmlDocGetRootElement(doc), "devices");
	for (xmlNodePtr c = devices ? devices->children : NULL; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && !xmlStrcmp(c->name, (const xmlChar *)"disk") &&
		    attr_is(xml_child(c, "target"), "dev", dev, ""))
			return c;
	return NULL;
}

/* Source: the domain's disks that must be copied: writable, not shareable file
 * disks on a local file system. */
static int local_disks(virDomainPtr d, json_t *ret_disks, flyt_error_t *err)
{
	_cleanup_xml_ xmlDocPtr doc = domain_xml(d, VIR_DOMAIN_XML_MIGRATABLE, err);
	if (!doc)
		return -1;
	xmlNodePtr devices = xml_child(xmlDocGetRootElement(doc), "devices");
	for (xmlNodePtr c = devices ? devices->children : NULL; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE || xmlStrcmp(c->name, (const xmlChar *)"disk") ||
		    !attr_is(c, "type", "file", "") || !attr_is(c, "device", "disk", "disk") ||
		    xml_child(c, "readonly") || xml_child(c, "shareable"))
			continue;
		_cleanup_free_ char *file = xml_attr(xml_child(c, "source"), "file");
		_cleanup_free_ char *dev = xml_attr(xml_child(c, "target"), "dev");
		_cleanup_free_ char *format = xml_attr(xml_child(c, "driver"), "type");
		if (!file || !file[0] || !dev || fs_shared(file))
			continue;
		if (!diskimg_format_valid(format ? format : "raw"))
			return flyt_error_set(
			    err, FLYT_E_UNSUPPORTED, 0,
			    "disk %s is %s: only raw and qcow2 disks are copied (put it on shared storage)", dev,
			    format);
		virDomainBlockInfo bi;
		if (virDomainGetBlockInfo(d, dev, &bi, 0) < 0)
			return lv_error(err, "disk size");
		if (json_array_size(ret_disks) >= MAX_COPIED_DISKS)
			return flyt_error_set(err, FLYT_E_UNSUPPORTED, 0, "more than %d local disks", MAX_COPIED_DISKS);
		json_array_append_new(ret_disks,
				      json_pack("{s:s, s:s, s:I}", "target", dev, "format", format ? format : "raw",
						"capacity", (json_int_t)bi.capacity));
	}
	return 0;
}

/* STATE/libvirt-disks/DOMAIN: where this host keeps copies of a domain's disks
 * (not in the workload's directory: they outlive the workload's record). */
static char *copies_dir(agent_t *a, json_t *spec)
{
	return flyt_asprintf("%s/libvirt-disks/%s", a->state_dir, flyt_json_str(spec, "domain", ""));
}

/* Removes this host's copies of the domain's disks, unless libvirt here knows
 * the domain (it may use them). Errors are logged: nothing depends on it. */
static void drop_copies(migration_t *m)
{
	if (!m->w)
		return;
	flyt_error_t err = FLYT_ERROR_INIT;
	_cleanup_conn_ virConnectPtr c = lv_open(m->agent, &err);
	if (!c)
		return;
	virDomainPtr d = virDomainLookupByName(c, flyt_json_str(m->w->spec, "domain", ""));
	if (d) {
		virDomainFree(d);
		return;
	}
	_cleanup_free_ char *dir = copies_dir(m->agent, m->w->spec);
	if (flyt_rm_rf(dir, &err) < 0)
		log_warn("migration %s: removing the disk copies in %s: %s", m->id, dir, err.msg);
}

/* Target: an empty image for each disk the source offers to copy. Adds
 * [{"target", "path"}] to info as "disks". */
static int create_copies(migration_t *m, json_t *info, flyt_error_t *err)
{
	json_t *disks = json_object_get(m->peer_info, "disks");
	if (!json_is_array(disks) || json_array_size(disks) == 0)
		return 0;
	if (json_array_size(disks) > MAX_COPIED_DISKS)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "too many disks to copy");
	_cleanup_free_ char *dir = copies_dir(m->agent, m->w->spec);
	if (flyt_mkdir_p(dir, 0755, err) < 0)
		return -1;
	json_t *out = json_array();
	json_object_set_new(info, "disks", out);
	size_t i;
	json_t *disk;
	json_array_foreach (disks, i, disk) {
		const char *dev = NULL, *format = NULL;
		int64_t capacity = 0;
		if (flyt_json_get_string(disk, "target", true, 32, &dev, err) < 0 ||
		    flyt_json_get_string(disk, "format", true, 8, &format, err) < 0 ||
		    flyt_json_get_int(disk, "capacity", true, 1, (int64_t)DISKIMG_MAX_SIZE, &capacity, err) < 0)
			return flyt_error_prefix(err, "disk %zu to copy", i + 1);
		if (!dev[0] || strspn(dev, "abcdefghijklmnopqrstuvwxyz0123456789") != strlen(dev))
			return flyt_error_set(err, FLYT_E_INVALID, 0, "bad disk device name to copy");
		_cleanup_free_ char *path = flyt_asprintf("%s/%s.%s", dir, dev, strcmp(format, "raw") ? format : "img");
		if (diskimg_create(m->agent, path, format, (uint64_t)capacity, err) < 0)
			return flyt_error_prefix(err, "disk %s", dev);
		json_array_append_new(out, json_pack("{s:s, s:s}", "target", dev, "path", path));
	}
	return 0;
}

/* Source: the domain's XML (flags: virDomainGetXMLDesc's) with each copied disk
 * pointing at the target's copy (a flat image: no backing chain). */
static char *target_xml(virDomainPtr d, unsigned flags, json_t *copies, flyt_error_t *err)
{
	_cleanup_xml_ xmlDocPtr doc = domain_xml(d, flags, err);
	if (!doc)
		return NULL;
	size_t i;
	json_t *copy;
	json_array_foreach (copies, i, copy) {
		const char *dev = flyt_json_str(copy, "target", ""), *path = flyt_json_str(copy, "path", "");
		xmlNodePtr disk = find_disk(doc, dev);
		xmlNodePtr src = xml_child(disk, "source");
		if (!src || path[0] != '/' || strlen(path) > 500 || strchr(path, '\n')) {
			flyt_error_set(err, FLYT_E_CORRUPT, 0, "cannot point disk %s at the target's copy", dev);
			return NULL;
		}
		xmlSetProp(src, (const xmlChar *)"file", (const xmlChar *)path);
		for (xmlNodePtr b; (b = xml_child(disk, "backingStore"));) {
			xmlUnlinkNode(b);
			xmlFreeNode(b);
		}
	}
	xmlChar *text = NULL;
	int len = 0;
	xmlDocDumpMemory(doc, &text, &len);
	if (!text) {
		flyt_error_set(err, FLYT_E_INTERNAL, 0, "cannot write the target's domain XML");
		return NULL;
	}
	char *ret = flyt_strdup((const char *)text);
	xmlFree(text);
	return ret;
}

/* ---- migration ---- */

static int libvirt_offer(migration_t *m, json_t *info, flyt_error_t *err)
{
	_cleanup_conn_ virConnectPtr c = lv_open(m->agent, err);
	if (!c)
		return -1;
	_cleanup_dom_ virDomainPtr d = lv_domain(c, m->w->spec, err);
	if (!d)
		return -1;
	json_t *disks = json_array();
	json_object_set_new(info, "disks", disks);
	return local_disks(d, disks, err);
}

static int libvirt_incoming(migration_t *m, json_t *ready, flyt_error_t *err)
{
	agent_t *a = m->agent;
	_cleanup_conn_ virConnectPtr c = lv_open(a, err);
	if (!c)
		return -1;
	bool copy = json_array_size(json_object_get(m->peer_info, "disks")) > 0;
	virDomainPtr d = virDomainLookupByName(c, flyt_json_str(m->w->spec, "domain", ""));
	if (d) {
		int active = virDomainIsActive(d);
		virDomainFree(d);
		if (active == 1)
			return flyt_error_set(err, FLYT_E_CONFLICT, 0, "a domain of that name runs here already");
		if (copy)
			return flyt_error_set(err, FLYT_E_CONFLICT, 0,
					      "a domain of that name is defined here already (undefine it: its disk "
					      "copies would be overwritten)");
	}
	json_t *info = json_object_get(ready, "driver");
	if (!json_is_object(info))
		return flyt_error_set(err, FLYT_E_INTERNAL, 0, "no driver facts in ready");
	if (create_copies(m, info, err) < 0) {
		drop_copies(m);
		return flyt_error_prefix(err, "copies of the local disks");
	}
	/* this host's libvirtd takes an encrypted stream when flytd keeps its
	 * credentials (written at start and at each renewal) */
	json_object_set_new(info, "tls", json_boolean(a->libvirt_tls_dir != NULL));
	json_object_set_new(ready, "uri",
			    json_string(a->libvirt_migrate_uri ? a->libvirt_migrate_uri : a->libvirt_uri));
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

/* Source: libvirt copies the local disks (NBD storage migration) into the
 * target's copies, and the domain's definitions there point at them. */
static int copy_storage_params(migration_t *m, virDomainPtr d, json_t *copies, migrate_call_t *mc, int *maxp,
			       flyt_error_t *err)
{
	unsigned secure = VIR_DOMAIN_XML_SECURE | VIR_DOMAIN_XML_MIGRATABLE;
	_cleanup_free_ char *live = target_xml(d, secure, copies, err);
	if (!live)
		return -1;
	_cleanup_free_ char *persistent = NULL;
	if (virDomainIsPersistent(d) == 1 &&
	    !(persistent = target_xml(d, secure | VIR_DOMAIN_XML_INACTIVE, copies, err)))
		return -1;
	if (virTypedParamsAddString(&mc->params, &mc->nparams, maxp, VIR_MIGRATE_PARAM_DEST_XML, live) < 0 ||
	    (persistent &&
	     virTypedParamsAddString(&mc->params, &mc->nparams, maxp, VIR_MIGRATE_PARAM_PERSIST_XML, persistent) < 0))
		return lv_error(err, "migration parameters");
	char devs[256] = "";
	size_t i;
	json_t *copy;
	json_array_foreach (copies, i, copy) {
		const char *dev = flyt_json_str(copy, "target", "");
		if (virTypedParamsAddString(&mc->params, &mc->nparams, maxp, VIR_MIGRATE_PARAM_MIGRATE_DISKS, dev) < 0)
			return lv_error(err, "migration parameters");
		size_t n = strlen(devs);
		snprintf(devs + n, sizeof(devs) - n, "%s%s", i ? ", " : "", dev);
	}
	mc->flags |= VIR_MIGRATE_NON_SHARED_DISK;
	pthread_mutex_lock(&m->agent->lock);
	snprintf(m->note, sizeof(m->note), "copying %zu local disk%s (%s)", json_array_size(copies),
		 json_array_size(copies) == 1 ? "" : "s", devs);
	migration_changed(m);
	pthread_mutex_unlock(&m->agent->lock);
	return 0;
}

/* Source: TLS for libvirt's migration stream (and its NBD disk copies) when
 * this host's flytd keeps libvirtd's credentials (--libvirt-tls-dir). The
 * target's libvirtd must then take TLS too; the target's certificate must name
 * the address the agents chose for it. */
static int libvirt_tls(migration_t *m, migrate_call_t *mc, int *maxp, flyt_error_t *err)
{
	agent_t *a = m->agent;
	bool theirs = json_is_true(json_object_get(m->peer_info, "tls"));
	if (!a->libvirt_tls_dir) {
		if (a->tls)
			log_warn("migration %s: libvirt's stream to %s goes unencrypted (no --libvirt-tls-dir here)",
				 m->id, m->peer_name);
		return 0;
	}
	if (!theirs)
		return flyt_error_set(
		    err, FLYT_E_UNSUPPORTED, 0,
		    "%s's flytd runs without --libvirt-tls-dir: its libvirtd cannot take an encrypted "
		    "migration, and this host's sends no other (see security.md)",
		    m->peer_name);
	mc->flags |= VIR_MIGRATE_TLS;
	if (virTypedParamsAddString(&mc->params, &mc->nparams, maxp, VIR_MIGRATE_PARAM_TLS_DESTINATION, m->live_host) <
	    0)
		return lv_error(err, "migration parameters");
	return 0;
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
	if (libvirt_tls(m, &mc, &maxp, err) < 0) {
		virTypedParamsFree(mc.params, mc.nparams);
		return -1;
	}
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
	/* --bandwidth holds for the whole copy: in postcopy too */
	unsigned long long mibps = m->bandwidth / (1024 * 1024);
	if (m->bandwidth &&
	    (virTypedParamsAddULLong(&mc.params, &mc.nparams, &maxp, VIR_MIGRATE_PARAM_BANDWIDTH, mibps) < 0 ||
	     (m->mode == MODE_POSTCOPY && virTypedParamsAddULLong(&mc.params, &mc.nparams, &maxp,
								  VIR_MIGRATE_PARAM_BANDWIDTH_POSTCOPY, mibps) < 0))) {
		virTypedParamsFree(mc.params, mc.nparams);
		return lv_error(err, "migration parameters");
	}
	json_t *copies = json_object_get(m->peer_info, "disks");
	if (json_array_size(copies) > 0 && copy_storage_params(m, d, copies, &mc, &maxp, err) < 0) {
		virTypedParamsFree(mc.params, mc.nparams);
		return -1;
	}
	if (m->max_downtime_ms > 0 && virDomainMigrateSetMaxDowntime(d2, (unsigned long long)m->max_downtime_ms, 0) < 0)
		log_warn("migration %s: cannot set the downtime limit before the job", m->id);
	pthread_t t;
	if (pthread_create(&t, NULL, migrate_thread, &mc) != 0) {
		virTypedParamsFree(mc.params, mc.nparams);
		return flyt_error_set(err, FLYT_E_INTERNAL, errno, "migration thread");
	}
	bool aborted = false, stalled = false;
	uint64_t last_bytes = 0, progress_ms = flyt_now_ms();
	while (!atomic_load(&mc.done)) {
		int type = 0, n = 0;
		virTypedParameterPtr p = NULL;
		uint64_t now = flyt_now_ms();
		if (virDomainGetJobStats(d2, &type, &p, &n, 0) == 0 && type != VIR_DOMAIN_JOB_NONE) {
			uint64_t bytes = param_u64(p, n, VIR_DOMAIN_JOB_DATA_PROCESSED);
			if (bytes != last_bytes) {
				last_bytes = bytes;
				progress_ms = now;
			}
			pthread_mutex_lock(&a->lock);
			m->bytes = bytes;
			m->remaining_bytes = param_u64(p, n, VIR_DOMAIN_JOB_DATA_REMAINING);
			m->passes = (unsigned)param_u64(p, n, VIR_DOMAIN_JOB_MEMORY_ITERATION);
			m->dirty_rate = param_u64(p, n, VIR_DOMAIN_JOB_MEMORY_DIRTY_RATE) *
					param_u64(p, n, VIR_DOMAIN_JOB_MEMORY_PAGE_SIZE);
			migration_changed(m);
			pthread_mutex_unlock(&a->lock);
		}
		virTypedParamsFree(p, n);
		/* a cut link stalls QEMU's socket for as long as TCP retries, and
		 * libvirtd waits as long: once data flowed, a silent peer fails the
		 * migration after the I/O timeout, as on flyt's own connections
		 * (before, libvirt prepares the target with timeouts of its own) */
		bool silent = last_bytes > 0 && now - progress_ms > (uint64_t)a->io_timeout_ms;
		if ((atomic_load(&m->cancel) || silent) && !aborted && !m->postcopy_started) {
			aborted = true;
			stalled = !atomic_load(&m->cancel);
			if (virDomainAbortJob(d2) < 0)
				log_warn("migration %s: aborting libvirt's job failed", m->id);
		}
		if (m->mode == MODE_POSTCOPY && !m->postcopy_requested && !aborted &&
		    (m->passes > m->postcopy_after || atomic_load(&m->postcopy_now))) {
			/* the decision is written first: libvirt may switch at any
			 * time from now on */
			migration_decide_live(m, DECISION_COMMIT);
			if (virDomainMigrateStartPostCopy(d2, 0) == 0) {
				migration_postcopy_asked(m, "libvirt");
			} else {
				/* not started yet on libvirt's side: try again next time */
				migration_decide_live(m, DECISION_NONE);
			}
		}
		if (m->postcopy_requested && !m->postcopy_started && in_postcopy(d2))
			migration_postcopy_switched(m);
		flyt_sleep_ms(POLL_MS);
	}
	pthread_join(t, NULL);
	virTypedParamsFree(mc.params, mc.nparams);
	if (mc.result < 0 && m->postcopy_requested && !m->postcopy_started) {
		/* failed after it switched (unseen by the loop), or before: then the
		 * domain runs here, and the decision to commit is taken back */
		if (in_postcopy(d2))
			migration_postcopy_switched(m);
		else
			migration_decide_live(m, DECISION_NONE);
	}
	if (mc.result < 0) {
		if (stalled)
			return flyt_error_set(
			    err, FLYT_E_TIMEOUT, 0,
			    "libvirt sent nothing for %d s: the target no longer takes the guest (%s)",
			    (int)(a->io_timeout_ms / 1000), mc.error);
		if (aborted)
			return flyt_error_set(err, FLYT_E_CANCELLED, 0, "cancelled by request");
		return flyt_error_set(err, FLYT_E_IO, 0, "libvirt: %s", mc.error);
	}
	/* libvirt switched over: the domain runs on the target now, not here */
	migration_decide_live(m, DECISION_COMMIT);
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
	/* libvirt's incoming job still runs (in postcopy the domain runs here
	 * while its memory comes, as long as that takes): wait for its end; not
	 * when a restarted flytd only checks that the domain is here (in doubt:
	 * the source decides once libvirt has ended) */
	virDomainJobInfo job;
	int state = VIR_DOMAIN_NOSTATE, reason = 0;
	while (!m->in_doubt && virDomainGetJobInfo(d, &job) == 0 && job.type != VIR_DOMAIN_JOB_NONE) {
		if (virDomainGetState(d, &state, &reason, 0) == 0 && state == VIR_DOMAIN_RUNNING &&
		    reason == VIR_DOMAIN_RUNNING_POSTCOPY) {
			pthread_mutex_lock(&m->agent->lock);
			m->postcopy_started = true; /* the guest's newest state is here only */
			pthread_mutex_unlock(&m->agent->lock);
		}
		if (atomic_load(&m->agent->stopping))
			return flyt_error_set(err, FLYT_E_CANCELLED, 0, "flytd stops");
		flyt_sleep_ms(POLL_MS);
	}
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
	drop_copies(m);
	return 0;
}

/* Source: ends libvirt's migration job on d, if one runs, and waits for it
 * to end; -1 when libvirt completed it instead (the domain is on the target). */
static int abort_job(migration_t *m, virDomainPtr d)
{
	virDomainJobInfo job;
	if (virDomainGetJobInfo(d, &job) < 0 || job.type == VIR_DOMAIN_JOB_NONE)
		return 0;
	log_info("migration %s: aborting libvirt's migration job", m->id);
	if (virDomainAbortJob(d) < 0)
		log_warn("migration %s: aborting libvirt's job: %s", m->id, virGetLastErrorMessage());
	uint64_t until = flyt_now_ms() + 120000;
	while (flyt_now_ms() < until) {
		if (virDomainGetJobInfo(d, &job) < 0)
			return virDomainIsActive(d) == 1 ? 0 : -1;
		if (job.type == VIR_DOMAIN_JOB_NONE)
			return 0;
		flyt_sleep_ms(POLL_MS);
	}
	return 0;
}

/* The domain left this host: libvirt switched it over to the target by itself
 * (its migration went on while this flytd was down). */
static int gone_over(migration_t *m, flyt_error_t *err)
{
	const char *dom = flyt_json_str(m->w->spec, "domain", "");
	return flyt_error_set(err, FLYT_E_CONFLICT, 0,
			      "libvirt completed the migration to %s by itself: domain %s runs there, outside flyt "
			      "(take it back: flyt workload rm %s; flyt workload adopt --kind libvirt --host %s %s)",
			      m->peer_name, dom, m->w->name, m->peer_name, dom);
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
		return virGetLastErrorCode() == VIR_ERR_NO_DOMAIN ? gone_over(m, err) : -1;
	/* libvirtd goes on with a migration whose caller is gone (a flytd
	 * restarted meanwhile): stop it, before it switches over */
	if (abort_job(m, d) < 0)
		return gone_over(m, err);
	virDomainPtr again = virDomainLookupByName(c, flyt_json_str(m->w->spec, "domain", ""));
	if (!again)
		return gone_over(m, err);
	virDomainFree(again);
	int st = lv_state(d);
	if (st == VIR_DOMAIN_PAUSED && virDomainResume(d) < 0)
		return lv_error(err, "resume");
	if (st != VIR_DOMAIN_RUNNING && st != VIR_DOMAIN_PAUSED)
		return gone_over(m, err);
	m->w->state = WL_RUNNING;
	return 0;
}

static int libvirt_finish_source(migration_t *m, flyt_error_t *err)
{
	/* libvirt undefined the source domain itself (UNDEFINE_SOURCE); copies of
	 * its disks an earlier migration made here are stale now */
	drop_copies(m);
	return 0;
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
	.offer = libvirt_offer,
	.receive = libvirt_incoming,
	.send = libvirt_send,
	.finish_source = libvirt_finish_source,
};

#else /* built without libvirt */

static int libvirt_probe(agent_t *a, json_t *caps, flyt_error_t *err)
{
	json_object_set_new(caps, "available", json_false());
	json_object_set_new(caps, "reason",
			    json_string("flytd was built without libvirt (install libvirt-dev and libxml2-dev)"));
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
