/* flyt migrate and flyt migration ls|show|watch|cancel: starting migrations,
 * listing them, and following one to its end with progress on stderr. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/util.h"

/* How long each long poll asks the controller to hold a migration's answer. */
#define MIGRATION_WAIT_MS 10000
/* Consecutive failed polls (controller unreachable) tolerated while waiting. */
#define MIGRATION_WAIT_RETRIES 5

static const flyt_opt_t no_opts[] = { { NULL } };

static bool migration_terminal(const char *state)
{
	return strcmp(state, "committed") == 0 || strcmp(state, "rolled_back") == 0 || strcmp(state, "failed") == 0;
}

/* The full id of the migration arg names: arg itself, or, when it is a shorter run
 * of hex digits (the 8 that tables show), the one id among the controller's list of
 * migrations that starts with it. *ret is the caller's. */
static int migration_resolve(cli_t *cli, const char *arg, char **ret, flyt_error_t *err)
{
	size_t len = strlen(arg);
	if (flyt_id_valid(arg) || len >= 32 || strspn(arg, "0123456789abcdef") != len) {
		*ret = flyt_strdup(arg);
		return 0;
	}
	_cleanup_json_ json_t *ans = NULL;
	json_t *list;
	if (client_call(cli, "GET", "/api/v1/migrations", NULL, &ans, err) < 0 ||
	    client_list(ans, "migrations", &list, err) < 0)
		return -1;
	const char *found = NULL;
	size_t i;
	json_t *m;
	json_array_foreach (list, i, m) {
		const char *id = flyt_json_str(m, "id", "");
		if (!flyt_startswith(id, arg) || (found && strcmp(found, id) == 0))
			continue;
		if (found)
			return flyt_error_set(err, FLYT_E_INVALID, 0, "migration id %s is ambiguous: %s, %s, ...", arg,
					      found, id);
		found = id;
	}
	if (!found)
		return flyt_error_set(err, FLYT_E_NOT_FOUND, 0, "no migration id starts with %s", arg);
	*ret = flyt_strdup(found);
	return 0;
}

typedef struct {
	bool tty;	   /* stderr is a terminal: one line, rewritten */
	uint64_t start_ms; /* when the wait began */
	char state[32];	   /* the last state reported */
	int line_len;	   /* the length of the progress line on the terminal */
} progress_t;

/* Reports migration m on stderr: on a terminal, rewrites the progress line with its
 * state, how much of its images moved and the time waited; otherwise prints its
 * state on a line of its own when it changed. */
static void progress_report(progress_t *p, json_t *m)
{
	const char *state = flyt_json_str(m, "state", "?");
	bool changed = strcmp(state, p->state) != 0;
	snprintf(p->state, sizeof(p->state), "%s", state);
	if (!p->tty) {
		if (changed)
			fprintf(stderr, "%s\n", state);
		return;
	}
	char line[256], moved[OUTPUT_FIELD_MAX], images[OUTPUT_FIELD_MAX];
	int n = snprintf(line, sizeof(line), "migration %.8s: %s", flyt_json_str(m, "id", "?"), state);
	int64_t bytes = flyt_json_int(m, "bytes", 0), images_bytes = flyt_json_int(m, "images_bytes", 0);
	output_size((uint64_t)bytes, moved, sizeof(moved));
	output_size((uint64_t)images_bytes, images, sizeof(images));
	if (bytes > 0 && images_bytes > 0 && bytes < images_bytes)
		n += snprintf(line + n, sizeof(line) - (size_t)n, " %lld%% (%s of %s)",
			      (long long)(bytes * 100 / images_bytes), moved, images);
	else if (bytes > 0 && images_bytes > 0) /* lazy migrations move pages besides the images */
		n += snprintf(line + n, sizeof(line) - (size_t)n, " 100%% (%s moved)", moved);
	else if (bytes > 0)
		n += snprintf(line + n, sizeof(line) - (size_t)n, " (%s moved)", moved);
	snprintf(line + n, sizeof(line) - (size_t)n, ", %.1f s", (double)(flyt_now_ms() - p->start_ms) / 1000);
	n = (int)strlen(line);
	/* blanks over the rest of a longer previous line */
	fprintf(stderr, "\r%s%*s", line, p->line_len > n ? p->line_len - n : 0, "");
	p->line_len = n > p->line_len ? n : p->line_len;
}

/* Clears the progress line, so that what follows starts on a clean line. */
static void progress_end(progress_t *p)
{
	if (p->tty && p->line_len > 0)
		fprintf(stderr, "\r%*s\r", p->line_len, "");
	p->line_len = 0;
}

