/* The agent's side of TLS: enrolment with a join token, its certificate in
 * STATE/tls, renewal, and the HTTP clients it uses towards the controller and
 * its peers. See src/controller/pki.c for the controller's side. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "lib/auth.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/util.h"

#define SANS_FILE "sans"

flyt_http_client_t agent_client(agent_t *a, const char *url, long timeout_ms)
{
	return (flyt_http_client_t){
		.base_url = url,
		.token = a->tls ? NULL : a->token,
		.ca_file = a->tls ? flyt_tls_ca_file(a->tls) : NULL,
		.cert_file = a->tls ? flyt_tls_cert_file(a->tls) : NULL,
		.key_file = a->tls ? flyt_tls_key_file(a->tls) : NULL,
		.timeout_ms = timeout_ms,
		.connect_timeout_ms = 3000,
	};
}

static char *tls_path(agent_t *a, const char *name)
{
	return flyt_asprintf("%s/tls/%s", a->state_dir, name);
}

/* The names this agent's certificate must cover, one per line. */
static char *sans_text(agent_t *a)
{
	/* the data address too, when it is another: QEMU checks it */
	char dhost[128] = "";
	uint16_t port;
	flyt_error_t ignored = FLYT_ERROR_INIT;
	if (a->data_listen && flyt_parse_hostport(a->data_listen, dhost, sizeof(dhost), &port, &ignored) == 0 &&
	    (strcmp(dhost, a->tls_host) == 0 || strcmp(dhost, "0.0.0.0") == 0 || strcmp(dhost, "::") == 0))
		dhost[0] = '\0';
	return flyt_asprintf("%s\n%s%s127.0.0.1\nlocalhost\n", a->tls_host, dhost, dhost[0] ? "\n" : "");
}

static json_t *sans_json(const char *text)
{
	json_t *arr = json_array();
	_cleanup_free_ char *copy = flyt_strdup(text);
	char *save = NULL;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		json_array_append_new(arr, json_string(line));
	return arr;
}

/* Fetches the cluster CA from the controller without trusting anyone yet, and
 * keeps it only when its SHA-256 is the one the join token names. */
static int fetch_ca(agent_t *a, const char *pin, flyt_error_t *err)
{
	flyt_http_client_t c = { .base_url = a->controller_url, .timeout_ms = 15000, .insecure_bootstrap = true };
	_cleanup_json_ json_t *ans = NULL;
	if (flyt_http_call(&c, "GET", "/api/v1/ca", NULL, &ans, NULL, err) < 0)
		return flyt_error_prefix(err, "fetching the cluster CA from %s", a->controller_url);
	const char *pem = flyt_json_str(ans, "ca", "");
	flyt_cert_info_t info;
	if (flyt_pki_cert_info(pem, strlen(pem), &info, err) < 0)
		return flyt_error_prefix(err, "the controller's CA");
	if (!flyt_token_equal(info.fingerprint, pin))
		return flyt_error_set(err, FLYT_E_UNAUTHORIZED, 0,
				      "the CA that %s presents (SHA-256 %s) is not the one the join token names (%s): "
				      "wrong controller, or someone in between",
				      a->controller_url, info.fingerprint, pin);
	_cleanup_free_ char *path = tls_path(a, "ca.pem");
	return flyt_write_file_atomic(path, pem, strlen(pem), 0644, err);
}

/* Sends a new certificate request to path on the controller (with the
 * enrolment body or the current certificate) and installs the answer. */
