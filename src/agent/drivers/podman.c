/* The podman driver: an existing Podman container taken under flyt's management,
 * driven through the libpod REST API of `podman system service` on its unix socket
 * (flytd --podman-socket). docs/containers.md says why the API and not the CLI.
 *
 * Spec: as the docker driver's, {"container", "image", "image_id", "legacy"}.
 * The container must run with the runc runtime (Debian's crun has no CRIU).
 *
 * Migration (`checkpoint --export` / `restore --import` semantics):
 *   incoming (target) refuses a name already taken there and tells whether the
 *               image is there already
 *   dump        saves the image when the target lacks it (before the freeze), then
 *               checkpoints with export and keep: Podman stops the container and
 *               answers with one archive holding the CRIU images, its
 *               configuration and its filesystem changes, without volumes
 *               (images/final/checkpoint.tar), then archives the local named
 *               volumes itself (final/volumes/NAME.tar: Podman 4.3 exports them
 *               but its import leaves them empty). Podman refuses to checkpoint a
 *               paused container, so the source copy is stopped, not frozen; its
 *               checkpoint stays in its storage ("keep") for a rollback
 *   dump_finish commit: nothing to stop; otherwise it is restored from that kept
 *               checkpoint, carrying on from the same instant
 *   restore     target: loads the image, creates the volumes and fills them
 *               (an existing volume of the same name is a conflict); source: nothing
 *   resume      target: restore with import (creates the container under the
 *               same name and runs it); source: restore from the kept checkpoint
 *   discard     removes the container and volumes the target created (only those)
 *   commit_done removes the stopped source container and the volumes that moved
 *               with it (those another container uses stay) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/container.h"
#include "agent/proctree.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/util.h"

#define API "/v4.0.0/libpod"
#define DEFAULT_SOCKET "/run/podman/podman.sock"
#define STATUS_TIMEOUT_MS 5000

static const char *sock(agent_t *a)
{
	return a->podman_socket ? a->podman_socket : DEFAULT_SOCKET;
}

#define ENGINE(a) ((engine_api_t){ .name = "Podman", .socket = sock(a), .api = API })

static const char *cname(workload_t *w)
{
	return flyt_json_str(w->spec, "container", "");
}

static int container_post(agent_t *a, const char *name, const char *action, flyt_error_t *err)
{
	return engine_container_post(&ENGINE(a), name, action, 10 * 60 * 1000, err);
}

static int podman_probe(agent_t *a, json_t *caps, flyt_error_t *err)
{
	_cleanup_json_ json_t *info = NULL;
	flyt_error_t e = FLYT_ERROR_INIT;
	char reason[512] = "";
	if (engine_call(sock(a), "GET", API "/info", NULL, &info, STATUS_TIMEOUT_MS, &e) < 0)
		snprintf(reason, sizeof(reason),
			 "Podman API not reachable at %s (is `podman system service` running?): %s", sock(a), e.msg);
	else if (!a->criu_ok)
		snprintf(reason, sizeof(reason), "%s", a->criu_reason);
	json_object_set_new(caps, "available", json_boolean(!reason[0]));
	if (reason[0])
		json_object_set_new(caps, "reason", json_string(reason));
	json_object_set_new(caps, "socket", json_string(sock(a)));
	if (info) {
		json_object_set_new(caps, "version",
				    json_string(flyt_json_str(json_object_get(info, "version"), "Version", "")));
		json_object_set_new(caps, "runtime",
				    json_string(flyt_json_str(
					json_object_get(json_object_get(info, "host"), "ociRuntime"), "name", "")));
	}
	json_object_set_new(caps, "migration", json_true());
	json_object_set_new(caps, "modes", json_pack("[s,s]", "stop-copy", "shared"));
	return 0;
}

static int podman_validate(agent_t *a, json_t *spec, flyt_error_t *err)
{
	return container_spec_validate("podman spec", spec, err);
}

static int adopt(workload_t *w, json_t *ins, flyt_error_t *err)
{
	const char *name = flyt_json_str(ins, "Name", "");
	const char *image = flyt_json_str(ins, "ImageName", ""), *image_id = flyt_json_str(ins, "Image", "");
	const char *runtime = flyt_json_str(ins, "OCIRuntime", "");
	const char *want = flyt_json_str(w->spec, "image", NULL);
	if (!container_name_valid(name))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "container %s has an unusable name", name);
	if (strcmp(runtime, "runc") != 0)
		return flyt_error_set(
		    err, FLYT_E_UNSUPPORTED, 0,
		    "container %s runs with the OCI runtime %s, which cannot checkpoint here; create it with --runtime runc",
		    name, runtime);
	if (want && strcmp(want, image) != 0 && strcmp(want, image_id) != 0)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "container %s runs image %s, not %s as the spec says",
				      name, image, want);
	json_t *spec = json_deep_copy(w->spec);
	json_object_set_new(spec, "container", json_string(name));
	json_object_set_new(spec, "image", json_string(image));
	json_object_set_new(spec, "image_id", json_string(image_id));
	json_decref(w->spec);
	w->spec = spec;
	return 0;
}

static int podman_start(agent_t *a, workload_t *w, flyt_error_t *err)
{
	_cleanup_json_ json_t *ins = NULL;
	if (engine_inspect(&ENGINE(a), cname(w), &ins, err) < 0 || adopt(w, ins, err) < 0)
		return -1;
	if (json_is_true(json_object_get(container_state(ins), "Paused")) &&
	    container_post(a, cname(w), "unpause", err) < 0)
		return -1;
	if (!json_is_true(json_object_get(container_state(ins), "Running")) &&
	    container_post(a, cname(w), "start", err) < 0)
		return -1;
	json_decref(ins);
	ins = NULL;
	if (engine_inspect(&ENGINE(a), cname(w), &ins, err) < 0)
		return -1;
	if (!container_running(ins))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "container %s does not run (%s)", cname(w),
				      flyt_json_str(container_state(ins), "Status", "?"));
	container_take_pid(w, ins);
	w->state = WL_RUNNING;
	w->error[0] = '\0';
	return 0;
}

static int podman_stop(agent_t *a, workload_t *w, flyt_error_t *err)
{
	flyt_error_t e = FLYT_ERROR_INIT;
	if (container_post(a, cname(w), "stop?timeout=10", &e) < 0 && e.code != FLYT_E_NOT_FOUND &&
	    e.code != FLYT_E_CONFLICT) {
		*err = e;
		return -1;
	}
	w->pid = 0;
	w->start_ticks = 0;
	w->state = WL_STOPPED;
	return 0;
}

static int podman_destroy(agent_t *a, workload_t *w, flyt_error_t *err)
{
	return container_destroy(&ENGINE(a), w, err);
}

static int podman_status(agent_t *a, workload_t *w, json_t *ret, flyt_error_t *err)
{
	return container_status(&ENGINE(a), w, ret, err);
}

/* ---- migration ---- */

