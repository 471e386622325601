/* The JSON API server: libmicrohttpd, one thread per connection, a route table. */
#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cleanup.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "tls.h"
#include "util.h"

struct flyt_http_server {
	struct MHD_Daemon *daemon;
	flyt_http_config_t cfg;
	uint16_t port;
	atomic_bool stopping;
};

/* Per-request state kept by libmicrohttpd between calls of the access handler. */
typedef struct {
	char *body;
	size_t len, cap;
	bool too_large;
	bool refused; /* no route, or no credentials: the body is not kept */
	uint64_t started_us;
	int cert_state; /* peer_certificate()'s answer */
	flyt_cert_info_t cert;
	flyt_error_t cert_err;
} request_ctx_t;

typedef struct {
	flyt_http_server_t *srv;
	flyt_http_stream_fn fn;
	void *ctx;
	void (*free_fn)(void *ctx);
} stream_wrap_t;

int flyt_parse_hostport(const char *s, char *host, size_t host_size, uint16_t *port, flyt_error_t *err)
{
	if (!s || !*s)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "empty address, expected ADDR:PORT");
	const char *colon;
	const char *hstart = s;
	size_t hlen;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return flyt_error_set(err, FLYT_E_INVALID, 0, "bad address \"%s\", expected [ADDR]:PORT", s);
		hstart = s + 1;
		hlen = (size_t)(close - hstart);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return flyt_error_set(err, FLYT_E_INVALID, 0, "bad address \"%s\", expected ADDR:PORT", s);
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen >= host_size)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "bad host in address \"%s\"", s);
	uint64_t p;
	if (flyt_parse_u64(colon + 1, 65535, &p) < 0)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "bad port in address \"%s\"", s);
	memcpy(host, hstart, hlen);
	host[hlen] = '\0';
	*port = (uint16_t)p;
	return 0;
}

__attribute__((format(printf, 2, 0))) static void log_mhd(void *cls, const char *fmt, va_list ap)
{
	char buf[512];
	vsnprintf(buf, sizeof(buf), fmt, ap);
	size_t n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	log_debug("http: %s", buf);
}

static bool match_route(const char *pattern, const char *path, flyt_http_request_t *req)
{
	req->nparams = 0;
	const char *p = pattern, *u = path;
	while (*p && *u) {
		if (*p != '/' || *u != '/')
			return false;
		p++;
		u++;
		const char *pend = strchrnul(p, '/');
		const char *uend = strchrnul(u, '/');
		if (*p == ':') {
			if (uend == u || req->nparams >= FLYT_HTTP_MAX_PARAMS)
				return false;
			req->param_names[req->nparams] = NULL;
			req->params[req->nparams] = strndup(u, (size_t)(uend - u));
			if (!req->params[req->nparams])
				abort();
			/* names point into the pattern; the handler looks them up by name */
			req->param_names[req->nparams] = p + 1;
			req->nparams++;
		} else {
			if (pend - p != uend - u || memcmp(p, u, (size_t)(pend - p)) != 0)
				return false;
		}
		p = pend;
		u = uend;
	}
	return *p == '\0' && *u == '\0';
}

static void free_params(flyt_http_request_t *req)
{
	for (size_t i = 0; i < req->nparams; i++)
		free(req->params[i]);
	req->nparams = 0;
}

const char *flyt_http_param(flyt_http_request_t *req, const char *name)
{
	size_t nlen = strlen(name);
	for (size_t i = 0; i < req->nparams; i++) {
		const char *pn = req->param_names[i];
		size_t plen = strcspn(pn, "/");
		if (plen == nlen && memcmp(pn, name, nlen) == 0)
			return req->params[i];
	}
	return NULL;
}

int flyt_http_param_name(flyt_http_request_t *req, const char *key, const char **ret, flyt_error_t *err)
{
	const char *v = flyt_http_param(req, key);
	if (!flyt_name_valid(v))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "\"%.64s\" is not a valid name", v ? v : "");
	*ret = v;
	return 0;
}

int flyt_http_param_id(flyt_http_request_t *req, const char *key, const char **ret, flyt_error_t *err)
{
	const char *v = flyt_http_param(req, key);
	if (!flyt_id_valid(v))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "\"%.64s\" is not an id (32 hex digits)", v ? v : "");
	*ret = v;
	return 0;
}

json_t *flyt_http_routes_json(const flyt_route_t *r, size_t n)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:b, s:b, s:s}", "method", r[i].method, "path",
						     r[i].pattern, "auth", !(r[i].flags & FLYT_ROUTE_PUBLIC), "write",
						     (r[i].flags & FLYT_ROUTE_WRITE) != 0, "summary", r[i].summary));
	return arr;
}

