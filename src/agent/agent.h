/* flytd: the agent of one host. This header holds the agent's state and the types
 * its modules share: workloads, migrations, drivers. */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "lib/auth.h"
#include "lib/error.h"
#include "lib/events.h"
#include "lib/http.h"
#include "lib/spawn.h"
#include "lib/tls.h"

typedef struct agent agent_t;
typedef struct workload workload_t;
typedef struct migration migration_t;
typedef struct driver driver_t;

/* The in-namespace path where a process workload sees its own files directory. */
#define FLYT_WORKLOAD_MOUNT "/run/flyt/workload"

typedef enum {
	WL_CREATING,
	WL_RUNNING,
	WL_STOPPED,
	WL_EXITED,    /* ended by itself */
	WL_MIGRATING, /* leaving this host */
	WL_INCOMING,  /* arriving on this host, not yet committed */
	WL_FAILED,
	WL_STATE_MAX,
	WL_STATE_INVALID = -1,
} workload_state_t;

struct workload {
	char id[33];
	char name[64];
	const driver_t *driver;
	json_t *spec; /* the kind's own spec, validated by the driver */
	workload_state_t state;
	char error[512];      /* why it is failed, or the last start error */
	pid_t pid;	      /* host pid of the workload's root process */
	uint64_t start_ticks; /* its start time (/proc/PID/stat field 22): guards against pid reuse */
	int64_t created_ms;
	char dir[512];		 /* STATE/workloads/NAME */
	char files_dir[600];	 /* dir/files: cwd, logs, anything it writes; travels with it */
	char *busy;		 /* id of the migration using it, or NULL */
	uint64_t cpu_ticks_last; /* for the CPU share between two status calls */
	uint64_t cpu_sample_ms;
	double cpu_percent;
};

typedef enum {
	MODE_AUTO,
	MODE_STOP_COPY,
	MODE_LAZY,
	MODE_PRECOPY,
	MODE_SHARED,
	MODE_POSTCOPY, /* live drivers (qemu): switch to the target, then fetch memory */
	MODE_MAX,
	MODE_INVALID = -1,
} migration_mode_t;

typedef enum {
	PHASE_PREPARING,
	PHASE_TRANSFERRING,
	PHASE_RESTORING,
	PHASE_SWITCHING,
	PHASE_VERIFYING,
	PHASE_COMMITTED,
	PHASE_ROLLED_BACK,
	PHASE_FAILED,
	PHASE_MAX,
	PHASE_INVALID = -1,
} migration_phase_t;

typedef enum {
	ROLE_SOURCE,
	ROLE_TARGET,
} migration_role_t;

typedef enum {
	DECISION_NONE,
	DECISION_COMMIT,
	DECISION_ROLLBACK,
} migration_decision_t;

struct migration {
	char id[33];
	migration_role_t role;
	char workload[64];
	char kind[16];
	migration_mode_t mode; /* the mode in use (never AUTO once started) */
	char mode_reason[256];
	migration_phase_t phase;
	migration_decision_t decision;
	char error[1024];
	char note[512];	  /* non-fatal remarks (e.g. lazy-mode caveats) */
	uint64_t version; /* bumped on every change, for long polls */

	/* peers */
	char peer_name[64];
	char peer_url[256];   /* the other agent's API */
	char peer_data[128];  /* target's data address "IP:PORT" (source side) */
	char ticket[65];      /* authenticates the data connections */
	char shared_dir[512]; /* mode shared: the directory both hosts mount */
	uint64_t bandwidth;   /* bytes per second, 0 = unlimited */
	unsigned precopy_rounds;
	/* live drivers (qemu): the engine's own migration, tuned by these */
	bool live;		 /* the driver migrates by itself (driver->send) */
	char live_uri[160];	 /* where the target's engine listens ("tcp:IP:PORT") */
	char live_host[128];	 /* the target's data address, for more channels */
	uint16_t live_nbd_port;	 /* where the target exports its copies of local disks */
	int64_t max_downtime_ms; /* 0: the engine's default */
	bool auto_converge, xbzrle;
	unsigned multifd;	       /* channels, 0: off */
	unsigned postcopy_after;       /* postcopy: switch after this many passes */
	atomic_bool postcopy_now;      /* postcopy: switch at once (on demand) */
	bool postcopy_requested;       /* the switch was asked of the engine, decision written */
	unsigned postcopy_asked_after; /* passes when it was asked */
	bool postcopy_started;	       /* the engine switched: past the point of no return */
	bool downtime_final;	       /* downtime_ms measured by the engine: keep it */
	uint64_t remaining_bytes;      /* memory still to send */
	uint64_t dirty_rate;	       /* bytes per second the guest dirties */
	unsigned passes;	       /* memory passes so far */

