/* Migration records shared by both sides: names of modes and phases, the JSON view,
 * persistence in STATE/migrations/ID/migration.json, long polls, and what a
 * restarted agent does with migrations it finds unfinished.
 *
 * The protocol between the two agents (one TCP connection, frames of stream.h):
 *
 *   source                                   target
 *   HELLO {migration, ticket, channel}  ->   checks the ticket it issued
 *                                       <-   HELLO {ok}
 *   CTRL begin {workload, mode, criu}   ->   checks, records an incoming workload
 *                                       <-   CTRL ready
 *   [lazy: a second connection, channel "pages", tunnels CRIU's page server]
 *   (precopy: trees images/pre-N while the workload runs)
 *   freeze + dump (workload frozen in flyt-criu-hook)
 *   trees images/final, files           ->   written below its migration dir
 *   CTRL restore                        ->   criu restore --leave-stopped
 *                                       <-   CTRL restored {restore_ms}
 *   decision "commit" written durably; client connections reset;
 *   the hook lets CRIU kill the frozen copy
 *   CTRL go                             ->   SIGCONT: the workload runs here
 *                                       <-   CTRL running {resume_delay_us, processing_us}
 *                                       <-   (lazy) CTRL pages_done
 *   CTRL done                           ->
 *
 * Any failure before the decision resumes the frozen source copy and discards the
 * target's; after it, the target's copy is the workload (and if the target cannot
 * run it, the source restores its own images). At no instant do two copies run:
 * the source is frozen from the dump until it is killed, and the target's copy is
 * stopped until "go". */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/proctree.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/util.h"

static const char *const mode_names[MODE_MAX] = {
	[MODE_AUTO] = "auto",	    [MODE_STOP_COPY] = "stop-copy", [MODE_LAZY] = "lazy",
	[MODE_PRECOPY] = "precopy", [MODE_SHARED] = "shared",	    [MODE_POSTCOPY] = "postcopy",
};

static const char *const phase_names[PHASE_MAX] = {
	[PHASE_PREPARING] = "preparing",     [PHASE_TRANSFERRING] = "transferring",
	[PHASE_RESTORING] = "restoring",     [PHASE_SWITCHING] = "switching",
	[PHASE_VERIFYING] = "verifying",     [PHASE_COMMITTED] = "committed",
	[PHASE_ROLLED_BACK] = "rolled_back", [PHASE_FAILED] = "failed",
};

static const char *const decision_names[] = { "none", "commit", "rollback" };

const char *migration_mode_name(migration_mode_t m)
{
	return m >= 0 && m < MODE_MAX ? mode_names[m] : "unknown";
}

migration_mode_t migration_mode_from_name(const char *s)
{
	for (int i = 0; i < MODE_MAX; i++)
		if (s && strcmp(s, mode_names[i]) == 0)
			return (migration_mode_t)i;
	return MODE_INVALID;
}

const char *migration_phase_name(migration_phase_t p)
{
	return p >= 0 && p < PHASE_MAX ? phase_names[p] : "unknown";
}

migration_phase_t migration_phase_from_name(const char *s)
{
	for (int i = 0; i < PHASE_MAX; i++)
		if (s && strcmp(s, phase_names[i]) == 0)
			return (migration_phase_t)i;
	return PHASE_INVALID;
}

bool migration_phase_terminal(migration_phase_t p)
{
	return p == PHASE_COMMITTED || p == PHASE_ROLLED_BACK || p == PHASE_FAILED;
}

migration_t *migration_new(agent_t *a, const char *id, migration_role_t role)
{
	migration_t *m = flyt_malloc0(sizeof(*m));
	snprintf(m->id, sizeof(m->id), "%s", id);
	m->role = role;
	m->agent = a;
	m->phase = PHASE_PREPARING;
	m->downtime_ms = -1;
	m->total_ms = -1;
	m->dump_ms = m->restore_ms = m->transfer_ms = m->pages_ms = -1;
	m->hook_listen_fd = m->hook_fd = m->data_fd = m->pages_fd = -1;
	snprintf(m->copy, sizeof(m->copy), "none");
	m->dump_child = (flyt_child_t){ .pidfd = -1, .out_fd = -1, .err_fd = -1 };
	m->lazy_child = m->dump_child;
	m->t_start = flyt_now_ms();
	m->phase_started = m->t_start;
	m->started_wall_ms = flyt_wall_ms();
	snprintf(m->dir, sizeof(m->dir), "%s/migrations/%s", a->state_dir, id);
	snprintf(m->images_dir, sizeof(m->images_dir), "%s/images", m->dir);
	return m;
}

void migration_free(migration_t *m)
{
	if (!m)
		return;
	json_decref(m->peer_info);
	free(m);
}