static char *final_path(migration_t *m, const char *name)
{
	return flyt_asprintf("%s/final/%s", m->images_dir, name);
}

/* The storage locations of this host's Podman, from its info:
 * {"graphRoot", "runRoot", "volumePath"}. */
static int store_paths(agent_t *a, json_t **ret, flyt_error_t *err)
{
	_cleanup_json_ json_t *info = NULL;
	if (engine_call(sock(a), "GET", API "/info", NULL, &info, STATUS_TIMEOUT_MS, err) < 0)
		return flyt_error_prefix(err, "podman info");
	json_t *store = json_object_get(info, "store");
	*ret = json_pack("{s:s, s:s, s:s}", "graphRoot", flyt_json_str(store, "graphRoot", ""), "runRoot",
			 flyt_json_str(store, "runRoot", ""), "volumePath", flyt_json_str(store, "volumePath", ""));
	return 0;
}

/* from with what follows it in s, when s is from or starts with from + "/" */
static const char *after_prefix(const char *s, const char *from)
{
	size_t n = strlen(from);
	return strncmp(s, from, n) == 0 && (s[n] == '\0' || s[n] == '/') ? s + n : NULL;
}

static json_t *joined(const char *a, const char *b)
{
	_cleanup_free_ char *s = flyt_asprintf("%s%s", a, b);
	return json_string(s);
}

/* Replaces, in every string below j, a leading path from by to. */
static void replace_path_prefix(json_t *j, const char *from, const char *to)
{
	if (json_is_object(j)) {
		const char *key;
		json_t *v;
		json_object_foreach (j, key, v) {
			const char *rest = json_is_string(v) ? after_prefix(json_string_value(v), from) : NULL;
			if (rest)
				json_object_set_new(j, key, joined(to, rest));
			else
				replace_path_prefix(v, from, to);
		}
	} else if (json_is_array(j)) {
		size_t i;
		json_t *v;
		json_array_foreach (j, i, v) {
			const char *rest = json_is_string(v) ? after_prefix(json_string_value(v), from) : NULL;
			if (rest)
				json_array_set_new(j, i, joined(to, rest));
			else
				replace_path_prefix(v, from, to);
		}
	}
}

