/* flytd's life: start (state directory, token, facts, records, listeners,
 * threads), the data listener, registration and heartbeats to the controller, the
 * monitor, and stop. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <libgen.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "flyt-config.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/net.h"
#include "lib/util.h"

#define INCOMING_EXPIRY_MS (120 * 1000)
#define MIGRATIONS_KEPT 200

void agent_publish(agent_t *a, const char *type, json_t *data)
{
	json_t *d = data ? data : json_object();
	json_object_set_new(d, "host", json_string(a->name));
	flyt_events_publish(a->events, type, d);
}

bool agent_shared_dir_allowed(agent_t *a, const char *dir)
{
	for (char **s = a->shared_dirs; s && *s; s++)
		if (strcmp(*s, dir) == 0)
			return true;
	return false;
}

static bool path_is_safe_for_shell(const char *p)
{
	/* CRIU runs its action script with "sh -c PATH" */
	for (; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '/' ||
		      *p == '.' || *p == '_' || *p == '-' || *p == '+'))
			return false;
	return true;
}

const char *agent_helper_path(agent_t *a, const char *name, char *buf, size_t size)
{
	char exe[512];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		snprintf(buf, size, "%s/%s", dirname(exe), name);
		if (access(buf, X_OK) == 0 && path_is_safe_for_shell(buf))
			return buf;
	}
	snprintf(buf, size, "%s/%s", a->libexec_dir ? a->libexec_dir : FLYT_LIBEXECDIR, name);
	if (access(buf, X_OK) == 0 && path_is_safe_for_shell(buf))
		return buf;
	return NULL;
}

static int auth(flyt_http_request_t *req, const flyt_route_t *route, flyt_error_t *err)
{
	agent_t *a = req->user;
	if (a->tls) {
		/* mutual TLS: the controller may do anything, a peer agent only read */
		const flyt_cert_info_t *cert = req->peer_cert;
		if (!cert)
			return flyt_error_set(err, FLYT_E_UNAUTHORIZED, 0,
					      "a client certificate of the cluster is required");
		if (strcmp(cert->role, "controller") == 0)
			return 0;
		if (strcmp(cert->role, "agent") == 0 && !(route->flags & FLYT_ROUTE_WRITE))
			return 0;
		return flyt_error_set(err, FLYT_E_FORBIDDEN, 0,
				      "the certificate of %s \"%.100s\" may not call %s %.200s",
				      cert->role[0] ? cert->role : "(no role)", cert->cn, req->method, req->path);
	}
	const char *tok = flyt_bearer_token(flyt_http_header(req, "Authorization"));
	if (!tok)
		return flyt_error_set(err, FLYT_E_UNAUTHORIZED, 0, "missing bearer token");
	if (!flyt_token_equal(tok, a->token))
		return flyt_error_set(err, FLYT_E_UNAUTHORIZED, 0, "bad token");
	return 0;
}

static void *data_thread(void *arg)
{
	agent_t *a = arg;
	while (!atomic_load(&a->stopping)) {
		int fd = accept4(a->data_listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (atomic_load(&a->stopping))
				break;
			if (errno == EINTR || errno == ECONNABORTED || errno == EAGAIN)
				continue;
			log_error("data listener: %s", strerror(errno));
			flyt_sleep_ms(100);
			continue;
		}
		migrate_target_accept(a, fd);
	}
	return NULL;
}

static int controller_register(agent_t *a, flyt_http_client_t *c, flyt_error_t *err)
{
	_cleanup_json_ json_t *body =
	    json_pack("{s:s, s:s, s:o}", "name", a->name, "url", a->advertise_url, "facts", facts_get(a));
	_cleanup_json_ json_t *ans = NULL;
	return flyt_http_call(c, "POST", "/api/v1/agents/register", body, &ans, NULL, err);
}

static void *heartbeat_thread(void *arg)
{
	agent_t *a = arg;
	flyt_http_client_t c = agent_client(a, a->controller_url, 10000);
	_cleanup_free_ char *path = flyt_asprintf("/api/v1/agents/%s/heartbeat", a->name);
	bool registered = false, warned = false;
	while (!atomic_load(&a->stopping)) {
		flyt_error_t err = FLYT_ERROR_INIT;
		if (!registered) {
			if (controller_register(a, &c, &err) == 0) {
				registered = true;
				warned = false;
				log_info("registered with the controller at %s", a->controller_url);
			} else if (!warned) {
				log_warn("cannot register with the controller (will keep trying): %s", err.msg);
				warned = true;
			}
		} else {
			json_t *facts = facts_get(a);
			_cleanup_json_ json_t *body =
			    json_pack("{s:o, s:o, s:o?}", "workloads", workloads_summary(a), "load",
				      json_incref(json_object_get(facts, "load")), "memory",
				      json_incref(json_object_get(facts, "memory")));
			json_decref(facts);
			_cleanup_json_ json_t *ans = NULL;
			if (flyt_http_call(&c, "POST", path, body, &ans, NULL, &err) < 0) {
				if (err.code == FLYT_E_NOT_FOUND) {
					registered = false; /* the controller forgot us: register again */
				} else if (!warned) {
					log_warn("heartbeat to the controller failed (will keep trying): %s", err.msg);
					warned = true;
				}
			} else {
				warned = false;
			}
		}
		if (agent_tls_due(a) && agent_tls_renew(a, &err) < 0 && !warned) {
			log_warn("%s (will keep trying)", err.msg);
			warned = true;
		}
		for (int64_t slept = 0; slept < a->heartbeat_ms && !atomic_load(&a->stopping); slept += 100)
			flyt_sleep_ms(100);
	}
	return NULL;
}

