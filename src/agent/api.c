/* The agent's HTTP API under /v1/: one table of routes, one small handler each. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/util.h"

static agent_t *A(flyt_http_request_t *req)
{
	return req->user;
}

static int h_health(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	flyt_http_reply_json(res, 200, json_pack("{s:s, s:s}", "status", "ok", "name", A(req)->name));
	return 0;
}

static int h_host(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	json_t *facts = facts_get(A(req));
	json_object_set_new(facts, "tls", agent_tls_json(A(req)));
	flyt_http_reply_json(res, 200, facts);
	return 0;
}

static int h_tls_renew(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	if (agent_tls_renew(A(req), err) < 0)
		return -1;
	flyt_http_reply_json(res, 200, agent_tls_json(A(req)));
	return 0;
}

static int h_host_refresh(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	if (facts_refresh(A(req), err) < 0)
		return -1;
	flyt_http_reply_json(res, 200, facts_get(A(req)));
	return 0;
}

static int h_workloads(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	flyt_http_reply_json(res, 200, json_pack("{s:o}", "workloads", workloads_summary(A(req))));
	return 0;
}

static int h_workload_create(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	_cleanup_json_ json_t *body = NULL;
	json_t *out = NULL;
	if (flyt_http_body_json(req, &body, err) < 0 || workload_create(A(req), body, &out, err) < 0)
		return -1;
	flyt_http_reply_json(res, 201, out);
	return 0;
}

static int h_workload_show(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	const char *name = NULL;
	if (flyt_http_param_name(req, "name", &name, err) < 0)
		return -1;
	agent_t *a = A(req);
	pthread_mutex_lock(&a->lock);
	workload_t *w = workload_find(a, name);
	json_t *j = w ? workload_json(a, w, true) : NULL;
	pthread_mutex_unlock(&a->lock);
	if (!j)
		return flyt_error_set(err, FLYT_E_NOT_FOUND, 0, "no workload %s on %s", name, a->name);
	flyt_http_reply_json(res, 200, j);
	return 0;
}

static int workload_do(flyt_http_request_t *req, flyt_http_response_t *res, const char *action, flyt_error_t *err)
{
	const char *name = NULL;
	json_t *out = NULL;
	if (flyt_http_param_name(req, "name", &name, err) < 0 || workload_action(A(req), name, action, &out, err) < 0)
		return -1;
	flyt_http_reply_json(res, 200, out);
	return 0;
}

static int h_workload_stop(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	return workload_do(req, res, "stop", err);
}

static int h_workload_start(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	return workload_do(req, res, "start", err);
}

static int h_workload_delete(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	const char *name = NULL;
	if (flyt_http_param_name(req, "name", &name, err) < 0 || workload_delete(A(req), name, err) < 0)
		return -1;
	flyt_http_reply_json(res, 200, json_pack("{s:s}", "deleted", name));
	return 0;
}

/* The tail of a workload's stdout.log or stderr.log (files flyt-launch creates). */
static int h_workload_logs(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	const char *name = NULL;
	if (flyt_http_param_name(req, "name", &name, err) < 0)
		return -1;
	const char *stream = flyt_http_query(req, "stream");
	if (!stream)
		stream = "stdout";
	if (strcmp(stream, "stdout") != 0 && strcmp(stream, "stderr") != 0)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "stream must be stdout or stderr");
	uint64_t tail = 16384;
	if (flyt_http_query_u64(req, "tail", 1024 * 1024, &tail, err) < 0)
		return -1;
	agent_t *a = A(req);
	pthread_mutex_lock(&a->lock);
	workload_t *w = workload_find(a, name);
	_cleanup_free_ char *path = w ? flyt_asprintf("%s/%s.log", w->files_dir, stream) : NULL;
	pthread_mutex_unlock(&a->lock);
	if (!path)
		return flyt_error_set(err, FLYT_E_NOT_FOUND, 0, "no workload %s on %s", name, a->name);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	char *buf = flyt_malloc0(tail + 1);
	size_t n = 0;
	if (fd >= 0) {
		struct stat st;
		fstat(fd, &st);
		off_t off = st.st_size > (off_t)tail ? st.st_size - (off_t)tail : 0;
		ssize_t r = pread(fd, buf, tail, off);
		n = r > 0 ? (size_t)r : 0;
	}
	res->status = 200;
	res->body = buf;
	res->body_len = n;
	res->content_type = "text/plain; charset=utf-8";
	return 0;
}

static int h_migrations(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	agent_t *a = A(req);
	json_t *arr = json_array();
	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < a->nmigrations; i++)
		json_array_append_new(arr, migration_json(a->migrations[i]));
	pthread_mutex_unlock(&a->lock);
	flyt_http_reply_json(res, 200, json_pack("{s:o}", "migrations", arr));
	return 0;
}

static int h_migration_start(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	_cleanup_json_ json_t *body = NULL;
	json_t *out = NULL;
	if (flyt_http_body_json(req, &body, err) < 0 || migrate_source_start(A(req), body, &out, err) < 0)
		return -1;
	flyt_http_reply_json(res, 202, out);
	return 0;
}

