/* flyt, the command-line client of the controller: what its files share.
 *
 * main.c parses the global options and dispatches through the command table of
 * commands.c. Each command is one handler in the file of its noun (host.c,
 * workload.c, migration.c, events.c): it parses its own options with
 * commands_parse() and makes its calls to the controller's REST API
 * (docs/api.md) through client.c; output.c formats what it prints.
 *
 * Handlers return 0, CLI_HELP after printing their help (both exit status 0), -1
 * with err filled for an operational failure (exit status 1), or CLI_USAGE with err
 * filled for a usage error (exit status 2). main() prints the error as the one line
 * "flyt: MESSAGE" on stderr. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "lib/auth.h"
#include "lib/error.h"
#include "lib/http.h"
#include "lib/opts.h"

#define CLI_USAGE (-2) /* a usage error: exit status 2 */
#define CLI_HELP 1     /* the command's help was printed: stop, exit status 0 */

#define CLI_DEFAULT_CONTROLLER "https://127.0.0.1:7700"
#define CLI_DEFAULT_CA_FILE "/var/lib/flyt/tls/ca.pem"
#define CLI_DEFAULT_TOKEN_FILE "/etc/flyt/token"

typedef struct {
	/* Global options, filled by main() and by commands_parse() (they are accepted
	 * after the command's words too); owned, freed with flyt_opts_free(global_opts). */
	char *controller;
	char *token_file;
	char *ca_file;
	bool json;
	const flyt_opt_t *global_opts;

	/* Set up by the first request (client.c), so that help and version need no token. */
	bool connected;
	char token[FLYT_TOKEN_MAX];
	char *base_url; /* owned: controller without trailing slashes */
	flyt_http_client_t http;
} cli_t;

typedef struct cli_command cli_command_t;

/* argv[0..argc) are the arguments after the command's words; a handler may
 * reorder them (commands_parse() does). */
typedef int (*cli_handler_t)(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err);

struct cli_command {
	const char *noun;
	const char *verb;  /* NULL for a one-word command ("flyt events") */
	const char *usage; /* what follows "flyt " in the usage line */
	cli_handler_t handler;
	const char *summary;
};

/* ---- commands.c: the table, dispatch, argument parsing, help ---- */

/* Finds the command named by argv[0] (and argv[1]); *ret_words gets how many
 * words it took. Unknown commands are CLI_USAGE errors. */
int commands_find(int argc, char **argv, const cli_command_t **ret_cmd, int *ret_words, flyt_error_t *err);

/* Parses argv[0..argc) for cmd: the options of opts (a table ending with a NULL
 * name) and the global options, anywhere among the positional arguments, which are
 * moved to argv[0..*ret_npos). Their number must lie in [min_pos, max_pos]; a
 * negative max_pos means any number, and then options end at the first positional
 * argument (it starts a command line, such as the CMD of "workload create").
 * Returns 0, CLI_HELP after printing the command's help for --help (the caller
 * returns it), or CLI_USAGE with err. */
int commands_parse(cli_t *cli, const cli_command_t *cmd, const flyt_opt_t *opts, int argc, char **argv, int min_pos,
		   int max_pos, int *ret_npos, flyt_error_t *err);