static int request_cert(agent_t *a, const char *path, const char *join_token, flyt_error_t *err)
{
	_cleanup_free_ char *key_new = tls_path(a, "key.pem.new"), *cert_new = tls_path(a, "cert.pem.new");
	_cleanup_free_ char *key = tls_path(a, "key.pem"), *cert = tls_path(a, "cert.pem");
	_cleanup_free_ char *ca = tls_path(a, "ca.pem"), *sans_file = tls_path(a, SANS_FILE);
	_cleanup_free_ char *csr = flyt_pki_new_key_and_csr(key_new, a->name, err);
	if (!csr)
		return -1;
	_cleanup_free_ char *sans = sans_text(a);
	_cleanup_json_ json_t *body = json_pack("{s:s, s:o}", "csr", csr, "sans", sans_json(sans));
	if (join_token) {
		json_object_set_new(body, "token", json_string(join_token));
		json_object_set_new(body, "name", json_string(a->name));
	}
	flyt_http_client_t c =
	    a->tls ? agent_client(a, a->controller_url, 15000)
		   : (flyt_http_client_t){ .base_url = a->controller_url, .ca_file = ca, .timeout_ms = 15000 };
	_cleanup_json_ json_t *ans = NULL;
	if (flyt_http_call(&c, "POST", path, body, &ans, NULL, err) < 0)
		return flyt_error_prefix(err, "controller %s", a->controller_url);
	const char *pem = flyt_json_str(ans, "cert", "");
	if (flyt_write_file_atomic(cert_new, pem, strlen(pem), 0644, err) < 0 ||
	    flyt_pki_check_pair(ca, cert_new, key_new, err) < 0)
		return -1;
	/* the key first, the certificate last: a start that finds them apart
	 * finishes the renaming (agent_tls_setup) */
	if (rename(key_new, key) < 0 || rename(cert_new, cert) < 0)
		return flyt_error_set(err, FLYT_E_IO, errno, "install the new certificate");
	return flyt_write_file_atomic(sans_file, sans, strlen(sans), 0644, err);
}

static int enroll(agent_t *a, flyt_error_t *err)
{
	if (!a->controller_url)
		return flyt_error_set(
		    err, FLYT_E_INVALID, 0,
		    "this agent has no certificate yet: give it --controller and --join-token-file to "
		    "enrol (or --plain-http with --token-file, unsafe)");
	if (!a->join_token_file)
		return flyt_error_set(err, FLYT_E_INVALID, 0,
				      "this agent has no certificate yet: give it a join token (--join-token-file; "
				      "create one with `flyt join-token create`)");
	char tok[FLYT_TOKEN_MAX];
	if (flyt_token_load(a->join_token_file, tok, err) < 0)
		return flyt_error_prefix(err, "join token");
	flyt_join_token_t parsed;
	if (flyt_join_token_parse(tok, &parsed, err) < 0)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "%s does not hold a join token (flyt1.ID.SECRET.CA)",
				      a->join_token_file);
	if (fetch_ca(a, parsed.ca_sha256, err) < 0 || request_cert(a, "/api/v1/enroll", tok, err) < 0)
		return flyt_error_prefix(err, "enrolment");
	log_info("enrolled with the controller at %s: certificate in %s/tls", a->controller_url, a->state_dir);
	return 0;
}

int agent_tls_setup(agent_t *a, flyt_error_t *err)
{
	_cleanup_free_ char *dir = flyt_asprintf("%s/tls", a->state_dir);
	_cleanup_free_ char *cert = tls_path(a, "cert.pem"), *cert_new = tls_path(a, "cert.pem.new");
	if (flyt_mkdir_p(dir, 0700, err) < 0)
		return -1;
	if (access(cert, F_OK) < 0 && enroll(a, err) < 0)
		return -1;
	if (flyt_tls_load(dir, &a->tls, err) < 0) {
		/* a renewal stopped between its two renames */
		flyt_error_t first = *err;
		if (access(cert_new, F_OK) < 0 || rename(cert_new, cert) < 0 || flyt_tls_load(dir, &a->tls, err) < 0) {
			*err = first;
			return flyt_error_prefix(err, "this agent's certificate (remove %s to enrol again)", dir);
		}
	}
	flyt_cert_info_t info;
	flyt_tls_info(a->tls, &info);
	if (strcmp(info.cn, a->name) != 0 || strcmp(info.role, "agent") != 0)
		return flyt_error_set(err, FLYT_E_INVALID, 0,
				      "the certificate in %s is for %s \"%s\", not for agent %s (remove %s to enrol "
				      "again)",
				      dir, info.role, info.cn, a->name, dir);
	/* an address that changed since the certificate was made: renew now */
	_cleanup_free_ char *sans_file = tls_path(a, SANS_FILE), *want = sans_text(a), *have = NULL;
	size_t len = 0;
	flyt_error_t ignored = FLYT_ERROR_INIT;
	if (flyt_read_file(sans_file, 4096, &have, &len, &ignored) < 0 || strcmp(have, want) != 0) {
		log_info("this host's address is not in its certificate yet: renewing it");
		if (agent_tls_renew(a, err) < 0)
			return -1;
	}
	char until[40];
	flyt_tls_info(a->tls, &info);
	flyt_format_time(info.not_after * 1000, until, sizeof(until));
	log_info("TLS: certificate %s for %s, valid until %s", info.serial, info.cn, until);
	return 0;
}