migration_t *migration_find(agent_t *a, const char *id)
{
	for (size_t i = 0; i < a->nmigrations; i++)
		if (strcmp(a->migrations[i]->id, id) == 0)
			return a->migrations[i];
	return NULL;
}

static json_t *ms_or_null(int64_t v)
{
	return v >= 0 ? json_integer(v) : json_null();
}

json_t *migration_json(migration_t *m)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "id", m->id, "role",
			      m->role == ROLE_SOURCE ? "source" : "target", "workload", m->workload, "kind", m->kind,
			      "mode", migration_mode_name(m->mode), "mode_reason", m->mode_reason, "phase",
			      migration_phase_name(m->phase), "decision", decision_names[m->decision], "version",
			      (json_int_t)m->version);
	json_object_set_new(j, m->role == ROLE_SOURCE ? "target" : "source", json_string(m->peer_name));
	if (m->role == ROLE_TARGET)
		json_object_set_new(j, "copy", json_string(m->copy));
	if (m->error[0])
		json_object_set_new(j, "error", json_string(m->error));
	if (m->note[0])
		json_object_set_new(j, "note", json_string(m->note));
	char when[40];
	flyt_format_time(m->started_wall_ms, when, sizeof(when));
	json_object_set_new(j, "started", json_string(when));
	json_t *phases = json_object();
	for (int p = 0; p < PHASE_MAX; p++)
		if (m->phase_ms[p])
			json_object_set_new(phases, phase_names[p], json_integer((json_int_t)m->phase_ms[p]));
	json_object_set_new(j, "phase_ms", phases);
	json_object_set_new(j, "total_ms", ms_or_null(m->total_ms));
	json_object_set_new(j, "downtime_ms", ms_or_null(m->downtime_ms));
	json_object_set_new(j, "dump_ms", ms_or_null(m->dump_ms));
	json_object_set_new(j, "transfer_ms", ms_or_null(m->transfer_ms));
	json_object_set_new(j, "restore_ms", ms_or_null(m->restore_ms));
	json_object_set_new(j, "pages_ms", ms_or_null(m->pages_ms));
	json_object_set_new(j, "bytes", json_integer((json_int_t)m->bytes));
	json_object_set_new(j, "images_bytes", json_integer((json_int_t)m->images_bytes));
	if (m->shared_dir[0])
		json_object_set_new(j, "shared_dir", json_string(m->shared_dir));
	if (m->live) {
		json_object_set_new(j, "passes", json_integer(m->passes));
		json_object_set_new(j, "dirty_rate", json_integer((json_int_t)m->dirty_rate));
		json_object_set_new(j, "remaining_bytes", json_integer((json_int_t)m->remaining_bytes));
	}
	if (!migration_phase_terminal(m->phase) && m->t_start)
		json_object_set_new(j, "elapsed_ms", json_integer((json_int_t)(flyt_now_ms() - m->t_start)));
	return j;
}

void migration_changed(migration_t *m)
{
	m->version++;
	pthread_cond_broadcast(&m->agent->changed);
}

void migration_set_phase(migration_t *m, migration_phase_t p)
{
	uint64_t now = flyt_now_ms();
	if (m->phase >= 0 && m->phase < PHASE_MAX)
		m->phase_ms[m->phase] += now - m->phase_started;
	m->phase_started = now;
	m->phase = p;
	if (migration_phase_terminal(p)) {
		m->t_end = now;
		if (m->t_start)
			m->total_ms = (int64_t)(now - m->t_start);
		/* QEMU's copies of this agent's key (drivers/qemu.c) go with the migration */
		_cleanup_free_ char *tls = flyt_asprintf("%s/qemu-tls", m->dir);
		flyt_rm_rf(tls, NULL);
	}
	migration_changed(m);
	flyt_error_t err = FLYT_ERROR_INIT;
	if (migration_save(m, &err) < 0)
		log_warn("migration %s: cannot save its record: %s", m->id, err.msg);
	agent_publish(m->agent, "migration.phase",
		      json_pack("{s:s, s:s, s:s, s:s}", "migration", m->id, "workload", m->workload, "phase",
				phase_names[p], "role", m->role == ROLE_SOURCE ? "source" : "target"));
	log_info("migration %s (%s, %s): %s%s%s", m->id, m->workload, m->role == ROLE_SOURCE ? "source" : "target",
		 phase_names[p], m->error[0] ? ": " : "", m->error);
}

int migration_record_dump(migration_t *m, flyt_error_t *err)
{
	pthread_mutex_lock(&m->agent->lock);
	m->dump_pid = m->dump_child.pid;
	m->dump_ticks = proc_start_ticks(m->dump_pid);
	int r = migration_save(m, err);
	pthread_mutex_unlock(&m->agent->lock);
	return r;
}

