/* The source side of a migration: connect to the target agent, freeze and dump
 * the workload, send its images and files, wait for the target to restore it,
 * decide, and either let the target run it or resume it here. Protocol: migrate.c. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/proctree.h"
#include "agent/tunnel.h"
#include "flyt-config.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/net.h"
#include "lib/stream.h"
#include "lib/util.h"

#define CONNECT_TIMEOUT_MS 10000
#define RESTORE_WAIT_MS (15 * 60 * 1000)
#define RUNNING_WAIT_MS 60000
#define PAGES_WAIT_MS (60 * 60 * 1000)
#define FRAME_REST_TIMEOUT_MS 30000 /* the rest of a frame once its first byte arrived */

static void progress_cb(void *ctx, uint64_t bytes)
{
	migration_t *m = ctx;
	static __thread uint64_t last_ms;
	uint64_t now = flyt_now_ms();
	pthread_mutex_lock(&m->agent->lock);
	m->bytes = bytes;
	if (now - last_ms >= 200) {
		last_ms = now;
		migration_changed(m);
	}
	pthread_mutex_unlock(&m->agent->lock);
}

static void set_phase(migration_t *m, migration_phase_t p)
{
	pthread_mutex_lock(&m->agent->lock);
	migration_set_phase(m, p);
	pthread_mutex_unlock(&m->agent->lock);
	fault_phase(m, p);
}

/* A send failed: the target may have said why before it closed the connection
 * (an ERROR frame: no space left, a damaged frame), which says more than "reset
 * by peer". Puts its reason into err when there is one; returns err. */
static flyt_error_t *peer_reason(flyt_stream_t *s, flyt_error_t *err)
{
	if (s->fd < 0)
		return err;
	uint64_t saved = s->deadline_ms;
	s->deadline_ms = flyt_now_ms() + 1000;
	flyt_error_t perr = FLYT_ERROR_INIT;
	_cleanup_json_ json_t *j = NULL;
	if (flyt_stream_recv_json(s, FLYT_FRAME_CTRL, &j, &perr) < 0 && flyt_startswith(perr.msg, "peer: "))
		*err = perr;
	s->deadline_ms = saved;
	return err;
}

/* TLS on a data channel: the target must present the certificate of the agent
 * the controller named. Closes the stream on failure. */
static int start_tls(migration_t *m, flyt_stream_t *s, flyt_error_t *err)
{
	flyt_cert_info_t peer;
	if (flyt_tls_conn_start(m->agent->tls, s->fd, false, CONNECT_TIMEOUT_MS, &s->tls, &peer, err) < 0) {
		flyt_stream_close(s);
		return flyt_error_prefix(err, "target %s data channel", m->peer_name);
	}
	if (strcmp(peer.role, "agent") != 0 || strcmp(peer.cn, m->peer_name) != 0) {
		flyt_stream_close(s);
		return flyt_error_set(err, FLYT_E_UNAUTHORIZED, 0,
				      "the data channel of target %s presents the certificate of %s \"%s\"",
				      m->peer_name, peer.role, peer.cn);
	}
	return 0;
}

/* Connects a data channel to the target and authenticates it with the ticket. */
static int open_channel(migration_t *m, const char *channel, flyt_stream_t *s, flyt_error_t *err)
{
	char host[128];
	uint16_t port;
	if (flyt_parse_hostport(m->peer_data, host, sizeof(host), &port, err) < 0)
		return -1;
	int fd = flyt_tcp_connect(host, port, CONNECT_TIMEOUT_MS, err);
	if (fd < 0)
		return flyt_error_prefix(err, "target %s data channel", m->peer_name);
	flyt_tcp_tune(fd, (unsigned)m->agent->io_timeout_ms);
	flyt_stream_init(s, fd);
	if (m->agent->tls && start_tls(m, s, err) < 0)
		return -1;
	s->cancel = (const volatile bool *)&m->cancel;
	if (strcmp(channel, "main") == 0)
		s->corrupt_frame = m->agent->fault_corrupt_frame;
	_cleanup_json_ json_t *hello = json_pack("{s:s, s:s, s:s, s:s}", "migration", m->id, "ticket", m->ticket,
						 "channel", channel, "version", FLYT_VERSION);
	_cleanup_json_ json_t *answer = NULL;
	if (flyt_stream_send_json(s, FLYT_FRAME_HELLO, hello, err) < 0 ||
	    flyt_stream_recv_json(s, FLYT_FRAME_HELLO, &answer, err) < 0) {
		flyt_stream_close(s);
		return flyt_error_prefix(err, "target %s", m->peer_name);
	}
	return 0;
}

static int send_ctrl(flyt_stream_t *s, json_t *msg, flyt_error_t *err)
{
	int r = flyt_stream_send_json(s, FLYT_FRAME_CTRL, msg, err);
	json_decref(msg);
	return r;
}

