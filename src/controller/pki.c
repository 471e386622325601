/* The controller's side of TLS: the cluster CA, the controller's own
 * certificate, join tokens, agent enrolment and renewal, and token rotation.
 *
 * Enrolment: an administrator creates a join token (POST /api/v1/join-tokens,
 * or --join-token-out at start). It reads "flyt1.ID.SECRET.CAHASH": the id
 * names the stored token, the secret (256 bits) proves it, CAHASH is the SHA-256
 * of the cluster CA's certificate. A new agent fetches the CA (GET
 * /api/v1/ca), checks its hash against CAHASH, and from then on verifies the
 * controller with it; it sends a certificate request with the token (POST
 * /api/v1/enroll) and gets a certificate naming it (role "agent"). Later it
 * renews that certificate with the certificate itself (POST
 * /api/v1/agents/NAME/renew). The store keeps only the SHA-256 of a token's
 * secret, and tokens expire (default after 60 minutes). */
#include <arpa/inet.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controller/controller.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/util.h"

#define CSR_MAX (16 * 1024)
#define SANS_MAX 8
#define CONTROLLER_CN "flyt-controller"

static void sha256_hex(const char *data, size_t len, char out[65])
{
	unsigned char d[32];
	gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, d);
	for (size_t i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* Creates a join token valid for ttl_min minutes; returns its full text. */
static char *join_token_new(ctl_t *c, int64_t ttl_min, json_t **ret_info, flyt_error_t *err)
{
	char id[FLYT_JOIN_ID_HEX + 1], secret[FLYT_JOIN_SECRET_HEX + 1], hash[65];
	if (flyt_random_hex(id, FLYT_JOIN_ID_HEX / 2, err) < 0 ||
	    flyt_random_hex(secret, FLYT_JOIN_SECRET_HEX / 2, err) < 0)
		return NULL;
	sha256_hex(secret, strlen(secret), hash);
	int64_t now = flyt_wall_ms();
	int64_t expires = now + ttl_min * 60000;
	if (store_join_token_add(c->store, id, hash, now, expires, err) < 0)
		return NULL;
	if (ret_info) {
		char when[40];
		flyt_format_time(expires, when, sizeof(when));
		*ret_info = json_pack("{s:s, s:s}", "id", id, "expires", when);
	}
	return flyt_asprintf("flyt1.%s.%s.%s", id, secret, c->ca_fingerprint);
}

/* The names the controller's certificate covers: its listen address (unless a
 * wildcard), loopback, and --tls-san. */
static char **controller_sans(ctl_t *c)
{
	char **sans = flyt_malloc0(sizeof(char *) * (SANS_MAX + 8));
	size_t n = 0;
	char host[128];
	uint16_t port;
	flyt_error_t ignored = FLYT_ERROR_INIT;
	if (flyt_parse_hostport(c->listen, host, sizeof(host), &port, &ignored) == 0 && strcmp(host, "0.0.0.0") != 0 &&
	    strcmp(host, "::") != 0)
		sans[n++] = flyt_strdup(host);
	sans[n++] = flyt_strdup("127.0.0.1");
	sans[n++] = flyt_strdup("::1");
	sans[n++] = flyt_strdup("localhost");
	for (size_t i = 0; c->tls_sans && c->tls_sans[i] && i < SANS_MAX; i++)
		sans[n++] = flyt_strdup(c->tls_sans[i]);
	return sans;
}

static void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* Issues the controller's own certificate (at every start: its names follow
 * the options, and it never gets old). */
static int controller_cert(ctl_t *c, flyt_error_t *err)
{
	_cleanup_free_ char *key = flyt_asprintf("%s/key.pem", c->tls_dir);
	_cleanup_free_ char *cert = flyt_asprintf("%s/cert.pem", c->tls_dir);
	_cleanup_free_ char *csr = flyt_pki_new_key_and_csr(key, CONTROLLER_CN, err);
	if (!csr)
		return -1;
	char **sans = controller_sans(c);
	_cleanup_free_ char *pem = flyt_pki_sign(c->tls_dir, csr, CONTROLLER_CN, "controller",
						 (const char *const *)sans, (unsigned)c->cert_days, err);
	strv_free(sans);
	if (!pem)
		return -1;
	return flyt_write_file_atomic(cert, pem, strlen(pem), 0644, err);
}

