/* flyt: the command-line client of the flyt controller. Parses the global options,
 * finds the command in the table of commands.c, runs it, and turns its result into
 * the exit status: 0, 1 for an operational failure, 2 for a usage error, with one
 * line "flyt: MESSAGE" on stderr for either. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "lib/util.h"

/* The global options, then the command. */
static int run(cli_t *cli, int argc, char **argv, flyt_error_t *err)
{
	int next;
	bool help;
	if (flyt_opts_parse(cli->global_opts, argc, argv, 1, false, &next, &help, err) < 0) {
		char msg[FLYT_ERROR_MSG_MAX];
		memcpy(msg, err->msg, sizeof(msg));
		flyt_error_set(err, FLYT_E_INVALID, 0, "%s; run 'flyt help'", msg);
		return CLI_USAGE;
	}
	if (help) {
		commands_usage(stdout, cli->global_opts);
		return 0;
	}
	const cli_command_t *cmd;
	int words;
	int r = commands_find(argc - next, argv + next, &cmd, &words, err);
	if (r < 0)
		return r;
	return cmd->handler(cli, cmd, argc - next - words, argv + next + words, err);
}

/* The error as one line: a message from the server may hold line breaks. */
static void print_error(const flyt_error_t *err)
{
	char msg[FLYT_ERROR_MSG_MAX];
	memcpy(msg, err->msg, sizeof(msg));
	for (char *p = msg; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	fprintf(stderr, "flyt: %s\n", msg[0] ? msg : "unknown error");
}

int main(int argc, char **argv)
{
	const char *env_controller = getenv("FLYT_CONTROLLER"), *env_token = getenv("FLYT_TOKEN_FILE"),
		   *env_ca = getenv("FLYT_CA_FILE");
	cli_t cli = {
		.controller = flyt_strdup(env_controller && *env_controller ? env_controller : CLI_DEFAULT_CONTROLLER),
		.token_file = flyt_strdup(env_token && *env_token ? env_token : CLI_DEFAULT_TOKEN_FILE),
		.ca_file = flyt_strdup(env_ca && *env_ca ? env_ca : CLI_DEFAULT_CA_FILE),
	};
	const flyt_opt_t global_opts[] = {
		{ "controller", 0, FLYT_OPT_STRING, &cli.controller, "URL",
		  "the controller (default $FLYT_CONTROLLER or " CLI_DEFAULT_CONTROLLER ")" },
		{ "token-file", 0, FLYT_OPT_STRING, &cli.token_file, "FILE",
		  "the cluster token (default $FLYT_TOKEN_FILE or " CLI_DEFAULT_TOKEN_FILE ")" },
		{ "ca-file", 0, FLYT_OPT_STRING, &cli.ca_file, "FILE",
		  "the cluster CA, to verify an https:// controller (default $FLYT_CA_FILE or " CLI_DEFAULT_CA_FILE
		  ")" },
		{ "json", 0, FLYT_OPT_FLAG, &cli.json, NULL, "print the API's JSON instead of text" },
		{ NULL },
	};
	cli.global_opts = global_opts;
	flyt_http_global_init();

	flyt_error_t err = FLYT_ERROR_INIT;
	int r = run(&cli, argc, argv, &err);
	/* output that could not be written is a failure too (a full disk, a closed pipe) */
	if (fflush(stdout) != 0 && r >= 0)
		r = flyt_error_set(&err, FLYT_E_IO, errno, "write the output");
	if (r < 0)
		print_error(&err);

	client_done(&cli);
	flyt_opts_free(global_opts);
	if (r == CLI_USAGE)
		return 2;
	return r < 0 ? 1 : 0;
}