/* Receives a control message that must be of type `want` within timeout_ms. */
static int expect_ctrl(flyt_stream_t *s, const char *want, unsigned timeout_ms, json_t **ret, flyt_error_t *err)
{
	/* wait for the first byte watching for a cancel; a dead peer shows through
	 * keepalive well before the timeout */
	uint64_t deadline = flyt_now_ms() + timeout_ms;
	for (;;) {
		if (s->cancel && *s->cancel)
			return flyt_error_set(err, FLYT_E_CANCELLED, 0, "cancelled");
		uint64_t now = flyt_now_ms();
		if (now >= deadline)
			return flyt_error_set(err, FLYT_E_TIMEOUT, 0, "no \"%s\" from the target within %u s", want,
					      timeout_ms / 1000);
		struct pollfd p = { .fd = s->fd, .events = POLLIN };
		int r = poll(&p, 1, (int)(deadline - now < 500 ? deadline - now : 500));
		if (r > 0)
			break;
		if (r < 0 && errno != EINTR)
			return flyt_error_set(err, FLYT_E_INTERNAL, errno, "poll");
	}
	flyt_socket_timeouts(s->fd, FRAME_REST_TIMEOUT_MS);
	_cleanup_json_ json_t *msg = NULL;
	int r = flyt_stream_recv_json(s, FLYT_FRAME_CTRL, &msg, err);
	if (r < 0)
		return -1;
	const char *type = flyt_json_str(msg, "type", "");
	if (strcmp(type, want) != 0)
		return flyt_error_set(err, FLYT_E_CORRUPT, 0, "expected \"%s\" from the target, got \"%.32s\"", want,
				      type);
	if (ret)
		*ret = TAKE_PTR(msg);
	return 0;
}

static uint16_t free_local_port(void)
{
	flyt_error_t err = FLYT_ERROR_INIT;
	uint16_t port = 0;
	int fd = flyt_tcp_listen("127.0.0.1", 0, 1, &port, &err);
	if (fd >= 0)
		close(fd);
	return port;
}

/* The page tunnel sent more of the page server's answers: fault injection may
 * stop it once the first MiB went (the target then runs its copy, most of whose
 * memory has not come yet; CRIU's first exchanges must pass for it to run). */
static void tunnel_progress(void *ctx, uint64_t bytes)
{
	static __thread bool paused;
	if (!paused && bytes >= 1024 * 1024) {
		paused = true;
		fault_point(ctx, "pages");
	}
}

/* Lazy mode, source side of the page tunnel: once CRIU's page server listens
 * (after the commit), connect to it and relay. */
static void *source_tunnel_thread(void *arg)
{
	migration_t *m = arg;
	flyt_stream_t s;
	flyt_stream_init(&s, m->pages_fd);
	s.tls = m->pages_tls;
	int plain = -1;
	flyt_error_t err = FLYT_ERROR_INIT;
	uint64_t deadline = flyt_now_ms() + RESTORE_WAIT_MS;
	while (plain < 0) {
		pthread_mutex_lock(&m->agent->lock);
		bool give_up = migration_phase_terminal(m->phase) || m->decision == DECISION_ROLLBACK;
		bool released = m->pages_released;
		pthread_mutex_unlock(&m->agent->lock);
		if (give_up || flyt_now_ms() > deadline)
			goto out;
		if (released)
			plain = flyt_tcp_connect("127.0.0.1", m->page_server_port, 1000, &err);
		if (plain < 0)
			flyt_sleep_ms(released ? 2 : 20);
	}
	flyt_tcp_tune(plain, (unsigned)m->agent->io_timeout_ms);
	s.progress = tunnel_progress;
	s.progress_ctx = m;
	uint64_t carried = 0;
	if (tunnel_relay(plain, &s, NULL, &carried, &err) < 0)
		log_warn("migration %s: page tunnel: %s", m->id, err.msg);
	pthread_mutex_lock(&m->agent->lock);
	m->bytes += carried;
	pthread_mutex_unlock(&m->agent->lock);
out:
	if (plain >= 0)
		close(plain);
	return NULL;
}

/* Everything up to the target's "restored". *dumped tells whether the workload
 * got frozen (and so needs resuming on failure). */