int migration_save(migration_t *m, flyt_error_t *err)
{
	if (flyt_mkdir_p(m->dir, 0700, err) < 0)
		return -1;
	_cleanup_json_ json_t *j = migration_json(m);
	json_object_set_new(j, "peer_url", json_string(m->peer_url));
	json_object_set_new(j, "peer_name", json_string(m->peer_name));
	json_object_set_new(j, "ticket", json_string(m->ticket));
	json_object_set_new(j, "images_dir", json_string(m->images_dir));
	json_object_set_new(j, "restored_pid", json_integer(m->restored_pid));
	json_object_set_new(j, "restored_ticks", json_integer((json_int_t)m->restored_ticks));
	json_object_set_new(j, "pages_released", json_boolean(m->pages_released));
	json_object_set_new(j, "dump_pid", json_integer(m->dump_pid));
	json_object_set_new(j, "dump_ticks", json_integer((json_int_t)m->dump_ticks));
	json_object_set_new(j, "started_wall_ms", json_integer(m->started_wall_ms));
	_cleanup_free_ char *text = flyt_json_dumps(j);
	_cleanup_free_ char *path = flyt_asprintf("%s/migration.json", m->dir);
	return flyt_write_file_atomic(path, text, strlen(text), 0600, err);
}

void migration_fail_keeping(migration_t *m, workload_t *w)
{
	if (w) {
		w->state = WL_FAILED;
		snprintf(w->error, sizeof(w->error), "%s", m->error);
		workload_save(m->agent, w, NULL);
	}
	migration_set_phase(m, PHASE_FAILED);
}

int migration_decide_live(migration_t *m, migration_decision_t d)
{
	flyt_error_t err = FLYT_ERROR_INIT;
	int r = 0;
	pthread_mutex_lock(&m->agent->lock);
	if (d == DECISION_COMMIT) {
		r = migration_decide(m, d, &err);
	} else {
		/* no decision file: a restarted flytd finds none (read_decision) */
		_cleanup_free_ char *path = flyt_asprintf("%s/decision", m->dir);
		if (unlink(path) < 0 && errno != ENOENT)
			r = flyt_error_set(&err, FLYT_E_IO, errno, "remove %s", path);
		m->decision = d;
		migration_changed(m);
		if (r == 0)
			r = migration_save(m, &err);
	}
	pthread_mutex_unlock(&m->agent->lock);
	if (r < 0)
		log_warn("migration %s: cannot save the decision: %s", m->id, err.msg);
	return r;
}

void migration_postcopy_asked(migration_t *m, const char *engine)
{
	pthread_mutex_lock(&m->agent->lock);
	m->postcopy_requested = true;
	m->postcopy_asked_after = m->passes;
	size_t nl = strlen(m->note);
	snprintf(m->note + nl, sizeof(m->note) - nl, "%sswitch to postcopy asked of %s after %u pass%s", nl ? "; " : "",
		 engine, m->passes, m->passes == 1 ? "" : "es");
	migration_changed(m);
	pthread_mutex_unlock(&m->agent->lock);
}

void migration_postcopy_switched(migration_t *m)
{
	pthread_mutex_lock(&m->agent->lock);
	m->postcopy_started = true;
	char *asked = strstr(m->note, "switch to postcopy asked");
	size_t at = asked ? (size_t)(asked - m->note) : strlen(m->note);
	snprintf(m->note + at, sizeof(m->note) - at, "%sswitched to postcopy after %u pass%s", at && !asked ? "; " : "",
		 m->postcopy_asked_after, m->postcopy_asked_after == 1 ? "" : "es");
	migration_changed(m);
	pthread_mutex_unlock(&m->agent->lock);
}

int migration_decide(migration_t *m, migration_decision_t d, flyt_error_t *err)
{
	_cleanup_free_ char *path = flyt_asprintf("%s/decision", m->dir);
	const char *text = d == DECISION_COMMIT ? "commit\n" : "resume\n";
	if (flyt_write_file_atomic(path, text, strlen(text), 0600, err) < 0)
		return flyt_error_prefix(err, "recording the decision");
	m->decision = d;
	migration_changed(m);
	flyt_error_t serr = FLYT_ERROR_INIT;
	if (migration_save(m, &serr) < 0)
		log_warn("migration %s: %s (the decision file stands)", m->id, serr.msg);
	return 0;
}

void migration_set_copy(migration_t *m, const char *copy)
{
	snprintf(m->copy, sizeof(m->copy), "%s", copy);
	migration_changed(m);
	flyt_error_t err = FLYT_ERROR_INIT;
	if (migration_save(m, &err) < 0)
		log_warn("migration %s: %s", m->id, err.msg);
}