int agent_tls_renew(agent_t *a, flyt_error_t *err)
{
	if (!a->tls)
		return flyt_error_set(err, FLYT_E_UNSUPPORTED, 0, "this agent runs with --plain-http");
	if (!a->controller_url)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "renewal needs --controller");
	pthread_mutex_lock(&a->tls_lock);
	_cleanup_free_ char *path = flyt_asprintf("/api/v1/agents/%s/renew", a->name);
	int r = request_cert(a, path, NULL, err);
	if (r == 0)
		r = flyt_tls_reload(a->tls, err);
	pthread_mutex_unlock(&a->tls_lock);
	if (r < 0)
		return flyt_error_prefix(err, "certificate renewal");
	flyt_cert_info_t info;
	flyt_tls_info(a->tls, &info);
	log_info("TLS: renewed the certificate, now serial %s", info.serial);
	/* libvirtd reads its copy at each migration: it follows at once */
	flyt_error_t lerr = FLYT_ERROR_INIT;
	if (a->libvirt_tls_dir && agent_tls_export_qemu(a, a->libvirt_tls_dir, &lerr) < 0)
		log_warn("libvirtd keeps the old certificate: %s", lerr.msg);
	return 0;
}

int agent_tls_export_qemu(agent_t *a, const char *dir, flyt_error_t *err)
{
	if (!a->tls)
		return flyt_error_set(err, FLYT_E_UNSUPPORTED, 0, "this agent runs with --plain-http");
	if (flyt_mkdir_p(dir, 0700, err) < 0)
		return flyt_error_prefix(err, "QEMU's TLS credentials");
	static const char *const names[] = { "ca-cert", "server-cert", "server-key", "client-cert", "client-key" };
	int r = 0;
	pthread_mutex_lock(&a->tls_lock); /* not half of a renewal's pair */
	const char *const from[] = { flyt_tls_ca_file(a->tls), flyt_tls_cert_file(a->tls), flyt_tls_key_file(a->tls),
				     flyt_tls_cert_file(a->tls), flyt_tls_key_file(a->tls) };
	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		_cleanup_free_ char *text = NULL;
		size_t len = 0;
		_cleanup_free_ char *path = flyt_asprintf("%s/%s.pem", dir, names[i]);
		if (flyt_read_file(from[i], 64 * 1024, &text, &len, err) < 0 ||
		    flyt_write_file_atomic(path, text, len, 0600, err) < 0) {
			r = -1;
			break;
		}
	}
	pthread_mutex_unlock(&a->tls_lock);
	return r < 0 ? flyt_error_prefix(err, "QEMU's TLS credentials in %s", dir) : 0;
}

bool agent_tls_due(agent_t *a)
{
	if (!a->tls)
		return false;
	flyt_cert_info_t info;
	flyt_tls_info(a->tls, &info);
	int64_t now = flyt_wall_ms() / 1000;
	return now > info.not_before + (info.not_after - info.not_before) * 2 / 3;
}

json_t *agent_tls_json(agent_t *a)
{
	if (!a->tls)
		return json_pack("{s:b}", "enabled", 0);
	flyt_cert_info_t info;
	flyt_tls_info(a->tls, &info);
	char from[40], until[40];
	flyt_format_time(info.not_before * 1000, from, sizeof(from));
	flyt_format_time(info.not_after * 1000, until, sizeof(until));
	return json_pack("{s:b, s:s, s:s, s:s, s:s, s:s}", "enabled", 1, "cn", info.cn, "serial", info.serial,
			 "fingerprint", info.fingerprint, "not_before", from, "not_after", until);
}
