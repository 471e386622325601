/* Helpers of the container drivers; see container.h. */
#include "agent/container.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/proctree.h"
#include "lib/cleanup.h"
#include "lib/http.h"
#include "lib/json.h"
#include "lib/spawn.h"
#include "lib/util.h"

#define TAR_TIMEOUT_MS (30 * 60 * 1000)
#define ENGINE_TRANSFER_TIMEOUT_MS (30 * 60 * 1000)

int container_tar_create(const char *dir, const char *tarball, flyt_error_t *err)
{
	const char *argv[] = { "tar",
			       "--create",
			       "--file",
			       tarball,
			       "--directory",
			       dir,
			       "--numeric-owner",
			       "--preserve-permissions",
			       "--xattrs",
			       "--xattrs-include=trusted.*",
			       "--xattrs-include=security.capability",
			       "--sparse",
			       ".",
			       NULL };
	if (flyt_spawn_tool(argv, TAR_TIMEOUT_MS, err) < 0)
		return flyt_error_prefix(err, "archiving %s", dir);
	return 0;
}

int container_tar_extract(const char *tarball, const char *dir, flyt_error_t *err)
{
	const char *argv[] = { "tar",
			       "--extract",
			       "--file",
			       tarball,
			       "--directory",
			       dir,
			       "--numeric-owner",
			       "--same-owner",
			       "--preserve-permissions",
			       "--xattrs",
			       "--xattrs-include=trusted.*",
			       "--xattrs-include=security.capability",
			       NULL };
	if (flyt_spawn_tool(argv, TAR_TIMEOUT_MS, err) < 0)
		return flyt_error_prefix(err, "unpacking into %s", dir);
	return 0;
}

int container_move_dir(const char *from, const char *to, flyt_error_t *err)
{
	if (rename(from, to) == 0)
		return 0;
	if (errno != EXDEV)
		return flyt_error_set(err, FLYT_E_IO, errno, "move %s to %s", from, to);
	const char *argv[] = { "cp", "--archive", "--no-target-directory", from, to, NULL };
	if (flyt_spawn_tool(argv, TAR_TIMEOUT_MS, err) < 0)
		return -1;
	flyt_rm_rf(from, NULL);
	return 0;
}

int container_copy_dir(const char *from, const char *to, flyt_error_t *err)
{
	const char *argv[] = { "cp", "--archive", "--no-target-directory", from, to, NULL };
	return flyt_spawn_tool(argv, TAR_TIMEOUT_MS, err);
}

int container_path_check(const char *what, const char *path, bool want_dir, flyt_error_t *err)
{
	if (!path || path[0] != '/' || strlen(path) > 1024)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "%s must be an absolute path of at most 1024 bytes",
				      what);
	if (strcmp(path, "/") != 0 && !flyt_relpath_valid(path + 1))
		return flyt_error_set(
		    err, FLYT_E_INVALID, 0,
		    "%s \"%.200s\" must not contain \".\", \"..\", empty components or control characters", what, path);
	struct stat st;
	if (lstat(path, &st) < 0)
		return flyt_error_set(err, FLYT_E_INVALID, errno, "%s %.200s", what, path);
	if (S_ISLNK(st.st_mode))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "%s %.200s is a symbolic link; give the real path", what,
				      path);
	if (want_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "%s %.200s is not a %s", what, path,
				      want_dir ? "directory" : "regular file");
	return 0;
}

bool container_path_under(const char *path, char *const *dirs)
{
	for (char *const *d = dirs; d && *d; d++) {
		size_t n = strlen(*d);
		while (n > 1 && (*d)[n - 1] == '/')
			n--;
		if (strncmp(path, *d, n) == 0 && (path[n] == '\0' || path[n] == '/'))
			return true;
	}
	return false;
}

bool container_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > 128 || !isalnum((unsigned char)name[0]))
		return false;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-')
			return false;
	return true;
}

