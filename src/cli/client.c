/* Requests from flyt to the controller: the token and base URL set up at the first
 * call, paths with escaped segments and queries, long-poll timeouts. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "lib/cleanup.h"
#include "lib/util.h"

/* A long poll's request may take this much longer than the wait it asks for. */
#define CLIENT_WAIT_MARGIN_MS 15000

/* Loads the token and fixes the base URL, once. */
static int client_connect(cli_t *cli, flyt_error_t *err)
{
	if (cli->connected)
		return 0;
	/* checked here, not while parsing, so that help works whatever $FLYT_CONTROLLER says */
	if (!flyt_startswith(cli->controller, "http://") && !flyt_startswith(cli->controller, "https://"))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "controller %s: expected an http:// or https:// URL",
				      cli->controller);
	if (flyt_token_load(cli->token_file, cli->token, err) < 0) {
		if (err->code != FLYT_E_NOT_FOUND)
			return -1;
		char msg[FLYT_ERROR_MSG_MAX];
		memcpy(msg, err->msg, sizeof(msg));
		return flyt_error_set(err, err->code, 0, "%s (choose the file with --token-file or $FLYT_TOKEN_FILE)",
				      msg);
	}
	free(cli->base_url);
	cli->base_url = flyt_strdup(cli->controller);
	size_t len = strlen(cli->base_url);
	while (len > 0 && cli->base_url[len - 1] == '/')
		cli->base_url[--len] = '\0';
	cli->http = (flyt_http_client_t){ .base_url = cli->base_url, .token = cli->token };
	if (flyt_startswith(cli->base_url, "https://")) {
		if (access(cli->ca_file, R_OK) < 0)
			return flyt_error_set(
			    err, FLYT_E_NOT_FOUND, errno,
			    "the cluster CA %s cannot be read (choose it with --ca-file or $FLYT_CA_FILE; "
			    "the controller keeps it in its --tls-dir)",
			    cli->ca_file);
		cli->http.ca_file = cli->ca_file;
	}
	cli->connected = true;
	return 0;
}

int client_call(cli_t *cli, const char *method, const char *path, json_t *body, json_t **ret, flyt_error_t *err)
{
	if (client_connect(cli, err) < 0)
		return -1;
	return flyt_http_call(&cli->http, method, path, body, ret, NULL, err);
}

int client_show(cli_t *cli, const char *method, const char *path, json_t *body, flyt_error_t *err)
{
	_cleanup_json_ json_t *ans = NULL;
	if (client_call(cli, method, path, body, &ans, err) < 0)
		return -1;
	if (cli->json)
		output_json(ans);
	else
		output_show(ans);
	return 0;
}

int client_delete(cli_t *cli, const char *path, const char *done, flyt_error_t *err)
{
	_cleanup_json_ json_t *ans = NULL;
	if (client_call(cli, "DELETE", path, NULL, &ans, err) < 0)
		return -1;
	if (cli->json)
		output_json(ans);
	else
		printf("%s\n", done);
	return 0;
}

int client_get_wait(cli_t *cli, const char *path, unsigned wait_ms, json_t **ret, flyt_error_t *err)
{
	if (client_connect(cli, err) < 0)
		return -1;
	flyt_http_client_t c = cli->http;
	c.timeout_ms = (long)wait_ms + CLIENT_WAIT_MARGIN_MS;
	return flyt_http_call(&c, "GET", path, NULL, ret, NULL, err);
}

int client_call_raw(cli_t *cli, const char *method, const char *path, char **ret, size_t *ret_len, flyt_error_t *err)
{
	if (client_connect(cli, err) < 0)
		return -1;
	char *body = NULL;
	size_t len = 0;
	if (flyt_http_call_raw(&cli->http, method, path, NULL, &body, &len, NULL, err) < 0)
		return -1;
	/* an empty answer has no buffer at all */
	*ret = body ? body : flyt_strdup("");
	*ret_len = len;
	return 0;
}

char *client_path(const char *collection, const char *name, const char *action)
{
	_cleanup_free_ char *e = flyt_url_escape(name);
	return flyt_asprintf("/api/v1/%s/%s%s%s", collection, e, action ? "/" : "", action ? action : "");
}

void client_query(char **path, const char *key, const char *value)
{
	if (!value)
		return;
	_cleanup_free_ char *e = flyt_url_escape(value);
	char *p = flyt_asprintf("%s%c%s=%s", *path, strchr(*path, '?') ? '&' : '?', key, e);
	free(*path);
	*path = p;
}

int client_list(json_t *ans, const char *key, json_t **ret, flyt_error_t *err)
{
	json_t *list = json_is_array(ans) ? ans : json_object_get(ans, key);
	if (!json_is_array(list))
		return flyt_error_set(err, FLYT_E_CORRUPT, 0, "the controller's answer has no \"%s\" list", key);
	*ret = list;
	return 0;
}

bool client_error_transient(const flyt_error_t *err)
{
	return err->code == FLYT_E_UNAVAILABLE || err->code == FLYT_E_TIMEOUT;
}

void client_done(cli_t *cli)
{
	free(cli->base_url);
	cli->base_url = NULL;
	cli->connected = false;
}