/* The decision file, which is what counts after a crash. */
static migration_decision_t read_decision(migration_t *m)
{
	_cleanup_free_ char *path = flyt_asprintf("%s/decision", m->dir);
	_cleanup_free_ char *text = NULL;
	if (flyt_read_file(path, 64, &text, NULL, NULL) < 0)
		return DECISION_NONE;
	if (flyt_startswith(text, "commit"))
		return DECISION_COMMIT;
	return DECISION_ROLLBACK;
}

int migration_wait(agent_t *a, const char *id, uint64_t since, unsigned wait_ms, json_t **ret, flyt_error_t *err)
{
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += wait_ms / 1000;
	deadline.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&a->lock);
	migration_t *m;
	for (;;) {
		m = migration_find(a, id);
		if (!m) {
			pthread_mutex_unlock(&a->lock);
			return flyt_error_set(err, FLYT_E_NOT_FOUND, 0, "no migration %s on this host", id);
		}
		if (m->version > since || wait_ms == 0 || atomic_load(&a->stopping))
			break;
		if (pthread_cond_timedwait(&a->changed, &a->lock, &deadline) == ETIMEDOUT)
			break;
	}
	*ret = migration_json(m);
	pthread_mutex_unlock(&a->lock);
	return 0;
}

/* Source: runs its own copy again: a lazy copy is held stopped by CRIU, and
 * an engine holds it when there is one (QEMU keeps a migrated-out VM paused,
 * container engines keep theirs in a cgroup freezer or stopped with its
 * checkpoint kept), which no signal ends: its driver resumes it. */
static int resume_source(migration_t *m, workload_t *w, flyt_error_t *err)
{
	if (w->pid > 0 && proc_alive(w->pid, w->start_ticks))
		proc_tree_signal(w->pid, SIGCONT);
	if (!w->driver->send && !w->driver->engine_holds_source)
		return 0;
	workload_t *was = m->w;
	m->w = w;
	int r = DRIVER_CALL(w->driver, dump_finish, err, m, false, err);
	m->w = was;
	return r;
}

/* What an engine's restore created on the target (a container not started
 * yet, its runc state, volumes; a domain libvirt brought) is the engine's, not
 * in w->dir: its driver removes it. */
static void discard_held_copy(migration_t *m, workload_t *w)
{
	if (!w || !(w->driver->engine_holds_source || m->engine_copy))
		return;
	flyt_error_t err = FLYT_ERROR_INIT;
	m->w = w;
	if (DRIVER_CALL(w->driver, discard, &err, m, &err) < 0)
		log_warn("migration %s: discarding the restored copy: %s", m->id, err.msg);
	m->w = NULL;
}

/* A source record found at start: settle what the previous flytd left. */
static void settle_source(agent_t *a, migration_t *m, json_t *j)
{
	workload_t *w = workload_find(a, m->workload);
	bool alive = w && w->pid > 0 && proc_alive(w->pid, w->start_ticks);
	if (m->mode == MODE_LAZY && m->dump_pid > 0 && proc_alive(m->dump_pid, m->dump_ticks)) {
		/* lazy: criu dump (its own session) outlives flytd and holds the tree
		 * stopped, whatever the hook said, until a page-server client comes
		 * and goes; without its flytd nobody will: end it, and let go of the
		 * tree only once it is gone */
		kill(-m->dump_pid, SIGKILL);
		uint64_t until = flyt_now_ms() + 10000;
		while (proc_alive(m->dump_pid, m->dump_ticks) && flyt_now_ms() < until)
			flyt_sleep_ms(5);
	}
	if (m->pages_released) {
		if (m->decision != DECISION_COMMIT && alive) {
			flyt_error_t lerr = FLYT_ERROR_INIT;
			if (resume_source(m, w, &lerr) < 0)
				log_warn("migration %s: resuming %s: %s", m->id, w->name, lerr.msg);
			snprintf(
			    m->error, sizeof(m->error),
			    "flytd restarted while memory pages were being served; the target never ran the workload, which runs here again (its open connections are lost)");
			w->state = WL_RUNNING;
			workload_save(a, w, NULL);
			migration_set_phase(m, PHASE_ROLLED_BACK);
			return;
		}
	} else if (m->decision != DECISION_COMMIT) {
		/* the hook saw flytd vanish and, without a commit decision, let CRIU
		 * thaw the workload: it runs here still (lazy: stopped, see above) */
		snprintf(m->error, sizeof(m->error), "flytd restarted during the migration; the workload stayed here");
		if (m->mode == MODE_LAZY && alive)
			proc_tree_signal(w->pid, SIGCONT);
		if (w && (w->driver->send || w->driver->engine_holds_source)) {
			/* a live driver's engine may still be migrating, or have paused
			 * the source at its end; a container engine holds it paused or
			 * stopped: stop the migration and resume the source */
			flyt_error_t lerr = FLYT_ERROR_INIT;
			if (resume_source(m, w, &lerr) < 0) {
				/* never "rolled back" with nothing running: the reason, and
				 * what is left (the checkpoint), kept */
				snprintf(m->error, sizeof(m->error),
					 "flytd restarted during the migration, and the workload does not run here: %s",
					 lerr.msg);
				migration_fail_keeping(m, w);
				return;
			}
			/* engines without a process of flyt's (libvirt) said it runs */
			alive = w->pid <= 0 || proc_alive(w->pid, w->start_ticks);
		}
		if (w) {
			w->state = alive ? WL_RUNNING : WL_EXITED;
			workload_save(a, w, NULL);
		}
		flyt_rm_rf(m->images_dir, NULL);
		migration_set_phase(m, PHASE_ROLLED_BACK);
		return;
	}
	/* committed (or a lazy transfer cut short): only the target knows how it
	 * ended; resolve_in_doubt asks it once the API runs */
	snprintf(m->note, sizeof(m->note), "flytd restarted after the switch-over: asking %s how it ended",
		 m->peer_name);
	m->w = w;
	m->in_doubt = true;
	atomic_store(&m->done, false);
}