static void expire_incoming(agent_t *a)
{
	pthread_mutex_lock(&a->lock);
	uint64_t now = flyt_now_ms();
	for (size_t i = 0; i < a->nmigrations; i++) {
		migration_t *m = a->migrations[i];
		if (m->role != ROLE_TARGET || m->phase != PHASE_PREPARING || m->data_fd >= 0 || !m->t_start ||
		    now - m->t_start < INCOMING_EXPIRY_MS)
			continue;
		snprintf(m->error, sizeof(m->error), "the source never connected");
		migration_close_pages(m);
		migration_set_phase(m, PHASE_ROLLED_BACK);
		atomic_store(&m->done, true);
	}
	pthread_mutex_unlock(&a->lock);
}

static void *monitor_thread(void *arg)
{
	agent_t *a = arg;
	uint64_t last_prune = 0;
	while (!atomic_load(&a->stopping)) {
		workloads_monitor(a);
		expire_incoming(a);
		if (flyt_now_ms() - last_prune > 60000) {
			migrations_prune(a, MIGRATIONS_KEPT);
			last_prune = flyt_now_ms();
		}
		for (int i = 0; i < 10 && !atomic_load(&a->stopping); i++)
			flyt_sleep_ms(100);
	}
	return NULL;
}

/* The first non-loopback IPv4 address, for advertising an agent that listens on
 * 0.0.0.0. */
