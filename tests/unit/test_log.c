/* Unit tests of lib/log: level names, filtering by level, and the two line formats
 * (text for people, one JSON object per line for collectors). stderr is pointed at
 * a file while a record is written, then read back. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/log.h"
#include "tap.h"
#include "testutil.h"

/* Runs write_fn with stderr redirected to path and returns what it wrote. */
static char *capture_stderr(const char *path, void (*write_fn)(void))
{
	fflush(stderr);
	_cleanup_close_ int saved = fcntl(2, F_DUPFD_CLOEXEC, 3);
	{
		_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		dup2(fd, 2);
	}
	write_fn();
	fflush(stderr);
	dup2(saved, 2);
	return test_read(path);
}

static void write_info(void)
{
	log_info("hello %d", 42);
}

static void write_all_levels(void)
{
	log_debug("d");
	log_info("i");
	log_warn("w");
	log_error("e");
}

static void write_tricky(void)
{
	log_warn("quote \" and\nnewline");
}

/* Level names map both ways; unknown names are INVALID. */
static void test_levels(void)
{
	is_int(flyt_log_level_from_name("debug"), FLYT_LOG_DEBUG, "\"debug\"");
	is_int(flyt_log_level_from_name("info"), FLYT_LOG_INFO, "\"info\"");
	is_int(flyt_log_level_from_name("warn"), FLYT_LOG_WARN, "\"warn\"");
	is_int(flyt_log_level_from_name("error"), FLYT_LOG_ERROR, "\"error\"");
	is_int(flyt_log_level_from_name("warning"), FLYT_LOG_INVALID, "an unknown name is INVALID");
	is_int(flyt_log_level_from_name(NULL), FLYT_LOG_INVALID, "NULL is INVALID");

	flyt_log_setup("unit-log", FLYT_LOG_WARN, FLYT_LOG_TEXT);
	ok(!flyt_log_enabled(FLYT_LOG_INFO), "at level warn, info is off");
	ok(flyt_log_enabled(FLYT_LOG_WARN) && flyt_log_enabled(FLYT_LOG_ERROR), "... warn and error are on");
	flyt_log_setup("unit-log", FLYT_LOG_INVALID, FLYT_LOG_TEXT);
	ok(!flyt_log_enabled(FLYT_LOG_INFO), "an invalid level leaves the level as it was");
}

/* Text lines: "<time> <level padded to 5> <program>: <message>\n", filtered. */
static void test_text(const char *tmp)
{
	_cleanup_free_ char *path = flyt_asprintf("%s/text.log", tmp);
	flyt_log_setup("unit-log", FLYT_LOG_INFO, FLYT_LOG_TEXT);
	_cleanup_free_ char *line = capture_stderr(path, write_info);
	ok(line && strlen(line) > 25 && line[4] == '-' && line[10] == 'T' && line[23] == 'Z',
	   "a text line starts with an ISO 8601 UTC time (%s)", line ? line : "");
	ok(line && strstr(line, "Z info  unit-log: hello 42\n") != NULL, "... then level, program and message");

	_cleanup_free_ char *levels = capture_stderr(path, write_all_levels);
	ok(levels && !strstr(levels, " d\n") && strstr(levels, "info  unit-log: i\n") &&
	       strstr(levels, "warn  unit-log: w\n") && strstr(levels, "error unit-log: e\n"),
	   "at level info, debug is dropped and the rest written");

	flyt_log_setup("unit-log", FLYT_LOG_ERROR, FLYT_LOG_TEXT);
	_cleanup_free_ char *errors = capture_stderr(path, write_all_levels);
	ok(errors && !strstr(errors, ": w\n") && strstr(errors, ": e\n"), "at level error, only errors are written");
}

/* JSON lines: one object per record with ts, level, program, msg; special
 * characters escaped so that a record stays on one line. */
static void test_json(const char *tmp)
{
	_cleanup_free_ char *path = flyt_asprintf("%s/json.log", tmp);
	flyt_log_setup("unit-log", FLYT_LOG_DEBUG, FLYT_LOG_JSON);
	_cleanup_free_ char *text = capture_stderr(path, write_tricky);
	ok(text && strchr(text, '\n') == text + strlen(text) - 1, "a JSON record is exactly one line");
	_cleanup_json_ json_t *rec = text ? json_loads(text, 0, NULL) : NULL;
	ok(json_is_object(rec), "... holding a JSON object");
	is_str(flyt_json_str(rec, "level", NULL), "warn", "... with the level");
	is_str(flyt_json_str(rec, "program", NULL), "unit-log", "... the program");
	is_str(flyt_json_str(rec, "msg", NULL), "quote \" and\nnewline", "... the message, intact");
	const char *ts = flyt_json_str(rec, "ts", "");
	ok(strlen(ts) == 24 && ts[23] == 'Z', "... and a timestamp (%s)", ts);
	flyt_log_setup("unit-log", FLYT_LOG_INFO, FLYT_LOG_TEXT);
}

int main(void)
{
	_cleanup_tmpdir_ char *tmp = test_tmpdir("log");
	test_levels();
	test_text(tmp);
	test_json(tmp);
	return done();
}