static int source_until_restored(migration_t *m, flyt_stream_t *s, bool *dumped, flyt_error_t *err)
{
	agent_t *a = m->agent;
	workload_t *w = m->w;
	if (open_channel(m, "main", s, err) < 0)
		return -1;
	_cleanup_json_ json_t *wl =
	    json_pack("{s:s, s:s, s:s, s:O}", "id", w->id, "name", w->name, "kind", w->driver->kind, "spec", w->spec);
	_cleanup_json_ json_t *ready = NULL;
	_cleanup_json_ json_t *offer = json_object();
	if (w->driver->offer && w->driver->offer(m, offer, err) < 0)
		return flyt_error_prefix(err, "preparing the workload");
	if (send_ctrl(s,
		      json_pack("{s:s, s:O, s:s, s:s, s:s, s:i, s:O}", "type", "begin", "workload", wl, "mode",
				migration_mode_name(m->mode), "criu_version", a->criu_version, "source", a->name,
				"multifd", (int)m->multifd, "driver", offer),
		      err) < 0 ||
	    expect_ctrl(s, "ready", 60000, &ready, err) < 0)
		return flyt_error_prefix(err, "preparing the target");
	json_t *info = json_object_get(ready, "driver");
	if (json_is_object(info))
		m->peer_info = json_incref(info);
	if (m->live) {
		/* the target's engine listens on its data address, port of its choosing */
		char host[128];
		uint16_t dport;
		int64_t port = flyt_json_int(ready, "port", 0);
		const char *uri = flyt_json_str(ready, "uri", NULL); /* or a URI of its engine's own */
		if (flyt_parse_hostport(m->peer_data, host, sizeof(host), &dport, err) < 0)
			return -1;
		if (uri && strlen(uri) < sizeof(m->live_uri))
			snprintf(m->live_uri, sizeof(m->live_uri), "%s", uri);
		else if (port <= 0 || port > 65535)
			return flyt_error_set(err, FLYT_E_CORRUPT, 0, "the target gave no migration port");
		else
			snprintf(m->live_uri, sizeof(m->live_uri), strchr(host, ':') ? "tcp:[%s]:%d" : "tcp:%s:%d",
				 host, (int)port);
		snprintf(m->live_host, sizeof(m->live_host), "%s", host);
		int64_t nbd = flyt_json_int(ready, "nbd_port", 0);
		m->live_nbd_port = nbd > 0 && nbd <= 65535 ? (uint16_t)nbd : 0;
	}

	if (m->mode == MODE_LAZY) {
		flyt_stream_t ps;
		m->page_server_port = free_local_port();
		if (!m->page_server_port)
			return flyt_error_set(err, FLYT_E_INTERNAL, 0, "no free local port for CRIU's page server");
		if (open_channel(m, "pages", &ps, err) < 0)
			return -1;
		m->pages_fd = ps.fd;
		m->pages_tls = ps.tls;
		if (pthread_create(&m->tunnel_thread, NULL, source_tunnel_thread, m) != 0)
			return flyt_error_set(err, FLYT_E_INTERNAL, errno, "page tunnel thread");
		m->tunnel_started = true;
	}

	set_phase(m, PHASE_TRANSFERRING);
	s->progress = progress_cb;
	s->progress_ctx = m;
	s->rate_bps = m->bandwidth;
	for (unsigned round = 1; !m->live && m->mode == MODE_PRECOPY && round <= m->precopy_rounds; round++) {
		if (DRIVER_CALL(w->driver, predump, err, m, round, err) < 0)
			return flyt_error_prefix(err, "pre-dump round %u", round);
		_cleanup_free_ char *dir = flyt_asprintf("%s/pre-%u", m->images_dir, round);
		_cleanup_free_ char *prefix = flyt_asprintf("images/pre-%u", round);
		if (flyt_stream_send_tree(s, dir, prefix, err) < 0)
			return flyt_error_prefix(err, "sending pre-dump %u", round);
	}

	if (m->live) {
		/* the engine moves the memory itself; the source is paused once it returns */
		if (w->driver->send(m, err) < 0)
			return flyt_error_prefix(err, "live migration");
	} else if (DRIVER_CALL(w->driver, dump, err, m, err) < 0)
		return flyt_error_prefix(err, "checkpoint on the source");
	*dumped = true;
	_cleanup_free_ char *final_dir = flyt_asprintf("%s/final", m->images_dir);
	uint64_t isize = 0, fsize = 0;
	flyt_tree_size(final_dir, &isize, NULL);
	flyt_tree_size(w->files_dir, &fsize, NULL);
	pthread_mutex_lock(&a->lock);
	m->images_bytes = isize + fsize;
	migration_changed(m);
	pthread_mutex_unlock(&a->lock);
	/* transfer_ms: sending what the dump wrote (and the files), not the dump */
	uint64_t t0 = flyt_now_ms();
	if (!m->live && m->mode != MODE_SHARED && flyt_stream_send_tree(s, final_dir, "images/final", err) < 0)
		return flyt_error_prefix(peer_reason(s, err), "sending the checkpoint to %s", m->peer_name);
	if (flyt_stream_send_tree(s, w->files_dir, "files", err) < 0)
		return flyt_error_prefix(peer_reason(s, err), "sending the workload's files to %s", m->peer_name);
	m->transfer_ms = (int64_t)(flyt_now_ms() - t0);
	pthread_mutex_lock(&a->lock);
	if (m->live)
		m->bytes += s->bytes_sent; /* the engine's bytes plus the files */
	else
		m->bytes = s->bytes_sent + (m->mode == MODE_SHARED ? isize : 0);
	pthread_mutex_unlock(&a->lock);

	set_phase(m, PHASE_RESTORING);
	_cleanup_json_ json_t *restored = NULL;
	if (send_ctrl(s, json_pack("{s:s}", "type", "restore"), err) < 0)
		return flyt_error_prefix(peer_reason(s, err), "restore on %s", m->peer_name);
	if (m->mode == MODE_LAZY) {
		/* a lazy restore needs the page server while it runs: let CRIU start
		 * serving now. The source copy stays frozen (--leave-stopped) until
		 * dump_finish, so this is not yet the switch-over. Recorded first: a
		 * restarted flytd must know it has to thaw the copy itself. */
		pthread_mutex_lock(&a->lock);
		m->pages_released = true;
		m->dump_pid = m->dump_child.pid;
		m->dump_ticks = proc_start_ticks(m->dump_pid);
		flyt_error_t serr = FLYT_ERROR_INIT;
		int sr = migration_save(m, &serr);
		pthread_mutex_unlock(&a->lock);
		if (sr < 0) {
			m->pages_released = false;
			*err = serr;
			return flyt_error_prefix(err, "before starting the page server");
		}
		if (DRIVER_CALL(w->driver, release, err, m, err) < 0)
			return flyt_error_prefix(err, "starting the page server");
	}
	if (expect_ctrl(s, "restored", RESTORE_WAIT_MS, &restored, err) < 0)
		return flyt_error_prefix(err, "restore on %s", m->peer_name);
	m->restore_ms = flyt_json_int(restored, "restore_ms", -1);
	if (m->live && flyt_json_int(restored, "downtime_ms", -1) >= 0) {
		/* the target's engine measured the downtime itself (libvirt) */
		m->downtime_ms = flyt_json_int(restored, "downtime_ms", -1);
		m->downtime_final = true;
	}
	return 0;
}