int pki_setup(ctl_t *c, flyt_error_t *err)
{
	if (c->plain_http) {
		log_warn("*** --plain-http: the API, the web UI and every call to the agents go UNENCRYPTED and the "
			 "agents are NOT authenticated by certificates: tokens and workload data can be read on the "
			 "network. Use it only on a network you trust completely. ***");
		return 0;
	}
	bool created = false;
	if (flyt_pki_ca_ensure(c->tls_dir, &created, err) < 0)
		return flyt_error_prefix(err, "cluster CA");
	if (controller_cert(c, err) < 0 || flyt_tls_load(c->tls_dir, &c->tls, err) < 0)
		return flyt_error_prefix(err, "controller certificate");
	flyt_cert_info_t ca;
	_cleanup_free_ char *ca_file = flyt_asprintf("%s/ca.pem", c->tls_dir);
	if (flyt_pki_cert_file_info(ca_file, &ca, err) < 0)
		return -1;
	snprintf(c->ca_fingerprint, sizeof(c->ca_fingerprint), "%s", ca.fingerprint);
	log_info("%s the cluster CA in %s (SHA-256 %s)", created ? "created" : "using", c->tls_dir, ca.fingerprint);
	c->cookie_secure = true;
	if (c->join_token_out) {
		_cleanup_free_ char *tok = join_token_new(c, c->join_ttl_min, NULL, err);
		if (!tok)
			return flyt_error_prefix(err, "join token");
		_cleanup_free_ char *line = flyt_asprintf("%s\n", tok);
		if (flyt_write_file_atomic(c->join_token_out, line, strlen(line), 0600, err) < 0)
			return -1;
		log_info("wrote a join token valid for %lld minutes to %s", (long long)c->join_ttl_min,
			 c->join_token_out);
	}
	return 0;
}

int pki_ca(ctl_t *c, flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	(void)req;
	if (!c->tls)
		return flyt_error_set(err, FLYT_E_UNSUPPORTED, 0,
				      "this controller runs with --plain-http: it has no CA");
	flyt_http_reply_json(res, 200,
			     json_pack("{s:s, s:s}", "ca", flyt_tls_ca_pem(c->tls), "fingerprint", c->ca_fingerprint));
	return 0;
}

/* Reads {"csr", "sans"} (plus the keys in extra) and checks the names. */
static int read_csr(json_t *body, const char *const *keys, const char **ret_csr, const char *sans[SANS_MAX + 1],
		    flyt_error_t *err)
{
	if (flyt_json_check_keys(body, "request", keys, err) < 0 ||
	    flyt_json_get_string(body, "csr", true, CSR_MAX, ret_csr, err) < 0)
		return -1;
	json_t *arr = json_object_get(body, "sans");
	size_t n = 0;
	if (arr && (!json_is_array(arr) || json_array_size(arr) > SANS_MAX))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "sans: at most %d names", SANS_MAX);
	for (size_t i = 0; arr && i < json_array_size(arr); i++) {
		const char *s = json_string_value(json_array_get(arr, i));
		if (!s || !*s || strlen(s) > 253)
			return flyt_error_set(err, FLYT_E_INVALID, 0, "sans: entry %zu is not a name", i);
		sans[n++] = s;
	}
	sans[n] = NULL;
	return 0;
}

static int reply_cert(ctl_t *c, flyt_http_response_t *res, int status, char *pem, flyt_error_t *err)
{
	flyt_cert_info_t info;
	if (flyt_pki_cert_info(pem, strlen(pem), &info, err) < 0)
		return -1;
	char until[40];
	flyt_format_time(info.not_after * 1000, until, sizeof(until));
	flyt_http_reply_json(res, status,
			     json_pack("{s:s, s:s, s:s, s:s}", "cert", pem, "ca", flyt_tls_ca_pem(c->tls), "serial",
				       info.serial, "not_after", until));
	return 0;
}