/* Podman's import takes the source's storage paths from the archive (config.dump
 * and spec.dump: the sources of the volume and /etc/hosts-like bind mounts,
 * conmon's pid file) and would mount the source host's directories. When this
 * host keeps its Podman storage elsewhere than the source, the archive is
 * unpacked, those paths are rewritten to this host's, and it is packed again.
 * ret gets the archive to import. */
static int localize_checkpoint(migration_t *m, char **ret, flyt_error_t *err)
{
	_cleanup_free_ char *tar = final_path(m, "checkpoint.tar");
	_cleanup_free_ char *sjson = final_path(m, "store.json");
	_cleanup_json_ json_t *src = NULL, *dst = NULL;
	if (container_read_json(sjson, &src, err) < 0 || store_paths(m->agent, &dst, err) < 0)
		return -1;
	static const char *const keys[] = { "graphRoot", "runRoot", "volumePath" };
	bool same = true;
	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		const char *from = flyt_json_str(src, keys[i], ""), *to = flyt_json_str(dst, keys[i], "");
		if (from[0] != '/' || strlen(from) < 2 || to[0] != '/' || strlen(to) < 2)
			return flyt_error_set(err, FLYT_E_INVALID, 0, "podman store path %s: \"%.200s\" -> \"%.200s\"",
					      keys[i], from, to);
		same = same && strcmp(from, to) == 0;
	}
	if (same) {
		*ret = TAKE_PTR(tar);
		return 0;
	}
	_cleanup_free_ char *dir = flyt_asprintf("%s/podman-import", m->images_dir);
	_cleanup_free_ char *out = flyt_asprintf("%s/podman-import.tar", m->images_dir);
	if (flyt_rm_rf(dir, err) < 0 || flyt_mkdir_p(dir, 0700, err) < 0 || container_tar_extract(tar, dir, err) < 0)
		return flyt_error_prefix(err, "the checkpoint archive");
	static const char *const files[] = { "config.dump", "spec.dump" };
	for (size_t f = 0; f < ELEMENTSOF(files); f++) {
		_cleanup_free_ char *path = flyt_asprintf("%s/%s", dir, files[f]);
		_cleanup_json_ json_t *j = NULL;
		if (container_read_json(path, &j, err) < 0)
			return flyt_error_prefix(err, "the checkpoint archive");
		/* volumePath usually lies below graphRoot: the longer prefixes first */
		for (size_t i = ELEMENTSOF(keys); i-- > 0;)
			replace_path_prefix(j, flyt_json_str(src, keys[i], ""), flyt_json_str(dst, keys[i], ""));
		if (container_write_json(path, j, err) < 0)
			return -1;
	}
	if (container_tar_create(dir, out, err) < 0)
		return -1;
	flyt_error_t e = FLYT_ERROR_INIT;
	if (flyt_rm_rf(dir, &e) < 0)
		log_warn("migration %s: %s", m->id, e.msg);
	*ret = TAKE_PTR(out);
	return 0;
}

static int podman_incoming(migration_t *m, json_t *ret_info, flyt_error_t *err)
{
	agent_t *a = m->agent;
	_cleanup_json_ json_t *ins = NULL;
	flyt_error_t e = FLYT_ERROR_INIT;
	if (engine_inspect(&ENGINE(a), cname(m->w), &ins, &e) == 0)
		return flyt_error_set(err, FLYT_E_CONFLICT, 0, "%s already has a Podman container named %s", a->name,
				      cname(m->w));
	if (e.code != FLYT_E_NOT_FOUND) {
		*err = e;
		return -1;
	}
	const char *image_id = flyt_json_str(m->w->spec, "image_id", "");
	bool have = false;
	if (image_id[0] && container_name_valid(image_id)) {
		_cleanup_free_ char *path = flyt_asprintf(API "/images/%s/json", image_id);
		_cleanup_json_ json_t *img = NULL;
		flyt_error_t ie = FLYT_ERROR_INIT;
		have = engine_call(sock(a), "GET", path, NULL, &img, STATUS_TIMEOUT_MS, &ie) == 0;
	}
	json_object_set_new(ret_info, "has_image", json_boolean(have));
	return 0;
}