/* Long-polls the migration *m until its state is terminal, replacing *m with each
 * newer answer and reporting progress on stderr. A controller that cannot be reached
 * for a few polls in a row ends the wait with an error. */
static int migration_wait(cli_t *cli, json_t **m, flyt_error_t *err)
{
	const char *id = flyt_json_str(*m, "id", NULL);
	if (!id)
		return flyt_error_set(err, FLYT_E_CORRUPT, 0, "the controller's answer has no migration id");
	_cleanup_free_ char *base = client_path("migrations", id, NULL);
	progress_t p = { .tty = isatty(STDERR_FILENO), .start_ms = flyt_now_ms() };
	unsigned failures = 0;
	for (;;) {
		const char *state = flyt_json_str(*m, "state", NULL);
		if (!state) {
			progress_end(&p);
			return flyt_error_set(err, FLYT_E_CORRUPT, 0, "the controller's answer has no migration state");
		}
		progress_report(&p, *m);
		if (migration_terminal(state))
			break;
		int64_t version = flyt_json_int(*m, "version", 0);
		_cleanup_free_ char *path =
		    flyt_asprintf("%s?since=%lld&wait=%d", base, (long long)version, MIGRATION_WAIT_MS);
		uint64_t asked = flyt_now_ms();
		json_t *next = NULL;
		if (client_get_wait(cli, path, MIGRATION_WAIT_MS, &next, err) < 0) {
			if (!client_error_transient(err) || ++failures > MIGRATION_WAIT_RETRIES) {
				progress_end(&p);
				return -1;
			}
			flyt_sleep_ms(1000);
			continue;
		}
		failures = 0;
		if (!json_is_object(next)) {
			json_decref(next);
			progress_end(&p);
			return flyt_error_set(err, FLYT_E_CORRUPT, 0, "the controller's answer is not a migration");
		}
		/* a controller answering at once with nothing newer must not make this spin */
		if (flyt_json_int(next, "version", 0) <= version && flyt_now_ms() - asked < 100)
			flyt_sleep_ms(500);
		json_decref(*m);
		*m = next;
	}
	progress_end(&p);
	flyt_error_clear(err);
	return 0;
}

/* Prints the outcome of the finished migration m: the object with --json, else a
 * summary line when it committed. Any other end is an error naming its reason. */
static int migration_finish(cli_t *cli, json_t *m, flyt_error_t *err)
{
	const char *id = flyt_json_str(m, "id", "?"), *state = flyt_json_str(m, "state", "?");
	if (cli->json)
		output_json(m);
	if (strcmp(state, "committed") != 0) {
		const char *reason = flyt_json_str(m, "error", "no reason given");
		return flyt_error_set(err, strcmp(state, "rolled_back") == 0 ? FLYT_E_CANCELLED : FLYT_E_INTERNAL, 0,
				      "migration %s %s: %s", id, state, reason);
	}
	if (cli->json)
		return 0;
	char total[OUTPUT_FIELD_MAX], downtime[OUTPUT_FIELD_MAX], bytes[OUTPUT_FIELD_MAX];
	output_duration(flyt_json_int(m, "total_ms", -1), total, sizeof(total));
	output_duration(flyt_json_int(m, "downtime_ms", -1), downtime, sizeof(downtime));
	output_size_decimal((uint64_t)flyt_json_int(m, "bytes", 0), bytes, sizeof(bytes));
	const char *reason = flyt_json_str(m, "mode_reason", "");
	printf("migration %.8s of %s %s -> %s: committed in %s, downtime %s, %s moved (mode %s%s%s)\n", id,
	       flyt_json_str(m, "workload", "?"), flyt_json_str(m, "source", "?"), flyt_json_str(m, "target", "?"),
	       total, downtime, bytes, flyt_json_str(m, "mode", "?"), reason[0] ? ": " : "", reason);
	if (json_is_integer(json_object_get(m, "passes"))) {
		char rate[OUTPUT_FIELD_MAX];
		output_size_decimal((uint64_t)flyt_json_int(m, "dirty_rate", 0), rate, sizeof(rate));
		printf("  %lld memory pass(es), guest dirtying %s/s at the end\n",
		       (long long)flyt_json_int(m, "passes", 0), rate);
	}
	return 0;
}

