/* flyt-controller: inventory, REST API, migration orchestration. This header holds
 * the controller's state and what its modules share. */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "controller/legacy.h"
#include "controller/store.h"
#include "energy/plan.h"
#include "energy/policy.h"
#include "lib/auth.h"
#include "lib/tls.h"
#include "lib/error.h"
#include "lib/events.h"
#include "lib/http.h"

typedef struct {
	/* configuration */
	char *listen;
	char *db_path;
	char *token_file;
	char *web_dir;
	int64_t offline_after_ms;
	int64_t agent_timeout_ms;
	int64_t session_ttl_min; /* lifetime of a browser session */
	bool cookie_secure;	 /* mark the session cookie Secure (TLS in front) */
	char token[FLYT_TOKEN_MAX];
	char *read_token_file;		 /* --read-token-file, or NULL: no read-only token */
	char read_token[FLYT_TOKEN_MAX]; /* may GET, never change anything ("" without one) */
	pthread_mutex_t token_lock;	 /* guards both tokens (rotation) */
	/* TLS (pki.c) */
	bool plain_http;      /* --plain-http: no TLS anywhere */
	char *tls_dir;	      /* the cluster CA and the controller's certificate */
	char **tls_sans;      /* extra names for the controller's certificate */
	int64_t cert_days;    /* lifetime of the certificates it issues */
	char *join_token_out; /* write a new join token here at start */
	int64_t join_ttl_min; /* lifetime of join tokens */
	struct flyt_tls *tls; /* NULL with --plain-http */
	char ca_fingerprint[65];

	/* runtime */
	store_t *store;
	flyt_events_t *events;
	flyt_http_server_t *http;
	pthread_t monitor_thread;
	atomic_bool stopping;
	atomic_int orchestrators; /* running migration threads */
	pthread_mutex_t change_lock;
	pthread_cond_t change_cond; /* broadcast when any migration record changes */
	uint64_t changes;

	/* energy-aware placement: configuration (signals.c, policy.c) */
	char **signals_files;	     /* replay files (CSV or JSON of the Energi Data Service) */
	char *signals_url;	     /* base URL of an Energi Data Service API, or NULL */
	char **signals_datasets;     /* datasets to fetch (default CO2EmisProg, CO2Emis, DayAheadPrices) */
	int64_t signals_interval_ms; /* between fetches of one dataset */
	int64_t policy_interval_ms;  /* between policy ticks */
	char *clock_start;	     /* the policy clock starts at this time (replays) */
	char *clock_speed;	     /* and runs this many times faster than the wall clock */
	/* runtime */
	int64_t clock_wall0_ms, clock_policy0_ms; /* policy time = policy0 + (wall - wall0) * rate */
	double clock_rate;
	struct signals *signals;
	struct policy *policy;
} ctl_t;

/* Wakes long polls after a migration record changed. */
void ctl_changed(ctl_t *c);
/* Waits until the change counter passes *seen or deadline (monotonic ms). */
void ctl_wait_change(ctl_t *c, uint64_t *seen, uint64_t deadline_ms);

/* An HTTP client for the agent at url, with the cluster token. */
flyt_http_client_t ctl_agent_client(ctl_t *c, const char *url, long timeout_ms);

/* Publishes (and persists) an event. Takes ownership of data. */
void ctl_publish(ctl_t *c, const char *type, json_t *data);

/* hosts.c */
int hosts_register(ctl_t *c, json_t *body, const char *cert_cn, json_t **ret, flyt_error_t *err);
int hosts_heartbeat(ctl_t *c, const char *name, json_t *body, flyt_error_t *err);
int hosts_add(ctl_t *c, json_t *body, json_t **ret, flyt_error_t *err);
int hosts_remove(ctl_t *c, const char *name, flyt_error_t *err);
/* The host's URL if it exists and is online; errors otherwise. Caller frees. */
int hosts_online_url(ctl_t *c, const char *name, char **ret_url, flyt_error_t *err);

/* reconcile.c: the inventory against heartbeats (see there). For a workload
 * host reports that the inventory places elsewhere: */
void reconcile_foreign(ctl_t *c, const char *host, json_t *reported, json_t *known);
/* For one the inventory places on host: false while it must stay as recorded
 * (two copies, the other still there). */
bool reconcile_own(ctl_t *c, const char *host, json_t *reported, json_t *known);
/* Workloads the inventory places on host that its heartbeat did not list. */
void reconcile_missing(ctl_t *c, const char *host, json_t *reported);
void *hosts_monitor(void *arg);

/* workloads.c */
int workloads_create(ctl_t *c, json_t *body, json_t **ret, flyt_error_t *err);
int workloads_show(ctl_t *c, const char *name, json_t **ret, flyt_error_t *err);
int workloads_action(ctl_t *c, const char *name, const char *action, json_t **ret, flyt_error_t *err);
int workloads_delete(ctl_t *c, const char *name, bool force, flyt_error_t *err);
int workloads_logs(ctl_t *c, const char *name, const char *stream, uint64_t tail, char **ret, size_t *ret_len,
		   flyt_error_t *err);

/* legacy.c: the old system's guests.json, each guest added as a host (the
 * parsers of its files are in legacy.h) */
int legacy_guests_import(ctl_t *c, json_t *body, json_t **ret, flyt_error_t *err);