	/* directories */
	char dir[512];	      /* STATE/migrations/ID */
	char images_dir[600]; /* where CRIU images are written or read */

	/* statistics; times in ms on this host's monotonic clock unless noted */
	uint64_t t_start, t_freeze, t_end;
	uint64_t phase_ms[PHASE_MAX];
	uint64_t phase_started;
	uint64_t bytes; /* bytes moved between the hosts */
	uint64_t images_bytes;
	int64_t downtime_ms; /* -1 until known */
	int64_t total_ms;
	int64_t dump_ms, restore_ms, transfer_ms, pages_ms;
	int64_t started_wall_ms;

	/* live state, not persisted */
	atomic_bool cancel;
	pthread_t thread;
	bool thread_started;
	atomic_bool done; /* no thread uses it any more: it may be pruned */
	bool aborting;	  /* target: dropped before any data connection came */
	bool in_doubt;	  /* found after a restart past the switch-over: the peer decides (resolve_in_doubt) */
	flyt_child_t dump_child;
	flyt_child_t lazy_child;
	int hook_listen_fd, hook_fd;
	int data_fd;			 /* target: the accepted main connection */
	int pages_fd;			 /* the page tunnel connection */
	struct flyt_tls_conn *pages_tls; /* and its TLS session */
	uint16_t page_server_port;	 /* source: CRIU's page server on 127.0.0.1 */
	bool pages_released;		 /* source, lazy: the hook let CRIU serve pages */
	uint16_t tunnel_port;		 /* target: where lazy-pages connects */
	pthread_t tunnel_thread;
	bool tunnel_started;
	workload_t *w; /* the workload (source: existing; target: arriving) */
	pid_t restored_pid;
	uint64_t restored_ticks; /* its start time, so a reused pid is never taken for it */
	bool engine_copy;	 /* target, after a restart: the engine (libvirt) holds a copy */
	char copy[16];		 /* target: none, restored (stopped), running, discarded */
	pid_t dump_pid;		 /* source, lazy: criu dump, which outlives a crashed flytd */
	uint64_t dump_ticks;
	agent_t *agent;
	/* what the other side's driver said, NULL when nothing. Source: what the
	 * target's driver said about the arriving workload (its "incoming" and
	 * "receive" slots), sent in "ready", for its driver's dump or send (e.g.
	 * whether the target already has a container's image, where it put a VM's
	 * disk copies). Target: what the source's driver offered (its "offer"
	 * slot), sent in "begin" (untrusted input: validate it). */
	json_t *peer_info;
};

/* One vtable per workload kind. Mandatory slots are never NULL; a NULL optional
 * slot means the kind cannot do that (DRIVER_CALL reports it as unsupported). */