int migration_start(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err)
{
	_cleanup_free_ char *to = NULL, *mode = NULL, *shared_dir = NULL;
	int64_t bandwidth = -1, rounds = -1, max_downtime = -1, multifd = -1, postcopy_after = -1;
	bool wait = false, auto_converge = false, xbzrle = false;
	const flyt_opt_t opts[] = {
		{ "to", 0, FLYT_OPT_STRING, &to, "HOST", "the host to move it to (required)" },
		{ "mode", 0, FLYT_OPT_STRING, &mode, "MODE",
		  "auto (the default), stop-copy, lazy, precopy, shared, or for VMs postcopy" },
		{ "shared-dir", 0, FLYT_OPT_STRING, &shared_dir, "DIR",
		  "for --mode shared: a directory both hosts share" },
		{ "bandwidth", 0, FLYT_OPT_INT, &bandwidth, "MIBPS", "limit the transfer to this many MiB/s", 1,
		  INT32_MAX },
		{ "precopy-rounds", 0, FLYT_OPT_INT, &rounds, "N", "for --mode precopy: at most N copy rounds", 0,
		  INT32_MAX },
		{ "max-downtime", 0, FLYT_OPT_INT, &max_downtime, "MS",
		  "VMs: the longest pause QEMU may take to switch", 1, 600000 },
		{ "auto-converge", 0, FLYT_OPT_FLAG, &auto_converge, NULL,
		  "VMs: slow the guest's CPUs down until precopy converges" },
		{ "xbzrle", 0, FLYT_OPT_FLAG, &xbzrle, NULL, "VMs: send only the changed bytes of pages sent again" },
		{ "multifd", 0, FLYT_OPT_INT, &multifd, "N", "VMs: send memory over N parallel connections", 1, 64 },
		{ "postcopy-after", 0, FLYT_OPT_INT, &postcopy_after, "N",
		  "VMs, --mode postcopy: switch after N precopy passes (default 0: at once)", 0, 1000 },
		{ "wait", 0, FLYT_OPT_FLAG, &wait, NULL, "follow it to its end; exit status 0 only if it commits" },
		{ NULL },
	};
	int npos, r = commands_parse(cli, cmd, opts, argc, argv, 1, 1, &npos, err);
	if (r != 0)
		return r;
	if (!to)
		return commands_usage_error(cmd, err, "--to is required");

	_cleanup_json_ json_t *body = json_pack("{s:s, s:s}", "workload", argv[0], "target", to);
	if (mode)
		json_object_set_new(body, "mode", json_string(mode));
	if (shared_dir)
		json_object_set_new(body, "shared_dir", json_string(shared_dir));
	if (bandwidth >= 0)
		json_object_set_new(body, "bandwidth_mbps", json_integer(bandwidth));
	if (rounds >= 0)
		json_object_set_new(body, "precopy_rounds", json_integer(rounds));
	if (max_downtime >= 0)
		json_object_set_new(body, "max_downtime_ms", json_integer(max_downtime));
	if (multifd >= 0)
		json_object_set_new(body, "multifd", json_integer(multifd));
	if (postcopy_after >= 0)
		json_object_set_new(body, "postcopy_after", json_integer(postcopy_after));
	if (auto_converge)
		json_object_set_new(body, "auto_converge", json_true());
	if (xbzrle)
		json_object_set_new(body, "xbzrle", json_true());
	_cleanup_json_ json_t *m = NULL;
	if (client_call(cli, "POST", "/api/v1/migrations", body, &m, err) < 0)
		return -1;
	if (!json_is_object(m) || !flyt_json_str(m, "id", NULL))
		return flyt_error_set(err, FLYT_E_CORRUPT, 0, "the controller's answer is not a migration");
	if (wait) {
		if (migration_wait(cli, &m, err) < 0)
			return -1;
		return migration_finish(cli, m, err);
	}
	if (cli->json)
		output_json(m);
	else
		printf("%s\n", flyt_json_str(m, "id", ""));
	return 0;
}

