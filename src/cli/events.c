/* flyt events: the controller's event log through GET /api/v1/events/poll, once or
 * followed forever, one event per line. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "cli/cli.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/util.h"

/* How long each poll of --follow asks the controller to wait for an event. */
#define EVENTS_WAIT_MS 20000
/* The longest pause between attempts while the controller cannot be reached. */
#define EVENTS_BACKOFF_MAX_MS 10000

/* Prints one field value of an event line: plain when it is a word, JSON otherwise,
 * so that the line splits on spaces. */
static void events_print_value(json_t *v)
{
	const char *s = json_string_value(v);
	if (s && s[0] && !strpbrk(s, " \t\r\n\"=")) {
		fputs(s, stdout);
		return;
	}
	if (json_is_null(v)) {
		fputs("-", stdout);
		return;
	}
	_cleanup_free_ char *j = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	fputs(j ? j : "?", stdout);
}

/* "SEQ TIME TYPE key=value ..." */
static void events_print(json_t *ev)
{
	printf("%" JSON_INTEGER_FORMAT " %s %s", (json_int_t)flyt_json_int(ev, "seq", 0),
	       flyt_json_str(ev, "time", "-"), flyt_json_str(ev, "type", "-"));
	const char *key;
	json_t *v;
	json_object_foreach (ev, key, v) {
		if (strcmp(key, "seq") == 0 || strcmp(key, "time") == 0 || strcmp(key, "type") == 0)
			continue;
		printf(" %s=", key);
		events_print_value(v);
	}
	putchar('\n');
}

int events_show(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err)
{
	int64_t since = 0;
	bool follow = false;
	const flyt_opt_t opts[] = {
		{ "since", 0, FLYT_OPT_INT, &since, "SEQ", "only the events after this sequence number", 0, INT64_MAX },
		{ "follow", 0, FLYT_OPT_FLAG, &follow, NULL, "keep waiting for new events, forever" },
		{ NULL },
	};
	int npos, r = commands_parse(cli, cmd, opts, argc, argv, 0, 0, &npos, err);
	if (r != 0)
		return r;

	bool answered = false;
	unsigned backoff_ms = 500;
	for (;;) {
		unsigned wait_ms = follow ? EVENTS_WAIT_MS : 0;
		_cleanup_free_ char *path =
		    flyt_asprintf("/api/v1/events/poll?since=%" PRId64 "&wait=%u", since, wait_ms);
		_cleanup_json_ json_t *ans = NULL;
		json_t *list;
		if (client_get_wait(cli, path, wait_ms, &ans, err) < 0 || client_list(ans, "events", &list, err) < 0) {
			/* once the controller has answered, a restart of it is waited out */
			if (!follow || !answered || !client_error_transient(err))
				return -1;
			flyt_sleep_ms(backoff_ms);
			backoff_ms = backoff_ms * 2 > EVENTS_BACKOFF_MAX_MS ? EVENTS_BACKOFF_MAX_MS : backoff_ms * 2;
			continue;
		}
		answered = true;
		backoff_ms = 500;
		int64_t before = since;
		size_t i;
		json_t *ev;
		json_array_foreach (list, i, ev) {
			if (cli->json)
				output_json_line(ev);
			else
				events_print(ev);
			int64_t seq = flyt_json_int(ev, "seq", 0);
			if (seq > since)
				since = seq;
		}
		/* a restarted controller numbers its events from the start again */
		int64_t last = flyt_json_int(ans, "last", -1);
		if (json_array_size(list) == 0 && last >= 0 && last < since)
			since = last;
		if (fflush(stdout) != 0)
			return flyt_error_set(err, FLYT_E_IO, errno, "write the events");
		/* without --follow, poll until everything retained was printed */
		if (!follow && since == before)
			return 0;
	}
}