/* Checks a presented join token; fills id. */
static int join_token_check(ctl_t *c, const char *text, char id[FLYT_JOIN_ID_HEX + 1], flyt_error_t *err)
{
	flyt_join_token_t tok;
	char hash[65];
	if (flyt_join_token_parse(text, &tok, err) < 0)
		return -1;
	memcpy(id, tok.id, sizeof(tok.id));
	if (strcmp(tok.ca_sha256, c->ca_fingerprint) != 0)
		return flyt_error_set(err, FLYT_E_UNAUTHORIZED, 0, "the join token is for another cluster CA");
	_cleanup_json_ json_t *stored = store_join_token_use(c->store, tok.id, flyt_wall_ms());
	sha256_hex(tok.secret, strlen(tok.secret), hash);
	if (!stored || !flyt_token_equal(hash, flyt_json_str(stored, "secret_sha256", "")))
		return flyt_error_set(err, FLYT_E_UNAUTHORIZED, 0, "unknown or expired join token");
	return 0;
}

int pki_enroll(ctl_t *c, flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	if (!c->tls)
		return flyt_error_set(err, FLYT_E_UNSUPPORTED, 0,
				      "this controller runs with --plain-http: no enrolment");
	_cleanup_json_ json_t *body = NULL;
	static const char *const keys[] = { "token", "name", "csr", "sans", NULL };
	const char *tok = NULL, *name = NULL, *csr = NULL, *sans[SANS_MAX + 1];
	if (flyt_http_body_json(req, &body, err) < 0 || read_csr(body, keys, &csr, sans, err) < 0 ||
	    flyt_json_get_string(body, "token", true, FLYT_TOKEN_MAX, &tok, err) < 0 ||
	    flyt_json_get_string(body, "name", true, 63, &name, err) < 0)
		return -1;
	if (!flyt_name_valid(name))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "bad host name \"%.64s\"", name);
	char id[FLYT_JOIN_ID_HEX + 1];
	if (join_token_check(c, tok, id, err) < 0) {
		log_warn("enrolment of %.64s from %s refused: %s", name, req->peer, err->msg);
		return -1;
	}
	_cleanup_free_ char *pem = flyt_pki_sign(c->tls_dir, csr, name, "agent", sans, (unsigned)c->cert_days, err);
	if (!pem)
		return -1;
	log_info("enrolled agent %s from %s with join token %s", name, req->peer, id);
	ctl_publish(c, "host.enrolled", json_pack("{s:s, s:s}", "host", name, "join_token", id));
	return reply_cert(c, res, 201, pem, err);
}

int pki_renew(ctl_t *c, flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	if (!c->tls)
		return flyt_error_set(err, FLYT_E_UNSUPPORTED, 0, "this controller runs with --plain-http");
	const char *name = NULL;
	if (flyt_http_param_name(req, "name", &name, err) < 0)
		return -1;
	/* session_auth let only this agent's own certificate through */
	if (!req->peer_cert)
		return flyt_error_set(err, FLYT_E_FORBIDDEN, 0, "renew with the agent's current certificate");
	_cleanup_json_ json_t *body = NULL;
	static const char *const keys[] = { "csr", "sans", NULL };
	const char *csr = NULL, *sans[SANS_MAX + 1];
	if (flyt_http_body_json(req, &body, err) < 0 || read_csr(body, keys, &csr, sans, err) < 0)
		return -1;
	_cleanup_free_ char *pem = flyt_pki_sign(c->tls_dir, csr, name, "agent", sans, (unsigned)c->cert_days, err);
	if (!pem)
		return -1;
	log_info("renewed the certificate of agent %s (was serial %s)", name, req->peer_cert->serial);
	ctl_publish(c, "host.cert_renewed", json_pack("{s:s}", "host", name));
	return reply_cert(c, res, 200, pem, err);
}

