/* The target side of a migration: issue a ticket, accept the source's data
 * connections, receive images and files, restore the workload stopped, and run it
 * when the source says "go" (or learn the source's decision through its API when
 * the connection is lost). Protocol: migrate.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/criu.h"
#include "agent/proctree.h"
#include "agent/tunnel.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/net.h"
#include "lib/stream.h"
#include "lib/util.h"

#define HELLO_TIMEOUT_MS 10000
#define GO_WAIT_MS 120000
#define PAGES_WAIT_MS (60 * 60 * 1000)
#define VERIFY_WINDOW_MS 100
#define MAX_DATA_THREADS 128
#define MAX_UNAUTHENTICATED 16
#define HELLO_MAX 4096
#define RECEIVE_TIMEOUT_MS (30 * 60 * 1000)

int migrate_target_prepare(agent_t *a, json_t *body, json_t **ret, flyt_error_t *err)
{
	static const char *const keys[] = { "id", "workload", "kind", "mode", "source", "shared_dir", NULL };
	static const char *const skeys[] = { "name", "url", NULL };
	if (flyt_json_check_keys(body, "incoming migration", keys, err) < 0)
		return -1;
	const char *id = NULL, *wname = NULL, *kind = NULL, *mode_s = NULL, *sname = NULL, *surl = NULL, *shared = NULL;
	json_t *source = NULL;
	if (flyt_json_get_string(body, "id", true, 32, &id, err) < 0 ||
	    flyt_json_get_string(body, "workload", true, 63, &wname, err) < 0 ||
	    flyt_json_get_string(body, "kind", true, 15, &kind, err) < 0 ||
	    flyt_json_get_string(body, "mode", true, 16, &mode_s, err) < 0 ||
	    flyt_json_get_object(body, "source", true, &source, err) < 0 ||
	    flyt_json_check_keys(source, "migration source", skeys, err) < 0 ||
	    flyt_json_get_string(source, "name", true, 63, &sname, err) < 0 ||
	    flyt_json_get_string(source, "url", true, 255, &surl, err) < 0 ||
	    flyt_json_get_string(body, "shared_dir", false, 500, &shared, err) < 0)
		return -1;
	if (!flyt_id_valid(id))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "migration id must be 32 lower-case hex digits");
	if (!flyt_name_valid(wname))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "bad workload name");
	const driver_t *drv = driver_find(a, kind);
	if (!drv || !drv->restore)
		return flyt_error_set(err, FLYT_E_UNSUPPORTED, 0, "%s cannot receive %s workloads", a->name, kind);
	json_t *caps = json_object();
	drv->probe(a, caps, NULL);
	bool avail = json_is_true(json_object_get(caps, "available"));
	char dreason[300];
	snprintf(dreason, sizeof(dreason), "%s", flyt_json_str(caps, "reason", ""));
	json_decref(caps);
	if (!avail)
		return flyt_error_set(err, FLYT_E_UNSUPPORTED, 0, "the %s driver is not available on %s: %s", kind,
				      a->name, dreason);
	migration_mode_t mode = migration_mode_from_name(mode_s);
	char reason[512];
	if (mode == MODE_INVALID || mode == MODE_AUTO)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "bad mode %s", mode_s);
	if (drv->receive ? mode != MODE_PRECOPY && mode != MODE_POSTCOPY
			 : strcmp(kind, "fake") != 0 && !facts_mode_available(a, mode, reason, sizeof(reason)))
		return flyt_error_set(err, FLYT_E_UNSUPPORTED, 0, "mode %s is not available on %s: %s", mode_s, a->name,
				      reason);
	if (!driver_mode_supported(a, drv, mode, reason, sizeof(reason)))
		return flyt_error_set(err, FLYT_E_UNSUPPORTED, 0, "%s", reason);
	if (mode == MODE_SHARED && (!shared || !agent_shared_dir_allowed(a, shared)))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "shared directory \"%.200s\" is not one %s declares",
				      shared ? shared : "", a->name);

	pthread_mutex_lock(&a->lock);
	int r = 0;
	if (migration_find(a, id))
		r = flyt_error_set(err, FLYT_E_CONFLICT, 0, "migration %s exists already", id);
	else if (workload_find(a, wname))
		r = flyt_error_set(err, FLYT_E_CONFLICT, 0, "%s already has a workload named %s", a->name, wname);
	if (r < 0) {
		pthread_mutex_unlock(&a->lock);
		return -1;
	}
	migration_t *m = migration_new(a, id, ROLE_TARGET);
	snprintf(m->workload, sizeof(m->workload), "%s", wname);
	snprintf(m->kind, sizeof(m->kind), "%s", kind);
	m->mode = mode;
	m->live = drv->receive != NULL;
	snprintf(m->peer_name, sizeof(m->peer_name), "%s", sname);
	snprintf(m->peer_url, sizeof(m->peer_url), "%s", surl);
	snprintf(m->images_dir, sizeof(m->images_dir), "%s/recv/images", m->dir);
	if (mode == MODE_SHARED) {
		snprintf(m->shared_dir, sizeof(m->shared_dir), "%s", shared);
		snprintf(m->images_dir, sizeof(m->images_dir), "%s/flyt-%s", shared, id);
	}
	if (flyt_random_hex(m->ticket, 32, err) < 0 || migration_save(m, err) < 0) {
		pthread_mutex_unlock(&a->lock);
		migration_free(m);
		return -1;
	}
	migration_t **nm = realloc(a->migrations, (a->nmigrations + 1) * sizeof(*nm));
	if (!nm)
		abort();
	a->migrations = nm;
	a->migrations[a->nmigrations++] = m;
	migration_changed(m);
	*ret = json_pack("{s:s, s:i}", "ticket", m->ticket, "data_port", (int)a->data_port);
	pthread_mutex_unlock(&a->lock);
	return 0;
}

static void set_phase(migration_t *m, migration_phase_t p)
{
	pthread_mutex_lock(&m->agent->lock);
	migration_set_phase(m, p);
	pthread_mutex_unlock(&m->agent->lock);
	fault_phase(m, p);
}

/* Ends the target side. On anything but commit, the arriving copy is discarded
 * and forgotten. */