const char *flyt_http_query(flyt_http_request_t *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *flyt_http_header(flyt_http_request_t *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

int flyt_http_body_json(flyt_http_request_t *req, json_t **ret, flyt_error_t *err)
{
	return flyt_json_parse_object(req->body ? req->body : "", req->body_len, req->server->cfg.max_body, ret, err);
}

int flyt_http_query_u64(flyt_http_request_t *req, const char *name, uint64_t max, uint64_t *ret, flyt_error_t *err)
{
	const char *v = flyt_http_query(req, name);
	if (!v)
		return 0;
	if (flyt_parse_u64(v, max, ret) < 0)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "query argument \"%s\" must be an integer from 0 to %llu",
				      name, (unsigned long long)max);
	return 0;
}

void flyt_http_reply_json(flyt_http_response_t *res, int status, json_t *j)
{
	res->status = status;
	if (res->json)
		json_decref(res->json);
	res->json = j;
}

void flyt_http_add_header(flyt_http_response_t *res, const char *fmt, ...)
{
	for (size_t i = 0; i < ELEMENTSOF(res->headers); i++) {
		if (res->headers[i])
			continue;
		va_list ap;
		va_start(ap, fmt);
		if (vasprintf(&res->headers[i], fmt, ap) < 0)
			abort();
		va_end(ap);
		return;
	}
}

static void response_free(flyt_http_response_t *res)
{
	json_decref(res->json);
	free(res->body);
	for (size_t i = 0; i < ELEMENTSOF(res->headers); i++)
		free(res->headers[i]);
	if (res->stream_free && res->stream_ctx)
		res->stream_free(res->stream_ctx);
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	stream_wrap_t *w = cls;
	if (atomic_load(&w->srv->stopping))
		return MHD_CONTENT_READER_END_OF_STREAM;
	ssize_t n = w->fn(w->ctx, buf, max);
	if (n < 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (n == 0)
		flyt_sleep_ms(50); /* MHD calls again at once; do not spin */
	return n;
}

static void stream_free(void *cls)
{
	stream_wrap_t *w = cls;
	if (w->free_fn && w->ctx)
		w->free_fn(w->ctx);
	free(w);
}

static enum MHD_Result queue(struct MHD_Connection *conn, flyt_http_server_t *srv, flyt_http_response_t *res)
{
	struct MHD_Response *r;
	int status = res->status ? res->status : 200;
	if (res->stream) {
		stream_wrap_t *w = flyt_malloc0(sizeof(*w));
		w->srv = srv;
		w->fn = res->stream;
		w->ctx = res->stream_ctx;
		w->free_fn = res->stream_free;
		res->stream_ctx = NULL; /* owned by the wrapper now */
		r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_reader, w, stream_free);
		if (!r) {
			stream_free(w);
			return MHD_NO;
		}
		MHD_add_response_header(r, "Content-Type", res->content_type ? res->content_type : "text/event-stream");
		MHD_add_response_header(r, "Cache-Control", "no-store");
		MHD_add_response_header(r, "X-Accel-Buffering", "no");
	} else if (res->json) {
		char *s = flyt_json_dumps(res->json);
		size_t len = strlen(s);
		char *body = realloc(s, len + 2);
		if (!body)
			abort();
		body[len] = '\n';
		body[len + 1] = '\0';
		r = MHD_create_response_from_buffer(len + 1, body, MHD_RESPMEM_MUST_FREE);
		MHD_add_response_header(r, "Content-Type", "application/json");
		MHD_add_response_header(r, "Cache-Control", "no-store");
	} else {
		char *body = TAKE_PTR(res->body);
		r = MHD_create_response_from_buffer(res->body_len, body ? body : (char *)"",
						    body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
		if (res->content_type)
			MHD_add_response_header(r, "Content-Type", res->content_type);
	}
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	for (size_t i = 0; i < ELEMENTSOF(res->headers); i++) {
		if (!res->headers[i])
			continue;
		char *colon = strchr(res->headers[i], ':');
		if (!colon)
			continue;
		*colon = '\0';
		const char *v = colon + 1;
		while (*v == ' ')
			v++;
		MHD_add_response_header(r, res->headers[i], v);
		*colon = ':';
	}
	enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, r);
	MHD_destroy_response(r);
	return ret;
}

static void reply_error(flyt_http_response_t *res, const flyt_error_t *e)
{
	flyt_http_reply_json(res, flyt_code_http_status(e->code), flyt_json_error(e));
	free(TAKE_PTR(res->body));
	res->stream = NULL;
}

static void fill_peer(struct MHD_Connection *conn, char *out, size_t size)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	snprintf(out, size, "?");
	if (!ci || !ci->client_addr)
		return;
	const struct sockaddr *sa = ci->client_addr;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out, (socklen_t)size);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out, (socklen_t)size);
}

