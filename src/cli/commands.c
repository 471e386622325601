/* The command table of flyt, how a command line finds its entry, how each command
 * parses its arguments, and the help and version commands. */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "flyt-config.h"
#include "lib/cleanup.h"
#include "lib/util.h"

static const cli_command_t commands[] = {
	{ "host", "ls", "host ls", host_ls, "list the hosts" },
	{ "host", "show", "host show HOST", host_show, "show a host with its facts" },
	{ "host", "add", "host add URL", host_add, "add the host whose agent answers at URL" },
	{ "host", "rm", "host rm HOST", host_rm, "forget a host that has no workloads" },
	{ "host", "rotate-cert", "host rotate-cert HOST", host_rotate_cert,
	  "have the host's agent renew its TLS certificate now" },
	{ "join-token", "create", "join-token create [--ttl MINUTES]", join_token_create,
	  "create a join token for a new agent (printed on stdout)" },
	{ "join-token", "ls", "join-token ls", join_token_ls, "list the join tokens that have not expired" },
	{ "join-token", "rm", "join-token rm ID", join_token_rm, "revoke a join token" },
	{ "token", "rotate", "token rotate [--read]", token_rotate,
	  "replace the cluster token (or the read-only one); the old one stops working at once" },
	{ "host", "set", "host set HOST [--area AREA] [--idle-watts W] [--max-watts W] [--drain|--undrain]", host_set,
	  "set a host's electricity area, power model, or drain it" },
	{ "workload", "create",
	  "workload create --kind KIND --host HOST --name NAME [OPTIONS] [-- CMD [ARG...]] | -f FILE [--host HOST]",
	  workload_create, "create a workload on a host and start it" },
	{ "workload", "adopt", "workload adopt --kind docker|podman|libvirt --host HOST [--name NAME] CONTAINER|DOMAIN",
	  workload_adopt, "take a running container or an existing libvirt domain under flyt's management" },
	{ "workload", "ls", "workload ls [--host HOST] [--kind KIND] [--state STATE]", workload_ls,
	  "list the workloads" },
	{ "workload", "show", "workload show WORKLOAD", workload_show, "show a workload with its live status" },
	{ "workload", "stop", "workload stop WORKLOAD", workload_stop, "stop a workload" },
	{ "workload", "start", "workload start WORKLOAD", workload_start, "start a stopped workload afresh" },
	{ "workload", "rm", "workload rm WORKLOAD [--force]", workload_rm, "stop and remove a workload" },
	{ "workload", "set", "workload set WORKLOAD --auto-migrate on|off", workload_set,
	  "let the policy move a workload, or not" },
	{ "workload", "logs", "workload logs WORKLOAD [--stderr] [--tail BYTES]", workload_logs,
	  "print the end of a workload's output" },
	{ "migrate", NULL, "migrate WORKLOAD --to HOST [--mode MODE] [OPTIONS] [--wait]", migration_start,
	  "move a running workload to another host" },
	{ "migration", "ls", "migration ls [--workload WORKLOAD] [--state STATE] [--limit N]", migration_ls,
	  "list migrations, newest first" },
	{ "migration", "show", "migration show ID", migration_show, "show a migration with its journal" },
	{ "migration", "watch", "migration watch ID", migration_watch, "follow a migration until it ends" },
	{ "migration", "cancel", "migration cancel ID", migration_cancel, "cancel a migration before its switch-over" },
	{ "import", "guests", "import guests FILE", import_guests, "add the hosts of the old system's guests.json" },
	{ "migration", "postcopy", "migration postcopy ID", migration_postcopy,
	  "switch a postcopy migration (VMs) to its target now" },
	{ "events", NULL, "events [--since SEQ] [--follow]", events_show, "print the controller's events" },
	{ "policy", "show", "policy show", policy_show, "show the automatic-migration policy and its settings" },
	{ "policy", "set", "policy set KEY=VALUE...", policy_set,
	  "change policy settings (policy=greenest|cheapest|band|balance|none, min_gain_pct=10, ...)" },
	{ "plan", NULL, "plan [--all] [--workload W] [--verbose]", plan_show,
	  "what the policy would move now and why, without moving" },
	{ "decision", "ls", "decision ls [--workload W] [--action move|stay|blocked] [--limit N]", decision_ls,
	  "the policy's stored decisions, newest first" },
	{ "decision", "show", "decision show ID", decision_show, "one decision with its inputs and alternatives" },
	{ "signals", NULL, "signals", signals_show, "the energy signal sources and each area's values now" },
	{ "energy", NULL, "energy", energy_show, "energy, CO2 and cost per host and workload" },
	{ "simulate", NULL,
	  "simulate --signals FILE... --policy greenest|cheapest|band [--from T] [--to T] [--fleet FILE] [--set K=V]... "
	  "[--out DIR]",
	  simulate_run, "replay signal files for a fleet and report moves, CO2 and cost against staying put" },
	{ "version", NULL, "version", commands_version, "print the version of flyt" },
	{ "help", NULL, "help [NOUN [VERB]]", commands_help, "print this help, or a command's" },
};

