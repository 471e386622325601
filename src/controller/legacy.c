/* The old system's guests.json imported: each guest is added as the host whose
 * flytd answers at http://Ip:Port (the files are parsed and checked in
 * legacy_spec.c, see legacy.h). */
#include <stdio.h>
#include <string.h>

#include "controller/controller.h"
#include "controller/legacy.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/util.h"

int legacy_guests_import(ctl_t *c, json_t *body, json_t **ret, flyt_error_t *err)
{
	/* everything is checked before anything is added */
	_cleanup_json_ json_t *guests = NULL;
	if (legacy_guests_parse(body, c->tls ? "https" : "http", &guests, err) < 0)
		return -1;
	json_t *results = json_array();
	size_t added = 0, failed = 0, i;
	json_t *g;
	json_array_foreach (guests, i, g) {
		const char *url = flyt_json_str(g, "url", "");
		_cleanup_json_ json_t *req = json_pack("{s:s}", "url", url);
		json_t *host = NULL;
		flyt_error_t herr = FLYT_ERROR_INIT;
		json_t *r = json_pack("{s:s, s:s}", "url", url, "ip", flyt_json_str(g, "ip", ""));
		if (hosts_add(c, req, &host, &herr) == 0) {
			json_object_set_new(r, "host", json_string(flyt_json_str(host, "name", "")));
			json_decref(host);
			added++;
		} else {
			json_object_set_new(r, "error", json_string(herr.msg));
			failed++;
		}
		if (json_object_get(g, "libvirt_uri"))
			json_object_set_new(
			    r, "note",
			    json_string(
				"LibvirtURI recorded only: give it to that host's flytd as --libvirt-uri for its VMs"));
		json_array_append_new(results, r);
	}
	*ret =
	    json_pack("{s:o, s:I, s:I}", "guests", results, "added", (json_int_t)added, "failed", (json_int_t)failed);
	return 0;
}