static void target_finish(migration_t *m, migration_phase_t phase, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void target_finish(migration_t *m, migration_phase_t phase, const char *fmt, ...)
{
	agent_t *a = m->agent;
	workload_t *w = m->w;
	/* drivers' discard is safe to call when nothing was restored */
	if (phase != PHASE_COMMITTED && w) {
		flyt_error_t derr = FLYT_ERROR_INIT;
		if (DRIVER_CALL(w->driver, discard, &derr, m, &derr) < 0)
			log_warn("migration %s: discarding the restored copy: %s", m->id, derr.msg);
	}
	pthread_mutex_lock(&a->lock);
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(m->error, sizeof(m->error), fmt, ap);
		va_end(ap);
	}
	if (phase != PHASE_COMMITTED)
		migration_set_copy(m, strcmp(m->copy, "none") == 0 ? "none" : "discarded");
	if (w) {
		free(w->busy);
		w->busy = NULL;
		if (phase == PHASE_COMMITTED) {
			w->state = WL_RUNNING;
			workload_save(a, w, NULL);
		} else {
			flyt_rm_rf(w->dir, NULL);
			workload_remove(a, w);
			m->w = NULL;
		}
	}
	migration_set_phase(m, phase);
	pthread_mutex_unlock(&a->lock);
	_cleanup_free_ char *recv = flyt_asprintf("%s/recv", m->dir);
	flyt_rm_rf(recv, NULL);
	if (m->mode == MODE_SHARED && phase == PHASE_COMMITTED)
		flyt_rm_rf(m->images_dir, NULL);
	if (phase == PHASE_COMMITTED)
		agent_publish(a, "workload.state",
			      json_pack("{s:s, s:s}", "workload", m->workload, "state", "running"));
}

/* Ends the target side as failed, its copy kept as it stands (the only one
 * with the workload's newest state), and the reason on it. */
static void target_keep_failed(migration_t *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void target_keep_failed(migration_t *m, const char *fmt, ...)
{
	agent_t *a = m->agent;
	workload_t *w = m->w;
	pthread_mutex_lock(&a->lock);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m->error, sizeof(m->error), fmt, ap);
	va_end(ap);
	migration_set_copy(m, "kept");
	if (w) {
		free(w->busy);
		w->busy = NULL;
	}
	migration_fail_keeping(m, w);
	pthread_mutex_unlock(&a->lock);
}

/* Lazy mode: accept CRIU's lazy-pages daemon on the loopback port and relay it to
 * the source through the pages channel. */