/* The client's certificate: 1 and *ret filled when it presented one the CA
 * signed, 0 when it presented none, -1 when it presented another. */
static int peer_certificate(struct MHD_Connection *conn, flyt_cert_info_t *ret, flyt_error_t *err)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (!ci || !ci->tls_session)
		return 0;
	unsigned n = 0;
	if (!gnutls_certificate_get_peers(ci->tls_session, &n) || n == 0)
		return 0;
	return flyt_tls_verify_peer(ci->tls_session, ret, err) < 0 ? -1 : 1;
}

/* Finds req's route and checks its credentials. Returns the route; or NULL with
 * *ret_fallback set (a GET for the fallback handler); or NULL with res filled
 * with the refusal (404, 405, 401, ...). */
static const flyt_route_t *resolve(flyt_http_server_t *srv, flyt_http_request_t *req, flyt_http_response_t *res,
				   bool *ret_fallback)
{
	flyt_error_t err = FLYT_ERROR_INIT;
	const flyt_route_t *route = NULL;
	bool path_known = false;
	*ret_fallback = false;
	for (size_t i = 0; i < srv->cfg.nroutes; i++) {
		const flyt_route_t *r = &srv->cfg.routes[i];
		if (!match_route(r->pattern, req->path, req)) {
			free_params(req);
			continue;
		}
		path_known = true;
		if (strcmp(r->method, req->method) == 0) {
			route = r;
			break;
		}
		free_params(req);
	}
	if (!route) {
		if (!path_known && srv->cfg.fallback && strcmp(req->method, "GET") == 0) {
			*ret_fallback = true;
			return NULL;
		}
		if (path_known) {
			flyt_error_set(&err, FLYT_E_INVALID, 0, "method %s not allowed on %s", req->method, req->path);
			reply_error(res, &err);
			res->status = 405;
		} else {
			flyt_error_set(&err, FLYT_E_NOT_FOUND, 0, "no such endpoint: %s %s", req->method, req->path);
			reply_error(res, &err);
		}
		return NULL;
	}
	if (!(route->flags & FLYT_ROUTE_PUBLIC) && srv->cfg.auth && srv->cfg.auth(req, route, &err) < 0) {
		reply_error(res, &err);
		if (err.code == FLYT_E_UNAUTHORIZED)
			flyt_http_add_header(res, "WWW-Authenticate: Bearer realm=\"flyt\"");
		free_params(req);
		return NULL;
	}
	return route;
}

static void dispatch(flyt_http_server_t *srv, flyt_http_request_t *req, flyt_http_response_t *res)
{
	flyt_error_t err = FLYT_ERROR_INIT;
	bool fallback;
	const flyt_route_t *route = resolve(srv, req, res, &fallback);
	if (fallback) {
		if (srv->cfg.fallback(req, res, &err) < 0)
			reply_error(res, &err);
		return;
	}
	if (route && route->handler(req, res, &err) < 0)
		reply_error(res, &err);
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				      const char *version, const char *upload_data, size_t *upload_data_size,
				      void **con_cls)
{
	flyt_http_server_t *srv = cls;
	request_ctx_t *rc = *con_cls;
	if (!rc) {
		rc = flyt_malloc0(sizeof(*rc));
		rc->started_us = flyt_now_us();
		rc->cert_err = (flyt_error_t)FLYT_ERROR_INIT;
		rc->cert_state = srv->cfg.tls ? peer_certificate(conn, &rc->cert, &rc->cert_err) : 0;
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
		uint64_t clen;
		if (cl && flyt_parse_u64(cl, UINT64_MAX, &clen) == 0 && clen > srv->cfg.max_body)
			rc->too_large = true;
		/* the headers are in: a request without a route or credentials gets its
		 * answer once the body has passed, but nothing of the body is kept */
		flyt_http_request_t pre = { .method = method,
					    .path = url,
					    .conn = conn,
					    .user = srv->cfg.user,
					    .server = srv,
					    .peer_cert = rc->cert_state > 0 ? &rc->cert : NULL };
		flyt_http_response_t scratch = { 0 };
		bool fallback;
		if (!resolve(srv, &pre, &scratch, &fallback) && !fallback)
			rc->refused = true;
		free_params(&pre);
		response_free(&scratch);
		*con_cls = rc;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;
		if (!rc->too_large && rc->len + n > srv->cfg.max_body)
			rc->too_large = true;
		if (!rc->too_large && !rc->refused) {
			if (rc->len + n + 1 > rc->cap) {
				size_t cap = rc->cap ? rc->cap : 4096;
				while (cap < rc->len + n + 1)
					cap *= 2;
				char *nb = realloc(rc->body, cap);
				if (!nb)
					abort();
				rc->body = nb;
				rc->cap = cap;
			}
			memcpy(rc->body + rc->len, upload_data, n);
			rc->len += n;
			rc->body[rc->len] = '\0';
		}
		*upload_data_size = 0;
		return MHD_YES;
	}

	flyt_http_request_t req = {
		.method = method,
		.path = url,
		.body = rc->body,
		.body_len = rc->len,
		.conn = conn,
		.user = srv->cfg.user,
		.server = srv,
	};
	fill_peer(conn, req.peer, sizeof(req.peer));
	flyt_http_response_t res = { 0 };
	if (rc->cert_state > 0)
		req.peer_cert = &rc->cert;
	if (rc->cert_state < 0) {
		/* a certificate the cluster CA did not sign, or an expired one */
		log_warn("%s: %s: %s", srv->cfg.name ? srv->cfg.name : "http", req.peer, rc->cert_err.msg);
		reply_error(&res, &rc->cert_err);
	} else if (rc->too_large && !rc->refused) {
		flyt_error_t err = FLYT_ERROR_INIT;
		flyt_error_set(&err, FLYT_E_TOO_LARGE, 0, "request body exceeds the limit of %zu bytes",
			       srv->cfg.max_body);
		reply_error(&res, &err);
	} else {
		dispatch(srv, &req, &res);
	}
	enum MHD_Result r = queue(conn, srv, &res);
	if (flyt_log_enabled(FLYT_LOG_DEBUG))
		log_debug("%s: %s %s %s -> %d (%.1f ms)", srv->cfg.name ? srv->cfg.name : "http", req.peer, method, url,
			  res.status ? res.status : 200, (double)(flyt_now_us() - rc->started_us) / 1000.0);
	free_params(&req);
	response_free(&res);
	return r;
}