static int podman_dump(migration_t *m, flyt_error_t *err)
{
	agent_t *a = m->agent;
	workload_t *w = m->w;
	_cleanup_free_ char *final_dir = flyt_asprintf("%s/final", m->images_dir);
	if (flyt_mkdir_p(final_dir, 0700, err) < 0)
		return -1;
	_cleanup_json_ json_t *ins = NULL;
	_cleanup_free_ char *cjson = final_path(m, "container.json");
	if (engine_inspect(&ENGINE(a), cname(w), &ins, err) < 0 || container_write_json(cjson, ins, err) < 0)
		return -1;
	if (!json_is_true(json_object_get(m->peer_info, "has_image"))) {
		const char *ref = flyt_json_str(ins, "ImageName", "");
		if (!ref[0])
			ref = flyt_json_str(ins, "Image", "");
		_cleanup_free_ char *esc = flyt_url_escape(ref);
		_cleanup_free_ char *path = flyt_asprintf(API "/images/%s/get", esc);
		_cleanup_free_ char *tar = final_path(m, "image.tar");
		if (engine_download(sock(a), "GET", path, tar, err) < 0)
			return flyt_error_prefix(err, "podman save %s", ref);
	}
	m->t_freeze = flyt_now_ms();
	_cleanup_free_ char *path =
	    flyt_asprintf(API "/containers/%s/checkpoint?export=true&keep=true&ignoreVolumes=true", cname(w));
	_cleanup_free_ char *tar = final_path(m, "checkpoint.tar");
	if (engine_download(sock(a), "POST", path, tar, err) < 0) {
		/* a failed checkpoint leaves the container running (or it was not) */
		return flyt_error_prefix(err, "podman container checkpoint %s", cname(w));
	}
	/* stopped now: the volumes hold still */
	_cleanup_free_ char *vdir = final_path(m, "volumes");
	_cleanup_free_ char *sjson = final_path(m, "store.json");
	_cleanup_json_ json_t *store = NULL;
	if (container_volumes_save(ins, vdir, err) < 0 || store_paths(a, &store, err) < 0 ||
	    container_write_json(sjson, store, err) < 0)
		return -1;
	m->dump_ms = (int64_t)(flyt_now_ms() - m->t_freeze);
	return 0;
}

/* Restores the source container from the checkpoint Podman kept. */
static int restore_kept(migration_t *m, flyt_error_t *err)
{
	agent_t *a = m->agent;
	workload_t *w = m->w;
	if (container_post(a, cname(w), "restore?keep=true", err) < 0)
		return -1;
	_cleanup_json_ json_t *ins = NULL;
	if (engine_inspect(&ENGINE(a), cname(w), &ins, err) < 0)
		return -1;
	if (!container_running(ins))
		return flyt_error_set(err, FLYT_E_INTERNAL, 0, "container %s did not run after its restore (%s)",
				      cname(w), flyt_json_str(container_state(ins), "Status", "?"));
	container_take_pid(w, ins);
	return 0;
}

static int podman_dump_finish(migration_t *m, bool commit, flyt_error_t *err)
{
	if (!commit)
		return restore_kept(m, err);
	m->w->pid = 0; /* the checkpoint stopped it */
	return 0;
}

/* What the target created (containers, volumes), for discard. */
static char *created_record(migration_t *m)
{
	return flyt_asprintf("%s/podman-created.json", m->dir);
}

static int podman_restore(migration_t *m, flyt_error_t *err)
{
	agent_t *a = m->agent;
	if (m->role == ROLE_SOURCE)
		return 0;
	_cleanup_free_ char *image_tar = final_path(m, "image.tar");
	struct stat st;
	if (lstat(image_tar, &st) == 0) {
		_cleanup_free_ char *out = NULL;
		if (engine_upload(sock(a), "POST", API "/images/load", image_tar, &out, err) < 0)
			return flyt_error_prefix(err, "podman load");
	}
	_cleanup_free_ char *tar = final_path(m, "checkpoint.tar");
	if (lstat(tar, &st) < 0 || !S_ISREG(st.st_mode))
		return flyt_error_set(err, FLYT_E_CORRUPT, 0, "the checkpoint archive did not arrive");
	_cleanup_json_ json_t *ins = NULL;
	_cleanup_free_ char *cjson = final_path(m, "container.json");
	_cleanup_free_ char *vdir = final_path(m, "volumes");
	_cleanup_free_ char *record = created_record(m);
	if (container_read_json(cjson, &ins, err) < 0 ||
	    container_volumes_restore(&ENGINE(a), ins, vdir, record, err) < 0)
		return -1;
	return 0;
}

