/* Who may call the controller: the cluster token as a bearer credential (the CLI,
 * agents, scripts), or a browser session that began with that token. With
 * --read-token-file, a second, read-only token: as a bearer credential it may
 * make every request that changes nothing (GET, HEAD, and no route marked as
 * writing); anything else is refused with 403. It cannot open a browser session.
 *
 * A browser signs in once with POST /api/v1/session {"token"}; the controller
 * answers with a cookie holding a random session id (HttpOnly, so page scripts
 * cannot read it; SameSite=Strict, so other sites' pages cannot make the browser
 * send it) and a CSRF token in the body. The session lives in the store until it
 * expires or is ended. Every request that changes state and authenticates by the
 * cookie must repeat the CSRF token in the X-CSRF-Token header, compared in
 * constant time: a forged cross-site request has the cookie at best, never the
 * token. The cluster token itself never reaches the page after sign-in. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "controller/controller.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/util.h"

#define SESSION_ID_HEX 64 /* 256 bits */

/* Copies the value of the session cookie out of a Cookie header into out, when it
 * has the shape of a session id. */
static bool cookie_session_id(const char *header, char out[SESSION_ID_HEX + 1])
{
	static const char name[] = SESSION_COOKIE "=";
	const char *p = header;
	while (p && *p) {
		while (*p == ' ' || *p == ';')
			p++;
		size_t len = strcspn(p, ";");
		if (len > sizeof(name) - 1 && strncmp(p, name, sizeof(name) - 1) == 0) {
			const char *v = p + sizeof(name) - 1;
			size_t vlen = len - (sizeof(name) - 1);
			while (vlen > 0 && v[vlen - 1] == ' ')
				vlen--;
			if (vlen != SESSION_ID_HEX || strspn(v, "0123456789abcdef") < SESSION_ID_HEX)
				return false;
			memcpy(out, v, SESSION_ID_HEX);
			out[SESSION_ID_HEX] = '\0';
			return true;
		}
		p += len;
	}
	return false;
}

json_t *session_of_request(ctl_t *c, flyt_http_request_t *req)
{
	char id[SESSION_ID_HEX + 1];
	if (!cookie_session_id(flyt_http_header(req, "Cookie"), id))
		return NULL;
	return store_session_get(c->store, id, flyt_wall_ms());
}

static bool changes_state(flyt_http_request_t *req, const flyt_route_t *route)
{
	return (route->flags & FLYT_ROUTE_WRITE) ||
	       (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0);
}

const char *ctl_token_role(ctl_t *c, const char *tok)
{
	if (!tok)
		return NULL;
	pthread_mutex_lock(&c->token_lock);
	const char *role = flyt_token_equal(tok, c->token)			      ? "admin"
			   : c->read_token[0] && flyt_token_equal(tok, c->read_token) ? "read"
										      : NULL;
	pthread_mutex_unlock(&c->token_lock);
	return role;
}

/* An agent's certificate may call the endpoints agents use, for itself only. */
static int agent_cert_auth(flyt_http_request_t *req, const flyt_route_t *route, flyt_error_t *err)
{
	const flyt_cert_info_t *cert = req->peer_cert;
	if (strcmp(cert->role, "agent") != 0 || !(route->flags & FLYT_ROUTE_AGENT))
		return flyt_error_set(err, FLYT_E_FORBIDDEN, 0,
				      "the certificate of %s \"%.100s\" may not call %s %.200s (use a token)",
				      cert->role[0] ? cert->role : "(no role)", cert->cn, req->method, req->path);
	const char *name = flyt_http_param(req, "name");
	if (name && strcmp(name, cert->cn) != 0)
		return flyt_error_set(err, FLYT_E_FORBIDDEN, 0, "the certificate of agent %s may not act for %s",
				      cert->cn, name);
	return 0;
}

static int refuse_read_only(flyt_http_request_t *req, const char *via, flyt_error_t *err)
{
	return flyt_error_set(err, FLYT_E_FORBIDDEN, 0,
			      "%s %.200s changes state: the read-only %s may only read (use the cluster token)",
			      req->method, req->path, via);
}

