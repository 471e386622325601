/* flyt-controller: parses its options, opens the store, serves the API, resumes
 * unfinished migrations, and waits for SIGINT or SIGTERM. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "controller/controller.h"

#include "flyt-config.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/daemon.h"
#include "lib/util.h"

flyt_http_client_t ctl_agent_client(ctl_t *c, const char *url, long timeout_ms)
{
	return (flyt_http_client_t){
		.base_url = url,
		.token = c->tls ? NULL : c->token, /* over TLS its certificate speaks for it */
		.ca_file = c->tls ? flyt_tls_ca_file(c->tls) : NULL,
		.cert_file = c->tls ? flyt_tls_cert_file(c->tls) : NULL,
		.key_file = c->tls ? flyt_tls_key_file(c->tls) : NULL,
		.timeout_ms = timeout_ms ? timeout_ms : c->agent_timeout_ms,
		.connect_timeout_ms = 3000,
		.keep_alive = true, /* its GETs reuse connections (see http_client.c) */
	};
}

static void persist_event(void *ctx, uint64_t seq, json_t *event)
{
	ctl_t *c = ctx;
	flyt_error_t err = FLYT_ERROR_INIT;
	if (store_event_add(c->store, (int64_t)seq, event, &err) < 0)
		log_warn("event %llu not saved: %s", (unsigned long long)seq, err.msg);
}

void ctl_publish(ctl_t *c, const char *type, json_t *data)
{
	flyt_events_publish(c->events, type, data);
}

void ctl_changed(ctl_t *c)
{
	pthread_mutex_lock(&c->change_lock);
	c->changes++;
	pthread_cond_broadcast(&c->change_cond);
	pthread_mutex_unlock(&c->change_lock);
}

void ctl_wait_change(ctl_t *c, uint64_t *seen, uint64_t deadline_ms)
{
	pthread_mutex_lock(&c->change_lock);
	if (deadline_ms == 0) {
		*seen = c->changes;
		pthread_mutex_unlock(&c->change_lock);
		return;
	}
	while (c->changes == *seen && !atomic_load(&c->stopping)) {
		uint64_t now = flyt_now_ms();
		if (now >= deadline_ms)
			break;
		/* wake at least every second to notice shutdown */
		uint64_t wait = deadline_ms - now < 1000 ? deadline_ms - now : 1000;
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (time_t)(wait / 1000);
		ts.tv_nsec += (long)(wait % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&c->change_cond, &c->change_lock, &ts);
	}
	*seen = c->changes;
	pthread_mutex_unlock(&c->change_lock);
}

