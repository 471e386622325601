/* Parsing the old system's files (the 2021 MasterController/GuestController, see
 * seed/masters-datacenters-README.txt): its workload JSON spec turned into a flyt
 * workload, and its guests.json turned into hosts.
 *
 * Workload spec:
 *   {"Identifier", "AccessIP", "AccessPort", "AutoMigrate", "Available",
 *    "SharedDir", "Type": "Container"|"VM" (any case),
 *    "Containerproperties": {"ContainerID", "Image", "Checkpoint"},
 *    "VMProperties": {"DomainName", "ConnectionURI"}}
 * A "Container" becomes a docker workload adopting ContainerID on the given host;
 * a "VM" a libvirt workload adopting DomainName from that host's libvirt. Every field
 * is checked; unknown ones are refused by name. SharedDir is validated as a path
 * but never used as one: flyt needs no shared storage, and a path from a request
 * must not decide where anything is written. The old fields are kept verbatim in
 * the spec's "legacy" object.
 *
 * guests.json: {"Guests": [{"Ip", "Port", "LibvirtURI"}]}: each guest becomes
 * the URL http://Ip:Port of a flytd, which legacy.c adds as a host.
 *
 * Nothing here needs a running controller (see legacy.h). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/legacy.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/util.h"

bool legacy_is_workload_spec(json_t *body)
{
	return json_is_object(body) && json_object_get(body, "Identifier") != NULL;
}

/* A string or a number field as text (the old UI wrote "0" and 0 alike). */
static int str_or_int(json_t *obj, const char *key, char *out, size_t size, flyt_error_t *err)
{
	json_t *v = json_object_get(obj, key);
	out[0] = '\0';
	if (!v || json_is_null(v))
		return 0;
	if (json_is_integer(v))
		snprintf(out, size, "%lld", (long long)json_integer_value(v));
	else if (json_is_string(v) && strlen(json_string_value(v)) < size)
		snprintf(out, size, "%s", json_string_value(v));
	else
		return flyt_error_set(err, FLYT_E_INVALID, 0,
				      "\"%s\" must be a string or a number of at most %zu characters", key, size - 1);
	return 0;
}

static int check_port(const char *what, const char *s, bool allow_zero, int *ret, flyt_error_t *err)
{
	uint64_t v = 0;
	if (flyt_parse_u64(s, 65535, &v) < 0 || (!allow_zero && v == 0))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "\"%s\" must be a port number (%d-65535), not \"%.32s\"",
				      what, allow_zero ? 0 : 1, s);
	*ret = (int)v;
	return 0;
}

/* An address: an IPv4 or IPv6 literal or a host name (letters, digits, . - :). */
static bool address_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 253)
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' && *p != ':')
			return false;
	return true;
}

static bool container_ref_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 128 || !isalnum((unsigned char)s[0]))
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-')
			return false;
	return true;
}

static bool image_ref_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 255)
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("_.-/:@", *p))
			return false;
	return true;
}

/* SharedDir: an absolute, clean path, or empty. Checked, recorded, never used. */
static int check_shared_dir(const char *s, flyt_error_t *err)
{
	if (!s[0])
		return 0;
	if (s[0] != '/' || (strcmp(s, "/") != 0 && !flyt_relpath_valid(s + 1)))
		return flyt_error_set(
		    err, FLYT_E_INVALID, 0,
		    "\"SharedDir\" must be an absolute path without \"..\" or control characters, not \"%.100s\" (flyt does not need it: migrations copy the data themselves)",
		    s);
	return 0;
}