static void request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			      enum MHD_RequestTerminationCode toe)
{
	request_ctx_t *rc = *con_cls;
	if (!rc)
		return;
	free(rc->body);
	free(rc);
	*con_cls = NULL;
}

int flyt_http_server_start(const flyt_http_config_t *cfg, flyt_http_server_t **ret, flyt_error_t *err)
{
	char host[128];
	uint16_t port;
	if (flyt_parse_hostport(cfg->listen, host, sizeof(host), &port, err) < 0)
		return -1;

	struct sockaddr_storage ss = { 0 };
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
	} else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		flags |= MHD_USE_IPv6;
	} else {
		return flyt_error_set(err, FLYT_E_INVALID, 0, "listen address \"%s\" is not a numeric IP address",
				      host);
	}

	flyt_http_server_t *srv = flyt_malloc0(sizeof(*srv));
	srv->cfg = *cfg;
	if (!srv->cfg.max_body)
		srv->cfg.max_body = 1024 * 1024;
	if (!srv->cfg.max_connections)
		srv->cfg.max_connections = 256;

	struct MHD_OptionItem tls_opts[] = {
		{ MHD_OPTION_HTTPS_CERT_CALLBACK, 0, cfg->tls ? flyt_tls_server_cert_callback() : NULL },
		{ MHD_OPTION_HTTPS_MEM_TRUST, 0, cfg->tls ? (void *)flyt_tls_ca_pem(cfg->tls) : NULL },
		{ MHD_OPTION_END, 0, NULL },
	};
	if (cfg->tls) {
		flags |= MHD_USE_TLS;
		flyt_tls_set_server_identity(cfg->tls);
	} else {
		tls_opts[0].option = MHD_OPTION_END;
	}
	srv->daemon =
	    MHD_start_daemon(flags, port, NULL, NULL, access_handler, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
			     MHD_OPTION_NOTIFY_COMPLETED, request_completed, srv, MHD_OPTION_CONNECTION_LIMIT,
			     (unsigned)srv->cfg.max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
			     (unsigned)srv->cfg.max_per_ip, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
			     MHD_OPTION_EXTERNAL_LOGGER, log_mhd, srv, MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
	if (!srv->daemon) {
		int e = errno;
		free(srv);
		return flyt_error_set(err, FLYT_E_IO, e, "cannot listen on %s", cfg->listen);
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = di ? di->port : port;
	*ret = srv;
	return 0;
}

uint16_t flyt_http_server_port(flyt_http_server_t *srv)
{
	return srv->port;
}

bool flyt_http_server_stopping(flyt_http_server_t *srv)
{
	return atomic_load(&srv->stopping);
}

void flyt_http_server_stop(flyt_http_server_t *srv)
{
	if (!srv)
		return;
	atomic_store(&srv->stopping, true);
	MHD_stop_daemon(srv->daemon);
	free(srv);
}