static void *target_tunnel_thread(void *arg)
{
	migration_t *m = arg;
	agent_t *a = m->agent;
	int lfd = m->hook_listen_fd; /* the tunnel's listening socket, see start_tunnel */
	flyt_error_t err = FLYT_ERROR_INIT;
	int plain = -1;
	for (int i = 0; i < 600 && plain < 0; i++) {
		struct timeval tv = { .tv_sec = 1 };
		setsockopt(lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		plain = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		pthread_mutex_lock(&a->lock);
		bool over = migration_phase_terminal(m->phase);
		pthread_mutex_unlock(&a->lock);
		if (over)
			break;
	}
	close(lfd);
	m->hook_listen_fd = -1;
	if (plain < 0)
		return NULL;
	flyt_tcp_tune(plain, (unsigned)a->io_timeout_ms);
	/* the pages channel may arrive after the daemon connected */
	pthread_mutex_lock(&a->lock);
	uint64_t deadline = flyt_now_ms() + 60000;
	while (m->pages_fd < 0 && !migration_phase_terminal(m->phase) && flyt_now_ms() < deadline) {
		pthread_mutex_unlock(&a->lock);
		flyt_sleep_ms(5);
		pthread_mutex_lock(&a->lock);
	}
	int pfd = m->pages_fd;
	pthread_mutex_unlock(&a->lock);
	if (pfd >= 0) {
		flyt_stream_t s;
		flyt_stream_init(&s, pfd);
		s.tls = m->pages_tls;
		uint64_t carried = 0;
		if (tunnel_relay(plain, &s, NULL, &carried, &err) < 0)
			log_warn("migration %s: page tunnel: %s", m->id, err.msg);
		pthread_mutex_lock(&a->lock);
		m->bytes += carried;
		pthread_mutex_unlock(&a->lock);
	}
	close(plain);
	return NULL;
}

static int start_tunnel(migration_t *m, flyt_error_t *err)
{
	uint16_t port = 0;
	int fd = flyt_tcp_listen("127.0.0.1", 0, 1, &port, err);
	if (fd < 0)
		return flyt_error_prefix(err, "page tunnel");
	m->tunnel_port = port;
	m->hook_listen_fd = fd; /* not a hook on this side: the tunnel's listener */
	if (pthread_create(&m->tunnel_thread, NULL, target_tunnel_thread, m) != 0) {
		close(fd);
		m->hook_listen_fd = -1;
		return flyt_error_set(err, FLYT_E_INTERNAL, errno, "page tunnel thread");
	}
	m->tunnel_started = true;
	return 0;
}

static int send_ctrl(flyt_stream_t *s, json_t *msg, flyt_error_t *err)
{
	int r = flyt_stream_send_json(s, FLYT_FRAME_CTRL, msg, err);
	json_decref(msg);
	return r;
}

/* begin: check what arrives against what was prepared, record the incoming workload. */
static int target_begin(migration_t *m, flyt_stream_t *s, flyt_error_t *err)
{
	agent_t *a = m->agent;
	_cleanup_json_ json_t *msg = NULL;
	if (flyt_stream_recv_json(s, FLYT_FRAME_CTRL, &msg, err) < 0)
		return -1;
	if (strcmp(flyt_json_str(msg, "type", ""), "begin") != 0)
		return flyt_error_set(err, FLYT_E_CORRUPT, 0, "expected \"begin\"");
	json_t *wl = json_object_get(msg, "workload");
	const char *name = flyt_json_str(wl, "name", ""), *kind = flyt_json_str(wl, "kind", ""),
		   *wid = flyt_json_str(wl, "id", "");
	json_t *spec = json_object_get(wl, "spec");
	if (strcmp(name, m->workload) != 0 || strcmp(kind, m->kind) != 0 ||
	    strcmp(flyt_json_str(msg, "mode", ""), migration_mode_name(m->mode)) != 0)
		return flyt_error_set(err, FLYT_E_INVALID, 0,
				      "the source sent another workload, kind or mode than prepared");
	if (!flyt_id_valid(wid) || !json_is_object(spec))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "bad workload record from the source");
	const char *their = flyt_json_str(msg, "criu_version", "");
	if (!m->live && strcmp(kind, "fake") != 0 && their[0] && flyt_version_cmp(their, a->criu_version) > 0)
		return flyt_error_set(
		    err, FLYT_E_UNSUPPORTED, 0,
		    "the source's CRIU %s is newer than this host's %s: its images may not restore here", their,
		    a->criu_version);
	const driver_t *drv = driver_find(a, kind);
	if (!drv)
		return flyt_error_set(err, FLYT_E_UNSUPPORTED, 0, "no %s driver here", kind);
	if (drv->validate(a, spec, err) < 0)
		return -1;
	workload_t *w = workload_new(a, wid, name, drv, spec);
	w->state = WL_INCOMING;
	w->busy = flyt_strdup(m->id);
	pthread_mutex_lock(&a->lock);
	if (workload_add(a, w, err) < 0) {
		pthread_mutex_unlock(&a->lock);
		workload_free(w);
		return -1;
	}
	m->w = w;
	pthread_mutex_unlock(&a->lock);
	struct stat st;
	if (lstat(w->dir, &st) == 0)
		flyt_rm_rf(w->dir, NULL);
	if (flyt_mkdir_p(w->dir, 0700, err) < 0 || workload_save(a, w, err) < 0)
		return -1;
	json_t *offer = json_object_get(msg, "driver");
	if (json_is_object(offer)) {
		json_decref(m->peer_info);
		m->peer_info = json_incref(offer);
	}
	_cleanup_json_ json_t *info = json_object();
	if (drv->incoming && drv->incoming(m, info, err) < 0)
		return -1;
	json_t *ready = json_pack("{s:s, s:O}", "type", "ready", "driver", info);
	if (drv->receive) {
		/* a live driver's receiver must run before the source starts sending */
		int64_t multifd = flyt_json_int(msg, "multifd", 0);
		m->multifd = multifd > 0 && multifd <= 64 ? (unsigned)multifd : 0;
		if (drv->receive(m, ready, err) < 0) {
			json_decref(ready);
			return flyt_error_prefix(err, "starting the receiver");
		}
	}
	return send_ctrl(s, ready, err);
}