int session_auth(flyt_http_request_t *req, const flyt_route_t *route, flyt_error_t *err)
{
	ctl_t *c = req->user;
	const char *authz = flyt_http_header(req, "Authorization");
	if (req->peer_cert && !authz)
		return agent_cert_auth(req, route, err);
	if (authz) {
		/* a request that names a credential is judged by it alone */
		const char *tok = flyt_bearer_token(authz);
		if (!tok)
			return flyt_error_set(err, FLYT_E_UNAUTHORIZED, 0,
					      "the Authorization header is not a bearer token");
		const char *role = ctl_token_role(c, tok);
		if (!role)
			return flyt_error_set(err, FLYT_E_UNAUTHORIZED, 0, "bad token");
		if (strcmp(role, "read") == 0 && changes_state(req, route))
			return refuse_read_only(req, "token", err);
		return 0;
	}
	_cleanup_json_ json_t *sess = session_of_request(c, req);
	if (!sess)
		return flyt_error_set(err, FLYT_E_UNAUTHORIZED, 0,
				      flyt_http_header(req, "Cookie")
					  ? "not signed in: the session has expired or ended"
					  : "missing bearer token");
	if (changes_state(req, route) && strcmp(flyt_json_str(sess, "role", "admin"), "read") == 0 &&
	    strcmp(route->pattern, "/api/v1/session") != 0) /* signing out is allowed */
		return refuse_read_only(req, "session", err);
	if (changes_state(req, route)) {
		const char *csrf = flyt_http_header(req, CSRF_HEADER);
		if (!csrf || !flyt_token_equal(csrf, flyt_json_str(sess, "csrf", "")))
			return flyt_error_set(err, FLYT_E_FORBIDDEN, 0,
					      "this request changes state and needs the session's CSRF token in the "
					      "%s header",
					      CSRF_HEADER);
	}
	return 0;
}

/* The Set-Cookie header that stores id for max_age_s seconds (0: deletes it). */
static void set_cookie(ctl_t *c, flyt_http_response_t *res, const char *id, int64_t max_age_s)
{
	flyt_http_add_header(res, "Set-Cookie: %s=%s; Path=/; Max-Age=%lld; HttpOnly; SameSite=Strict%s",
			     SESSION_COOKIE, id, (long long)max_age_s, c->cookie_secure ? "; Secure" : "");
}

/* What the page may know of its session: never the id. */
static json_t *session_public(json_t *sess, bool with_csrf)
{
	json_t *out = json_pack("{s:O, s:O, s:O, s:O, s:O}", "created", json_object_get(sess, "created"), "expires",
				json_object_get(sess, "expires"), "peer", json_object_get(sess, "peer"), "agent",
				json_object_get(sess, "agent"), "role", json_object_get(sess, "role"));
	if (with_csrf)
		json_object_set(out, "csrf", json_object_get(sess, "csrf"));
	return out;
}

