/* flyt import guests: the old system's guests.json turned into hosts. */
#include <string.h>

#include "cli/cli.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/util.h"

#define GUESTS_FILE_MAX (1024 * 1024)

static const flyt_opt_t no_opts[] = { { NULL } };

int import_guests(cli_t *cli, const cli_command_t *cmd, int argc, char **argv, flyt_error_t *err)
{
	int npos, r = commands_parse(cli, cmd, no_opts, argc, argv, 1, 1, &npos, err);
	if (r != 0)
		return r;
	_cleanup_free_ char *text = NULL;
	size_t len;
	_cleanup_json_ json_t *body = NULL, *ans = NULL;
	if (flyt_read_file(argv[0], GUESTS_FILE_MAX, &text, &len, err) < 0 ||
	    flyt_json_parse_object(text, len, GUESTS_FILE_MAX, &body, err) < 0)
		return flyt_error_prefix(err, "%s", argv[0]);
	if (client_call(cli, "POST", "/api/v1/import/guests", body, &ans, err) < 0)
		return -1;
	json_t *list;
	if (client_list(ans, "guests", &list, err) < 0)
		return -1;
	if (cli->json) {
		output_json(ans);
	} else {
		static const char *const headers[] = { "GUEST", "HOST", "RESULT" };
		_cleanup_(output_table_free) output_table_t t = { 0 };
		output_table_init(&t, ELEMENTSOF(headers), headers);
		size_t i;
		json_t *g;
		json_array_foreach (list, i, g) {
			const char *row[] = { flyt_json_str(g, "url", "-"), flyt_json_str(g, "host", "-"),
					      flyt_json_str(g, "error", flyt_json_str(g, "note", "added")) };
			output_table_add(&t, row);
		}
		output_table_print(&t, stdout);
	}
	int64_t failed = flyt_json_int(ans, "failed", 0);
	if (failed > 0)
		return flyt_error_set(err, FLYT_E_UNAVAILABLE, 0, "%lld of %zu guests could not be added",
				      (long long)failed, json_array_size(list));
	return 0;
}