static bool image_ref_valid(const char *s)
{
	if (!s[0] || strlen(s) > 255)
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("_.-/:@", *p))
			return false;
	return true;
}

int container_spec_validate(const char *what, json_t *spec, flyt_error_t *err)
{
	static const char *const keys[] = { "container", "image", "image_id", "legacy", NULL };
	if (flyt_json_check_keys(spec, what, keys, err) < 0)
		return -1;
	const char *name = NULL, *image = NULL, *image_id = NULL;
	json_t *legacy = NULL;
	if (flyt_json_get_string(spec, "container", true, 128, &name, err) < 0 ||
	    flyt_json_get_string(spec, "image", false, 255, &image, err) < 0 ||
	    flyt_json_get_string(spec, "image_id", false, 255, &image_id, err) < 0 ||
	    flyt_json_get_object(spec, "legacy", false, &legacy, err) < 0)
		return flyt_error_prefix(err, "%s", what);
	if (!container_name_valid(name))
		return flyt_error_set(
		    err, FLYT_E_INVALID, 0,
		    "%s: container \"%.128s\" is not a container name or id (1-128 of A-Z a-z 0-9 _ . -)", what, name);
	if ((image && !image_ref_valid(image)) || (image_id && !image_ref_valid(image_id)))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "%s: \"image\" is not an image reference", what);
	return 0;
}

int engine_call(const char *socket, const char *method, const char *path, json_t *body, json_t **ret,
		unsigned timeout_ms, flyt_error_t *err)
{
	flyt_http_client_t c = {
		.base_url = "http://engine",
		.unix_socket = socket,
		.timeout_ms = timeout_ms ? timeout_ms : 60000,
		.connect_timeout_ms = 3000,
		.max_response = 64u * 1024 * 1024,
	};
	return flyt_http_call(&c, method, path, body, ret, NULL, err);
}

#define INSPECT_TIMEOUT_MS 5000

int engine_inspect(const engine_api_t *e, const char *name, json_t **ret, flyt_error_t *err)
{
	_cleanup_free_ char *path = flyt_asprintf("%s/containers/%s/json", e->api, name);
	if (engine_call(e->socket, "GET", path, NULL, ret, INSPECT_TIMEOUT_MS, err) < 0)
		return flyt_error_prefix(err, "%s: container %s", e->name, name);
	return 0;
}

int engine_container_post(const engine_api_t *e, const char *name, const char *action, unsigned timeout_ms,
			  flyt_error_t *err)
{
	_cleanup_free_ char *path = flyt_asprintf("%s/containers/%s/%s", e->api, name, action);
	if (engine_call(e->socket, "POST", path, NULL, NULL, timeout_ms, err) < 0)
		return flyt_error_prefix(err, "%s %s %s", e->name, action, name);
	return 0;
}

int engine_container_remove(const engine_api_t *e, const char *name, flyt_error_t *err)
{
	_cleanup_free_ char *path = flyt_asprintf("%s/containers/%s?force=true", e->api, name);
	flyt_error_t ce = FLYT_ERROR_INIT;
	if (engine_call(e->socket, "DELETE", path, NULL, NULL, 0, &ce) < 0 && ce.code != FLYT_E_NOT_FOUND) {
		*err = ce;
		return flyt_error_prefix(err, "%s rm %s", e->name, name);
	}
	return 0;
}

json_t *container_state(json_t *ins)
{
	return json_object_get(ins, "State");
}

bool container_running(json_t *ins)
{
	json_t *st = container_state(ins);
	return json_is_true(json_object_get(st, "Running")) && !json_is_true(json_object_get(st, "Paused"));
}

void container_take_pid(workload_t *w, json_t *ins)
{
	json_t *st = container_state(ins);
	w->pid = json_is_true(json_object_get(st, "Running")) ? (pid_t)flyt_json_int(st, "Pid", 0) : 0;
	w->start_ticks = w->pid > 0 ? proc_start_ticks(w->pid) : 0;
}