int pki_join_token_create(ctl_t *c, flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	if (!c->tls)
		return flyt_error_set(err, FLYT_E_UNSUPPORTED, 0,
				      "this controller runs with --plain-http: no enrolment");
	_cleanup_json_ json_t *body = NULL;
	static const char *const keys[] = { "ttl_minutes", NULL };
	int64_t ttl = c->join_ttl_min;
	if (req->body_len > 0 &&
	    (flyt_http_body_json(req, &body, err) < 0 || flyt_json_check_keys(body, "join token", keys, err) < 0 ||
	     flyt_json_get_int(body, "ttl_minutes", false, 1, 7 * 24 * 60, &ttl, err) < 0))
		return -1;
	json_t *info = NULL;
	_cleanup_free_ char *tok = join_token_new(c, ttl, &info, err);
	if (!tok)
		return -1;
	json_object_set_new(info, "token", json_string(tok));
	log_info("join token %s created by %s, valid for %lld minutes", flyt_json_str(info, "id", ""), req->peer,
		 (long long)ttl);
	flyt_http_reply_json(res, 201, info);
	return 0;
}

int pki_join_tokens(ctl_t *c, flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	(void)req, (void)err;
	flyt_http_reply_json(res, 200,
			     json_pack("{s:o}", "join_tokens", store_join_tokens_list(c->store, flyt_wall_ms())));
	return 0;
}

int pki_join_token_delete(ctl_t *c, flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	const char *id = NULL;
	int64_t n = 0;
	if (flyt_http_param_id(req, "id", &id, err) < 0 || store_join_token_delete(c->store, id, &n, err) < 0)
		return -1;
	if (n == 0)
		return flyt_error_set(err, FLYT_E_NOT_FOUND, 0, "no join token %s", id);
	log_info("join token %s revoked by %s", id, req->peer);
	flyt_http_reply_json(res, 200, json_pack("{s:b}", "deleted", 1));
	return 0;
}

int pki_token_rotate(ctl_t *c, flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	_cleanup_json_ json_t *body = NULL;
	static const char *const keys[] = { "kind", NULL };
	const char *kind = "admin";
	if (req->body_len > 0 &&
	    (flyt_http_body_json(req, &body, err) < 0 || flyt_json_check_keys(body, "rotation", keys, err) < 0 ||
	     flyt_json_get_string(body, "kind", false, 16, &kind, err) < 0))
		return -1;
	bool admin = strcmp(kind, "admin") == 0;
	if (!admin && strcmp(kind, "read") != 0)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "kind must be admin or read");
	if (!admin && !c->read_token_file)
		return flyt_error_set(err, FLYT_E_INVALID, 0,
				      "this controller has no read-only token (--read-token-file)");
	char tok[FLYT_TOKEN_MAX];
	if (flyt_random_hex(tok, 32, err) < 0)
		return -1;
	_cleanup_free_ char *line = flyt_asprintf("%s\n", tok);
	const char *file = admin ? c->token_file : c->read_token_file;
	/* the file first: a crash after it leaves the new token in force at the next start */
	if (flyt_write_file_atomic(file, line, strlen(line), 0600, err) < 0)
		return flyt_error_prefix(err, "token file");
	pthread_mutex_lock(&c->token_lock);
	snprintf(admin ? c->token : c->read_token, FLYT_TOKEN_MAX, "%s", tok);
	pthread_mutex_unlock(&c->token_lock);
	log_warn("the %s token was rotated by %s: the old one is refused from now on; the new one is in %s", kind,
		 req->peer, file);
	ctl_publish(c, "token.rotated", json_pack("{s:s}", "kind", kind));
	flyt_http_reply_json(res, 200, json_pack("{s:s, s:s, s:s}", "kind", kind, "token", tok, "file", file));
	return 0;
}

int pki_host_rotate_cert(ctl_t *c, flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	const char *name = NULL;
	if (flyt_http_param_name(req, "name", &name, err) < 0)
		return -1;
	if (!c->tls)
		return flyt_error_set(err, FLYT_E_UNSUPPORTED, 0, "this controller runs with --plain-http");
	_cleanup_json_ json_t *host = store_host_get(c->store, name);
	if (!host)
		return flyt_error_set(err, FLYT_E_NOT_FOUND, 0, "no host %s", name);
	flyt_http_client_t cl = ctl_agent_client(c, flyt_json_str(host, "url", ""), 30000);
	json_t *out = NULL;
	if (flyt_http_call(&cl, "POST", "/v1/tls/renew", NULL, &out, NULL, err) < 0)
		return flyt_error_prefix(err, "host %s", name);
	flyt_http_reply_json(res, 200, out);
	return 0;
}