/* Receives trees until "restore". Returns 1 on restore, 0 on abort (reason in err). */
static int target_receive(migration_t *m, flyt_stream_t *s, flyt_error_t *err)
{
	_cleanup_free_ char *recv = flyt_asprintf("%s/recv", m->dir);
	flyt_rm_rf(recv, NULL);
	if (flyt_mkdir_p(recv, 0700, err) < 0)
		return -1;
	int root = open(recv, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return flyt_error_set(err, FLYT_E_IO, errno, "open %s", recv);
	flyt_tree_sink_t sink;
	flyt_tree_sink_init(&sink, root);
	/* the source sends nothing while it dumps (minutes for a large workload); a
	 * dead or cut-off peer still shows through keepalive within seconds */
	flyt_socket_timeouts(s->fd, RECEIVE_TIMEOUT_MS);
	_cleanup_free_ char *buf = malloc(FLYT_FRAME_MAX);
	int r = -1;
	uint64_t last_report = 0;
	for (;;) {
		flyt_frame_type_t type;
		uint32_t len;
		if (flyt_stream_recv(s, &type, buf, FLYT_FRAME_MAX, &len, err) < 0)
			break;
		int h = flyt_tree_sink_frame(&sink, type, buf, len, err);
		if (h < 0)
			break;
		if (h == 1) {
			uint64_t now = flyt_now_ms();
			if (now - last_report > 200) {
				last_report = now;
				pthread_mutex_lock(&m->agent->lock);
				m->bytes = s->bytes_received;
				migration_changed(m);
				pthread_mutex_unlock(&m->agent->lock);
			}
			continue;
		}
		if (type != FLYT_FRAME_CTRL) {
			flyt_error_set(err, FLYT_E_CORRUPT, 0, "unexpected frame type %d while receiving", type);
			break;
		}
		_cleanup_json_ json_t *msg = NULL;
		if (flyt_json_parse_object(buf, len, FLYT_FRAME_JSON_MAX, &msg, err) < 0)
			break;
		const char *t = flyt_json_str(msg, "type", "");
		if (strcmp(t, "restore") == 0) {
			r = 1;
			break;
		}
		if (strcmp(t, "abort") == 0) {
			flyt_error_set(err, FLYT_E_CANCELLED, 0, "the source aborted: %s",
				       flyt_json_str(msg, "reason", "no reason given"));
			r = 0;
			break;
		}
		flyt_error_set(err, FLYT_E_CORRUPT, 0, "unexpected message \"%.32s\" while receiving", t);
		break;
	}
	flyt_tree_sink_close(&sink);
	close(root);
	pthread_mutex_lock(&m->agent->lock);
	m->bytes = s->bytes_received;
	m->images_bytes = sink.bytes;
	migration_changed(m);
	pthread_mutex_unlock(&m->agent->lock);
	return r;
}

/* The driver's restore (live drivers: waits for the engine's migration to end). */
static int target_restore_engine(migration_t *m, flyt_error_t *err)
{
	if (DRIVER_CALL(m->w->driver, restore, err, m, err) < 0)
		return -1;
	pthread_mutex_lock(&m->agent->lock);
	m->restored_ticks = m->restored_pid > 0 ? proc_start_ticks(m->restored_pid) : 0;
	migration_set_copy(m, "restored");
	pthread_mutex_unlock(&m->agent->lock);
	return 0;
}

static int target_restore(migration_t *m, flyt_error_t *err)
{
	workload_t *w = m->w;
	_cleanup_free_ char *files = flyt_asprintf("%s/recv/files", m->dir);
	struct stat st;
	if (lstat(files, &st) < 0 || !S_ISDIR(st.st_mode))
		return flyt_error_set(err, FLYT_E_CORRUPT, 0, "the workload's files did not arrive");
	flyt_rm_rf(w->files_dir, NULL);
	if (rename(files, w->files_dir) < 0)
		return flyt_error_set(err, FLYT_E_IO, errno, "move the workload's files into %s", w->files_dir);
	if (m->mode == MODE_LAZY && start_tunnel(m, err) < 0)
		return -1;
	return target_restore_engine(m, err);
}

/* Runs the restored copy; fills the timing the source needs for the downtime. */
static int target_resume(migration_t *m, uint64_t t_go_us, int64_t *ret_resume_delay_us, flyt_error_t *err)
{
	workload_t *w = m->w;
	/* recorded before the copy runs: a restarted flytd must know it was let run */
	pthread_mutex_lock(&m->agent->lock);
	flyt_error_t derr = FLYT_ERROR_INIT;
	if (migration_decide(m, DECISION_COMMIT, &derr) < 0)
		log_warn("migration %s: %s", m->id, derr.msg);
	pthread_mutex_unlock(&m->agent->lock);
	if (DRIVER_CALL(w->driver, resume, err, m, err) < 0)
		return -1;
	*ret_resume_delay_us = (int64_t)(flyt_now_us() - t_go_us);
	/* a workload that cannot run here (missing CPU feature, file) dies at once */
	uint64_t until = flyt_now_ms() + VERIFY_WINDOW_MS;
	while (flyt_now_ms() < until) {
		if (w->pid > 0 && !proc_alive(w->pid, w->start_ticks))
			return flyt_error_set(err, FLYT_E_INTERNAL, 0, "the workload exited right after resuming here");
		flyt_sleep_ms(10);
	}
	pthread_mutex_lock(&m->agent->lock);
	w->state = WL_RUNNING;
	workload_save(m->agent, w, NULL);
	migration_set_copy(m, "running");
	pthread_mutex_unlock(&m->agent->lock);
	return 0;
}

/* Lazy mode: the lazy-pages daemon exits once every page has arrived. */
static int target_wait_pages(migration_t *m, flyt_error_t *err)
{
	if (m->lazy_child.pid <= 0)
		return 0;
	uint64_t t0 = flyt_now_ms();
	flyt_spawn_result_t res;
	int r = flyt_child_wait(&m->lazy_child, PAGES_WAIT_MS, &res, err);
	m->pages_ms = (int64_t)(flyt_now_ms() - t0);
	if (r == 0)
		flyt_child_reap(&m->lazy_child); /* the tunnel ends with it */
	if (m->tunnel_started) {
		pthread_join(m->tunnel_thread, NULL);
		m->tunnel_started = false;
	}
	if (r <= 0)
		return flyt_error_set(err, FLYT_E_TIMEOUT, 0, "memory pages still missing after %d minutes",
				      PAGES_WAIT_MS / 60000);
	if (res.exit_code != 0) {
		_cleanup_free_ char *log = flyt_asprintf("%s/lazy-pages.log", m->dir);
		return criu_failed("lazy-pages", &res, log, err);
	}
	return 0;
}

static void target_run(migration_t *m, flyt_stream_t *s)
{
	flyt_error_t err = FLYT_ERROR_INIT;
	if (target_begin(m, s, &err) < 0) {
		flyt_stream_send_error(s, &err);
		target_finish(m, PHASE_ROLLED_BACK, "refused: %s", err.msg);
		return;
	}
	set_phase(m, PHASE_TRANSFERRING);
	int r = target_receive(m, s, &err);
	/* postcopy: the engines migrate without flyt's connection, and the guest
	 * may run here already: its end, and the source's decision, tell */
	bool lost = r < 0 && m->mode == MODE_POSTCOPY;
	if (r <= 0 && !lost) {
		if (r < 0)
			flyt_stream_send_error(s, &err);
		target_finish(m, PHASE_ROLLED_BACK, "transfer: %s", err.msg);
		return;
	}
	if (lost)
		log_warn("migration %s: lost the source in postcopy (%s): waiting for the engine", m->id, err.msg);
	set_phase(m, PHASE_RESTORING);
	flyt_error_t rerr = FLYT_ERROR_INIT;
	if ((lost ? target_restore_engine(m, &rerr) : target_restore(m, &rerr)) < 0) {
		if (lost && m->postcopy_started) {
			target_keep_failed(m,
					   "lost the source in postcopy (%s) and %s; the guest's newest state is "
					   "here: its copy is kept, stopped where it stands",
					   err.msg, rerr.msg);
			return;
		}
		if (lost) {
			target_finish(m, PHASE_ROLLED_BACK, "transfer: %s; then the engine's migration failed: %s",
				      err.msg, rerr.msg);
			return;
		}
		flyt_stream_send_error(s, &rerr);
		target_finish(m, PHASE_ROLLED_BACK, "restore failed here: %s", rerr.msg);
		return;
	}
	_cleanup_json_ json_t *msg = NULL;
	bool go = false;
	if (!lost) {
		json_t *restored = json_pack("{s:s, s:I}", "type", "restored", "restore_ms", (json_int_t)m->restore_ms);
		if (m->downtime_final)
			json_object_set_new(restored, "downtime_ms", json_integer(m->downtime_ms));
		if (send_ctrl(s, restored, &err) < 0)
			log_warn("migration %s: cannot report the restore: %s", m->id, err.msg);
	}
	set_phase(m, PHASE_SWITCHING);
	flyt_socket_timeouts(s->fd, GO_WAIT_MS);
	if (!lost && flyt_stream_recv_json(s, FLYT_FRAME_CTRL, &msg, &err) == 0) {
		const char *t = flyt_json_str(msg, "type", "");
		if (strcmp(t, "go") == 0) {
			go = true;
		} else {
			target_finish(m, PHASE_ROLLED_BACK, "the source aborted: %s", flyt_json_str(msg, "reason", t));
			return;
		}
	}
	uint64_t t_go = flyt_now_us();
	bool in_doubt = !go;
	if (in_doubt) {
		/* the connection broke between restore and go: only the source knows */
		log_warn("migration %s: lost the source (%s); asking %s for its decision", m->id, err.msg,
			 m->peer_name);
		pthread_mutex_lock(&m->agent->lock);
		snprintf(m->note, sizeof(m->note), "connection lost before the switch-over; waiting for %s's decision",
			 m->peer_name);
		migration_changed(m);
		pthread_mutex_unlock(&m->agent->lock);
		int d;
		while ((d = source_decision(m)) < 0 && !atomic_load(&m->agent->stopping))
			flyt_sleep_ms(1000);
		if (d != 1 && m->postcopy_started) {
			/* never discard the copy that ran: the source's is older */
			target_keep_failed(m,
					   "the guest ran here in postcopy, but %s says it did not commit (%s): "
					   "its copy here is kept",
					   m->peer_name, err.msg);
			return;
		}
		if (d != 1) {
			target_finish(m, PHASE_ROLLED_BACK, "the source kept the workload (%s)", err.msg);
			return;
		}
		t_go = flyt_now_us();
	}
	set_phase(m, PHASE_VERIFYING);
	int64_t resume_delay = 0;
	if (target_resume(m, t_go, &resume_delay, &err) < 0) {
		/* settled before the source hears of it: a source that asks our API
		 * then must not find us still "verifying" */
		target_finish(m, PHASE_FAILED, "resume failed here: %s", err.msg);
		if (!in_doubt)
			flyt_stream_send_error(s, &err);
		return;
	}
	if (!in_doubt) {
		int64_t processing = (int64_t)(flyt_now_us() - t_go);
		flyt_error_t serr = FLYT_ERROR_INIT;
		/* restore_ms again: drivers that restore as they resume (containers)
		 * know it only now */
		send_ctrl(s,
			  json_pack("{s:s, s:I, s:I, s:I}", "type", "running", "resume_delay_us",
				    (json_int_t)resume_delay, "processing_us", (json_int_t)processing, "restore_ms",
				    (json_int_t)m->restore_ms),
			  &serr);
	}
	if (m->mode == MODE_LAZY) {
		if (target_wait_pages(m, &err) < 0) {
			if (!in_doubt)
				flyt_stream_send_error(s, &err);
			target_finish(m, PHASE_ROLLED_BACK, "memory pages did not all arrive, copy discarded: %s",
				      err.msg);
			return;
		}
		flyt_error_t serr = FLYT_ERROR_INIT;
		if (!in_doubt)
			send_ctrl(s, json_pack("{s:s}", "type", "pages_done"), &serr);
	}
	if (!in_doubt) {
		/* "done" closes the conversation; a lost connection now changes nothing */
		_cleanup_json_ json_t *done = NULL;
		flyt_error_t derr = FLYT_ERROR_INIT;
		flyt_socket_timeouts(s->fd, 30000);
		flyt_stream_recv_json(s, FLYT_FRAME_CTRL, &done, &derr);
	}
	target_finish(m, PHASE_COMMITTED, NULL);
}

typedef struct {
	agent_t *a;
	int fd;
} conn_t;

static void conn_run(agent_t *a, int fd);

static void *conn_thread(void *arg)
{
	conn_t *c = arg;
	agent_t *a = c->a;
	int fd = c->fd;
	free(c);
	conn_run(a, fd);
	atomic_fetch_sub(&a->busy_threads, 1);
	return NULL;
}

/* Reads the HELLO of a new connection: small, and within HELLO_TIMEOUT_MS however
 * slowly the peer sends it. */
static int read_hello(flyt_stream_t *s, json_t **ret, flyt_error_t *err)
{
	char buf[HELLO_MAX];
	flyt_frame_type_t type;
	uint32_t len;
	s->deadline_ms = flyt_now_ms() + HELLO_TIMEOUT_MS;
	int r = flyt_stream_recv(s, &type, buf, sizeof(buf), &len, err);
	s->deadline_ms = 0;
	if (r < 0)
		return -1;
	if (type != FLYT_FRAME_HELLO)
		return flyt_error_set(err, FLYT_E_CORRUPT, 0, "expected HELLO");
	return flyt_json_parse_object(buf, len, HELLO_MAX, ret, err);
}

static void conn_run(agent_t *a, int fd)
{
	flyt_stream_t s;
	flyt_stream_init(&s, fd);
	flyt_tcp_tune(fd, HELLO_TIMEOUT_MS);
	flyt_error_t err = FLYT_ERROR_INIT;
	_cleanup_json_ json_t *hello = NULL;
	flyt_cert_info_t peer = { 0 };
	int hr = 0;
	if (a->tls && flyt_tls_conn_start(a->tls, fd, true, HELLO_TIMEOUT_MS, &s.tls, &peer, &err) < 0)
		hr = -1;
	else if (a->tls && strcmp(peer.role, "agent") != 0)
		hr = flyt_error_set(&err, FLYT_E_UNAUTHORIZED, 0, "the certificate of %s \"%s\" is not an agent's",
				    peer.role, peer.cn);
	if (hr == 0)
		hr = read_hello(&s, &hello, &err);
	atomic_fetch_sub(&a->unauthenticated, 1);
	if (hr < 0) {
		log_warn("data connection: %s", err.msg);
		flyt_stream_close(&s);
		return;
	}
	const char *id = flyt_json_str(hello, "migration", ""), *ticket = flyt_json_str(hello, "ticket", ""),
		   *channel = flyt_json_str(hello, "channel", "");
	pthread_mutex_lock(&a->lock);
	migration_t *m = flyt_id_valid(id) ? migration_find(a, id) : NULL;
	bool ok = m && m->role == ROLE_TARGET && !migration_phase_terminal(m->phase) && !m->aborting && m->ticket[0] &&
		  flyt_token_equal(ticket, m->ticket);
	bool main_ch = strcmp(channel, "main") == 0, pages_ch = strcmp(channel, "pages") == 0;
	/* over TLS the connection must come from the source's own agent */
	if (ok && a->tls && strcmp(peer.cn, m->peer_name) != 0)
		ok = false;
	if (ok && main_ch && m->data_fd >= 0)
		ok = false; /* one main connection per migration */
	if (ok && main_ch)
		m->data_fd = fd;
	if (ok && pages_ch && m->pages_fd < 0) {
		m->pages_fd = fd;
		m->pages_tls = s.tls;
	} else if (ok && pages_ch)
		ok = false;
	if (ok && !main_ch && !pages_ch)
		ok = false;
	pthread_mutex_unlock(&a->lock);
	if (!ok) {
		flyt_error_set(&err, FLYT_E_UNAUTHORIZED, 0, "unknown migration or bad ticket");
		flyt_stream_send_error(&s, &err);
		log_warn("data connection refused: %s", err.msg);
		flyt_stream_close(&s);
		return;
	}
	_cleanup_json_ json_t *answer = json_pack("{s:b}", "ok", 1);
	flyt_tcp_tune(fd, (unsigned)a->io_timeout_ms);
	if (flyt_stream_send_json(&s, FLYT_FRAME_HELLO, answer, &err) < 0) {
		log_warn("data connection: %s", err.msg);
		if (main_ch) {
			target_finish(m, PHASE_ROLLED_BACK, "data connection failed: %s", err.msg);
			pthread_mutex_lock(&a->lock);
			m->data_fd = -1;
			atomic_store(&m->done, true);
			pthread_mutex_unlock(&a->lock);
		} else {
			pthread_mutex_lock(&a->lock);
			m->pages_fd = -1;
			m->pages_tls = NULL; /* freed with s */
			pthread_mutex_unlock(&a->lock);
		}
		flyt_stream_close(&s);
		return;
	}
	if (pages_ch)
		return; /* the tunnel thread owns it now */
	target_run(m, &s);
	if (m->tunnel_started) {
		pthread_join(m->tunnel_thread, NULL);
		m->tunnel_started = false;
	}
	pthread_mutex_lock(&a->lock);
	migration_close_pages(m);
	m->data_fd = -1;
	atomic_store(&m->done, true);
	pthread_mutex_unlock(&a->lock);
	flyt_stream_close(&s);
}

void migrate_target_accept(agent_t *a, int fd)
{
	/* more connections than any real set of migrations needs, or than peers that
	 * have not said who they are may hold: refuse */
	if (atomic_load(&a->busy_threads) >= MAX_DATA_THREADS ||
	    atomic_load(&a->unauthenticated) >= MAX_UNAUTHENTICATED) {
		log_warn("data connection refused: too many open");
		close(fd);
		return;
	}
	atomic_fetch_add(&a->unauthenticated, 1);
	conn_t *c = flyt_malloc0(sizeof(*c));
	c->a = a;
	c->fd = fd;
	pthread_t t;
	atomic_fetch_add(&a->busy_threads, 1);
	if (pthread_create(&t, NULL, conn_thread, c) != 0) {
		atomic_fetch_sub(&a->busy_threads, 1);
		atomic_fetch_sub(&a->unauthenticated, 1);
		close(fd);
		free(c);
		return;
	}
	pthread_detach(t);
}

int migrate_target_abort(agent_t *a, const char *id, flyt_error_t *err)
{
	pthread_mutex_lock(&a->lock);
	migration_t *m = migration_find(a, id);
	if (!m || m->role != ROLE_TARGET) {
		pthread_mutex_unlock(&a->lock);
		return flyt_error_set(err, FLYT_E_NOT_FOUND, 0, "no incoming migration %s", id);
	}
	bool idle = m->phase == PHASE_PREPARING && m->data_fd < 0 && !m->aborting;
	if (idle)
		m->aborting = true; /* from here no data connection is accepted for it */
	pthread_mutex_unlock(&a->lock);
	if (!idle)
		return flyt_error_set(err, FLYT_E_CONFLICT, 0, "migration %s is in progress; cancel it on its source",
				      id);
	target_finish(m, PHASE_ROLLED_BACK, "aborted before the source connected");
	atomic_store(&m->done, true);
	return 0;
}