/* The source side of a migration in doubt: the target's copy decides. */
static void resolve_source(migration_t *m)
{
	agent_t *a = m->agent;
	int outcome = source_target_outcome(m);
	pthread_mutex_lock(&a->lock);
	workload_t *w = workload_find(a, m->workload);
	bool alive = w && w->pid > 0 && proc_alive(w->pid, w->start_ticks);
	pthread_mutex_unlock(&a->lock);
	flyt_error_t err = FLYT_ERROR_INIT;
	migration_phase_t phase = PHASE_FAILED;
	if (outcome == 1) {
		/* it runs there: whatever is left here goes, what the driver kept
		 * for a rollback too (a stopped container), as finish() does */
		if (alive)
			proc_tree_signal(w->pid, SIGKILL);
		if (w && w->driver->commit_done) {
			flyt_error_t cerr = FLYT_ERROR_INIT;
			m->w = w;
			if (w->driver->commit_done(m, &cerr) < 0)
				log_warn("migration %s: cleaning up the source copy: %s", m->id, cerr.msg);
		}
		phase = PHASE_COMMITTED;
	} else if (outcome == 0 && alive && resume_source(m, w, &err) == 0) {
		/* the copy here was held frozen (lazy: with every page) */
		snprintf(
		    m->error, sizeof(m->error),
		    "flytd restarted after the switch-over and %s had discarded its copy; the workload runs here again",
		    m->peer_name);
		phase = PHASE_ROLLED_BACK;
	} else if (outcome == 0 && w && source_restore_locally(m, &err) == 0) {
		snprintf(
		    m->error, sizeof(m->error),
		    "flytd restarted after the switch-over and %s had discarded its copy; restored here from the checkpoint",
		    m->peer_name);
		phase = PHASE_ROLLED_BACK;
	} else {
		snprintf(m->error, sizeof(m->error), "flytd restarted after the switch-over and %s %s; %s",
			 m->peer_name, outcome == 0 ? "discarded its copy" : "does not say how it ended",
			 outcome == 0 && err.msg[0] ? err.msg : "the source's checkpoint is kept");
	}
	pthread_mutex_lock(&a->lock);
	w = workload_find(a, m->workload);
	if (w && phase == PHASE_COMMITTED) {
		flyt_rm_rf(w->dir, NULL);
		workload_remove(a, w);
		flyt_rm_rf(m->images_dir, NULL);
	} else if (w && phase == PHASE_ROLLED_BACK) {
		free(w->busy);
		w->busy = NULL;
		w->state = WL_RUNNING;
		workload_save(a, w, NULL);
		flyt_rm_rf(m->images_dir, NULL);
	} else if (w) {
		w->state = WL_FAILED;
		snprintf(w->error, sizeof(w->error), "%s", m->error);
		workload_save(a, w, NULL);
	}
	m->w = NULL;
	m->note[0] = '\0';
	migration_set_phase(m, phase);
	pthread_mutex_unlock(&a->lock);
	if (phase != PHASE_COMMITTED)
		agent_publish(a, "workload.state",
			      json_pack("{s:s, s:s}", "workload", m->workload, "state",
					phase == PHASE_ROLLED_BACK ? "running" : "failed"));
}

