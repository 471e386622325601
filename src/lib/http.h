/* HTTP for flyt: a JSON API server over libmicrohttpd with a declarative route table,
 * and a JSON client over libcurl.
 *
 * Server: each route names a method, a path pattern ("/v1/workloads/:name"), a
 * handler and whether it needs authentication. Handlers fill a response or return -1
 * with an error, which the server turns into {"error":{"code","message"}} with the
 * matching status. Bodies are bounded; unknown paths answer 404, known paths with
 * another method 405. Each connection has its own thread, so a handler may block
 * (long polls, server-sent events). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "error.h"

#define FLYT_HTTP_MAX_PARAMS 4

typedef struct flyt_http_server flyt_http_server_t;
struct flyt_tls;
struct flyt_cert_info;

typedef struct {
	const char *method;
	const char *path;
	const char *param_names[FLYT_HTTP_MAX_PARAMS];
	char *params[FLYT_HTTP_MAX_PARAMS];
	size_t nparams;
	const char *body;
	size_t body_len;
	void *conn;    /* struct MHD_Connection */
	void *user;    /* the server's user data */
	void *auth;    /* set by the auth callback (e.g. the principal) */
	char peer[64]; /* client address */
	/* Over TLS, the client certificate the cluster CA signed (NULL when the
	 * client presented none, or the server speaks plain HTTP). */
	const struct flyt_cert_info *peer_cert;
	flyt_http_server_t *server;
} flyt_http_request_t;

/* A streamed body: called repeatedly from the connection's thread; writes at most
 * max bytes into buf and returns their number, 0 to wait and be called again, or -1
 * to end the stream. Must return within about a second so shutdown stays prompt;
 * check flyt_http_server_stopping(). */
typedef ssize_t (*flyt_http_stream_fn)(void *ctx, char *buf, size_t max);

typedef struct {
	int status;   /* 0 means 200 */
	json_t *json; /* owned; serialised as the body */
	char *body;   /* owned; used when json is NULL */
	size_t body_len;
	const char *content_type;
	char *headers[8]; /* owned "Name: value" strings */
	flyt_http_stream_fn stream;
	void *stream_ctx;
	void (*stream_free)(void *ctx);
} flyt_http_response_t;

typedef int (*flyt_http_handler_t)(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err);

enum {
	FLYT_ROUTE_PUBLIC = 1 << 0, /* no authentication */
	FLYT_ROUTE_WRITE = 1 << 1,  /* changes state (for read-only credentials and CSRF checks) */
	FLYT_ROUTE_AGENT = 1 << 2,  /* an agent may call it with its certificate (controller) */
};

typedef struct {
	const char *method;
	const char *pattern;
	flyt_http_handler_t handler;
	unsigned flags;
	const char *summary;
} flyt_route_t;

/* Decides whether a request may proceed: 0 to allow, -1 with err (unauthorized,
 * forbidden) to refuse. */
typedef int (*flyt_http_auth_fn)(flyt_http_request_t *req, const flyt_route_t *route, flyt_error_t *err);

typedef struct {
	const char *listen; /* "ADDR:PORT"; port 0 picks a free one */
	const flyt_route_t *routes;
	size_t nroutes;
	flyt_http_auth_fn auth;
	void *user;
	size_t max_body;	  /* default 1 MiB */
	unsigned max_connections; /* default 256 */
	unsigned max_per_ip;	  /* default 0: no limit */
	const char *name;	  /* for log lines */
	/* Fallback for GET requests that match no route (static files); may be NULL. */
	flyt_http_handler_t fallback;
	/* HTTPS with this identity (lib/tls.h); clients may present certificates the
	 * cluster CA signed (req->peer_cert). NULL: plain HTTP. */
	struct flyt_tls *tls;
} flyt_http_config_t;

int flyt_http_server_start(const flyt_http_config_t *cfg, flyt_http_server_t **ret, flyt_error_t *err);
/* The port actually bound (useful with port 0). */
uint16_t flyt_http_server_port(flyt_http_server_t *srv);
bool flyt_http_server_stopping(flyt_http_server_t *srv);
void flyt_http_server_stop(flyt_http_server_t *srv);

/* The route table as JSON, for docs checks: [{"method","path","auth","write","summary"}]. */
json_t *flyt_http_routes_json(const flyt_route_t *routes, size_t n);

/* Request helpers. Values are borrowed from the request. */
const char *flyt_http_param(flyt_http_request_t *req, const char *name);
/* The path parameter `key` when it is a valid name (flyt_name_valid) or id
 * (flyt_id_valid); FLYT_E_INVALID otherwise. */