int container_status(const engine_api_t *e, workload_t *w, json_t *ret, flyt_error_t *err)
{
	_cleanup_json_ json_t *ins = NULL;
	const char *name = flyt_json_str(w->spec, "container", "");
	if (engine_inspect(e, name, &ins, err) < 0) {
		if (err && err->code == FLYT_E_NOT_FOUND && w->state == WL_RUNNING) {
			w->state = WL_EXITED;
			w->pid = 0;
		}
		json_object_set_new(ret, "pid", json_null());
		return -1;
	}
	bool running = container_running(ins);
	if (w->state == WL_RUNNING && !running)
		w->state = WL_EXITED;
	container_take_pid(w, ins);
	json_object_set_new(ret, "pid", w->pid > 0 ? json_integer(w->pid) : json_null());
	json_object_set_new(ret, "container_id", json_string(flyt_json_str(ins, "Id", "")));
	json_object_set_new(ret, "container_state", json_string(flyt_json_str(container_state(ins), "Status", "")));
	if (running && w->pid > 0) {
		proc_tree_stats_t st;
		proc_tree_stats(w->pid, &st);
		json_object_set_new(ret, "rss_bytes", json_integer((json_int_t)st.rss_bytes));
		json_object_set_new(ret, "processes", json_integer(st.nprocs));
	}
	return 0;
}

int container_destroy(const engine_api_t *e, workload_t *w, flyt_error_t *err)
{
	if (engine_container_remove(e, flyt_json_str(w->spec, "container", ""), err) < 0)
		return -1;
	w->pid = 0;
	w->state = WL_STOPPED;
	return 0;
}

int engine_download(const char *socket, const char *method, const char *path, const char *out, flyt_error_t *err)
{
	flyt_http_client_t c = {
		.base_url = "http://engine",
		.unix_socket = socket,
		.timeout_ms = ENGINE_TRANSFER_TIMEOUT_MS,
		.connect_timeout_ms = 3000,
	};
	return flyt_http_call_file(&c, method, path, NULL, NULL, out, NULL, NULL, NULL, err);
}

int engine_upload(const char *socket, const char *method, const char *path, const char *in, char **ret,
		  flyt_error_t *err)
{
	flyt_http_client_t c = {
		.base_url = "http://engine",
		.unix_socket = socket,
		.timeout_ms = ENGINE_TRANSFER_TIMEOUT_MS,
		.connect_timeout_ms = 3000,
	};
	return flyt_http_call_file(&c, method, path, NULL, in, NULL, ret, NULL, NULL, err);
}

int container_read_json(const char *path, json_t **ret, flyt_error_t *err)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	if (flyt_read_file(path, 16u * 1024 * 1024, &text, &len, err) < 0)
		return -1;
	if (flyt_json_parse_object(text, len, 16u * 1024 * 1024, ret, err) < 0)
		return flyt_error_prefix(err, "%s", path);
	return 0;
}

int container_write_json(const char *path, json_t *j, flyt_error_t *err)
{
	_cleanup_free_ char *text = flyt_json_dumps(j);
	return flyt_write_file_atomic(path, text, strlen(text), 0600, err);
}

int container_volumes_save(json_t *ins, const char *dir, flyt_error_t *err)
{
	if (flyt_mkdir_p(dir, 0700, err) < 0)
		return -1;
	size_t i;
	json_t *mnt;
	json_array_foreach (json_object_get(ins, "Mounts"), i, mnt) {
		if (strcmp(flyt_json_str(mnt, "Type", ""), "volume") != 0)
			continue;
		const char *name = flyt_json_str(mnt, "Name", ""), *src = flyt_json_str(mnt, "Source", "");
		if (strcmp(flyt_json_str(mnt, "Driver", "local"), "local") != 0)
			return flyt_error_set(err, FLYT_E_UNSUPPORTED, 0,
					      "volume %s uses the %s driver; flyt moves local volumes only", name,
					      flyt_json_str(mnt, "Driver", ""));
		if (!container_name_valid(name) || container_path_check("volume directory", src, true, err) < 0)
			return flyt_error_prefix(err, "volume %s", name);
		_cleanup_free_ char *tar = flyt_asprintf("%s/%s.tar", dir, name);
		if (container_tar_create(src, tar, err) < 0)
			return flyt_error_prefix(err, "volume %s", name);
	}
	return 0;
}