struct driver {
	const char *kind;
	/* mandatory */
	int (*probe)(agent_t *a, json_t *ret_caps, flyt_error_t *err);
	int (*validate)(agent_t *a, json_t *spec, flyt_error_t *err);
	int (*start)(agent_t *a, workload_t *w, flyt_error_t *err);
	int (*stop)(agent_t *a, workload_t *w, flyt_error_t *err);
	int (*destroy)(agent_t *a, workload_t *w, flyt_error_t *err);
	int (*status)(agent_t *a, workload_t *w, json_t *ret, flyt_error_t *err);
	/* optional: image-based migration (see migrate.c for the protocol) */
	int (*predump)(migration_t *m, unsigned round, flyt_error_t *err);
	int (*dump)(migration_t *m, flyt_error_t *err);
	int (*release)(migration_t *m, flyt_error_t *err); /* lazy: start serving pages, stay frozen */
	int (*dump_finish)(migration_t *m, bool commit, flyt_error_t *err);
	int (*restore)(migration_t *m, flyt_error_t *err);
	int (*resume)(migration_t *m, flyt_error_t *err);
	int (*discard)(migration_t *m, flyt_error_t *err);
	/* optional, target: called when the source announces the workload (before
	 * anything is sent); may put facts for the source's dump into ret_info (an
	 * object), or refuse the workload */
	int (*incoming)(migration_t *m, json_t *ret_info, flyt_error_t *err);
	/* optional, source: called before the target is told about the workload; may
	 * put facts for the target's incoming and receive slots into ret_info (an
	 * object, the target's m->peer_info), e.g. a VM's disks to copy */
	int (*offer)(migration_t *m, json_t *ret_info, flyt_error_t *err);
	/* optional, source: the target runs the workload and the migration is
	 * committed; remove what is left of it here (a stopped container). Errors
	 * are logged, not fatal: the workload has moved. */
	int (*commit_done)(migration_t *m, flyt_error_t *err);
	/* optional: live migration done by the workload's own engine (QEMU). With these
	 * set, the agents skip pre-dumps and image transfer: the target's `receive`
	 * starts a paused receiver before "ready" and fills {"uri": ...} in it; the
	 * source's `send` migrates to it and returns once the source is paused with
	 * everything sent (or, on failure, with the source running again); `restore`
	 * waits for the receiver to have it all, `resume` runs it, `dump_finish(false)`
	 * resumes the source, and `finish_source` ends the source copy once the target
	 * runs. */
	int (*receive)(migration_t *m, json_t *ready, flyt_error_t *err);
	int (*send)(migration_t *m, flyt_error_t *err);
	int (*finish_source)(migration_t *m, flyt_error_t *err);
	/* from the dump to dump_finish the source is held by its engine, not by
	 * CRIU (runc and docker pause it in a cgroup freezer, which no signal thaws;
	 * Podman stops it and keeps its checkpoint): a flytd that restarts there
	 * without a commit decision resumes it with dump_finish(false) */
	bool engine_holds_source;
};