int source_decision(migration_t *m)
{
	agent_t *a = m->agent;
	flyt_http_client_t c = agent_client(a, m->peer_url, 5000);
	_cleanup_free_ char *path = flyt_asprintf("/v1/migrations/%s", m->id);
	uint64_t deadline = flyt_now_ms() + 10 * 60 * 1000;
	while (flyt_now_ms() < deadline && !atomic_load(&a->stopping)) {
		_cleanup_json_ json_t *j = NULL;
		flyt_error_t err = FLYT_ERROR_INIT;
		if (flyt_http_call(&c, "GET", path, NULL, &j, NULL, &err) == 0) {
			const char *d = flyt_json_str(j, "decision", "none");
			if (strcmp(d, "commit") == 0)
				return 1;
			if (strcmp(d, "rollback") == 0 ||
			    migration_phase_terminal(migration_phase_from_name(flyt_json_str(j, "phase", ""))))
				return 0;
		} else if (err.code == FLYT_E_NOT_FOUND) {
			return 0;
		}
		flyt_sleep_ms(1000);
	}
	return -1;
}

/* Target, the source having committed: lets the restored copy run, through
 * its driver (a signal does not run a VM that QEMU holds paused), and records
 * the outcome. Called with a->lock held; drops it around the driver (the
 * workload is busy migrating: nobody removes it meanwhile). */
static void run_copy(agent_t *a, migration_t *m, workload_t *w)
{
	flyt_error_t err = FLYT_ERROR_INIT;
	w->pid = m->restored_pid;
	w->start_ticks = m->restored_ticks;
	m->w = w;
	pthread_mutex_unlock(&a->lock);
	int r = DRIVER_CALL(w->driver, resume, &err, m, &err);
	pthread_mutex_lock(&a->lock);
	m->w = NULL;
	if (r < 0) {
		snprintf(m->error, sizeof(m->error),
			 "flytd restarted before the workload ran here; %s committed, but resuming the copy here "
			 "failed: %s",
			 m->peer_name, err.msg);
		migration_fail_keeping(m, w);
		return;
	}
	w->state = WL_RUNNING;
	w->error[0] = '\0';
	free(w->busy);
	w->busy = NULL;
	workload_save(a, w, NULL);
	migration_set_copy(m, "running");
	m->note[0] = '\0';
	migration_set_phase(m, PHASE_COMMITTED);
}

/* The target side of a migration in doubt: a restored, stopped copy that was
 * never told to run. It runs if the source decided to commit. */
static void resolve_target(migration_t *m)
{
	agent_t *a = m->agent;
	int d = source_decision(m);
	pthread_mutex_lock(&a->lock);
	workload_t *w = workload_find(a, m->workload);
	bool restored =
	    w && (m->engine_copy || (m->restored_pid > 0 && proc_alive(m->restored_pid, m->restored_ticks)));
	flyt_error_t err = FLYT_ERROR_INIT;
	if (d == 1 && restored && migration_decide(m, DECISION_COMMIT, &err) == 0) {
		run_copy(a, m, w);
	} else if (d == 0 || !restored) {
		if (restored && m->restored_pid > 0)
			proc_tree_signal(m->restored_pid, SIGKILL);
		if (restored)
			discard_held_copy(m, w);
		if (w) {
			flyt_rm_rf(w->dir, NULL);
			workload_remove(a, w);
		}
		snprintf(m->error, sizeof(m->error), "flytd restarted before the workload ran here; %s",
			 d == 0 ? "the source did not commit: the copy here was discarded" : "the copy here was lost");
		migration_set_copy(m, "discarded");
		migration_set_phase(m, PHASE_ROLLED_BACK);
	} else {
		snprintf(
		    m->error, sizeof(m->error),
		    "flytd restarted while the restored copy (pid %d) waited for the source's decision, and %s does not answer%s%s; the copy is kept stopped",
		    (int)m->restored_pid, m->peer_name, err.msg[0] ? ": " : "", err.msg);
		migration_fail_keeping(m, w);
	}
	pthread_mutex_unlock(&a->lock);
}

static void *resolve_thread(void *arg)
{
	migration_t *m = arg;
	log_info("migration %s (%s): in doubt after a restart; asking %s", m->id,
		 m->role == ROLE_SOURCE ? "source" : "target", m->peer_name);
	if (m->role == ROLE_SOURCE)
		resolve_source(m);
	else
		resolve_target(m);
	pthread_mutex_lock(&m->agent->lock);
	m->in_doubt = false;
	pthread_mutex_unlock(&m->agent->lock);
	atomic_store(&m->done, true);
	return NULL;
}

void migrations_resolve_in_doubt(agent_t *a)
{
	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < a->nmigrations; i++) {
		migration_t *m = a->migrations[i];
		if (!m->in_doubt)
			continue;
		pthread_t t;
		if (pthread_create(&t, NULL, resolve_thread, m) == 0)
			pthread_detach(t);
		else
			m->in_doubt = false;
	}
	pthread_mutex_unlock(&a->lock);
}

/* Target, at start: whether the engine holds the arriving workload here (the
 * driver's restore check passes). in_doubt tells the driver not to wait for the
 * engine's migration to end: flytd's start would wait as long. */