static bool first_address(char *out, size_t size)
{
	struct ifaddrs *ifs, *i;
	if (getifaddrs(&ifs) < 0)
		return false;
	bool found = false;
	for (i = ifs; i && !found; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
			continue;
		struct in_addr in = ((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr;
		if ((ntohl(in.s_addr) >> 24) == 127)
			continue;
		inet_ntop(AF_INET, &in, out, (socklen_t)size);
		found = true;
	}
	freeifaddrs(ifs);
	return found;
}

static int lock_state_dir(agent_t *a, flyt_error_t *err)
{
	_cleanup_free_ char *path = flyt_asprintf("%s/flytd.lock", a->state_dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return flyt_error_set(err, FLYT_E_IO, errno, "open %s", path);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		return flyt_error_set(err, FLYT_E_CONFLICT, 0, "another flytd uses the state directory %s",
				      a->state_dir);
	}
	/* kept open (and locked) for the life of the process */
	return 0;
}

int agent_start(agent_t *a, flyt_error_t *err)
{
	pthread_mutex_init(&a->lock, NULL);
	pthread_mutex_init(&a->facts_lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->changed, &ca);
	pthread_condattr_destroy(&ca);
	a->events = flyt_events_new(2048);
	a->data_listen_fd = -1;
	pthread_mutex_init(&a->tls_lock, NULL);
	fault_init(a);

	if (!flyt_name_valid(a->name))
		return flyt_error_set(
		    err, FLYT_E_INVALID, 0,
		    "host name \"%s\" is not valid: use 1-63 of a-z 0-9 . _ -, starting with a letter or digit",
		    a->name ? a->name : "");
	if (a->plain_http) {
		log_warn("*** --plain-http: this agent's API and its migration data go UNENCRYPTED, and it trusts "
			 "anyone holding the cluster token. Use it only on a network you trust completely. ***");
		if (flyt_token_load(a->token_file, a->token, err) < 0)
			return flyt_error_prefix(err, "cluster token");
	}
	if (a->state_dir[0] != '/')
		return flyt_error_set(err, FLYT_E_INVALID, 0, "--state-dir must be an absolute path");
	if (flyt_mkdir_p(a->state_dir, 0700, err) < 0 || lock_state_dir(a, err) < 0)
		return -1;
	for (char **s = a->shared_dirs; s && *s; s++) {
		struct stat st;
		if ((*s)[0] != '/' || stat(*s, &st) < 0 || !S_ISDIR(st.st_mode))
			return flyt_error_set(err, FLYT_E_INVALID, 0,
					      "shared directory %s is not an existing absolute directory", *s);
	}
	facts_refresh(a, err);
	if (!a->criu_ok)
		log_warn("%s; process migration is unavailable on this host", a->criu_reason);

	char host[128];
	uint16_t port;
	if (flyt_parse_hostport(a->listen, host, sizeof(host), &port, err) < 0)
		return flyt_error_prefix(err, "--listen");
	if (!a->data_listen)
		a->data_listen = flyt_asprintf(strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port ? port + 1u : 0u);
	char dhost[128];
	uint16_t dport;
	if (flyt_parse_hostport(a->data_listen, dhost, sizeof(dhost), &dport, err) < 0)
		return flyt_error_prefix(err, "--data-listen");
	a->data_listen_fd = flyt_tcp_listen(dhost, dport, 64, &a->data_port, err);
	if (a->data_listen_fd < 0)
		return flyt_error_prefix(err, "migration data listener");

	/* the address others reach this host at: in its certificate and its URL */
	if (a->advertise_url) {
		const char *p = strstr(a->advertise_url, "://");
		p = p ? p + 3 : a->advertise_url;
		bool v6 = *p == '[';
		p += v6;
		size_t n = strcspn(p, v6 ? "]" : ":/");
		snprintf(a->tls_host, sizeof(a->tls_host), "%.*s", (int)n, p);
	} else {
		char addr[64];
		const char *h = host;
		if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0)
			h = first_address(addr, sizeof(addr)) ? addr : "127.0.0.1";
		snprintf(a->tls_host, sizeof(a->tls_host), "%s", h);
	}
	if (!a->plain_http && agent_tls_setup(a, err) < 0)
		return -1;
	if (a->libvirt_uri && strcmp(a->libvirt_uri, "none") == 0)
		a->libvirt_uri = NULL; /* the driver off, as without the option */
	if (a->libvirt_tls_dir) {
		if (a->plain_http)
			return flyt_error_set(err, FLYT_E_INVALID, 0,
					      "--libvirt-tls-dir needs TLS: it cannot go with --plain-http");
		if (a->libvirt_tls_dir[0] != '/')
			return flyt_error_set(err, FLYT_E_INVALID, 0, "--libvirt-tls-dir must be an absolute path");
		/* there from the start, for libvirtd; again at each renewal */
		if (agent_tls_export_qemu(a, a->libvirt_tls_dir, err) < 0)
			return flyt_error_prefix(err, "--libvirt-tls-dir");
	} else if (a->tls && a->libvirt_uri) {
		log_warn(
		    "libvirt migrations go UNENCRYPTED between the hosts' libvirtd: start flytd with "
		    "--libvirt-tls-dir DIR and point libvirtd's migrate_tls_x509_cert_dir at DIR (see security.md)");
	}
	if (workload_load_all(a, err) < 0 || migration_load_all(a, err) < 0)
		return -1;

	flyt_http_config_t cfg = {
		.listen = a->listen,
		.routes = agent_routes,
		.nroutes = agent_nroutes,
		.auth = auth,
		.user = a,
		.max_body = 4 * 1024 * 1024,
		.max_per_ip = 64,
		.name = "agent",
		.tls = a->tls,
	};
	if (flyt_http_server_start(&cfg, &a->http, err) < 0)
		return -1;
	migrations_resolve_in_doubt(a);
	if (!a->advertise_url) {
		const char *h = a->tls_host;
		a->advertise_url = flyt_asprintf(strchr(h, ':') ? "%s://[%s]:%u" : "%s://%s:%u",
						 a->tls ? "https" : "http", h, flyt_http_server_port(a->http));
	}
	log_info("flytd %s: host %s, API on %s (advertised as %s), migration data on port %u, state in %s",
		 FLYT_VERSION, a->name, a->listen, a->advertise_url, a->data_port, a->state_dir);
	log_info("CRIU %s at %s; soft-dirty %s, userfaultfd %s", a->criu_version[0] ? a->criu_version : "missing",
		 a->criu, a->has_soft_dirty ? "yes" : "no", a->has_uffd ? "yes" : "no");

	pthread_create(&a->data_thread, NULL, data_thread, a);
	pthread_create(&a->monitor_thread, NULL, monitor_thread, a);
	if (a->controller_url)
		pthread_create(&a->heartbeat_thread, NULL, heartbeat_thread, a);
	return 0;
}

void agent_stop(agent_t *a)
{
	atomic_store(&a->stopping, true);
	flyt_events_wake(a->events);
	pthread_mutex_lock(&a->lock);
	pthread_cond_broadcast(&a->changed);
	pthread_mutex_unlock(&a->lock);
	if (a->data_listen_fd >= 0)
		shutdown(a->data_listen_fd, SHUT_RDWR);
	flyt_http_server_stop(a->http);
	a->http = NULL;
	pthread_join(a->data_thread, NULL);
	pthread_join(a->monitor_thread, NULL);
	if (a->controller_url)
		pthread_join(a->heartbeat_thread, NULL);
	if (a->data_listen_fd >= 0)
		close(a->data_listen_fd);
}

void agent_free(agent_t *a)
{
	for (int i = 0; i < 100 && atomic_load(&a->busy_threads) > 0; i++)
		flyt_sleep_ms(50);
	if (atomic_load(&a->busy_threads) > 0)
		return; /* a migration thread still runs: leave its memory alone */
	for (size_t i = 0; i < a->nworkloads; i++)
		workload_free(a->workloads[i]);
	free(a->workloads);
	for (size_t i = 0; i < a->nmigrations; i++)
		migration_free(a->migrations[i]);
	free(a->migrations);
	json_decref(a->facts);
	flyt_events_free(a->events);
	a->workloads = NULL;
	a->migrations = NULL;
	a->facts = NULL;
	a->events = NULL;
}