static void finish(migration_t *m, migration_phase_t phase, const flyt_error_t *e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void source_rollback(migration_t *m, flyt_stream_t *s, bool dumped, flyt_error_t *cause);
static void confirm_through_api(migration_t *m, const flyt_error_t *err);

/* Ends the migration in phase; the error message is fmt (may be NULL) followed by
 * e's message (may be NULL). Releases the workload. */
static void finish(migration_t *m, migration_phase_t phase, const flyt_error_t *e, const char *fmt, ...)
{
	agent_t *a = m->agent;
	if (phase == PHASE_COMMITTED && m->w && m->w->driver->finish_source) {
		/* a live driver's source copy waited, paused, for the target to run */
		flyt_error_t ferr = FLYT_ERROR_INIT;
		if (m->w->driver->finish_source(m, &ferr) < 0)
			log_warn("migration %s: ending the source copy: %s", m->id, ferr.msg);
	}
	pthread_mutex_lock(&a->lock);
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(m->error, sizeof(m->error), fmt, ap);
		va_end(ap);
	}
	if (e && e->msg[0]) {
		size_t n = strlen(m->error);
		snprintf(m->error + n, sizeof(m->error) - n, "%s%s", n ? ": " : "", e->msg);
	}
	workload_t *w = m->w;
	const char *state_name = phase == PHASE_COMMITTED ? "moved" : "running";
	if (w) {
		free(w->busy);
		w->busy = NULL;
		if (phase == PHASE_COMMITTED) {
			flyt_error_t rmerr = FLYT_ERROR_INIT;
			/* the target runs it: what the driver kept here for a rollback goes */
			if (w->driver->commit_done && w->driver->commit_done(m, &rmerr) < 0) {
				log_warn("migration %s: cleaning up the source copy: %s", m->id, rmerr.msg);
				flyt_error_clear(&rmerr);
			}
			if (flyt_rm_rf(w->dir, &rmerr) < 0)
				log_warn("migration %s: removing %s: %s", m->id, w->dir, rmerr.msg);
			workload_remove(a, w);
			m->w = NULL;
		} else {
			/* rolled back: running again, unless its driver finds it ended
			 * meanwhile; failed: it needs someone to look (the error says why) */
			w->state = WL_RUNNING;
			_cleanup_json_ json_t *st = json_object();
			w->driver->status(a, w, st, NULL);
			if (phase == PHASE_FAILED) {
				w->state = WL_FAILED;
				snprintf(w->error, sizeof(w->error), "%s", m->error);
			}
			workload_save(a, w, NULL);
			state_name = workload_state_name(w->state);
		}
	}
	migration_set_phase(m, phase);
	pthread_mutex_unlock(&a->lock);
	/* images are not needed once the workload runs somewhere; logs stay */
	if (phase != PHASE_FAILED) {
		flyt_rm_rf(m->images_dir, NULL);
	}
	agent_publish(a, "workload.state", json_pack("{s:s, s:s}", "workload", m->workload, "state", state_name));
}

/* After the commit decision the target must report "running". If it does not,
 * ask its API what became of its copy. Returns 1 when it runs the workload (in
 * lazy mode: with every page), 0 when it discarded its copy or never had one, -1
 * when that cannot be known. */
int source_target_outcome(migration_t *m)
{
	agent_t *a = m->agent;
	flyt_http_client_t c = agent_client(a, m->peer_url, 5000);
	_cleanup_free_ char *path = flyt_asprintf("/v1/incoming/%s", m->id);
	uint64_t deadline = flyt_now_ms() + 5 * 60 * 1000;
	while (flyt_now_ms() < deadline && !atomic_load(&a->stopping)) {
		_cleanup_json_ json_t *j = NULL;
		flyt_error_t err = FLYT_ERROR_INIT;
		if (flyt_http_call(&c, "GET", path, NULL, &j, NULL, &err) == 0) {
			const char *phase = flyt_json_str(j, "phase", ""), *copy = flyt_json_str(j, "copy", "");
			bool terminal = migration_phase_terminal(migration_phase_from_name(phase));
			if (strcmp(copy, "running") == 0 && (m->mode != MODE_LAZY || strcmp(phase, "committed") == 0))
				return 1;
			if (strcmp(copy, "discarded") == 0 || (strcmp(copy, "none") == 0 && terminal))
				return 0;
			if (terminal)
				return -1; /* ended otherwise: its copy kept, its error says why */
		} else if (err.code == FLYT_E_NOT_FOUND) {
			return 0;
		}
		flyt_sleep_ms(1000);
	}
	return -1;
}

/* The target could not run the workload after the source copy was discarded:
 * restore the source's own checkpoint here. */