/* Fills err with a usage error; returns CLI_USAGE. */
__attribute__((format(printf, 2, 3))) static int usage_error(flyt_error_t *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	flyt_error_setv(err, FLYT_E_INVALID, 0, fmt, ap);
	va_end(ap);
	return CLI_USAGE;
}

/* "host ls" or "migrate" into buf. */
static void command_name(const cli_command_t *cmd, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s%s", cmd->noun, cmd->verb ? " " : "", cmd->verb ? cmd->verb : "");
}

int commands_find(int argc, char **argv, const cli_command_t **ret_cmd, int *ret_words, flyt_error_t *err)
{
	if (argc < 1)
		return usage_error(err, "no command given; run 'flyt help'");
	bool noun_known = false;
	for (size_t i = 0; i < ELEMENTSOF(commands); i++) {
		const cli_command_t *c = &commands[i];
		if (strcmp(c->noun, argv[0]) != 0)
			continue;
		noun_known = true;
		if (!c->verb || (argc > 1 && strcmp(c->verb, argv[1]) == 0)) {
			*ret_cmd = c;
			*ret_words = c->verb ? 2 : 1;
			return 0;
		}
	}
	if (!noun_known)
		return usage_error(err, "unknown command '%s'; run 'flyt help'", argv[0]);
	if (argc < 2)
		return usage_error(err, "'%s' needs a verb; run 'flyt help %s'", argv[0], argv[0]);
	return usage_error(err, "unknown command '%s %s'; run 'flyt help %s'", argv[0], argv[1], argv[0]);
}