static int podman_resume(migration_t *m, flyt_error_t *err)
{
	agent_t *a = m->agent;
	workload_t *w = m->w;
	uint64_t t0 = flyt_now_ms();
	if (m->role == ROLE_SOURCE) {
		if (restore_kept(m, err) < 0)
			return -1;
		m->restore_ms = (int64_t)(flyt_now_ms() - t0);
		return 0;
	}
	_cleanup_free_ char *tar = NULL;
	if (localize_checkpoint(m, &tar, err) < 0)
		return -1;
	/* the volumes are there already (restore made and filled them) */
	_cleanup_free_ char *path =
	    flyt_asprintf(API "/containers/%s/restore?import=true&ignoreVolumes=true&name=%s", cname(w), cname(w));
	_cleanup_free_ char *record = created_record(m);
	/* noted before: a restore that fails half-way may leave the container */
	if (container_note_created(record, "containers", cname(w), err) < 0)
		return -1;
	_cleanup_free_ char *out = NULL;
	if (engine_upload(sock(a), "POST", path, tar, &out, err) < 0)
		return flyt_error_prefix(err, "podman container restore --import");
	m->restore_ms = (int64_t)(flyt_now_ms() - t0);
	_cleanup_json_ json_t *ins = NULL;
	if (engine_inspect(&ENGINE(a), cname(w), &ins, err) < 0)
		return -1;
	if (!container_running(ins))
		return flyt_error_set(err, FLYT_E_INTERNAL, 0, "container %s did not run after the restore (%s)",
				      cname(w), flyt_json_str(container_state(ins), "Status", "?"));
	container_take_pid(w, ins);
	json_t *spec = json_deep_copy(w->spec);
	json_object_set_new(spec, "image_id", json_string(flyt_json_str(ins, "Image", "")));
	json_decref(w->spec);
	w->spec = spec;
	return 0;
}

static int podman_discard(migration_t *m, flyt_error_t *err)
{
	agent_t *a = m->agent;
	_cleanup_free_ char *record = created_record(m);
	_cleanup_json_ json_t *j = NULL;
	flyt_error_t e = FLYT_ERROR_INIT;
	if (m->role != ROLE_TARGET || container_read_json(record, &j, &e) < 0)
		return 0; /* restore created nothing */
	int r = 0;
	size_t i;
	json_t *v;
	json_array_foreach (json_object_get(j, "containers"), i, v)
		if (container_name_valid(json_string_value(v)) &&
		    engine_container_remove(&ENGINE(a), json_string_value(v), err) < 0)
			r = -1;
	if (container_remove_volumes(&ENGINE(a), json_object_get(j, "volumes"), err) < 0)
		r = -1;
	unlink(record);
	return r;
}

/* The container and the named volumes that moved with it (unless another
 * container uses them: Podman refuses then, and they stay). */
static int podman_commit_done(migration_t *m, flyt_error_t *err)
{
	agent_t *a = m->agent;
	_cleanup_free_ char *cjson = final_path(m, "container.json");
	_cleanup_json_ json_t *ins = NULL;
	flyt_error_t e = FLYT_ERROR_INIT;
	if (container_read_json(cjson, &ins, &e) < 0)
		log_warn("migration %s: %s", m->id, e.msg);
	if (engine_container_remove(&ENGINE(a), cname(m->w), err) < 0)
		return -1;
	size_t i;
	json_t *mnt;
	json_array_foreach (json_object_get(ins, "Mounts"), i, mnt) {
		const char *name = flyt_json_str(mnt, "Name", "");
		if (strcmp(flyt_json_str(mnt, "Type", ""), "volume") != 0 || !container_name_valid(name))
			continue;
		_cleanup_free_ char *vpath = flyt_asprintf(API "/volumes/%s", name);
		flyt_error_t ve = FLYT_ERROR_INIT;
		if (engine_call(sock(a), "DELETE", vpath, NULL, NULL, 0, &ve) < 0)
			log_warn("migration %s: volume %s stays on this host: %s", m->id, name, ve.msg);
	}
	return 0;
}

const driver_t driver_podman = {
	.kind = "podman",
	.probe = podman_probe,
	.validate = podman_validate,
	.start = podman_start,
	.stop = podman_stop,
	.destroy = podman_destroy,
	.status = podman_status,
	.dump = podman_dump,
	.dump_finish = podman_dump_finish,
	.engine_holds_source = true,
	.restore = podman_restore,
	.resume = podman_resume,
	.discard = podman_discard,
	.incoming = podman_incoming,
	.commit_done = podman_commit_done,
};
