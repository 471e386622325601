/* Unit tests of lib/opts: one option table for flags and configuration files --
 * long, short and "=value" forms, flags, lists, integer bounds, unknown options,
 * "--" and the first positional argument ending parsing, and --config files whose
 * settings the command line overrides. */
#include <stdio.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/opts.h"
#include "tap.h"
#include "testutil.h"

/* What a program would parse its options into. */
typedef struct {
	char *listen;
	int64_t port;
	bool verbose;
	char **peers;
	char *name;
	flyt_opt_t table[6];
} settings_t;

static void settings_init(settings_t *s)
{
	memset(s, 0, sizeof(*s));
	s->port = 7800;
	const flyt_opt_t table[] = {
		{ "listen", 'l', FLYT_OPT_STRING, &s->listen, "ADDR:PORT", "where to listen", 0, 0 },
		{ "port", 'p', FLYT_OPT_INT, &s->port, "PORT", "data port", 1, 65535 },
		{ "verbose", 'v', FLYT_OPT_FLAG, &s->verbose, NULL, "log more", 0, 0 },
		{ "peer", 0, FLYT_OPT_LIST, &s->peers, "ADDR", "a peer (repeatable)", 0, 0 },
		{ "name", 'n', FLYT_OPT_STRING, &s->name, "NAME", "host name", 0, 0 },
		{ NULL, 0, 0, NULL, NULL, NULL, 0, 0 },
	};
	memcpy(s->table, table, sizeof(table));
}

static void settings_done(settings_t *s)
{
	flyt_opts_free(s->table);
}

/* Parses the NULL-terminated arguments (after a program name) with --config allowed. */
static int parse_args(settings_t *s, int *next, bool *help, flyt_error_t *err, char **argv)
{
	return flyt_opts_parse(s->table, (int)flyt_strv_len(argv), argv, 1, true, next, help, err);
}

/* Long, "=value" and short forms, a flag, a repeated list; parsing stops at the
 * first positional argument and tells where. */
static void test_forms(void)
{
	_cleanup_(settings_done) settings_t s;
	settings_init(&s);
	_cleanup_strv_ char **argv = test_strv("agent", "--listen", "0.0.0.0:7800", "--port=9000", "-n", "host1", "-v",
					       "--peer", "a", "--peer=b", "run", "--port", "1", NULL);
	flyt_error_t err = FLYT_ERROR_INIT;
	int next = -1;
	is_int(parse_args(&s, &next, NULL, &err, argv), 0, "a mix of forms parses");
	is_str(s.listen, "0.0.0.0:7800", "--name VALUE sets a string");
	is_int(s.port, 9000, "--name=VALUE sets an integer");
	is_str(s.name, "host1", "-n VALUE sets a string by its short name");
	ok(s.verbose, "-v sets a flag");
	ok(flyt_strv_len(s.peers) == 2 && strcmp(s.peers[0], "a") == 0 && strcmp(s.peers[1], "b") == 0,
	   "a repeated list option collects every value in order");
	is_int(next, 10, "parsing stops at the first positional argument");
	is_str(argv[next], "run", "... which is \"run\"");

	/* a later value replaces an earlier one */
	_cleanup_strv_ char **twice = test_strv("agent", "--name", "a", "--name", "b", NULL);
	is_int(parse_args(&s, &next, NULL, &err, twice), 0, "a string option given twice parses");
	is_str(s.name, "b", "... the last one wins");
	is_int(next, 5, "... and next is argc when everything was parsed");

	/* values that look like options are still values when an option needs one */
	_cleanup_strv_ char **dash_value = test_strv("agent", "--name", "-v", NULL);
	is_int(parse_args(&s, &next, NULL, &err, dash_value), 0, "an option's value may start with '-'");
	is_str(s.name, "-v", "... and is taken literally");
}