#define DRIVER_CALL(drv, slot, err, ...)        \
	((drv)->slot ? (drv)->slot(__VA_ARGS__) \
		     : flyt_error_set((err), FLYT_E_UNSUPPORTED, 0, "the %s driver cannot " #slot, (drv)->kind))

extern const driver_t driver_process;
extern const driver_t driver_fake;
extern const driver_t driver_runc;
extern const driver_t driver_docker;
extern const driver_t driver_podman;
extern const driver_t driver_qemu;
extern const driver_t driver_libvirt;

/* Every driver, in drivers/registry.c. */
extern const driver_t *const agent_drivers[];
extern const size_t agent_ndrivers;

struct agent {
	/* configuration */
	char *name;
	char *listen;
	char *data_listen;
	char *advertise_url;
	char *controller_url;
	char *state_dir;
	char *token_file;
	char *criu;
	char *qemu;		   /* qemu-system-x86_64 binary (--qemu) */
	char *libvirt_uri;	   /* this host's libvirt connection (--libvirt-uri) */
	char *libvirt_migrate_uri; /* the same as other hosts' libvirtd reach it */
	char *libvirt_tls_dir;	   /* libvirtd's migrate_tls_x509_cert_dir, kept by flytd */
	char *libexec_dir;
	char **shared_dirs;
	char **drivers_enabled;
	char *area;
	char *docker_socket; /* the Docker Engine API (docker driver) */
	char *podman_socket; /* the libpod API (podman driver) */
	char *runc;	     /* the runc binary (runc driver) */
	int64_t heartbeat_ms;
	int64_t io_timeout_ms;
	/* fault injection for tests (fault.c; FLYT_FAULT) */
	char fault_pause_role[8];
	char fault_pause_phase[24];
	uint32_t fault_corrupt_frame;
	uint64_t fault_corrupt_live;
	char token[FLYT_TOKEN_MAX];
	/* TLS (enroll.c) */
	bool plain_http;       /* --plain-http: no TLS, the cluster token instead */
	char *join_token_file; /* --join-token-file: for the first start */
	char tls_host[128];    /* the address peers reach this host at (in its certificate) */
	flyt_tls_t *tls;       /* this agent's certificate; NULL with --plain-http */
	pthread_mutex_t tls_lock;

	/* runtime */
	flyt_http_server_t *http;
	flyt_events_t *events;
	int data_listen_fd;
	uint16_t data_port;
	pthread_t data_thread, heartbeat_thread, monitor_thread;
	atomic_bool stopping;
	atomic_int busy_threads;    /* migration and data-connection threads running */
	atomic_int unauthenticated; /* data connections that have not sent their HELLO yet */

	pthread_mutex_t lock;	/* guards workloads, migrations and their fields */
	pthread_cond_t changed; /* broadcast when a migration changes */
	workload_t **workloads;
	size_t nworkloads;
	migration_t **migrations;
	size_t nmigrations;

	/* cached host facts (see facts.c) */
	pthread_mutex_t facts_lock;
	json_t *facts;
	char criu_version[32];
	bool criu_ok;
	char criu_reason[256];
	bool has_soft_dirty, has_uffd;
	int64_t pipe_max_size;
};

/* enroll.c: TLS */
/* Loads STATE/tls, enrolling with the join token on a first start. */
int agent_tls_setup(agent_t *a, flyt_error_t *err);
/* Gets a new certificate from the controller now. */
int agent_tls_renew(agent_t *a, flyt_error_t *err);
/* Whether two thirds of the certificate's life have passed. */
bool agent_tls_due(agent_t *a);
json_t *agent_tls_json(agent_t *a);
/* Writes the cluster CA, this agent's certificate and key into dir under the
 * names QEMU's tls-creds-x509 reads (ca-cert.pem, server-cert.pem,
 * server-key.pem, client-cert.pem, client-key.pem; mode 0600), as one
 * consistent pair even while a renewal runs. */
int agent_tls_export_qemu(agent_t *a, const char *dir, flyt_error_t *err);
/* A client for the controller or a peer agent: its certificate over TLS, the
 * cluster token with --plain-http. */
flyt_http_client_t agent_client(agent_t *a, const char *url, long timeout_ms);

/* migrate.c: closes the page tunnel connection and its TLS session. */
void migration_close_pages(migration_t *m);

/* agent.c */
int agent_start(agent_t *a, flyt_error_t *err);
void agent_stop(agent_t *a);
/* Frees the agent's memory once no migration thread runs any more (at exit). */
void agent_free(agent_t *a);
const char *agent_helper_path(agent_t *a, const char *name, char *buf, size_t size);
void agent_publish(agent_t *a, const char *type, json_t *data);
/* True when dir is exactly one of the directories given with --shared-dir. */
bool agent_shared_dir_allowed(agent_t *a, const char *dir);

/* facts.c */
int facts_refresh(agent_t *a, flyt_error_t *err);
json_t *facts_get(agent_t *a);	 /* new reference */
json_t *facts_modes(agent_t *a); /* {"stop-copy":{"available":..,"reason":..},...} */
bool facts_mode_available(agent_t *a, migration_mode_t mode, char *reason, size_t size);
/* True when the driver's probe lists mode among the modes it can migrate in (a
 * driver that lists none can do all); otherwise the reason. */
bool driver_mode_supported(agent_t *a, const driver_t *drv, migration_mode_t mode, char *reason, size_t size);

/* workload.c */
const driver_t *driver_find(agent_t *a, const char *kind);
const char *workload_state_name(workload_state_t s);
workload_state_t workload_state_from_name(const char *s);
workload_t *workload_find(agent_t *a, const char *name); /* lock held */
int workload_create(agent_t *a, json_t *body, json_t **ret, flyt_error_t *err);
int workload_add(agent_t *a, workload_t *w, flyt_error_t *err); /* lock held */
void workload_remove(agent_t *a, workload_t *w);		/* lock held; frees w */
int workload_save(agent_t *a, workload_t *w, flyt_error_t *err);
int workload_load_all(agent_t *a, flyt_error_t *err);
json_t *workload_json(agent_t *a, workload_t *w, bool live); /* lock held */
int workload_action(agent_t *a, const char *name, const char *action, json_t **ret, flyt_error_t *err);
int workload_delete(agent_t *a, const char *name, flyt_error_t *err);
workload_t *workload_new(agent_t *a, const char *id, const char *name, const driver_t *drv, json_t *spec);
void workload_free(workload_t *w);
json_t *workloads_summary(agent_t *a);
void workloads_monitor(agent_t *a);

/* migrate.c */
const char *migration_mode_name(migration_mode_t m);
migration_mode_t migration_mode_from_name(const char *s);
const char *migration_phase_name(migration_phase_t p);

/* After migration_load_all, with the API up: settles in the background each
 * migration a restart left in doubt past the switch-over, by asking its peer. */
void migrations_resolve_in_doubt(agent_t *a);
/* migrate_source.c, for that: what became of the target's copy (1 it runs, 0 it
 * is gone, -1 unknown; polls up to 5 minutes), and restoring the source's own
 * checkpoint here. */
int source_target_outcome(migration_t *m);
/* migrate.c, for a target: what the source says of the migration (1 it
 * decided to commit, 0 it did not and never will, -1 it does not answer;
 * polls up to 10 minutes). */
int source_decision(migration_t *m);
int source_restore_locally(migration_t *m, flyt_error_t *err);

/* diskimg.c: empty images for the VM drivers' copies of local disks */
#define DISKIMG_MAX_SIZE (64ULL << 40)
bool diskimg_format_valid(const char *format); /* raw or qcow2 */
/* Creates an empty image of size bytes (virtual size) at path, replacing any file
 * there: raw sparse, qcow2 through qemu-img (FLYT_E_UNSUPPORTED without it). */
int diskimg_create(agent_t *a, const char *path, const char *format, uint64_t size, flyt_error_t *err);

/* fault.c: fault injection for the reliability tests, off unless FLYT_FAULT is set */
void fault_init(agent_t *a);
/* Called by the migration thread after entering a phase; may block (pause). */
void fault_phase(migration_t *m, migration_phase_t phase);
/* the same pause at a named point within a phase ("pages": the lazy page tunnel) */
void fault_point(migration_t *m, const char *point);
/* FLYT_FAULT=corrupt-live:N: a relay to the engine's incoming host:port that
 * damages the stream; 1 and *ret_port its port, 0 when not asked for. */
int fault_live_relay(migration_t *m, const char *host, uint16_t port, uint16_t *ret_port, flyt_error_t *err);
migration_phase_t migration_phase_from_name(const char *s);
bool migration_phase_terminal(migration_phase_t p);
migration_t *migration_find(agent_t *a, const char *id);       /* lock held */
json_t *migration_json(migration_t *m);			       /* lock held */
void migration_set_phase(migration_t *m, migration_phase_t p); /* lock held */
void migration_changed(migration_t *m);			       /* lock held */
int migration_save(migration_t *m, flyt_error_t *err);
/* Lazy source: records the running criu dump (m->dump_child), which outlives a
 * crashed flytd, for the next flytd to end (takes the lock). */
int migration_record_dump(migration_t *m, flyt_error_t *err);
/* Records a decision durably before anyone acts on it: first the decision file
 * (read by flyt-criu-hook when flytd is gone and by a restarted flytd), then the
 * record. Lock held. */
int migration_decide(migration_t *m, migration_decision_t d, flyt_error_t *err);
/* Source of a live engine (qemu, libvirt; lock not held): records the decision
 * to commit before the engine is asked to switch over, or DECISION_NONE to take
 * back one the engine never acted on. */
int migration_decide_live(migration_t *m, migration_decision_t d);
/* Postcopy (lock not held): the switch was asked of engine; the engine switched
 * (from then on the guest runs on the target only). Both say so in the note. */
void migration_postcopy_asked(migration_t *m, const char *engine);
void migration_postcopy_switched(migration_t *m);
/* Ends m as failed, with m->error as the reason on w too, whose copy stays as
 * it is (lock held). */
void migration_fail_keeping(migration_t *m, workload_t *w);
/* Sets what became of the target's copy (lock held; saved). */
void migration_set_copy(migration_t *m, const char *copy);
migration_t *migration_new(agent_t *a, const char *id, migration_role_t role);
void migration_free(migration_t *m);
int migration_load_all(agent_t *a, flyt_error_t *err);
/* Forgets the oldest finished migrations beyond keep (records and directories). */
void migrations_prune(agent_t *a, size_t keep);
int migration_wait(agent_t *a, const char *id, uint64_t since, unsigned wait_ms, json_t **ret, flyt_error_t *err);

/* migrate_source.c */
int migrate_source_start(agent_t *a, json_t *body, json_t **ret, flyt_error_t *err);
int migrate_cancel(agent_t *a, const char *id, flyt_error_t *err);
/* A postcopy migration switches to postcopy now instead of after its passes. */
int migrate_postcopy_now(agent_t *a, const char *id, flyt_error_t *err);

/* migrate_target.c */
int migrate_target_prepare(agent_t *a, json_t *body, json_t **ret, flyt_error_t *err);
void migrate_target_accept(agent_t *a, int fd);
int migrate_target_abort(agent_t *a, const char *id, flyt_error_t *err);

/* api.c */
extern const flyt_route_t agent_routes[];
extern const size_t agent_nroutes;