int legacy_workload_convert(json_t *old, const char *host, json_t **ret, flyt_error_t *err)
{
	static const char *const keys[] = { "Identifier",   "AccessIP",	 "AccessPort", "AutoMigrate",
					    "Available",    "SharedDir", "Type",       "Containerproperties",
					    "VMProperties", NULL };
	static const char *const ckeys[] = { "ContainerID", "Image", "Checkpoint", NULL };
	static const char *const vkeys[] = { "DomainName", "ConnectionURI", NULL };
	if (!host || !flyt_name_valid(host))
		return flyt_error_set(
		    err, FLYT_E_INVALID, 0,
		    "the old system's workload spec names no host: give one (flyt workload create -f FILE --host HOST, or ?host=HOST)");
	if (flyt_json_check_keys(old, "old workload spec", keys, err) < 0)
		return -1;
	const char *ident = NULL, *type = NULL, *shared = "";
	bool auto_migrate = false, available = true;
	json_t *cprops = NULL, *vprops = NULL;
	char access_ip[256], access_port[16];
	if (flyt_json_get_string(old, "Identifier", true, 63, &ident, err) < 0 ||
	    flyt_json_get_string(old, "Type", true, 16, &type, err) < 0 ||
	    flyt_json_get_string(old, "SharedDir", false, 4096, &shared, err) < 0 ||
	    flyt_json_get_bool(old, "AutoMigrate", false, &auto_migrate, err) < 0 ||
	    flyt_json_get_bool(old, "Available", false, &available, err) < 0 ||
	    str_or_int(old, "AccessIP", access_ip, sizeof(access_ip), err) < 0 ||
	    str_or_int(old, "AccessPort", access_port, sizeof(access_port), err) < 0)
		return flyt_error_prefix(err, "old workload spec");
	if (!flyt_name_valid(ident))
		return flyt_error_set(
		    err, FLYT_E_INVALID, 0,
		    "old workload spec: \"Identifier\" \"%.63s\" is not a usable workload name: use 1-63 of a-z 0-9 . _ -, starting with a letter or digit",
		    ident);
	int port = 0;
	if (access_port[0] && check_port("AccessPort", access_port, true, &port, err) < 0)
		return flyt_error_prefix(err, "old workload spec");
	if (access_ip[0] && strcmp(access_ip, "0") != 0 && !address_valid(access_ip))
		return flyt_error_set(err, FLYT_E_INVALID, 0,
				      "old workload spec: \"AccessIP\" \"%.64s\" is not an address", access_ip);
	if (check_shared_dir(shared, err) < 0)
		return flyt_error_prefix(err, "old workload spec");
	if (json_object_get(old, "Containerproperties") && !json_is_null(json_object_get(old, "Containerproperties")) &&
	    flyt_json_get_object(old, "Containerproperties", false, &cprops, err) < 0)
		return flyt_error_prefix(err, "old workload spec");
	if (json_object_get(old, "VMProperties") && !json_is_null(json_object_get(old, "VMProperties")) &&
	    flyt_json_get_object(old, "VMProperties", false, &vprops, err) < 0)
		return flyt_error_prefix(err, "old workload spec");

	json_t *legacy = json_pack("{s:s, s:i, s:b, s:b, s:s}", "AccessIP", access_ip, "AccessPort", port,
				   "AutoMigrate", auto_migrate, "Available", available, "SharedDir", shared);
	_cleanup_json_ json_t *legacy_ref = legacy;
	(void)legacy_ref; /* frees legacy on every return */
	if (strcasecmp(type, "container") == 0) {
		if (!cprops)
			return flyt_error_set(err, FLYT_E_INVALID, 0,
					      "old workload spec: a \"Container\" needs \"Containerproperties\"");
		if (vprops)
			return flyt_error_set(err, FLYT_E_INVALID, 0,
					      "old workload spec: a \"Container\" has no \"VMProperties\"");
		const char *cid = NULL, *image = NULL;
		bool checkpoint = false;
		if (flyt_json_check_keys(cprops, "Containerproperties", ckeys, err) < 0 ||
		    flyt_json_get_string(cprops, "ContainerID", true, 128, &cid, err) < 0 ||
		    flyt_json_get_string(cprops, "Image", false, 255, &image, err) < 0 ||
		    flyt_json_get_bool(cprops, "Checkpoint", false, &checkpoint, err) < 0)
			return flyt_error_prefix(err, "old workload spec");
		if (!container_ref_valid(cid))
			return flyt_error_set(
			    err, FLYT_E_INVALID, 0,
			    "old workload spec: \"ContainerID\" \"%.64s\" is not a container name or id", cid);
		if (image && !image_ref_valid(image))
			return flyt_error_set(err, FLYT_E_INVALID, 0,
					      "old workload spec: \"Image\" \"%.64s\" is not an image reference",
					      image);
		/* flyt always checkpoints a migrating container: Checkpoint is recorded only */
		json_object_set_new(legacy, "Checkpoint", json_boolean(checkpoint));
		json_t *spec = json_pack("{s:s, s:O}", "container", cid, "legacy", legacy);
		if (image)
			json_object_set_new(spec, "image", json_string(image));
		*ret = json_pack("{s:s, s:s, s:s, s:o}", "name", ident, "kind", "docker", "host", host, "spec", spec);
		return 0;
	}
	if (strcasecmp(type, "vm") == 0) {
		if (!vprops)
			return flyt_error_set(err, FLYT_E_INVALID, 0,
					      "old workload spec: a \"VM\" needs \"VMProperties\"");
		const char *dom = NULL, *uri = NULL;
		if (flyt_json_check_keys(vprops, "VMProperties", vkeys, err) < 0 ||
		    flyt_json_get_string(vprops, "DomainName", true, 255, &dom, err) < 0 ||
		    flyt_json_get_string(vprops, "ConnectionURI", false, 1024, &uri, err) < 0)
			return flyt_error_prefix(err, "old workload spec");
		if (!dom[0])
			return flyt_error_set(err, FLYT_E_INVALID, 0,
					      "old workload spec: \"VMProperties\".\"DomainName\" is empty");
		/* the domain is adopted from the libvirt of the host it is created on
		 * (its flytd --libvirt-uri); ConnectionURI is kept with the old fields */
		if (uri)
			json_object_set_new(legacy, "ConnectionURI", json_string(uri));
		json_t *spec = json_pack("{s:s, s:O}", "domain", dom, "legacy", legacy);
		*ret = json_pack("{s:s, s:s, s:s, s:o}", "name", ident, "kind", "libvirt", "host", host, "spec", spec);
		return 0;
	}
	return flyt_error_set(err, FLYT_E_INVALID, 0,
			      "old workload spec: \"Type\" must be \"Container\" or \"VM\", not \"%.16s\"", type);
}