int source_restore_locally(migration_t *m, flyt_error_t *err)
{
	if (m->live) /* the paused source copy is still there */
		return DRIVER_CALL(m->w->driver, dump_finish, err, m, false, err);
	if (m->mode == MODE_LAZY)
		return flyt_error_set(err, FLYT_E_UNSUPPORTED, 0,
				      "lazy mode keeps no complete checkpoint on the source");
	if (m->mode == MODE_SHARED)
		return flyt_error_set(err, FLYT_E_UNSUPPORTED, 0, "the checkpoint is on the shared directory");
	migration_mode_t mode = m->mode;
	int r = DRIVER_CALL(m->w->driver, restore, err, m, err);
	if (r == 0)
		r = DRIVER_CALL(m->w->driver, resume, err, m, err);
	m->mode = mode;
	return r;
}

/* Lazy mode after "go": the source copy stays frozen (CRIU serves its pages) until
 * the target has every page. Then it is killed; if the pages cannot all arrive,
 * the target discards its copy and this one is thawed. not_running: why the
 * target did not report "running" (NULL when it did). */
static void source_finish_lazy(migration_t *m, flyt_stream_t *s, const flyt_error_t *not_running)
{
	workload_t *w = m->w;
	uint64_t t_pages = flyt_now_ms();
	flyt_error_t perr = FLYT_ERROR_INIT;
	int outcome = !not_running && expect_ctrl(s, "pages_done", PAGES_WAIT_MS, NULL, &perr) == 0 ? 1 : -1;
	m->pages_ms = (int64_t)(flyt_now_ms() - t_pages);
	if (outcome < 0) {
		log_warn("migration %s: lazy transfer did not complete (%s); asking %s", m->id,
			 not_running ? not_running->msg : perr.msg, m->peer_name);
		outcome = source_target_outcome(m);
	}
	flyt_error_t ferr = FLYT_ERROR_INIT;
	if (outcome == 1) {
		if (DRIVER_CALL(w->driver, dump_finish, &ferr, m, true, &ferr) < 0)
			log_warn("migration %s: ending the source copy: %s", m->id, ferr.msg);
		flyt_error_t ignored = FLYT_ERROR_INIT;
		send_ctrl(s, json_pack("{s:s}", "type", "done"), &ignored);
		finish(m, PHASE_COMMITTED, NULL, NULL);
		return;
	}
	if (outcome == 0) {
		if (DRIVER_CALL(w->driver, dump_finish, &ferr, m, false, &ferr) < 0) {
			finish(m, PHASE_FAILED, &ferr,
			       "memory pages did not all reach the target (%s); thawing the source failed", perr.msg);
			return;
		}
		if (not_running && not_running->msg[0]) {
			finish(m, PHASE_ROLLED_BACK, not_running,
			       "the target could not run the workload; its copy was discarded and the source resumed");
			return;
		}
		finish(
		    m, PHASE_ROLLED_BACK, &perr,
		    "memory pages did not all reach the target; its copy was discarded and the source resumed (what the target copy changed meanwhile is lost)");
		return;
	}
	finish(
	    m, PHASE_FAILED, &perr,
	    "lazy transfer interrupted and %s does not answer: the source copy is kept frozen; check %s before thawing it",
	    m->peer_name, m->peer_name);
}

static void source_commit(migration_t *m, flyt_stream_t *s)
{
	agent_t *a = m->agent;
	workload_t *w = m->w;
	flyt_error_t err = FLYT_ERROR_INIT;

	/* the point of no return, unless a cancel came first or it cannot be recorded */
	pthread_mutex_lock(&a->lock);
	int r = atomic_load(&m->cancel) ? flyt_error_set(&err, FLYT_E_CANCELLED, 0, "cancelled")
					: migration_decide(m, DECISION_COMMIT, &err);
	if (r == 0)
		migration_set_phase(m, PHASE_SWITCHING);
	pthread_mutex_unlock(&a->lock);
	if (r < 0) {
		source_rollback(m, s, true, &err);
		return;
	}
	s->cancel = NULL;

	if (m->mode != MODE_LAZY && DRIVER_CALL(w->driver, dump_finish, &err, m, true, &err) < 0) {
		/* the source copy could not be ended: the target's must not run */
		pthread_mutex_lock(&a->lock);
		flyt_error_t derr = FLYT_ERROR_INIT;
		migration_decide(m, DECISION_ROLLBACK, &derr);
		pthread_mutex_unlock(&a->lock);
		flyt_error_t ignored = FLYT_ERROR_INIT;
		send_ctrl(s, json_pack("{s:s, s:s}", "type", "abort", "reason", err.msg), &ignored);
		finish(m, PHASE_FAILED, &err, "ending the source copy failed; the target's copy was discarded");
		return;
	}
	uint64_t t_go = flyt_now_ms();
	_cleanup_json_ json_t *running = NULL;
	if (send_ctrl(s, json_pack("{s:s}", "type", "go"), &err) == 0) {
		set_phase(m, PHASE_VERIFYING);
		if (expect_ctrl(s, "running", RUNNING_WAIT_MS, &running, &err) == 0) {
			uint64_t rtt_us = (flyt_now_ms() - t_go) * 1000;
			int64_t processing = flyt_json_int(running, "processing_us", 0);
			int64_t resume_delay = flyt_json_int(running, "resume_delay_us", 0);
			int64_t one_way =
			    rtt_us > (uint64_t)processing ? (int64_t)(rtt_us - (uint64_t)processing) / 2 : 0;
			int64_t restore_ms = flyt_json_int(running, "restore_ms", -1);
			pthread_mutex_lock(&a->lock);
			if (!m->downtime_final)
				m->downtime_ms = (int64_t)(t_go - m->t_freeze) + (one_way + resume_delay + 999) / 1000;
			if (restore_ms >= 0)
				m->restore_ms = restore_ms;
			migration_changed(m);
			pthread_mutex_unlock(&a->lock);
		}
	}
	if (m->mode == MODE_LAZY) {
		source_finish_lazy(m, s, running ? NULL : &err);
		return;
	}
	if (!running) {
		confirm_through_api(m, &err);
		return;
	}
	flyt_error_t ignored = FLYT_ERROR_INIT;
	send_ctrl(s, json_pack("{s:s}", "type", "done"), &ignored);
	finish(m, PHASE_COMMITTED, NULL, NULL);
}