int commands_usage_error(const cli_command_t *cmd, flyt_error_t *err, const char *fmt, ...)
{
	char name[64], msg[FLYT_ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	command_name(cmd, name, sizeof(name));
	return usage_error(err, "%s: %s; run 'flyt help %s'", name, msg, name);
}

/* Whether arg is an option of opts that takes its value from the next argument;
 * mirrors the lookup of flyt_opts_parse(). */
static bool takes_next_value(const flyt_opt_t *opts, const char *arg)
{
	if (arg[0] != '-' || arg[1] == '\0')
		return false;
	for (const flyt_opt_t *o = opts; o->name; o++) {
		bool match =
		    arg[1] == '-' ? strcmp(o->name, arg + 2) == 0 : (arg[2] == '\0' && o->short_name == arg[1]);
		if (match)
			return o->type != FLYT_OPT_FLAG;
	}
	return false;
}

static size_t opts_count(const flyt_opt_t *opts)
{
	size_t n = 0;
	while (opts[n].name)
		n++;
	return n;
}

static void command_help(const cli_command_t *cmd, const flyt_opt_t *opts, const flyt_opt_t *global_opts)
{
	printf("usage: flyt %s\n\n%c%s.\n", cmd->usage, toupper((unsigned char)cmd->summary[0]), cmd->summary + 1);
	if (opts[0].name) {
		printf("\nOptions:\n");
		flyt_opts_usage(stdout, opts);
	}
	printf("\nGlobal options:\n");
	flyt_opts_usage(stdout, global_opts);
}

int commands_parse(cli_t *cli, const cli_command_t *cmd, const flyt_opt_t *opts, int argc, char **argv, int min_pos,
		   int max_pos, int *ret_npos, flyt_error_t *err)
{
	/* the command's options first, so that they win over a global one of the same name */
	size_t n = opts_count(opts), g = opts_count(cli->global_opts);
	_cleanup_free_ flyt_opt_t *all = flyt_malloc0((n + g + 1) * sizeof(flyt_opt_t));
	memcpy(all, opts, n * sizeof(flyt_opt_t));
	memcpy(all + n, cli->global_opts, g * sizeof(flyt_opt_t));

	/* every argument ends up in JSON, which must be UTF-8 */
	for (int k = 0; k < argc; k++) {
		json_t *probe = json_string(argv[k]);
		if (!probe)
			return commands_usage_error(cmd, err, "argument %d is not valid UTF-8", k + 1);
		json_decref(probe);
	}

	bool help = false;
	int npos = 0, i = 0;
	while (i < argc) {
		/* find the run of options starting at i, with their values */
		int j = i;
		while (j < argc && strcmp(argv[j], "--") != 0 && argv[j][0] == '-' && argv[j][1] != '\0')
			j += takes_next_value(all, argv[j]) ? 2 : 1;
		if (j > argc)
			j = argc;
		if (j > i) {
			int next;
			bool h = false;
			if (flyt_opts_parse(all, j, argv, i, false, &next, &h, err) < 0) {
				char msg[FLYT_ERROR_MSG_MAX];
				memcpy(msg, err->msg, sizeof(msg));
				return commands_usage_error(cmd, err, "%s", msg);
			}
			help |= h;
		}
		if (j >= argc)
			break;
		/* positional arguments move to the front; what they overwrite is parsed already */
		bool rest = strcmp(argv[j], "--") == 0;
		if (!rest)
			argv[npos++] = argv[j];
		if (rest || max_pos < 0) {
			for (int k = j + 1; k < argc; k++)
				argv[npos++] = argv[k];
			break;
		}
		i = j + 1;
	}

	if (help) {
		command_help(cmd, opts, cli->global_opts);
		return CLI_HELP;
	}
	char name[64];
	command_name(cmd, name, sizeof(name));
	if (npos < min_pos)
		return usage_error(err, "%s: missing argument; usage: flyt %s", name, cmd->usage);
	if (max_pos >= 0 && npos > max_pos)
		return usage_error(err, "%s: unexpected argument '%s'; usage: flyt %s", name, argv[max_pos],
				   cmd->usage);
	/* names and ids are checked by the server; an empty one would change the path */
	for (int k = 0; max_pos >= 0 && k < npos; k++)
		if (argv[k][0] == '\0')
			return usage_error(err, "%s: empty argument; usage: flyt %s", name, cmd->usage);
	*ret_npos = npos;
	return 0;
}

void commands_usage(FILE *f, const flyt_opt_t *global_opts)
{
	fprintf(f, "usage: flyt [--controller URL] [--token-file FILE] [--json] COMMAND [ARG...]\n\n"
		   "The command-line client of the flyt controller, which live-migrates workloads\n"
		   "between hosts.\n\nCommands:\n");
	for (size_t i = 0; i < ELEMENTSOF(commands); i++) {
		const cli_command_t *c = &commands[i];
		if (strlen(c->usage) <= 40)
			fprintf(f, "  %-40s  %s\n", c->usage, c->summary);
		else
			fprintf(f, "  %s\n  %-40s  %s\n", c->usage, "", c->summary);
	}
	fprintf(f, "\nGlobal options (also accepted after the command):\n");
	flyt_opts_usage(f, global_opts);
	fprintf(f, "\nRun 'flyt help NOUN VERB' or 'flyt NOUN VERB --help' for a command's options.\n");
}

int commands_help(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err)
{
	static const flyt_opt_t opts[] = { { NULL } };
	int npos, r = commands_parse(cli, cmd, opts, argc, argv, 0, 2, &npos, err);
	if (r != 0)
		return r;
	if (npos == 0) {
		commands_usage(stdout, cli->global_opts);
		return 0;
	}
	const cli_command_t *c;
	int words;
	if (commands_find(npos, argv, &c, &words, err) < 0) {
		/* "flyt help host": the commands of that noun */
		bool any = false;
		for (size_t i = 0; npos == 1 && i < ELEMENTSOF(commands); i++)
			if (strcmp(commands[i].noun, argv[0]) == 0) {
				printf("%s flyt %s\n", any ? "      " : "usage:", commands[i].usage);
				any = true;
			}
		return any ? 0 : CLI_USAGE;
	}
	if (words < npos)
		return commands_usage_error(cmd, err, "unexpected argument '%s'", argv[words]);
	/* each handler prints its own help, since its options are its own */
	char help_arg[] = "--help";
	char *help_argv[] = { help_arg, NULL };
	return c->handler(cli, c, 1, help_argv, err);
}

int commands_version(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err)
{
	static const flyt_opt_t opts[] = { { NULL } };
	int npos, r = commands_parse(cli, cmd, opts, argc, argv, 0, 0, &npos, err);
	if (r != 0)
		return r;
	if (cli->json) {
		_cleanup_json_ json_t *j = json_pack("{s:s}", "version", FLYT_VERSION);
		output_json(j);
	} else {
		printf("flyt %s\n", FLYT_VERSION);
	}
	return 0;
}