int flyt_http_param_name(flyt_http_request_t *req, const char *key, const char **ret, flyt_error_t *err);
int flyt_http_param_id(flyt_http_request_t *req, const char *key, const char **ret, flyt_error_t *err);
const char *flyt_http_query(flyt_http_request_t *req, const char *name);
const char *flyt_http_header(flyt_http_request_t *req, const char *name);
/* Parses the body as a JSON object (bounded by the server's max_body). */
int flyt_http_body_json(flyt_http_request_t *req, json_t **ret, flyt_error_t *err);
/* Reads an unsigned query argument; missing leaves *ret untouched. */
int flyt_http_query_u64(flyt_http_request_t *req, const char *name, uint64_t max, uint64_t *ret, flyt_error_t *err);

/* Response helpers: take ownership of j. */
void flyt_http_reply_json(flyt_http_response_t *res, int status, json_t *j);
void flyt_http_add_header(flyt_http_response_t *res, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses "ADDR:PORT" or "[ADDR6]:PORT" into host and port. */
int flyt_parse_hostport(const char *s, char *host, size_t host_size, uint16_t *port, flyt_error_t *err);

/* ---- client ---- */

typedef struct {
	const char *base_url; /* "http://198.18.0.2:7800" */
	const char *token;    /* bearer token, may be NULL */
	/* HTTPS: verify the server against this CA file and present this client
	 * certificate (all may be NULL). */
	const char *ca_file, *cert_file, *key_file;
	/* Only for fetching the CA itself during enrolment, whose fingerprint the
	 * caller then checks: do not verify the server. */
	bool insecure_bootstrap;
	long timeout_ms;	 /* whole request; default 30 s */
	long connect_timeout_ms; /* default 5 s */
	const char *unix_socket; /* speak HTTP over this unix socket instead of TCP */
	size_t max_response;	 /* default 16 MiB */
	/* Keep the connection open for the next GET of any client that asks for it
	 * (see flyt_http_call_file); other methods always use a new connection. */
	bool keep_alive;
} flyt_http_client_t;

/* Sends method path (appended to base_url) with body (may be NULL) as JSON. On a 2xx
 * answer returns 0 and the parsed body in *ret (NULL when empty or not JSON; ret may
 * be NULL). Otherwise -1 with err filled from the error body, or UNAVAILABLE /
 * TIMEOUT when the peer cannot be reached. *ret_status (may be NULL) gets the
 * status, 0 when there was no answer. */
int flyt_http_call(const flyt_http_client_t *c, const char *method, const char *path, json_t *body, json_t **ret,
		   long *ret_status, flyt_error_t *err);

/* Like flyt_http_call but returns the raw body; a non-2xx answer is an error. */
int flyt_http_call_raw(const flyt_http_client_t *c, const char *method, const char *path, json_t *body, char **ret_body,
		       size_t *ret_len, long *ret_status, flyt_error_t *err);

/* The general form of both: the request body is body (JSON, may be NULL) or the
 * file upload_path (sent as application/x-tar, may be NULL); a 2xx answer's body
 * goes to the file download_path (created 0600, replaced) when given, otherwise
 * into *ret_body (may be NULL). Error bodies of the form {"message": "..."} (the
 * Docker and Podman APIs) are quoted in err. */
int flyt_http_call_file(const flyt_http_client_t *c, const char *method, const char *path, json_t *body,
			const char *upload_path, const char *download_path, char **ret_body, size_t *ret_len,
			long *ret_status, flyt_error_t *err);

/* Percent-encodes s for use in a URL path segment or query value (caller frees). */
char *flyt_url_escape(const char *s);

/* Must be called once before threads start. */
void flyt_http_global_init(void);

/* A plain GET of base_url + path for talking to services that are not flyt's
 * (no token is sent, whatever c->token says): any HTTP status is an answer, not an
 * error. Fills *ret with the status, the body (bounded by c->max_response,
 * NUL-terminated, owned) and the Retry-After header in milliseconds (-1 when
 * absent). Fails only when no answer came (UNAVAILABLE, TIMEOUT, TOO_LARGE). */
typedef struct {
	long status;
	char *body;
	size_t len;
	long long retry_after_ms;
} flyt_http_answer_t;

int flyt_http_get_answer(const flyt_http_client_t *c, const char *path, flyt_http_answer_t *ret, flyt_error_t *err);
void flyt_http_answer_free(flyt_http_answer_t *a);
