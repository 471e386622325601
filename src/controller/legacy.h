/* The old system's files (the 2021 MasterController/GuestController, see
 * seed/masters-datacenters-README.txt): parsing and checking only, without a
 * controller, so that a fuzz target and unit tests can call it (legacy_spec.c,
 * linked as libflyt_legacy). Adding the guests as hosts is legacy.c's.
 *
 * Workload spec:
 *   {"Identifier", "AccessIP", "AccessPort", "AutoMigrate", "Available",
 *    "SharedDir", "Type": "Container"|"VM" (any case),
 *    "Containerproperties": {"ContainerID", "Image", "Checkpoint"},
 *    "VMProperties": {"DomainName", "ConnectionURI"}}
 * guests.json: {"Guests": [{"Ip", "Port", "LibvirtURI"}]} */
#pragma once

#include <stdbool.h>

#include <jansson.h>

#include "lib/error.h"

/* At most this many guests in one guests file. */
#define LEGACY_GUESTS_MAX 1000

/* Whether body looks like the old workload spec (it has "Identifier"). */
bool legacy_is_workload_spec(json_t *body);

/* The old workload spec as the body of a flyt workload create for host:
 * {"name", "kind": "docker"|"libvirt", "host", "spec": {..., "legacy": {...}}}.
 * Every field is checked; unknown ones are refused by name. */
int legacy_workload_convert(json_t *old, const char *host, json_t **ret, flyt_error_t *err);

/* Checks a whole guests file and returns its guests, in order, as
 * [{"ip", "port", "url": "SCHEME://IP:PORT", "libvirt_uri"}] (libvirt_uri only
 * when given and not empty; scheme "https", or "http" for a --plain-http
 * cluster). Nothing is returned unless every guest is valid. */
int legacy_guests_parse(json_t *body, const char *scheme, json_t **ret, flyt_error_t *err);