/* After the switch-over, the target's confirmation did not come (err says
 * why): the target's API tells whether it runs the workload. */
static void confirm_through_api(migration_t *m, const flyt_error_t *err)
{
	log_warn("migration %s: no confirmation from %s (%s); asking its API", m->id, m->peer_name, err->msg);
	int outcome = source_target_outcome(m);
	if (outcome == 1) {
		finish(m, PHASE_COMMITTED, NULL, "confirmation arrived through the API after: %s", err->msg);
		return;
	}
	if (outcome == 0) {
		flyt_error_t lerr = FLYT_ERROR_INIT;
		if (source_restore_locally(m, &lerr) == 0) {
			finish(m, PHASE_ROLLED_BACK, err,
			       "the target could not run the workload; restored here from the checkpoint");
			return;
		}
		finish(
		    m, PHASE_FAILED, &lerr,
		    "the target could not run the workload (%s) and restoring it here failed (checkpoint kept in %s)",
		    err->msg, m->images_dir);
		return;
	}
	finish(m, PHASE_FAILED, err, "the target %s stopped answering after the switch-over; checkpoint kept in %s",
	       m->peer_name, m->images_dir);
}

static void source_rollback(migration_t *m, flyt_stream_t *s, bool dumped, flyt_error_t *cause)
{
	workload_t *w = m->w;
	pthread_mutex_lock(&m->agent->lock);
	flyt_error_t derr = FLYT_ERROR_INIT;
	if (migration_decide(m, DECISION_ROLLBACK, &derr) < 0) {
		/* without a decision file the hook resumes anyway */
		m->decision = DECISION_ROLLBACK;
		migration_changed(m);
	}
	pthread_mutex_unlock(&m->agent->lock);
	if (s->fd >= 0) {
		flyt_error_t ignored = FLYT_ERROR_INIT;
		s->cancel = NULL; /* the abort itself must go out */
		flyt_socket_timeouts(s->fd, 5000);
		send_ctrl(s, json_pack("{s:s, s:s}", "type", "abort", "reason", cause->msg), &ignored);
	}
	if (dumped) {
		flyt_error_t rerr = FLYT_ERROR_INIT;
		if (DRIVER_CALL(w->driver, dump_finish, &rerr, m, false, &rerr) < 0) {
			finish(m, PHASE_FAILED, &rerr, "%s; then resuming the source failed", cause->msg);
			return;
		}
	}
	if (atomic_load(&m->cancel) && cause->code == FLYT_E_CANCELLED)
		finish(m, PHASE_ROLLED_BACK, NULL, "cancelled by request; the workload runs on the source");
	else
		finish(m, PHASE_ROLLED_BACK, cause, NULL);
	if (m->mode == MODE_SHARED)
		flyt_rm_rf(m->images_dir, NULL);
}

static void *source_thread(void *arg)
{
	migration_t *m = arg;
	agent_t *a = m->agent;
	flyt_stream_t s;
	flyt_stream_init(&s, -1);
	flyt_error_t err = FLYT_ERROR_INIT;
	bool dumped = false;
	if (source_until_restored(m, &s, &dumped, &err) < 0) {
		if (m->live && m->postcopy_started && m->decision == DECISION_COMMIT) {
			/* the engine switched over by itself (libvirt): no way back,
			 * only the target can say how it ended */
			confirm_through_api(m, &err);
		} else {
			if (atomic_load(&m->cancel))
				err.code = FLYT_E_CANCELLED;
			source_rollback(m, &s, dumped, &err);
		}
	} else {
		source_commit(m, &s);
	}
	flyt_stream_close(&s);
	if (m->tunnel_started) {
		pthread_join(m->tunnel_thread, NULL);
		m->tunnel_started = false;
	}
	migration_close_pages(m);
	if (m->dump_child.pid > 0 && flyt_child_wait(&m->dump_child, 30000, NULL, NULL) == 0)
		flyt_child_reap(&m->dump_child);
	atomic_store(&m->done, true);
	atomic_fetch_sub(&a->busy_threads, 1);
	return NULL;
}