int migration_ls(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err)
{
	_cleanup_free_ char *workload = NULL, *state = NULL;
	int64_t limit = 0;
	const flyt_opt_t opts[] = {
		{ "workload", 0, FLYT_OPT_STRING, &workload, "WORKLOAD", "only the migrations of this workload" },
		{ "state", 0, FLYT_OPT_STRING, &state, "STATE", "only those in this state (committed, failed, ...)" },
		{ "limit", 0, FLYT_OPT_INT, &limit, "N", "at most N of them", 1, INT32_MAX },
		{ NULL },
	};
	int npos, r = commands_parse(cli, cmd, opts, argc, argv, 0, 0, &npos, err);
	if (r != 0)
		return r;
	char limit_s[32];
	snprintf(limit_s, sizeof(limit_s), "%lld", (long long)limit);
	_cleanup_free_ char *path = flyt_strdup("/api/v1/migrations");
	client_query(&path, "workload", workload);
	client_query(&path, "state", state);
	client_query(&path, "limit", limit > 0 ? limit_s : NULL);
	_cleanup_json_ json_t *ans = NULL;
	json_t *list;
	if (client_call(cli, "GET", path, NULL, &ans, err) < 0 || client_list(ans, "migrations", &list, err) < 0)
		return -1;
	if (cli->json) {
		output_json(ans);
		return 0;
	}
	static const char *const headers[] = { "ID",	"WORKLOAD", "SOURCE", "TARGET", "MODE",
					       "STATE", "DOWNTIME", "TOTAL",  "BYTES" };
	_cleanup_(output_table_free) output_table_t t = { 0 };
	output_table_init(&t, ELEMENTSOF(headers), headers);
	size_t i;
	json_t *m;
	json_array_foreach (list, i, m) {
		char id8[9], downtime[OUTPUT_FIELD_MAX], total[OUTPUT_FIELD_MAX], bytes[OUTPUT_FIELD_MAX] = "-";
		snprintf(id8, sizeof(id8), "%s", flyt_json_str(m, "id", "-"));
		output_duration(flyt_json_int(m, "downtime_ms", -1), downtime, sizeof(downtime));
		output_duration(flyt_json_int(m, "total_ms", -1), total, sizeof(total));
		if (json_is_integer(json_object_get(m, "bytes")))
			output_size((uint64_t)flyt_json_int(m, "bytes", 0), bytes, sizeof(bytes));
		const char *row[] = { id8,
				      flyt_json_str(m, "workload", "-"),
				      flyt_json_str(m, "source", "-"),
				      flyt_json_str(m, "target", "-"),
				      flyt_json_str(m, "mode", "-"),
				      flyt_json_str(m, "state", "-"),
				      downtime,
				      total,
				      bytes };
		output_table_add(&t, row);
	}
	output_table_print(&t, stdout);
	return 0;
}

/* GET of the migration argv[0] names (a full id or a unique prefix). */
static int migration_get(cli_t *cli, const char *arg, json_t **ret, flyt_error_t *err)
{
	_cleanup_free_ char *id = NULL;
	if (migration_resolve(cli, arg, &id, err) < 0)
		return -1;
	_cleanup_free_ char *path = client_path("migrations", id, NULL);
	_cleanup_json_ json_t *m = NULL;
	if (client_call(cli, "GET", path, NULL, &m, err) < 0)
		return -1;
	if (!json_is_object(m))
		return flyt_error_set(err, FLYT_E_CORRUPT, 0, "the controller's answer is not a migration");
	*ret = TAKE_PTR(m);
	return 0;
}

int migration_show(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err)
{
	int npos, r = commands_parse(cli, cmd, no_opts, argc, argv, 1, 1, &npos, err);
	if (r != 0)
		return r;
	_cleanup_json_ json_t *m = NULL;
	if (migration_get(cli, argv[0], &m, err) < 0)
		return -1;
	if (cli->json)
		output_json(m);
	else
		output_show(m);
	return 0;
}

int migration_watch(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err)
{
	int npos, r = commands_parse(cli, cmd, no_opts, argc, argv, 1, 1, &npos, err);
	if (r != 0)
		return r;
	_cleanup_json_ json_t *m = NULL;
	if (migration_get(cli, argv[0], &m, err) < 0 || migration_wait(cli, &m, err) < 0)
		return -1;
	return migration_finish(cli, m, err);
}

/* POST /api/v1/migrations/ID/ACTION for the migration argv[0] names; then, but
 * for --json, the line "WHAT migration ID". */
static int migration_action(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, const char *action,
			    const char *what, flyt_error_t *err)
{
	int npos, r = commands_parse(cli, cmd, no_opts, argc, argv, 1, 1, &npos, err);
	if (r != 0)
		return r;
	_cleanup_free_ char *id = NULL;
	if (migration_resolve(cli, argv[0], &id, err) < 0)
		return -1;
	_cleanup_free_ char *path = client_path("migrations", id, action);
	_cleanup_json_ json_t *ans = NULL;
	if (client_call(cli, "POST", path, NULL, &ans, err) < 0)
		return -1;
	if (cli->json)
		output_json(ans);
	else
		printf("%s migration %s\n", what, id);
	return 0;
}

int migration_cancel(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err)
{
	return migration_action(cli, cmd, argc, argv, "cancel", "cancelling", err);
}

int migration_postcopy(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err)
{
	return migration_action(cli, cmd, argc, argv, "postcopy", "postcopy switch-over requested for", err);
}