/* orchestrator.c */
int orch_start(ctl_t *c, json_t *body, json_t **ret, flyt_error_t *err);
int orch_cancel(ctl_t *c, const char *id, json_t **ret, flyt_error_t *err);
int orch_postcopy(ctl_t *c, const char *id, json_t **ret, flyt_error_t *err);
int orch_wait(ctl_t *c, const char *id, uint64_t since, unsigned wait_ms, json_t **ret, flyt_error_t *err);
void orch_resume_unfinished(ctl_t *c);
/* The migration targets of a workload: every other host with whether it can take
 * the workload and why not, from the facts the hosts last reported:
 * {"workload","source","targets":[{"host","state","compatible","reason","mode","mode_reason"}]}. */
int orch_targets(ctl_t *c, const char *name, json_t **ret, flyt_error_t *err);

/* orchestrator.c: orch_start with an origin ({"policy", "decision", "reason"}) kept
 * in the migration's options, so that a policy migration says why it happened */
int orch_start_from(ctl_t *c, json_t *body, json_t *origin, json_t **ret, flyt_error_t *err);

/* hosts.c, workloads.c: what the operator sets (PATCH) */
int hosts_set(ctl_t *c, const char *name, json_t *body, json_t **ret, flyt_error_t *err);
int workloads_set(ctl_t *c, const char *name, json_t *body, json_t **ret, flyt_error_t *err);

/* policy.c: the clock of the policy (the wall clock, or a replay clock from
 * --clock-start / --clock-speed), the policy loop, its settings, plans and
 * decisions, and energy accounting */
int ctl_clock_setup(ctl_t *c, flyt_error_t *err);
int64_t ctl_policy_now(ctl_t *c);
/* The policy time of a wall-clock time, and back. */
int64_t ctl_policy_time(ctl_t *c, int64_t wall_ms);
int64_t ctl_wall_time(ctl_t *c, int64_t policy_ms);
/* policy_init loads the settings (before signals_start, which reads them);
 * policy_start starts the loop (after it). */
int policy_init(ctl_t *c, flyt_error_t *err);
int policy_start(ctl_t *c, flyt_error_t *err);
void policy_stop(ctl_t *c);
/* A copy of the current settings. */
void policy_settings(ctl_t *c, energy_policy_t *ret);
int policy_update(ctl_t *c, json_t *changes, json_t **ret, flyt_error_t *err);
json_t *policy_status(ctl_t *c);
/* What would happen now, without doing it: {"time","policy","moves","blocked",
 * "decisions":[...]} (all workloads with all, else those the policy concerns). */
int policy_plan(ctl_t *c, bool all, const char *workload, json_t **ret, flyt_error_t *err);
/* Energy in total per host and workload, and the power now:
 * {"host": {NAME: totals}, "workload": {NAME: totals}, "power_w": {"host", "workload"}}. */
json_t *policy_energy(ctl_t *c);
/* Wakes the loop for a tick now (after a settings change). */
void policy_kick(ctl_t *c);

/* signals.c: the energy signals (replay files, the API fetcher, the cache) */
int signals_start(ctl_t *c, flyt_error_t *err);
void signals_stop(ctl_t *c);
/* The views of areas (n of them) at policy time now for the engine. */
void signals_fill(ctl_t *c, char *const *areas, size_t n, int64_t now, const energy_policy_t *p, energy_area_t *out);
json_t *signals_status(ctl_t *c);
/* Samples of (area, kind) in [from, to), at most limit: {"area","kind","unit","step_ms","samples":[[time, value]]} */
int signals_samples(ctl_t *c, const char *area, const char *kind, int64_t from_ms, int64_t to_ms, int64_t limit,
		    json_t **ret, flyt_error_t *err);

/* api.c */
extern const flyt_route_t ctl_routes[];
extern const size_t ctl_nroutes;

/* pki.c: the cluster CA, the controller's certificate, join tokens, agent
 * enrolment and renewal, token rotation */
int pki_setup(ctl_t *c, flyt_error_t *err);
int pki_ca(ctl_t *c, flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err);
int pki_enroll(ctl_t *c, flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err);
int pki_renew(ctl_t *c, flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err);
int pki_join_token_create(ctl_t *c, flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err);
int pki_join_tokens(ctl_t *c, flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err);
int pki_join_token_delete(ctl_t *c, flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err);
int pki_token_rotate(ctl_t *c, flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err);
int pki_host_rotate_cert(ctl_t *c, flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err);

/* session.c: bearer tokens and browser sessions */
/* "admin" for the cluster token, "read" for the read-only token, else NULL. */
const char *ctl_token_role(ctl_t *c, const char *tok);
#define SESSION_COOKIE "flyt_session"
#define CSRF_HEADER "X-CSRF-Token"
/* The server's auth callback: a bearer token, or a session cookie (with the CSRF
 * header on requests that change state). */
int session_auth(flyt_http_request_t *req, const flyt_route_t *route, flyt_error_t *err);
/* The unexpired session of the request's cookie (new reference), or NULL. */
json_t *session_of_request(ctl_t *c, flyt_http_request_t *req);
/* Handlers of /api/v1/session and /api/v1/sessions. */
int session_open(ctl_t *c, flyt_http_request_t *req, json_t *body, flyt_http_response_t *res, flyt_error_t *err);
int session_show(ctl_t *c, flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err);
int session_close(ctl_t *c, flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err);
int session_list(ctl_t *c, flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err);
int session_revoke_all(ctl_t *c, flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err);

/* ui.c: the web UI's files, embedded at build time (GET fallback of the server) */
int ui_serve(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err);
