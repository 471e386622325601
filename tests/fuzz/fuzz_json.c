/* Fuzz target: flyt's JSON reading as every request body and control message goes
 * through it -- the bounded object parser, then the typed getters with their limits,
 * the error-body reader and the name and id validators on whatever strings arrive. */
#include <stdint.h>
#include <stdlib.h>

#include "lib/cleanup.h"
#include "lib/http.h"
#include "lib/json.h"
#include "lib/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	flyt_error_t err = FLYT_ERROR_INIT;
	json_t *j = NULL;
	if (flyt_json_parse_object((const char *)data, size, 64 * 1024, &j, &err) < 0)
		return 0;
	static const char *const allowed[] = { "name", "kind", "host", "mode", "spec", "env", "argv", NULL };
	(void)flyt_json_check_keys(j, "body", allowed, &err);

	const char *s = NULL;
	if (flyt_json_get_string(j, "name", false, 64, &s, &err) == 0 && s) {
		(void)flyt_name_valid(s);
		(void)flyt_id_valid(s);
	}
	if (flyt_json_get_string(j, "host", false, 256, &s, &err) == 0 && s) {
		char host[256];
		uint16_t port;
		(void)flyt_parse_hostport(s, host, sizeof(host), &port, &err);
	}
	int64_t n;
	(void)flyt_json_get_int(j, "limit", false, 0, 1000, &n, &err);
	bool b;
	(void)flyt_json_get_bool(j, "wait", false, &b, &err);
	json_t *o = NULL;
	(void)flyt_json_get_object(j, "spec", false, &o, &err);
	json_t *a = NULL;
	(void)flyt_json_get_array(j, "argv", false, 16, &a, &err);
	char **v = NULL;
	if (flyt_json_get_strv(j, "argv", false, 16, 256, &v, &err) == 0 && v) {
		uint64_t u;
		for (char **p = v; *p; p++) {
			(void)flyt_parse_u64(*p, UINT32_MAX, &u);
			(void)flyt_version_cmp(*p, "4.2.1");
		}
		flyt_strv_free(v);
	}
	flyt_error_t peer = FLYT_ERROR_INIT;
	(void)flyt_json_error_parse(j, 400, &peer);
	char *dumped = flyt_json_dumps(j);
	free(dumped);
	json_decref(j);
	return 0;
}
