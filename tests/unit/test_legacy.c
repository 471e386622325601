/* Unit tests of the old system's file parsers (src/controller/legacy_spec.c),
 * callable without a controller: the README's workload spec converted, a VM
 * spec, guests.json read into URLs, and refusals that name the field. */
#include <string.h>

#include "controller/legacy.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "tap.h"

static json_t *J(const char *text)
{
	json_t *j = NULL;
	flyt_error_t err = FLYT_ERROR_INIT;
	if (flyt_json_parse_object(text, strlen(text), 65536, &j, &err) < 0)
		diag("bad test JSON: %s", err.msg);
	return j;
}

static void test_workload(void)
{
	flyt_error_t err = FLYT_ERROR_INIT;
	_cleanup_json_ json_t *old =
	    J("{\"Identifier\": \"busybox_container\", \"AccessIP\": \"0\", \"AccessPort\": \"0\","
	      " \"AutoMigrate\": false, \"Available\": true, \"SharedDir\": \"/srv/shared\","
	      " \"Type\": \"Container\", \"Containerproperties\": {\"ContainerID\":"
	      " \"busybox_container\", \"Image\": \"busybox\", \"Checkpoint\": false}}");
	_cleanup_json_ json_t *w = NULL;
	ok(legacy_is_workload_spec(old), "the README's spec is the old system's");
	is_int(legacy_workload_convert(old, "h1", &w, &err), 0, "converted");
	is_str(flyt_json_str(w, "kind", NULL), "docker", "a docker workload");
	is_str(flyt_json_str(json_object_get(w, "spec"), "container", NULL), "busybox_container", "adopting it");
	is_str(flyt_json_str(json_object_get(json_object_get(w, "spec"), "legacy"), "SharedDir", NULL), "/srv/shared",
	       "the old fields kept");

	_cleanup_json_ json_t *vm =
	    J("{\"Identifier\": \"guest1\", \"Type\": \"vm\", \"AccessPort\": 8080,"
	      " \"VMProperties\": {\"DomainName\": \"guest1\", \"ConnectionURI\": \"qemu:///system\"}}");
	_cleanup_json_ json_t *v = NULL;
	is_int(legacy_workload_convert(vm, "h2", &v, &err), 0, "a VM converted");
	is_str(flyt_json_str(v, "kind", NULL), "libvirt", "a libvirt workload");

	json_t *none = NULL;
	is_int(legacy_workload_convert(old, NULL, &none, &err), -1, "no host: refused");
	ok(strstr(err.msg, "host") != NULL, "... saying so: %s", err.msg);
	_cleanup_json_ json_t *bad = J("{\"Identifier\": \"x\", \"Type\": \"Container\", \"AccessPort\": \"99999\","
				       " \"Containerproperties\": {\"ContainerID\": \"x\"}}");
	is_int(legacy_workload_convert(bad, "h1", &none, &err), -1, "a port out of range: refused");
	ok(strstr(err.msg, "AccessPort") != NULL, "... naming it: %s", err.msg);
	ok(none == NULL, "nothing returned");
	/* found by fuzz_legacy: a VM without a domain to adopt */
	_cleanup_json_ json_t *nodom =
	    J("{\"Identifier\": \"g\", \"Type\": \"vm\", \"VMProperties\": {\"DomainName\": \"\"}}");
	is_int(legacy_workload_convert(nodom, "h1", &none, &err), -1, "an empty DomainName: refused");
	ok(strstr(err.msg, "DomainName") != NULL, "... naming it: %s", err.msg);
}

static void test_guests(void)
{
	flyt_error_t err = FLYT_ERROR_INIT;
	_cleanup_json_ json_t *file =
	    J("{\"Guests\": [{\"Ip\": \"198.18.0.1\", \"Port\": \"7800\", \"LibvirtURI\": \"\"},"
	      " {\"Ip\": \"fd00::2\", \"Port\": 7801, \"LibvirtURI\": \"qemu:///system\"}]}");
	_cleanup_json_ json_t *g = NULL;
	is_int(legacy_guests_parse(file, "https", &g, &err), 0, "guests.json read");
	is_int(json_array_size(g), 2, "two guests");
	is_str(flyt_json_str(json_array_get(g, 0), "url", NULL), "https://198.18.0.1:7800", "an IPv4 URL");
	is_str(flyt_json_str(json_array_get(g, 1), "url", NULL), "https://[fd00::2]:7801", "an IPv6 URL");
	ok(!json_object_get(json_array_get(g, 0), "libvirt_uri") &&
	       json_object_get(json_array_get(g, 1), "libvirt_uri"),
	   "a LibvirtURI only where one was given");

	json_t *none = NULL;
	_cleanup_json_ json_t *bad = J("{\"Guests\": [{\"Ip\": \"198.18.0.1\", \"Port\": 7800},"
				       " {\"Ip\": \"198.18.0.9; rm -rf /\", \"Port\": 7800}]}");
	is_int(legacy_guests_parse(bad, "https", &none, &err), -1, "a bad address anywhere refuses the whole file");
	ok(strstr(err.msg, "guest 2") && strstr(err.msg, "Ip"), "... naming the guest and the field: %s", err.msg);
	_cleanup_json_ json_t *port = J("{\"Guests\": [{\"Ip\": \"198.18.0.1\", \"Port\": 0}]}");
	is_int(legacy_guests_parse(port, "https", &none, &err), -1, "port 0 refused");
	ok(none == NULL, "nothing returned");
}

int main(void)
{
	test_workload();
	test_guests();
	return done();
}