static int h_migration_show(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	const char *id = NULL;
	uint64_t since = 0, wait = 0;
	json_t *out = NULL;
	if (flyt_http_param_id(req, "id", &id, err) < 0 ||
	    flyt_http_query_u64(req, "since", UINT64_MAX, &since, err) < 0 ||
	    flyt_http_query_u64(req, "wait", 30000, &wait, err) < 0 ||
	    migration_wait(A(req), id, since, (unsigned)wait, &out, err) < 0)
		return -1;
	flyt_http_reply_json(res, 200, out);
	return 0;
}

static int h_migration_cancel(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	const char *id = NULL;
	json_t *out = NULL;
	if (flyt_http_param_id(req, "id", &id, err) < 0 || migrate_cancel(A(req), id, err) < 0 ||
	    migration_wait(A(req), id, 0, 0, &out, err) < 0)
		return -1;
	flyt_http_reply_json(res, 202, out);
	return 0;
}

static int h_migration_postcopy(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	const char *id = NULL;
	json_t *out = NULL;
	if (flyt_http_param_id(req, "id", &id, err) < 0 || migrate_postcopy_now(A(req), id, err) < 0 ||
	    migration_wait(A(req), id, 0, 0, &out, err) < 0)
		return -1;
	flyt_http_reply_json(res, 202, out);
	return 0;
}

static int h_incoming_prepare(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	_cleanup_json_ json_t *body = NULL;
	json_t *out = NULL;
	if (flyt_http_body_json(req, &body, err) < 0 || migrate_target_prepare(A(req), body, &out, err) < 0)
		return -1;
	flyt_http_reply_json(res, 201, out);
	return 0;
}

static int h_incoming_abort(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	const char *id = NULL;
	if (flyt_http_param_id(req, "id", &id, err) < 0 || migrate_target_abort(A(req), id, err) < 0)
		return -1;
	flyt_http_reply_json(res, 200, json_pack("{s:s}", "aborted", id));
	return 0;
}

static int h_events(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	uint64_t since = 0;
	if (flyt_http_query_u64(req, "since", UINT64_MAX, &since, err) < 0)
		return -1;
	flyt_events_sse(A(req)->events, since, NULL, NULL, NULL, res);
	return 0;
}

const flyt_route_t agent_routes[] = {
	{ "GET", "/v1/health", h_health, FLYT_ROUTE_PUBLIC, "liveness (no authentication)" },
	{ "GET", "/v1/host", h_host, 0, "host facts and capabilities" },
	{ "POST", "/v1/host/refresh", h_host_refresh, FLYT_ROUTE_WRITE, "probe CRIU and kernel features again" },
	{ "POST", "/v1/tls/renew", h_tls_renew, FLYT_ROUTE_WRITE, "get a new certificate from the controller now" },
	{ "GET", "/v1/workloads", h_workloads, 0, "list workloads with live status" },
	{ "POST", "/v1/workloads", h_workload_create, FLYT_ROUTE_WRITE, "create (and start) a workload" },
	{ "GET", "/v1/workloads/:name", h_workload_show, 0, "one workload with live status" },
	{ "POST", "/v1/workloads/:name/stop", h_workload_stop, FLYT_ROUTE_WRITE, "stop a workload" },
	{ "POST", "/v1/workloads/:name/start", h_workload_start, FLYT_ROUTE_WRITE, "start a stopped workload" },
	{ "DELETE", "/v1/workloads/:name", h_workload_delete, FLYT_ROUTE_WRITE, "stop and remove a workload" },
	{ "GET", "/v1/workloads/:name/logs", h_workload_logs, 0, "tail of stdout.log or stderr.log" },
	{ "GET", "/v1/migrations", h_migrations, 0, "migrations this host took part in" },
	{ "POST", "/v1/migrations", h_migration_start, FLYT_ROUTE_WRITE,
	  "start migrating a workload away (source side)" },
	{ "GET", "/v1/migrations/:id", h_migration_show, 0, "one migration; ?since=VERSION&wait=MS long-polls" },
	{ "POST", "/v1/migrations/:id/cancel", h_migration_cancel, FLYT_ROUTE_WRITE, "cancel before the switch-over" },
	{ "POST", "/v1/migrations/:id/postcopy", h_migration_postcopy, FLYT_ROUTE_WRITE,
	  "postcopy mode: switch to the target now" },
	{ "POST", "/v1/incoming", h_incoming_prepare, FLYT_ROUTE_WRITE, "prepare to receive a workload (target side)" },
	{ "GET", "/v1/incoming/:id", h_migration_show, 0, "an incoming migration" },
	{ "DELETE", "/v1/incoming/:id", h_incoming_abort, FLYT_ROUTE_WRITE, "drop a prepared migration never started" },
	{ "GET", "/v1/events", h_events, 0, "server-sent events; ?since=SEQ" },
};
const size_t agent_nroutes = ELEMENTSOF(agent_routes);
