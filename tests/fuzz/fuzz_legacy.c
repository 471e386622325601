/* Fuzz target: the old system's files as a client sends them -- a workload spec
 * (POST /api/v1/workloads with the old JSON) and a guests.json (POST
 * /api/v1/import/guests). The bytes go through the bounded object parser, then
 * the converter and the guests parser of src/controller/legacy_spec.c. Whatever
 * arrives, nothing may crash, a refusal must say why, and what is accepted must
 * be what the rest of the controller expects: a flyt workload with a valid name,
 * a known kind, the given host and the old fields kept under spec.legacy; guests
 * with an address, a port 1-65535 and the URL made of them. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/legacy.h"
#include "lib/json.h"
#include "lib/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                             \
	do {                                                                                    \
		if (!(cond)) {                                                                  \
			fprintf(stderr, "fuzz_legacy: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                \
		}                                                                               \
	} while (0)

static void check_refusal(int r, const flyt_error_t *err)
{
	CHECK(r == -1);
	CHECK(err->code != FLYT_OK && err->msg[0] != '\0');
}

static void check_workload(json_t *old, json_t *w)
{
	CHECK(json_is_object(w));
	const char *name = flyt_json_str(w, "name", NULL), *kind = flyt_json_str(w, "kind", NULL);
	CHECK(name && flyt_name_valid(name));
	CHECK(strcmp(name, json_string_value(json_object_get(old, "Identifier"))) == 0);
	CHECK(kind && (strcmp(kind, "docker") == 0 || strcmp(kind, "libvirt") == 0));
	CHECK(strcmp(flyt_json_str(w, "host", ""), "h1") == 0);
	json_t *spec = json_object_get(w, "spec");
	CHECK(json_is_object(spec) && json_is_object(json_object_get(spec, "legacy")));
	const char *ref = flyt_json_str(spec, strcmp(kind, "docker") == 0 ? "container" : "domain", NULL);
	CHECK(ref && ref[0]);
	int64_t port = flyt_json_int(json_object_get(spec, "legacy"), "AccessPort", -1);
	CHECK(port >= 0 && port <= 65535);
	char *text = flyt_json_dumps(w);
	free(text);
}

static void check_guests(json_t *guests)
{
	CHECK(json_is_array(guests) && json_array_size(guests) <= LEGACY_GUESTS_MAX);
	size_t i;
	json_t *g;
	json_array_foreach (guests, i, g) {
		const char *ip = flyt_json_str(g, "ip", NULL), *url = flyt_json_str(g, "url", NULL);
		int64_t port = flyt_json_int(g, "port", 0);
		CHECK(ip && ip[0] && url && strncmp(url, "https://", 8) == 0);
		CHECK(port >= 1 && port <= 65535);
		/* the URL is exactly the address and the port: nothing else got in */
		char want[300];
		snprintf(want, sizeof(want), strchr(ip, ':') ? "https://[%s]:%d" : "https://%s:%d", ip, (int)port);
		CHECK(strcmp(url, want) == 0);
		CHECK(strpbrk(ip, "/?#@ \\") == NULL);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	flyt_error_t err = FLYT_ERROR_INIT;
	json_t *body = NULL;
	if (flyt_json_parse_object((const char *)data, size, 64 * 1024, &body, &err) < 0)
		return 0;

	if (legacy_is_workload_spec(body)) {
		json_t *w = NULL;
		err = (flyt_error_t)FLYT_ERROR_INIT;
		int r = legacy_workload_convert(body, "h1", &w, &err);
		if (r == 0) {
			check_workload(body, w);
			json_decref(w);
			w = NULL;
		} else {
			check_refusal(r, &err);
			CHECK(w == NULL);
		}
		/* without a host (or with an unusable one) it is always refused */
		err = (flyt_error_t)FLYT_ERROR_INIT;
		check_refusal(legacy_workload_convert(body, NULL, &w, &err), &err);
		err = (flyt_error_t)FLYT_ERROR_INIT;
		check_refusal(legacy_workload_convert(body, "../h1", &w, &err), &err);
		CHECK(w == NULL);
	}

	json_t *guests = NULL;
	err = (flyt_error_t)FLYT_ERROR_INIT;
	int r = legacy_guests_parse(body, "https", &guests, &err);
	if (r == 0) {
		check_guests(guests);
		json_decref(guests);
	} else {
		check_refusal(r, &err);
		CHECK(guests == NULL);
	}
	json_decref(body);
	return 0;
}
