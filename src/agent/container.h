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

/* Reads a JSON object file of at most 16 MiB (container.json of a checkpoint). */
int container_read_json(const char *path, json_t **ret, flyt_error_t *err);
/* Writes j to path atomically. */
int container_write_json(const char *path, json_t *j, flyt_error_t *err);