int migrate_source_start(agent_t *a, json_t *body, json_t **ret, flyt_error_t *err)
{
	static const char *const keys[] = { "id",
					    "workload",
					    "mode",
					    "mode_reason",
					    "target",
					    "shared_dir",
					    "bandwidth_mbps",
					    "precopy_rounds",
					    "max_downtime_ms",
					    "auto_converge",
					    "xbzrle",
					    "multifd",
					    "postcopy_after",
					    NULL };
	static const char *const tkeys[] = { "name", "url", "data", "ticket", NULL };
	if (flyt_json_check_keys(body, "migration", keys, err) < 0)
		return -1;
	const char *id = NULL, *wname = NULL, *mode_s = NULL, *reason = "", *shared = NULL;
	const char *tname = NULL, *turl = NULL, *tdata = NULL, *ticket = NULL;
	json_t *target = NULL;
	int64_t bw = 0, rounds = 3, max_downtime = 0, multifd = 0, postcopy_after = 0;
	bool auto_converge = false, xbzrle = false;
	if (flyt_json_get_string(body, "id", true, 32, &id, err) < 0 ||
	    flyt_json_get_string(body, "workload", true, 63, &wname, err) < 0 ||
	    flyt_json_get_string(body, "mode", true, 16, &mode_s, err) < 0 ||
	    flyt_json_get_string(body, "mode_reason", false, 255, &reason, err) < 0 ||
	    flyt_json_get_object(body, "target", true, &target, err) < 0 ||
	    flyt_json_get_string(body, "shared_dir", false, 500, &shared, err) < 0 ||
	    flyt_json_get_int(body, "bandwidth_mbps", false, 0, 1000000, &bw, err) < 0 ||
	    flyt_json_get_int(body, "precopy_rounds", false, 1, 20, &rounds, err) < 0 ||
	    flyt_json_get_int(body, "max_downtime_ms", false, 1, 600000, &max_downtime, err) < 0 ||
	    flyt_json_get_int(body, "multifd", false, 0, 64, &multifd, err) < 0 ||
	    flyt_json_get_int(body, "postcopy_after", false, 0, 1000, &postcopy_after, err) < 0 ||
	    flyt_json_get_bool(body, "auto_converge", false, &auto_converge, err) < 0 ||
	    flyt_json_get_bool(body, "xbzrle", false, &xbzrle, err) < 0 ||
	    flyt_json_check_keys(target, "migration target", tkeys, err) < 0 ||
	    flyt_json_get_string(target, "name", true, 63, &tname, err) < 0 ||
	    flyt_json_get_string(target, "url", true, 255, &turl, err) < 0 ||
	    flyt_json_get_string(target, "data", true, 127, &tdata, err) < 0 ||
	    flyt_json_get_string(target, "ticket", true, 64, &ticket, err) < 0)
		return -1;
	if (!flyt_id_valid(id))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "migration id must be 32 lower-case hex digits");
	migration_mode_t mode = migration_mode_from_name(mode_s);
	if (mode == MODE_INVALID || mode == MODE_AUTO)
		return flyt_error_set(err, FLYT_E_INVALID, 0,
				      "mode must be one of stop-copy, lazy, precopy, shared, postcopy");
	if (mode == MODE_POSTCOPY && multifd > 0)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "QEMU cannot combine postcopy with multifd");
	if (mode == MODE_SHARED && (!shared || !agent_shared_dir_allowed(a, shared)))
		return flyt_error_set(err, FLYT_E_INVALID, 0,
				      "shared directory \"%.200s\" is not one this host declares (flytd --shared-dir)",
				      shared ? shared : "");
	char host[128];
	uint16_t port;
	if (flyt_parse_hostport(tdata, host, sizeof(host), &port, err) < 0)
		return flyt_error_prefix(err, "target data address");
	if (!flyt_startswith(turl, "http://") && !flyt_startswith(turl, "https://"))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "target url must be http:// or https://");

	pthread_mutex_lock(&a->lock);
	if (migration_find(a, id)) {
		pthread_mutex_unlock(&a->lock);
		return flyt_error_set(err, FLYT_E_CONFLICT, 0, "migration %s exists already", id);
	}
	workload_t *w = workload_find(a, wname);
	if (!w) {
		pthread_mutex_unlock(&a->lock);
		return flyt_error_set(err, FLYT_E_NOT_FOUND, 0, "no workload %s on %s", wname, a->name);
	}
	if (w->busy) {
		pthread_mutex_unlock(&a->lock);
		return flyt_error_set(err, FLYT_E_CONFLICT, 0, "workload %s is busy (%s)", wname, w->busy);
	}
	_cleanup_json_ json_t *st = json_object();
	w->driver->status(a, w, st, NULL);
	if (w->state != WL_RUNNING) {
		pthread_mutex_unlock(&a->lock);
		return flyt_error_set(err, FLYT_E_CONFLICT, 0, "workload %s is %s, not running", wname,
				      workload_state_name(w->state));
	}
	if (!w->driver->dump && !w->driver->send) {
		pthread_mutex_unlock(&a->lock);
		return flyt_error_set(err, FLYT_E_UNSUPPORTED, 0, "the %s driver cannot migrate", w->driver->kind);
	}
	/* live drivers migrate by themselves (precopy or postcopy); the others need
	 * what this host's CRIU can do for the mode */
	bool live = w->driver->send != NULL;
	char reason_na[512] = "";
	if (live ? mode != MODE_PRECOPY && mode != MODE_POSTCOPY
		 : mode == MODE_POSTCOPY || !facts_mode_available(a, mode, reason_na, sizeof(reason_na))) {
		pthread_mutex_unlock(&a->lock);
		return flyt_error_set(err, FLYT_E_UNSUPPORTED, 0, "mode %s is not available for %s workloads on %s%s%s",
				      mode_s, w->driver->kind, a->name, reason_na[0] ? ": " : "", reason_na);
	}
	if (!driver_mode_supported(a, w->driver, mode, reason_na, sizeof(reason_na))) {
		pthread_mutex_unlock(&a->lock);
		return flyt_error_set(err, FLYT_E_UNSUPPORTED, 0, "%s", reason_na);
	}
	migration_t *m = migration_new(a, id, ROLE_SOURCE);
	snprintf(m->workload, sizeof(m->workload), "%s", wname);
	snprintf(m->kind, sizeof(m->kind), "%s", w->driver->kind);
	m->mode = mode;
	snprintf(m->mode_reason, sizeof(m->mode_reason), "%s", reason);
	snprintf(m->peer_name, sizeof(m->peer_name), "%s", tname);
	snprintf(m->peer_url, sizeof(m->peer_url), "%s", turl);
	snprintf(m->peer_data, sizeof(m->peer_data), "%s", tdata);
	snprintf(m->ticket, sizeof(m->ticket), "%s", ticket);
	m->bandwidth = (uint64_t)bw * 1024 * 1024;
	m->precopy_rounds = (unsigned)rounds;
	m->live = live;
	m->max_downtime_ms = max_downtime;
	m->multifd = (unsigned)multifd;
	m->postcopy_after = (unsigned)postcopy_after;
	m->auto_converge = auto_converge;
	m->xbzrle = xbzrle;
	if (mode == MODE_SHARED) {
		snprintf(m->shared_dir, sizeof(m->shared_dir), "%s", shared);
		snprintf(m->images_dir, sizeof(m->images_dir), "%s/flyt-%s", shared, id);
	}
	m->w = w;
	w->busy = flyt_strdup(id);
	w->state = WL_MIGRATING;
	migration_t **nm = realloc(a->migrations, (a->nmigrations + 1) * sizeof(*nm));
	if (!nm)
		abort();
	a->migrations = nm;
	a->migrations[a->nmigrations++] = m;
	flyt_error_t serr = FLYT_ERROR_INIT;
	if (flyt_mkdir_p(m->images_dir, 0700, &serr) < 0 || migration_save(m, &serr) < 0) {
		a->nmigrations--;
		free(w->busy);
		w->busy = NULL;
		w->state = WL_RUNNING;
		pthread_mutex_unlock(&a->lock);
		migration_free(m);
		*err = serr;
		return -1;
	}
	workload_save(a, w, NULL);
	atomic_fetch_add(&a->busy_threads, 1);
	if (pthread_create(&m->thread, NULL, source_thread, m) != 0) {
		int e = errno;
		atomic_fetch_sub(&a->busy_threads, 1);
		a->nmigrations--;
		free(w->busy);
		w->busy = NULL;
		w->state = WL_RUNNING;
		pthread_mutex_unlock(&a->lock);
		migration_free(m);
		return flyt_error_set(err, FLYT_E_INTERNAL, e, "cannot start the migration thread");
	}
	pthread_detach(m->thread);
	m->thread_started = true;
	migration_changed(m);
	*ret = migration_json(m);
	pthread_mutex_unlock(&a->lock);
	agent_publish(a, "migration.started",
		      json_pack("{s:s, s:s, s:s}", "migration", id, "workload", wname, "target", tname));
	return 0;
}

