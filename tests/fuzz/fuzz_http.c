/* Fuzz target: HTTP request handling. A real flyt HTTP server (libmicrohttpd with
 * flyt's router, bearer-token check, path parameters, query helpers and bounded
 * JSON bodies) runs in this process on 127.0.0.1; each input is sent to it as the
 * raw bytes of one client connection, and the answer read until the server closes.
 * Sanitizers in the same process catch any memory error in the request path. The
 * routes mirror the shapes of the real APIs: public and authenticated, reads and
 * writes, :name and :id parameters, JSON bodies, query arguments. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/auth.h"
#include "lib/cleanup.h"
#include "lib/http.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TOKEN "fuzz-token-0123456789abcdef0123456789abcdef0123456789abcdef01"

static int check_auth(flyt_http_request_t *req, const flyt_route_t *route, flyt_error_t *err)
{
	const char *tok = flyt_bearer_token(flyt_http_header(req, "Authorization"));
	if (!flyt_token_equal(tok, TOKEN))
		return flyt_error_set(err, FLYT_E_UNAUTHORIZED, 0, "bad token");
	return 0;
}

static int h_info(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	flyt_http_reply_json(res, 200, json_pack("{s:s}", "name", "fuzz"));
	return 0;
}

static int h_show(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	const char *name;
	if (flyt_http_param_name(req, "name", &name, err) < 0)
		return -1;
	uint64_t tail = 10;
	if (flyt_http_query_u64(req, "tail", 1 << 20, &tail, err) < 0)
		return -1;
	const char *stream = flyt_http_query(req, "stream");
	flyt_http_reply_json(res, 200,
			     json_pack("{s:s,s:I,s:s?}", "name", name, "tail", (json_int_t)tail, "stream", stream));
	return 0;
}

static int h_create(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	json_t *body = NULL;
	if (flyt_http_body_json(req, &body, err) < 0)
		return -1;
	static const char *const allowed[] = { "name", "kind", "argv", NULL };
	const char *name;
	char **argv = NULL;
	int r = -1;
	if (flyt_json_check_keys(body, "workload", allowed, err) == 0 &&
	    flyt_json_get_string(body, "name", true, 63, &name, err) == 0 &&
	    flyt_json_get_strv(body, "argv", false, 64, 4096, &argv, err) == 0) {
		flyt_http_reply_json(res, 201, json_pack("{s:s}", "name", name));
		r = 0;
	}
	flyt_strv_free(argv);
	json_decref(body);
	return r;
}

static int h_action(flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	const char *id;
	if (flyt_http_param_id(req, "id", &id, err) < 0)
		return -1;
	const char *action = flyt_http_param(req, "action");
	flyt_http_reply_json(res, 202, json_pack("{s:s,s:s?}", "id", id, "action", action));
	return 0;
}

static const flyt_route_t routes[] = {
	{ "GET", "/v1/info", h_info, FLYT_ROUTE_PUBLIC, "info" },
	{ "GET", "/v1/workloads/:name", h_show, 0, "show" },
	{ "POST", "/v1/workloads", h_create, FLYT_ROUTE_WRITE, "create" },
	{ "POST", "/v1/migrations/:id/:action", h_action, FLYT_ROUTE_WRITE, "action" },
	{ "DELETE", "/v1/workloads/:name", h_show, FLYT_ROUTE_WRITE, "delete" },
};

static uint16_t port;

static void start_server(void)
{
	if (port)
		return;
	flyt_log_setup("fuzz_http", FLYT_LOG_ERROR, FLYT_LOG_TEXT);
	flyt_http_config_t cfg = {
		.listen = "127.0.0.1:0",
		.routes = routes,
		.nroutes = sizeof(routes) / sizeof(routes[0]),
		.auth = check_auth,
		.max_body = 4096,
		.name = "fuzz",
	};
	flyt_http_server_t *srv;
	flyt_error_t err = FLYT_ERROR_INIT;
	if (flyt_http_server_start(&cfg, &srv, &err) < 0)
		abort();
	port = flyt_http_server_port(srv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	start_server();
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		abort();
	size_t off = 0;
	while (off < size) {
		ssize_t n = send(fd, data + off, size - off, MSG_NOSIGNAL);
		if (n <= 0)
			break; /* the server may close early on a bad request */
		off += (size_t)n;
	}
	shutdown(fd, SHUT_WR);
	/* read the answer until the server closes; a server that stops answering
	 * for 10 s on one connection is a hang, which is a finding too */
	char buf[4096];
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, 10000);
		if (r == 0) {
			fprintf(stderr, "fuzz_http: the server did not close the connection within 10 s\n");
			abort();
		}
		if (r < 0 || recv(fd, buf, sizeof(buf), 0) <= 0)
			break;
	}
	close(fd);
	return 0;
}