int container_note_created(const char *record, const char *what, const char *name, flyt_error_t *err)
{
	_cleanup_json_ json_t *j = NULL;
	flyt_error_t e = FLYT_ERROR_INIT;
	if (container_read_json(record, &j, &e) < 0)
		j = json_pack("{s:[], s:[]}", "containers", "volumes");
	json_array_append_new(json_object_get(j, what), json_string(name));
	return container_write_json(record, j, err);
}

int container_volumes_restore(const engine_api_t *eng, json_t *ins, const char *dir, const char *record,
			      flyt_error_t *err)
{
	size_t i;
	json_t *mnt;
	json_array_foreach (json_object_get(ins, "Mounts"), i, mnt) {
		if (strcmp(flyt_json_str(mnt, "Type", ""), "volume") != 0)
			continue;
		const char *name = flyt_json_str(mnt, "Name", "");
		if (!container_name_valid(name))
			return flyt_error_set(err, FLYT_E_INVALID, 0, "bad volume name in the checkpoint");
		_cleanup_free_ char *tar = flyt_asprintf("%s/%s.tar", dir, name);
		_cleanup_free_ char *vpath = flyt_asprintf("%s/volumes/%s", eng->api, name);
		_cleanup_free_ char *vjson = flyt_asprintf("%s/volumes/%s/json", eng->api, name);
		_cleanup_free_ char *cpath = flyt_asprintf("%s/volumes/create", eng->api);
		_cleanup_json_ json_t *vol = NULL;
		flyt_error_t e = FLYT_ERROR_INIT;
		/* Docker inspects a volume at /volumes/NAME, libpod at /volumes/NAME/json */
		const char *probe = strstr(eng->api, "libpod") ? vjson : vpath;
		if (engine_call(eng->socket, "GET", probe, NULL, &vol, 0, &e) == 0)
			return flyt_error_set(
			    err, FLYT_E_CONFLICT, 0,
			    "a %s volume named %s exists already on the target; flyt will not merge volumes (remove it or rename it)",
			    eng->name, name);
		if (e.code != FLYT_E_NOT_FOUND) {
			*err = e;
			return -1;
		}
		_cleanup_json_ json_t *body = json_pack("{s:s, s:s}", "Name", name, "Driver", "local");
		json_decref(vol);
		vol = NULL;
		if (engine_call(eng->socket, "POST", cpath, body, &vol, 0, err) < 0)
			return flyt_error_prefix(err, "%s volume create %s", eng->name, name);
		if (container_note_created(record, "volumes", name, err) < 0)
			return -1;
		const char *mp = flyt_json_str(vol, "Mountpoint", "");
		if (container_path_check("volume directory", mp, true, err) < 0 ||
		    container_tar_extract(tar, mp, err) < 0)
			return flyt_error_prefix(err, "volume %s", name);
	}
	return 0;
}

int container_remove_volumes(const engine_api_t *eng, json_t *names, flyt_error_t *err)
{
	int r = 0;
	size_t i;
	json_t *v;
	json_array_foreach (names, i, v) {
		if (!container_name_valid(json_string_value(v)))
			continue;
		_cleanup_free_ char *vpath = flyt_asprintf("%s/volumes/%s?force=true", eng->api, json_string_value(v));
		flyt_error_t ve = FLYT_ERROR_INIT;
		if (engine_call(eng->socket, "DELETE", vpath, NULL, NULL, 0, &ve) < 0 && ve.code != FLYT_E_NOT_FOUND) {
			*err = ve;
			r = -1;
		}
	}
	return r;
}