int main(int argc, char **argv)
{
	ctl_t c = { 0 };
	c.listen = flyt_strdup("127.0.0.1:7700");
	c.db_path = flyt_strdup("/var/lib/flyt/controller.db");
	c.token_file = flyt_strdup(getenv("FLYT_TOKEN_FILE") ? getenv("FLYT_TOKEN_FILE") : "/etc/flyt/token");
	c.read_token_file = getenv("FLYT_READ_TOKEN_FILE") && getenv("FLYT_READ_TOKEN_FILE")[0]
				? flyt_strdup(getenv("FLYT_READ_TOKEN_FILE"))
				: NULL;
	c.offline_after_ms = 10000;
	c.agent_timeout_ms = 30000;
	c.signals_interval_ms = 300000;
	c.policy_interval_ms = 10000;
	c.session_ttl_min = 720;
	c.cert_days = 90;
	c.join_ttl_min = 60;
	const flyt_opt_t opts[] = {
		{ "listen", 'l', FLYT_OPT_STRING, &c.listen, "ADDR:PORT",
		  "API and UI address (default 127.0.0.1:7700)" },
		{ "db", 'd', FLYT_OPT_STRING, &c.db_path, "PATH",
		  "SQLite database (default /var/lib/flyt/controller.db)" },
		{ "token-file", 't', FLYT_OPT_STRING, &c.token_file, "FILE",
		  "cluster token, created if missing (default $FLYT_TOKEN_FILE or /etc/flyt/token)" },
		{ "read-token-file", 0, FLYT_OPT_STRING, &c.read_token_file, "FILE",
		  "a read-only token, created if missing: it may read everything and change nothing "
		  "(default $FLYT_READ_TOKEN_FILE, else none)" },
		{ "offline-after", 0, FLYT_OPT_INT, &c.offline_after_ms, "MS",
		  "a host that neither reports nor answers this long is offline (default 10000)", 1000, 3600000 },
		{ "signals-url", 0, FLYT_OPT_STRING, &c.signals_url, "URL",
		  "base URL of an Energi Data Service API to fetch CO2 and prices from" },
		{ "signals-file", 0, FLYT_OPT_LIST, &c.signals_files, "FILE",
		  "replay signals from a CSV download or JSON answer of the service (repeatable)" },
		{ "signals-dataset", 0, FLYT_OPT_LIST, &c.signals_datasets, "NAME",
		  "dataset to fetch (repeatable; default CO2EmisProg, CO2Emis, DayAheadPrices)" },
		{ "signals-interval", 0, FLYT_OPT_INT, &c.signals_interval_ms, "MS",
		  "time between fetches of one dataset (default 300000)", 1000, 86400000 },
		{ "policy-interval", 0, FLYT_OPT_INT, &c.policy_interval_ms, "MS",
		  "time between runs of the policy (default 10000)", 100, 3600000 },
		{ "clock-start", 0, FLYT_OPT_STRING, &c.clock_start, "TIME",
		  "run the policy clock from this UTC time (replaying recorded signals)" },
		{ "clock-speed", 0, FLYT_OPT_STRING, &c.clock_speed, "X",
		  "and this many times faster than the wall clock (default 1)" },
		{ "session-ttl", 0, FLYT_OPT_INT, &c.session_ttl_min, "MINUTES",
		  "lifetime of a web UI session (default 720)", 5, 43200 },
		{ "cookie-secure", 0, FLYT_OPT_FLAG, &c.cookie_secure, NULL,
		  "mark the session cookie Secure (always so over TLS; for a TLS proxy in front of --plain-http)" },
		{ "tls-dir", 0, FLYT_OPT_STRING, &c.tls_dir, "DIR",
		  "the cluster CA and the controller's certificate (default: tls/ beside --db)" },
		{ "tls-san", 0, FLYT_OPT_LIST, &c.tls_sans, "NAME",
		  "another IP address or DNS name clients reach the controller at (repeatable)" },
		{ "cert-days", 0, FLYT_OPT_INT, &c.cert_days, "DAYS",
		  "lifetime of the certificates the controller issues (default 90)", 1, 3650 },
		{ "join-token-out", 0, FLYT_OPT_STRING, &c.join_token_out, "FILE",
		  "write a new join token for agents to this file at start (mode 0600)" },
		{ "join-ttl", 0, FLYT_OPT_INT, &c.join_ttl_min, "MINUTES", "lifetime of join tokens (default 60)", 1,
		  10080 },
		{ "plain-http", 0, FLYT_OPT_FLAG, &c.plain_http, NULL,
		  "no TLS: plain HTTP for the API, the UI and the agents (unsafe; logged loudly)" },
		{ NULL },
	};
	flyt_daemon_t d = {
		.program = "flyt-controller",
		.usage = "flyt-controller [options]",
		.description = "The flyt controller: inventory, REST API and migration orchestration.",
		.routes = ctl_routes,
		.nroutes = ctl_nroutes,
	};
	int r = flyt_daemon_init(&d, opts, argc, argv);
	if (r <= 0) {
		flyt_daemon_fini(&d);
		return r < 0 ? 2 : 0;
	}
	flyt_error_t err = FLYT_ERROR_INIT;
	pthread_mutex_init(&c.change_lock, NULL);
	pthread_mutex_init(&c.token_lock, NULL);
	if (!c.tls_dir) {
		_cleanup_free_ char *dir = flyt_strdup(c.db_path);
		char *slash = strrchr(dir, '/');
		c.tls_dir = slash ? flyt_asprintf("%.*s/tls", (int)(slash - dir), dir) : flyt_strdup("tls");
	}
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c.change_cond, &ca);
	pthread_condattr_destroy(&ca);
	/* the directories of the token and the database, on a first start */
	const char *const files[] = { c.token_file, c.db_path, c.read_token_file };
	for (size_t i = 0; i < ELEMENTSOF(files); i++) {
		if (!files[i])
			continue;
		_cleanup_free_ char *dir = flyt_strdup(files[i]);
		char *slash = strrchr(dir, '/');
		if (slash && slash != dir) {
			*slash = '\0';
			if (flyt_mkdir_p(dir, 0700, &err) < 0) {
				log_error("%s", err.msg);
				return 1;
			}
		}
	}
	bool created = false;
	if (flyt_token_load_or_create(c.token_file, c.token, &created, &err) < 0) {
		log_error("cluster token: %s", err.msg);
		return 1;
	}
	if (created)
		log_info("created a new cluster token in %s: give this file to every agent and client", c.token_file);
	if (c.read_token_file) {
		if (flyt_token_load_or_create(c.read_token_file, c.read_token, &created, &err) < 0) {
			log_error("read-only token: %s", err.msg);
			return 1;
		}
		if (flyt_token_equal(c.read_token, c.token)) {
			log_error("read-only token: %s holds the cluster token; give it a token of its own",
				  c.read_token_file);
			return 1;
		}
		log_info("%s the read-only token in %s: it may read everything and change nothing",
			 created ? "created" : "loaded", c.read_token_file);
	}
	if (store_open(c.db_path, &c.store, &err) < 0 || pki_setup(&c, &err) < 0) {
		log_error("%s", err.msg);
		return 1;
	}
	c.events = flyt_events_new(4096);
	flyt_events_set_last(c.events, (uint64_t)store_events_last(c.store));
	flyt_events_set_sink(c.events, persist_event, &c);
	if (ctl_clock_setup(&c, &err) < 0 || policy_init(&c, &err) < 0 || signals_start(&c, &err) < 0) {
		log_error("%s", err.msg);
		return 1;
	}

	flyt_http_config_t cfg = {
		.listen = c.listen,
		.routes = ctl_routes,
		.nroutes = ctl_nroutes,
		.auth = session_auth,
		.user = &c,
		.max_body = 1024 * 1024,
		.max_per_ip = 64,
		.name = "controller",
		.fallback = ui_serve,
		.tls = c.tls,
	};
	if (flyt_http_server_start(&cfg, &c.http, &err) < 0) {
		log_error("%s", err.msg);
		return 1;
	}
	log_info("flyt-controller %s on %s://%s (database %s, schema %d)", FLYT_VERSION, c.tls ? "https" : "http",
		 c.listen, c.db_path, store_schema_version(c.store));
	orch_resume_unfinished(&c);
	pthread_create(&c.monitor_thread, NULL, hosts_monitor, &c);
	if (policy_start(&c, &err) < 0) {
		log_error("%s", err.msg);
		return 1;
	}

	int sig = flyt_daemon_wait(&d);
	log_info("signal %d: stopping", sig);
	atomic_store(&c.stopping, true);
	flyt_events_wake(c.events);
	ctl_changed(&c);
	flyt_http_server_stop(c.http);
	pthread_join(c.monitor_thread, NULL);
	signals_stop(&c); /* its fetcher reads the policy settings */
	policy_stop(&c);
	/* migration followers notice the flag within a poll; the agents carry on and
	 * a restarted controller follows them again */
	for (int i = 0; i < 200 && atomic_load(&c.orchestrators) > 0; i++)
		flyt_sleep_ms(50);
	if (atomic_load(&c.orchestrators) == 0) {
		flyt_events_free(c.events);
		store_close(c.store);
	}
	flyt_tls_free(c.tls);
	flyt_daemon_fini(&d);
	return 0;
}