int legacy_guests_parse(json_t *body, const char *scheme, json_t **ret, flyt_error_t *err)
{
	static const char *const keys[] = { "Guests", NULL };
	static const char *const gkeys[] = { "Ip", "Port", "LibvirtURI", NULL };
	json_t *guests = NULL;
	if (!json_is_object(body))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "guests file: expected {\"Guests\": [...]}");
	if (flyt_json_check_keys(body, "guests file (expected {\"Guests\": [...]})", keys, err) < 0)
		return -1;
	if (flyt_json_get_array(body, "Guests", true, LEGACY_GUESTS_MAX, &guests, err) < 0)
		return flyt_error_prefix(err, "guests file");
	_cleanup_json_ json_t *out = json_array();
	size_t i;
	json_t *g;
	json_array_foreach (guests, i, g) {
		char ip[256], port_s[16];
		const char *uri = NULL;
		int port;
		if (!json_is_object(g))
			return flyt_error_set(err, FLYT_E_INVALID, 0, "guests file: guest %zu is not an object", i + 1);
		if (flyt_json_check_keys(g, "guest", gkeys, err) < 0 || str_or_int(g, "Ip", ip, sizeof(ip), err) < 0 ||
		    str_or_int(g, "Port", port_s, sizeof(port_s), err) < 0 ||
		    flyt_json_get_string(g, "LibvirtURI", false, 1024, &uri, err) < 0)
			return flyt_error_prefix(err, "guests file: guest %zu", i + 1);
		if (!ip[0] || !address_valid(ip))
			return flyt_error_set(err, FLYT_E_INVALID, 0,
					      "guests file: guest %zu: \"Ip\" \"%.64s\" is not an address", i + 1, ip);
		if (check_port("Port", port_s, false, &port, err) < 0)
			return flyt_error_prefix(err, "guests file: guest %zu", i + 1);
		_cleanup_free_ char *url =
		    flyt_asprintf(strchr(ip, ':') ? "%s://[%s]:%d" : "%s://%s:%d", scheme, ip, port);
		json_t *r = json_pack("{s:s, s:i, s:s}", "ip", ip, "port", port, "url", url);
		if (uri && uri[0])
			json_object_set_new(r, "libvirt_uri", json_string(uri));
		json_array_append_new(out, r);
	}
	*ret = json_incref(out);
	return 0;
}
