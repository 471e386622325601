/* What the container drivers (runc, docker, podman) share: tar archives of
 * directory trees, calls to a container engine's HTTP API on its unix socket,
 * checks of paths given in specs, and the container fields of a spec. */
#pragma once

#include <stdbool.h>

#include <jansson.h>

#include "agent/agent.h"
#include "lib/error.h"

/* Writes the tree below dir into the tar file tarball with owners (numeric),
 * modes, device nodes (overlay whiteouts are character devices 0:0) and the
 * trusted.* and security.* extended attributes (overlay's opaque directories). */
int container_tar_create(const char *dir, const char *tarball, flyt_error_t *err);

/* Extracts tarball into the existing directory dir, keeping what it records. */
int container_tar_extract(const char *tarball, const char *dir, flyt_error_t *err);

/* Moves the directory from to to (a rename, or a copy and a removal across file
 * systems); to must not exist. */
int container_move_dir(const char *from, const char *to, flyt_error_t *err);
/* Copies the directory from to to (cp --archive); to must not exist. */
int container_copy_dir(const char *from, const char *to, flyt_error_t *err);

/* A path from a spec: absolute, at most 1024 bytes, printable, no "." or ".."
 * components, and (when must_exist) an existing directory or regular file as
 * asked, not a symbolic link. */
int container_path_check(const char *what, const char *path, bool want_dir, flyt_error_t *err);

/* True when path is one of dirs or below one of them. */
bool container_path_under(const char *path, char *const *dirs);

/* A container name or id as Docker and Podman accept them: 1-128 of
 * [A-Za-z0-9_.-], starting with a letter or digit. */
bool container_name_valid(const char *name);

/* Validates the spec of an adopted container, {"container", "image", "image_id",
 * "legacy"}; what names the kind in messages. */
int container_spec_validate(const char *what, json_t *spec, flyt_error_t *err);

/* Calls an engine's API on its unix socket; ret (may be NULL) gets the JSON
 * answer. timeout_ms 0 means 60 s. */
int engine_call(const char *socket, const char *method, const char *path, json_t *body, json_t **ret,
		unsigned timeout_ms, flyt_error_t *err);
/* Downloads a 2xx answer's body into the file out (images, checkpoints). */
int engine_download(const char *socket, const char *method, const char *path, const char *out, flyt_error_t *err);
/* Sends the file in as the body (application/x-tar); ret (may be NULL) gets the
 * raw answer. */
int engine_upload(const char *socket, const char *method, const char *path, const char *in, char **ret,
		  flyt_error_t *err);

/* An engine's API as the helpers below see it. */
typedef struct {
	const char *name;   /* "Docker", "Podman": for messages */
	const char *socket; /* its unix socket */
	const char *api;    /* the prefix of its paths: "/v1.41", "/v4.0.0/libpod" */
} engine_api_t;

/* What Docker and Podman share for one container, by name (their APIs agree on
 * these paths and on the inspect record's "State"). */
/* The inspect record (GET .../containers/NAME/json). */
int engine_inspect(const engine_api_t *e, const char *name, json_t **ret, flyt_error_t *err);
/* POST .../containers/NAME/ACTION ("start", "stop?t=10", ...); timeout_ms 0 means 60 s. */
int engine_container_post(const engine_api_t *e, const char *name, const char *action, unsigned timeout_ms,
			  flyt_error_t *err);
/* Removes the container (forced); a missing one is fine. */
int engine_container_remove(const engine_api_t *e, const char *name, flyt_error_t *err);
/* The inspect record's "State" (borrowed), and whether it runs unpaused. */
json_t *container_state(json_t *ins);
bool container_running(json_t *ins);
/* Records the container's pid (0 when it does not run) in w. */
void container_take_pid(workload_t *w, json_t *ins);
/* The status slot of an engine-run workload (spec "container"): pid, id, the
 * engine's state, RSS; a container gone while w ran makes w exited. */
int container_status(const engine_api_t *e, workload_t *w, json_t *ret, flyt_error_t *err);
/* The destroy slot: removes the container (flyt manages it). */
int container_destroy(const engine_api_t *e, workload_t *w, flyt_error_t *err);

/* Reads a JSON object file of at most 16 MiB (container.json of a checkpoint). */
int container_read_json(const char *path, json_t **ret, flyt_error_t *err);
/* Writes j to path atomically. */
int container_write_json(const char *path, json_t *j, flyt_error_t *err);

/* Archives the local named volumes among the Mounts of an inspect record into
 * dir/NAME.tar (dir is created). Other volume drivers are refused. */
int container_volumes_save(json_t *ins, const char *dir, flyt_error_t *err);

/* Appends name to the list what ("containers", "volumes") of the JSON record
 * file (created when missing): what a target created, for its discard. */
int container_note_created(const char *record, const char *what, const char *name, flyt_error_t *err);

/* Creates the named volumes among the Mounts of ins on engine e and fills each
 * from dir/NAME.tar, noting each in record before filling it. A volume that
 * exists already is a conflict: volumes are never merged. */
int container_volumes_restore(const engine_api_t *e, json_t *ins, const char *dir, const char *record,
			      flyt_error_t *err);

/* Removes (forced) the volumes named in the JSON array names; missing ones are
 * fine. Tries them all; fails with the last error. */
int container_remove_volumes(const engine_api_t *e, json_t *names, flyt_error_t *err);