int session_open(ctl_t *c, flyt_http_request_t *req, json_t *body, flyt_http_response_t *res, flyt_error_t *err)
{
	static const char *const keys[] = { "token", NULL };
	const char *token = NULL;
	if (flyt_json_check_keys(body, "sign-in", keys, err) < 0 ||
	    flyt_json_get_string(body, "token", true, FLYT_TOKEN_MAX, &token, err) < 0)
		return -1;
	const char *role = ctl_token_role(c, token);
	if (!role) {
		log_warn("sign-in from %s with a wrong token", req->peer);
		return flyt_error_set(err, FLYT_E_UNAUTHORIZED, 0, "wrong token");
	}
	char id[SESSION_ID_HEX + 1], csrf[SESSION_ID_HEX + 1];
	if (flyt_random_hex(id, SESSION_ID_HEX / 2, err) < 0 || flyt_random_hex(csrf, SESSION_ID_HEX / 2, err) < 0)
		return -1;
	const char *ua = flyt_http_header(req, "User-Agent");
	char agent[161];
	snprintf(agent, sizeof(agent), "%s", ua ? ua : "");
	for (char *p = agent; *p; p++)
		if ((unsigned char)*p < ' ' || (unsigned char)*p >= 0x7f)
			*p = '?';
	int64_t now = flyt_wall_ms();
	_cleanup_json_ json_t *sess = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:s}", "id", id, "csrf", csrf, "peer",
						req->peer, "agent", agent, "created_ms", (json_int_t)now, "expires_ms",
						(json_int_t)(now + c->session_ttl_min * 60000), "role", role);
	if (store_session_add(c->store, sess, err) < 0)
		return -1;
	json_decref(sess);
	sess = store_session_get(c->store, id, now);
	if (!sess)
		return flyt_error_set(err, FLYT_E_INTERNAL, 0, "the new session is not in the store");
	log_info("%s session opened for %s", role, req->peer);
	set_cookie(c, res, id, c->session_ttl_min * 60);
	flyt_http_reply_json(res, 201, session_public(sess, true));
	return 0;
}

int session_show(ctl_t *c, flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	/* public, so that a page can ask whether it is signed in without an error in
	 * its console; it tells only the holder of a valid credential anything more */
	const char *authz = flyt_http_header(req, "Authorization");
	if (authz) {
		const char *role = ctl_token_role(c, flyt_bearer_token(authz));
		if (!role)
			return flyt_error_set(err, FLYT_E_UNAUTHORIZED, 0, "bad token");
		flyt_http_reply_json(res, 200,
				     json_pack("{s:b, s:s, s:s}", "signed_in", 1, "via", "token", "role", role));
		return 0;
	}
	_cleanup_json_ json_t *sess = session_of_request(c, req);
	if (!sess) {
		flyt_http_reply_json(res, 200, json_pack("{s:b}", "signed_in", 0));
		return 0;
	}
	json_t *out = session_public(sess, true);
	json_object_set_new(out, "signed_in", json_true());
	json_object_set_new(out, "via", json_string("session"));
	flyt_http_reply_json(res, 200, out);
	return 0;
}

int session_close(ctl_t *c, flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	_cleanup_json_ json_t *sess = session_of_request(c, req);
	if (!sess)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "this request has no session to end");
	if (store_session_delete(c->store, flyt_json_str(sess, "id", ""), NULL, err) < 0)
		return -1;
	log_info("session of %s ended", flyt_json_str(sess, "peer", "?"));
	set_cookie(c, res, "", 0);
	flyt_http_reply_json(res, 200, json_pack("{s:b}", "ended", 1));
	return 0;
}

int session_list(ctl_t *c, flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	_cleanup_json_ json_t *mine = session_of_request(c, req);
	_cleanup_json_ json_t *all = store_sessions_list(c->store, flyt_wall_ms());
	json_t *out = json_array();
	size_t i;
	json_t *s;
	json_array_foreach (all, i, s) {
		json_t *p = session_public(s, false);
		json_object_set_new(
		    p, "current",
		    json_boolean(mine && json_equal(json_object_get(mine, "id"), json_object_get(s, "id"))));
		json_array_append_new(out, p);
	}
	flyt_http_reply_json(res, 200, json_pack("{s:o}", "sessions", out));
	return 0;
}

int session_revoke_all(ctl_t *c, flyt_http_request_t *req, flyt_http_response_t *res, flyt_error_t *err)
{
	int64_t n = 0;
	if (store_session_delete(c->store, NULL, &n, err) < 0)
		return -1;
	log_info("all %lld browser sessions ended by %s", (long long)n, req->peer);
	ctl_publish(c, "sessions.revoked", json_pack("{s:I}", "count", (json_int_t)n));
	if (flyt_http_header(req, "Cookie"))
		set_cookie(c, res, "", 0);
	flyt_http_reply_json(res, 200, json_pack("{s:I}", "ended", (json_int_t)n));
	return 0;
}
