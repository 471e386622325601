/* flyt join-token create|ls|rm, flyt token rotate, flyt host rotate-cert: the
 * credentials of the cluster (see docs/security.md). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/util.h"

static const flyt_opt_t no_opts[] = { { NULL } };

int join_token_create(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err)
{
	int64_t ttl = 0;
	const flyt_opt_t opts[] = {
		{ "ttl", 0, FLYT_OPT_INT, &ttl, "MINUTES", "lifetime (default: the controller's --join-ttl)", 1,
		  10080 },
		{ NULL },
	};
	int npos, r = commands_parse(cli, cmd, opts, argc, argv, 0, 0, &npos, err);
	if (r != 0)
		return r;
	_cleanup_json_ json_t *body = ttl ? json_pack("{s:I}", "ttl_minutes", (json_int_t)ttl) : NULL;
	_cleanup_json_ json_t *ans = NULL;
	if (client_call(cli, "POST", "/api/v1/join-tokens", body, &ans, err) < 0)
		return -1;
	if (cli->json) {
		output_json(ans);
		return 0;
	}
	/* the token alone on stdout, for `flyt join-token create > FILE` */
	printf("%s\n", flyt_json_str(ans, "token", ""));
	fprintf(stderr, "join token %s, valid until %s: start the new agent with --join-token-file FILE\n",
		flyt_json_str(ans, "id", "?"), flyt_json_str(ans, "expires", "?"));
	return 0;
}

int join_token_ls(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err)
{
	int npos, r = commands_parse(cli, cmd, no_opts, argc, argv, 0, 0, &npos, err);
	if (r != 0)
		return r;
	_cleanup_json_ json_t *ans = NULL;
	json_t *list;
	if (client_call(cli, "GET", "/api/v1/join-tokens", NULL, &ans, err) < 0 ||
	    client_list(ans, "join_tokens", &list, err) < 0)
		return -1;
	if (cli->json) {
		output_json(ans);
		return 0;
	}
	static const char *const headers[] = { "ID", "CREATED", "EXPIRES", "USES" };
	_cleanup_(output_table_free) output_table_t t = { 0 };
	output_table_init(&t, ELEMENTSOF(headers), headers);
	size_t i;
	json_t *j;
	json_array_foreach (list, i, j) {
		char uses[OUTPUT_FIELD_MAX];
		output_scalar(json_object_get(j, "uses"), uses, sizeof(uses));
		const char *row[] = { flyt_json_str(j, "id", "-"), flyt_json_str(j, "created", "-"),
				      flyt_json_str(j, "expires", "-"), uses };
		output_table_add(&t, row);
	}
	output_table_print(&t, stdout);
	return 0;
}

int join_token_rm(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err)
{
	int npos, r = commands_parse(cli, cmd, no_opts, argc, argv, 1, 1, &npos, err);
	if (r != 0)
		return r;
	_cleanup_free_ char *path = client_path("join-tokens", argv[0], NULL);
	_cleanup_free_ char *done = flyt_asprintf("revoked join token %s", argv[0]);
	return client_delete(cli, path, done, err);
}

int token_rotate(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err)
{
	bool read_only = false;
	const flyt_opt_t opts[] = {
		{ "read", 0, FLYT_OPT_FLAG, &read_only, NULL, "rotate the read-only token instead" },
		{ NULL },
	};
	int npos, r = commands_parse(cli, cmd, opts, argc, argv, 0, 0, &npos, err);
	if (r != 0)
		return r;
	_cleanup_json_ json_t *body = json_pack("{s:s}", "kind", read_only ? "read" : "admin");
	_cleanup_json_ json_t *ans = NULL;
	if (client_call(cli, "POST", "/api/v1/tokens/rotate", body, &ans, err) < 0)
		return -1;
	const char *tok = flyt_json_str(ans, "token", "");
	/* the caller's own copy of the cluster token follows, or it would lock itself out */
	if (!read_only) {
		_cleanup_free_ char *line = flyt_asprintf("%s\n", tok);
		if (flyt_write_file_atomic(cli->token_file, line, strlen(line), 0600, err) < 0)
			return flyt_error_prefix(err,
						 "the token changed, but saving it failed; the controller has it in %s",
						 flyt_json_str(ans, "file", "?"));
	}
	if (cli->json) {
		output_json(ans);
		return 0;
	}
	printf("rotated the %s token: the old one is refused from now on\n", read_only ? "read-only" : "cluster");
	printf("the controller keeps it in %s", flyt_json_str(ans, "file", "?"));
	if (!read_only)
		printf("; written to %s too", cli->token_file);
	printf("\n");
	return 0;
}

int host_rotate_cert(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err)
{
	int npos, r = commands_parse(cli, cmd, no_opts, argc, argv, 1, 1, &npos, err);
	if (r != 0)
		return r;
	_cleanup_free_ char *path = client_path("hosts", argv[0], "rotate-cert");
	return client_show(cli, "POST", path, NULL, err);
}