int migrate_cancel(agent_t *a, const char *id, flyt_error_t *err)
{
	pthread_mutex_lock(&a->lock);
	migration_t *m = migration_find(a, id);
	int r = 0;
	if (!m)
		r = flyt_error_set(err, FLYT_E_NOT_FOUND, 0, "no migration %s on this host", id);
	else if (m->role != ROLE_SOURCE)
		r = flyt_error_set(err, FLYT_E_INVALID, 0, "cancel a migration on its source host");
	else if (migration_phase_terminal(m->phase))
		r = flyt_error_set(err, FLYT_E_CONFLICT, 0, "migration %s has already ended (%s)", id,
				   migration_phase_name(m->phase));
	else if (m->decision == DECISION_COMMIT)
		r = flyt_error_set(err, FLYT_E_CONFLICT, 0,
				   "migration %s is past its switch-over and cannot be cancelled", id);
	else {
		atomic_store(&m->cancel, true);
		migration_changed(m);
	}
	pthread_mutex_unlock(&a->lock);
	return r;
}

int migrate_postcopy_now(agent_t *a, const char *id, flyt_error_t *err)
{
	pthread_mutex_lock(&a->lock);
	migration_t *m = migration_find(a, id);
	int r = 0;
	if (!m || m->role != ROLE_SOURCE)
		r = flyt_error_set(err, FLYT_E_NOT_FOUND, 0, "no migration %s leaves this host", id);
	else if (migration_phase_terminal(m->phase))
		r = flyt_error_set(err, FLYT_E_CONFLICT, 0, "migration %s has already ended (%s)", id,
				   migration_phase_name(m->phase));
	else if (m->mode != MODE_POSTCOPY)
		r = flyt_error_set(err, FLYT_E_INVALID, 0, "migration %s is in mode %s, not postcopy", id,
				   migration_mode_name(m->mode));
	else if (m->postcopy_started || m->postcopy_requested)
		r = flyt_error_set(err, FLYT_E_CONFLICT, 0, "migration %s has already %s postcopy", id,
				   m->postcopy_started ? "switched to" : "asked for");
	else {
		atomic_store(&m->postcopy_now, true);
		migration_changed(m);
	}
	pthread_mutex_unlock(&a->lock);
	return r;
}