/* "--" ends the options; "-" alone is a positional argument. */
static void test_double_dash(void)
{
	_cleanup_(settings_done) settings_t s;
	settings_init(&s);
	_cleanup_strv_ char **argv = test_strv("cli", "-v", "--", "--port", "1", NULL);
	flyt_error_t err = FLYT_ERROR_INIT;
	int next = -1;
	is_int(parse_args(&s, &next, NULL, &err, argv), 0, "\"--\" parses");
	is_int(next, 3, "next is the argument after \"--\"");
	is_int(s.port, 7800, "options after \"--\" are not applied");
	ok(s.verbose, "options before \"--\" are applied");

	_cleanup_strv_ char **dash = test_strv("cli", "-", "-v", NULL);
	is_int(parse_args(&s, &next, NULL, &err, dash), 0, "\"-\" parses");
	is_int(next, 1, "\"-\" is the first positional argument");
}

/* Integer bounds are inclusive; anything not a whole decimal number in range fails. */
static void test_int_bounds(void)
{
	static const struct {
		const char *value;
		bool accepted;
		int64_t want;
	} cases[] = {
		{ "1", true, 1 },    { "65535", true, 65535 },
		{ "0", false, 0 },   { "65536", false, 0 },
		{ "-1", false, 0 },  { "12abc", false, 0 },
		{ "", false, 0 },    { "0x10", false, 0 },
		{ "1.5", false, 0 }, { "99999999999999999999", false, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		_cleanup_(settings_done) settings_t s;
		settings_init(&s);
		_cleanup_free_ char *arg = flyt_asprintf("--port=%s", cases[i].value);
		_cleanup_strv_ char **argv = test_strv("agent", arg, NULL);
		flyt_error_t err = FLYT_ERROR_INIT;
		int next;
		int r = parse_args(&s, &next, NULL, &err, argv);
		if (cases[i].accepted) {
			ok(r == 0 && s.port == cases[i].want, "--port=%s is accepted", cases[i].value);
		} else {
			ok(r == -1 && err.code == FLYT_E_INVALID, "--port=\"%s\" is refused as INVALID",
			   cases[i].value);
			is_int(s.port, 7800, "... and the default stays");
		}
	}
}

/* Unknown options and malformed uses fail with INVALID, naming the option. */
static void test_errors(void)
{
	static const char *const bad[][3] = {
		{ "--nope", NULL, NULL },			  /* unknown long */
		{ "-x", NULL, NULL },				  /* unknown short */
		{ "-vn", "x", NULL },				  /* short options do not combine */
		{ "-nhost", NULL, NULL },			  /* nor take attached values */
		{ "--listen", NULL, NULL },			  /* a value is missing */
		{ "--verbose=yes", NULL, NULL },		  /* flags take no value */
		{ "--help", NULL, NULL },			  /* help without ret_help is unknown */
		{ "--config", "/nonexistent-flyt-config", NULL }, /* a missing config file */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		_cleanup_(settings_done) settings_t s;
		settings_init(&s);
		_cleanup_strv_ char **argv = test_strv("agent", bad[i][0], bad[i][1], bad[i][2], NULL);
		flyt_error_t err = FLYT_ERROR_INIT;
		int next;
		is_int(parse_args(&s, &next, NULL, &err, argv), -1, "\"%s%s%s\" fails", bad[i][0], bad[i][1] ? " " : "",
		       bad[i][1] ? bad[i][1] : "");
		if (i < 7)
			is_int(err.code, FLYT_E_INVALID, "... as INVALID (%s)", err.msg);
		else
			is_int(err.code, FLYT_E_NOT_FOUND, "... as NOT_FOUND (%s)", err.msg);
	}

	_cleanup_(settings_done) settings_t s;
	settings_init(&s);
	_cleanup_strv_ char **unknown = test_strv("agent", "--colour", NULL);
	flyt_error_t err = FLYT_ERROR_INIT;
	int next;
	parse_args(&s, &next, NULL, &err, unknown);
	ok(strstr(err.msg, "--colour") != NULL, "the message names the unknown option (%s)", err.msg);

	_cleanup_strv_ char **no_config = test_strv("agent", "--config", "/x", NULL);
	is_int(flyt_opts_parse(s.table, 3, no_config, 1, false, &next, NULL, &err), -1,
	       "--config is an unknown option when config files are not allowed");
}

/* --help and -h set *ret_help and parsing goes on. */
static void test_help(void)
{
	_cleanup_(settings_done) settings_t s;
	settings_init(&s);
	_cleanup_strv_ char **argv = test_strv("agent", "--help", "-v", NULL);
	flyt_error_t err = FLYT_ERROR_INIT;
	int next;
	bool help = false;
	is_int(parse_args(&s, &next, &help, &err, argv), 0, "--help parses when ret_help is given");
	ok(help, "... and sets it");
	ok(s.verbose, "... and later options still apply");
	_cleanup_strv_ char **shorthelp = test_strv("agent", "-h", NULL);
	help = false;
	parse_args(&s, &next, &help, &err, shorthelp);
	ok(help, "-h sets it too");
	_cleanup_strv_ char **nohelp = test_strv("agent", NULL);
	help = true;
	parse_args(&s, &next, &help, &err, nohelp);
	ok(!help, "without --help it is reset to false");

	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	flyt_opts_usage(f, s.table);
	fclose(f);
	_cleanup_free_ char *usage = text;
	ok(strstr(usage, "-l, --listen ADDR:PORT") != NULL, "usage shows short and long names with the argument");
	ok(strstr(usage, "--peer ADDR") != NULL && strstr(usage, "a peer (repeatable)") != NULL,
	   "usage shows options without a short name and their help");
	ok(strstr(usage, "--verbose ") != NULL && strstr(usage, "--verbose VALUE") == NULL,
	   "usage shows flags without a value");
}

static char *write_config(const char *tmp, const char *name, const char *text)
{
	char *path = flyt_asprintf("%s/%s", tmp, name);
	flyt_error_t err = FLYT_ERROR_INIT;
	if (flyt_write_file_atomic(path, text, strlen(text), 0600, &err) < 0)
		diag("setup: %s", err.msg);
	return path;
}

/* A --config file with comments, blank lines and spacing sets options; the command
 * line overrides it whatever the order; lists from both add up. */
static void test_config(const char *tmp)
{
	_cleanup_free_ char *path = write_config(tmp, "agent.conf",
						 "# flyt agent\n"
						 "\n"
						 "listen = 10.0.0.1:7800   # the API\n"
						 "  port=7900\n"
						 "verbose = true\n"
						 "peer = p1\n"
						 "\t peer\t=  p2  \n"
						 "name = from-file\n");
	flyt_error_t err = FLYT_ERROR_INIT;
	int next;
	{
		_cleanup_(settings_done) settings_t s;
		settings_init(&s);
		_cleanup_strv_ char **argv = test_strv("agent", "--config", path, NULL);
		is_int(parse_args(&s, &next, NULL, &err, argv), 0, "a config file is read (%s)", err.msg);
		is_str(s.listen, "10.0.0.1:7800", "a string setting, comment and spaces stripped");
		is_int(s.port, 7900, "an integer setting");
		ok(s.verbose, "a flag setting");
		ok(flyt_strv_len(s.peers) == 2 && strcmp(s.peers[0], "p1") == 0 && strcmp(s.peers[1], "p2") == 0,
		   "list settings, tabs and spaces stripped");
		is_int(next, 3, "--config FILE is consumed");
	}
	{
		_cleanup_(settings_done) settings_t s;
		settings_init(&s);
		_cleanup_free_ char *cfg = flyt_asprintf("--config=%s", path);
		_cleanup_strv_ char **argv = test_strv("agent", "--port=1", cfg, "--peer", "p3", "-n", "flag", NULL);
		is_int(parse_args(&s, &next, NULL, &err, argv), 0, "--config=FILE with flags parses (%s)", err.msg);
		is_int(s.port, 1, "a flag before --config overrides the file");
		is_str(s.name, "flag", "a flag after --config overrides the file");
		is_str(s.listen, "10.0.0.1:7800", "settings without a flag come from the file");
		is_int(flyt_strv_len(s.peers), 3, "list values from the file and the command line add up");
	}
	{
		/* BUG: the pre-scan for --config in flyt_opts_parse stops at the first
		 * argument not starting with '-', which is the value of any option
		 * written as "--name VALUE". A --config after such an option is then
		 * skipped without a word and the program runs without its file. */
		_cleanup_(settings_done) settings_t s;
		settings_init(&s);
		_cleanup_strv_ char **argv = test_strv("agent", "--name", "flag", "--config", path, NULL);
		is_int(parse_args(&s, &next, NULL, &err, argv), 0, "--name VALUE --config FILE parses");
		is_str(s.name, "flag", "... the flag is applied");
		is_str(s.listen, "10.0.0.1:7800",
		       "opts: --config after \"--name VALUE\" is still read (listen comes from the file)");
	}
	{
		_cleanup_(settings_done) settings_t s;
		settings_init(&s);
		_cleanup_strv_ char **argv = test_strv("agent", "--", "--config", path, NULL);
		is_int(parse_args(&s, &next, NULL, &err, argv), 0, "--config after \"--\" parses");
		is_str(s.listen, NULL, "... and is not read");
	}
}

/* Config file errors name the file and line. */
static void test_config_errors(const char *tmp)
{
	static const struct {
		const char *text;
		const char *where;
	} cases[] = {
		{ "listen = a\nbogus = 1\n", "bad.conf:2:" },
		{ "listen = a\njust words\n", "bad.conf:2:" },
		{ "port = 0\n", "bad.conf:1:" },
		{ "verbose = maybe\n", "bad.conf:1:" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		_cleanup_free_ char *path = write_config(tmp, "bad.conf", cases[i].text);
		_cleanup_(settings_done) settings_t s;
		settings_init(&s);
		_cleanup_strv_ char **argv = test_strv("agent", "--config", path, NULL);
		flyt_error_t err = FLYT_ERROR_INIT;
		int next;
		is_int(parse_args(&s, &next, NULL, &err, argv), -1, "config case %zu fails", i);
		is_int(err.code, FLYT_E_INVALID, "... as INVALID");
		ok(strstr(err.msg, cases[i].where) != NULL, "... naming %s (%s)", cases[i].where, err.msg);
	}

	/* BUG: load_config splits the file with strtok_r(text, "\n"), which skips
	 * empty lines, so every blank line before an error shifts the reported line
	 * number; here the bad setting is on line 4 and the message says line 2. */
	_cleanup_free_ char *path = write_config(tmp, "blank.conf", "listen = a\n\n\nbogus = 1\n");
	_cleanup_(settings_done) settings_t s;
	settings_init(&s);
	_cleanup_strv_ char **argv = test_strv("agent", "--config", path, NULL);
	flyt_error_t err = FLYT_ERROR_INIT;
	int next;
	parse_args(&s, &next, NULL, &err, argv);
	ok(strstr(err.msg, "blank.conf:4:") != NULL, "opts: a config error after blank lines names the right line (%s)",
	   err.msg);
}

/* opts_free releases strings and lists and resets them to NULL. */
static void test_free(void)
{
	settings_t s;
	settings_init(&s);
	_cleanup_strv_ char **argv = test_strv("agent", "--listen", "x", "--peer", "a", NULL);
	flyt_error_t err = FLYT_ERROR_INIT;
	int next;
	parse_args(&s, &next, NULL, &err, argv);
	flyt_opts_free(s.table);
	ok(s.listen == NULL && s.peers == NULL && s.name == NULL, "opts_free resets strings and lists to NULL");
	flyt_opts_free(s.table);
	ok(true, "opts_free twice is harmless");
}

int main(void)
{
	_cleanup_tmpdir_ char *tmp = test_tmpdir("opts");
	test_forms();
	test_double_dash();
	test_int_bounds();
	test_errors();
	test_help();
	test_config(tmp);
	test_config_errors(tmp);
	test_free();
	return done();
}