static bool engine_has_copy(migration_t *m, workload_t *w)
{
	flyt_error_t err = FLYT_ERROR_INIT;
	m->w = w;
	m->in_doubt = true;
	int r = DRIVER_CALL(w->driver, restore, &err, m, &err);
	m->in_doubt = false;
	m->w = NULL;
	return r == 0;
}

/* A target record found at start. */
static void settle_target(agent_t *a, migration_t *m, json_t *j)
{
	workload_t *w = workload_find(a, m->workload);
	_cleanup_free_ char *recv = flyt_asprintf("%s/recv", m->dir);
	flyt_rm_rf(recv, NULL);
	bool restored = m->restored_pid > 0 && proc_alive(m->restored_pid, m->restored_ticks);
	if (m->mode == MODE_LAZY && m->decision == DECISION_COMMIT && w) {
		/* it had been let run, but its missing pages went with the tunnel: it
		 * cannot run on (and may have died of it already; its record, which
		 * says it ran here, goes all the same) */
		if (restored)
			kill(m->restored_pid, SIGKILL);
		discard_held_copy(m, w);
		snprintf(m->error, sizeof(m->error),
			 "flytd restarted while memory pages were arriving; the copy here was discarded");
		flyt_rm_rf(w->dir, NULL);
		workload_remove(a, w);
		migration_set_copy(m, "discarded");
		migration_set_phase(m, PHASE_FAILED);
		return;
	}
	if (restored && m->decision == DECISION_COMMIT && w) {
		/* it had been let run (or was about to be): it is the workload now */
		run_copy(a, m, w);
		return;
	}
	if (restored && w && m->mode != MODE_LAZY) {
		/* restored but never told to run: only the source knows whether it
		 * committed; resolve_in_doubt asks it once the API runs, the copy
		 * kept stopped meanwhile */
		snprintf(m->note, sizeof(m->note),
			 "flytd restarted while the restored copy (pid %d) waited for the source's decision: asking %s",
			 (int)m->restored_pid, m->peer_name);
		w->pid = m->restored_pid;
		w->start_ticks = m->restored_ticks;
		workload_save(a, w, NULL);
		migration_set_copy(m, "restored");
		m->in_doubt = true;
		atomic_store(&m->done, false);
		return;
	}
	if (!restored && m->restored_pid <= 0 && w && w->driver->send && m->mode != MODE_LAZY &&
	    engine_has_copy(m, w)) {
		/* an engine that migrates by itself (libvirt) went on without
		 * flytd, and holds the workload here: the source decides */
		snprintf(m->note, sizeof(m->note),
			 "flytd restarted while %s's engine migrated the workload here: asking %s for its decision",
			 m->peer_name, m->peer_name);
		m->engine_copy = true;
		migration_set_copy(m, "restored");
		m->in_doubt = true;
		atomic_store(&m->done, false);
		return;
	}
	if (restored)
		kill(m->restored_pid, SIGKILL); /* lazy: its pages went with the tunnel */
	if (w && (w->state == WL_INCOMING || w->busy)) {
		discard_held_copy(m, w);
		flyt_rm_rf(w->dir, NULL);
		workload_remove(a, w);
	}
	snprintf(m->error, sizeof(m->error), "flytd restarted before the workload ran here");
	migration_set_copy(m, "discarded");
	migration_set_phase(m, PHASE_ROLLED_BACK);
}

static void settle_loaded(agent_t *a, migration_t *m, json_t *j)
{
	if (migration_phase_terminal(m->phase))
		return;
	m->decision = read_decision(m);
	if (m->role == ROLE_SOURCE)
		settle_source(a, m, j);
	else
		settle_target(a, m, j);
}