/* A CLI_USAGE error about cmd: "NOUN VERB: MESSAGE; usage: flyt USAGE". */
int commands_usage_error(const cli_command_t *cmd, flyt_error_t *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The global usage: every command with its summary, and the global options. */
void commands_usage(FILE *f, const flyt_opt_t *global_opts);

/* ---- client.c: requests to the controller ---- */

/* Sends method path (below the controller's URL) with body (may be NULL) and
 * returns the parsed answer in *ret (NULL when empty; ret may be NULL). Loads the
 * token at the first call. Errors carry the API's message. */
int client_call(cli_t *cli, const char *method, const char *path, json_t *body, json_t **ret, flyt_error_t *err);

/* A GET that may wait up to wait_ms on the server (long polls): the request's
 * timeout is extended accordingly. */
int client_get_wait(cli_t *cli, const char *path, unsigned wait_ms, json_t **ret, flyt_error_t *err);

/* client_call, then its answer printed: as JSON with --json, else one "key:
 * value" line per field (output_show). */
int client_show(cli_t *cli, const char *method, const char *path, json_t *body, flyt_error_t *err);

/* DELETE path, then the answer as JSON with --json, else the line done. */
int client_delete(cli_t *cli, const char *path, const char *done, flyt_error_t *err);

/* Like client_call but returns the body as text (*ret NUL-terminated, caller frees). */
int client_call_raw(cli_t *cli, const char *method, const char *path, char **ret, size_t *ret_len, flyt_error_t *err);

/* "/api/v1/COLLECTION/NAME[/ACTION]" with NAME percent-encoded (caller frees). */
char *client_path(const char *collection, const char *name, const char *action);

/* Appends "?key=value" or "&key=value", value percent-encoded, to *path
 * (reallocated); does nothing when value is NULL. */
void client_query(char **path, const char *key, const char *value);

/* The array of a list answer: ans[key] ({"hosts": [...]}), or ans itself when it is
 * an array. Borrowed from ans. */
int client_list(json_t *ans, const char *key, json_t **ret, flyt_error_t *err);

/* True for errors worth retrying in a long-running wait (the controller restarting). */
bool client_error_transient(const flyt_error_t *err);

/* Releases what the first request set up. */
void client_done(cli_t *cli);

/* ---- output.c: tables, "key: value" listings, sizes, durations, JSON ---- */

#define OUTPUT_FIELD_MAX 64

/* "512 B", "1.5 KiB", "89.7 MiB", "2.00 GiB". */
void output_size(uint64_t bytes, char *buf, size_t size);
/* Decimal units as in "94.0 MB" (the summary line of a migration). */
void output_size_decimal(uint64_t bytes, char *buf, size_t size);
/* "280 ms" below one second, else "1.17 s". */
void output_duration(int64_t ms, char *buf, size_t size);

/* Prints j pretty-printed, or compact on one line, to stdout; nothing for NULL. */
void output_json(const json_t *j);
void output_json_line(const json_t *j);

/* Prints an object as "key: value" lines: nested objects as "outer.inner",
 * arrays of scalars comma-joined, *_bytes as sizes and *_ms as durations, the
 * migration journal as "  phase at time" lines. */
void output_show(json_t *obj);

/* Renders a scalar for a table cell or an event line ("-" for null or missing). */
void output_scalar(json_t *v, char *buf, size_t size);

/* An aligned table with a header row. Cells are copied. */
typedef struct {
	size_t ncols;
	size_t nrows; /* including the header */
	char **cells; /* nrows * ncols */
} output_table_t;

void output_table_init(output_table_t *t, size_t ncols, const char *const *headers);
void output_table_add(output_table_t *t, const char *const *row);
void output_table_print(const output_table_t *t, FILE *f);
void output_table_free(output_table_t *t);

/* ---- the handlers, one file per noun ---- */

int host_ls(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err);
int host_show(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err);
int host_add(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err);
int host_rm(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err);
int host_rotate_cert(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err);
int join_token_create(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err);
int join_token_ls(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err);
int join_token_rm(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err);
int token_rotate(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err);

int workload_create(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err);
int workload_adopt(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err);
int workload_ls(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err);
int workload_show(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err);
int workload_stop(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err);
int workload_start(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err);
int workload_rm(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err);
int workload_logs(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err);
int workload_adopt(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err);

int import_guests(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err);

int migration_start(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err);
int migration_ls(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err);
int migration_show(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err);
int migration_watch(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err);
int migration_cancel(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err);
int migration_postcopy(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err);

int events_show(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err);

/* energy.c: the JSON value of a policy setting typed as KEY=VALUE: a duration
 * ("30m", "2h") for keys ending in _ms, a number or true/false, else a string. */
json_t *cli_setting_value(const char *key, const char *text);
int host_set(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err);
int workload_set(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err);
int policy_show(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err);
int policy_set(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err);
int plan_show(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err);
int decision_ls(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err);
int decision_show(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err);
int signals_show(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err);
int energy_show(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err);
int simulate_run(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err);

int commands_help(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err);
int commands_version(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err);