int migration_load_all(agent_t *a, flyt_error_t *err)
{
	_cleanup_free_ char *dir = flyt_asprintf("%s/migrations", a->state_dir);
	if (flyt_mkdir_p(dir, 0700, err) < 0)
		return -1;
	_cleanup_closedir_ DIR *d = opendir(dir);
	if (!d)
		return flyt_error_set(err, FLYT_E_IO, errno, "open %s", dir);
	struct dirent *de;
	pthread_mutex_lock(&a->lock);
	while ((de = readdir(d))) {
		if (!flyt_id_valid(de->d_name))
			continue;
		_cleanup_free_ char *path = flyt_asprintf("%s/%s/migration.json", dir, de->d_name);
		_cleanup_free_ char *text = NULL;
		size_t len;
		_cleanup_json_ json_t *j = NULL;
		flyt_error_t e = FLYT_ERROR_INIT;
		if (flyt_read_file(path, 1024 * 1024, &text, &len, &e) < 0 ||
		    flyt_json_parse_object(text, len, 1024 * 1024, &j, &e) < 0) {
			log_warn("skipping migration record %s: %s", path, e.msg);
			continue;
		}
		migration_t *m = migration_new(
		    a, de->d_name, strcmp(flyt_json_str(j, "role", ""), "source") == 0 ? ROLE_SOURCE : ROLE_TARGET);
		snprintf(m->workload, sizeof(m->workload), "%s", flyt_json_str(j, "workload", ""));
		snprintf(m->kind, sizeof(m->kind), "%s", flyt_json_str(j, "kind", ""));
		m->mode = migration_mode_from_name(flyt_json_str(j, "mode", ""));
		snprintf(m->mode_reason, sizeof(m->mode_reason), "%s", flyt_json_str(j, "mode_reason", ""));
		m->phase = migration_phase_from_name(flyt_json_str(j, "phase", ""));
		const char *dec = flyt_json_str(j, "decision", "none");
		m->decision = strcmp(dec, "commit") == 0     ? DECISION_COMMIT
			      : strcmp(dec, "rollback") == 0 ? DECISION_ROLLBACK
							     : DECISION_NONE;
		snprintf(m->error, sizeof(m->error), "%s", flyt_json_str(j, "error", ""));
		snprintf(m->note, sizeof(m->note), "%s", flyt_json_str(j, "note", ""));
		snprintf(m->peer_name, sizeof(m->peer_name), "%s", flyt_json_str(j, "peer_name", ""));
		snprintf(m->peer_url, sizeof(m->peer_url), "%s", flyt_json_str(j, "peer_url", ""));
		snprintf(m->images_dir, sizeof(m->images_dir), "%s", flyt_json_str(j, "images_dir", m->images_dir));
		m->total_ms = flyt_json_int(j, "total_ms", -1);
		m->downtime_ms = flyt_json_int(j, "downtime_ms", -1);
		m->dump_ms = flyt_json_int(j, "dump_ms", -1);
		m->transfer_ms = flyt_json_int(j, "transfer_ms", -1);
		m->restore_ms = flyt_json_int(j, "restore_ms", -1);
		m->pages_ms = flyt_json_int(j, "pages_ms", -1);
		m->bytes = (uint64_t)flyt_json_int(j, "bytes", 0);
		m->images_bytes = (uint64_t)flyt_json_int(j, "images_bytes", 0);
		m->started_wall_ms = flyt_json_int(j, "started_wall_ms", 0);
		m->restored_pid = (pid_t)flyt_json_int(j, "restored_pid", 0);
		m->restored_ticks = (uint64_t)flyt_json_int(j, "restored_ticks", 0);
		m->pages_released = json_is_true(json_object_get(j, "pages_released"));
		m->dump_pid = (pid_t)flyt_json_int(j, "dump_pid", 0);
		m->dump_ticks = (uint64_t)flyt_json_int(j, "dump_ticks", 0);
		snprintf(m->copy, sizeof(m->copy), "%s", flyt_json_str(j, "copy", "none"));
		m->t_start = 0;
		json_t *phases = json_object_get(j, "phase_ms");
		for (int p = 0; p < PHASE_MAX; p++)
			m->phase_ms[p] = (uint64_t)flyt_json_int(phases, phase_names[p], 0);
		if (m->phase == PHASE_INVALID)
			m->phase = PHASE_FAILED;
		atomic_store(&m->done, true);
		migration_t **nm = realloc(a->migrations, (a->nmigrations + 1) * sizeof(*nm));
		if (!nm)
			abort();
		a->migrations = nm;
		a->migrations[a->nmigrations++] = m;
		settle_loaded(a, m, j);
	}
	pthread_mutex_unlock(&a->lock);
	return 0;
}

static int by_start(const void *x, const void *y)
{
	const migration_t *a = *(migration_t *const *)x, *b = *(migration_t *const *)y;
	return (a->started_wall_ms > b->started_wall_ms) - (a->started_wall_ms < b->started_wall_ms);
}

void migrations_prune(agent_t *a, size_t keep)
{
	pthread_mutex_lock(&a->lock);
	if (a->nmigrations > keep) {
		qsort(a->migrations, a->nmigrations, sizeof(*a->migrations), by_start);
		size_t excess = a->nmigrations - keep, out = 0;
		for (size_t i = 0; i < a->nmigrations; i++) {
			migration_t *m = a->migrations[i];
			if (excess > 0 && migration_phase_terminal(m->phase) && atomic_load(&m->done)) {
				flyt_rm_rf(m->dir, NULL);
				migration_free(m);
				excess--;
				continue;
			}
			a->migrations[out++] = m;
		}
		a->nmigrations = out;
	}
	pthread_mutex_unlock(&a->lock);
}

void migration_close_pages(migration_t *m)
{
	if (m->pages_fd >= 0)
		close(m->pages_fd);
	m->pages_fd = -1;
	flyt_tls_conn_free(m->pages_tls);
	m->pages_tls = NULL;
}
