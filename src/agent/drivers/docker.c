/* The docker driver: an existing Docker container taken under flyt's management
 * (adopted by name or id), driven through the Docker Engine API on its unix socket
 * (flytd --docker-socket; libcurl speaks HTTP over it).
 *
 * Spec: {"container": NAME|ID, "image": REF, "image_id": "sha256:...", "legacy": {...}}
 * Only "container" is needed; flyt fills in the container's name, image and image
 * id when it adopts it ("legacy" keeps an imported old-system spec verbatim).
 *
 * Migration, with Docker 20.10 in experimental mode and CRIU >= 4.2 on its PATH:
 *   incoming (target) refuses a name already taken there and tells whether the
 *               image is there already
 *   dump        saves the image when the target lacks it (before the freeze),
 *               pauses the container (cgroup freezer), checkpoints it with
 *               "leave running" (CRIU puts the freezer back, so it stays frozen),
 *               and archives its overlay2 upper directory (the filesystem changes
 *               it made, whiteouts included) and its local named volumes. The
 *               container's configuration is its inspect record. Everything goes
 *               to images/final: container.json, checkpoint/, rootfs-diff.tar,
 *               volumes/NAME.tar, image.tar.
 *   dump_finish commit: SIGKILL to the paused container (it dies without running
 *               again; the container stays, stopped, for a rollback); otherwise
 *               unpause: it carries on, nothing lost
 *   restore     target: loads the image, creates the volumes and fills them,
 *               creates the container under the same name with the same
 *               configuration (command, entrypoint, env, working dir, labels, port
 *               bindings, restart policy, mounts, networks), unpacks the
 *               filesystem changes into its upper directory and puts the
 *               checkpoint where dockerd looks for it. It does not start it: the
 *               copy runs only at resume. Source (a failed switch-over): nothing
 *               to prepare, the stopped container is still there.
 *   resume      docker start --checkpoint: CRIU restores it and it runs
 *   discard     removes the container and volumes restore created (only those)
 *   commit_done source: removes the stopped source container and the volumes
 *               that moved with it (those another container uses stay)
 * Docker 20.10 cannot start from a checkpoint directory of one's choosing, hence
 * the move into DOCKER_ROOT/containers/ID/checkpoints/. */
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

#define API "/v1.41"
#define DEFAULT_SOCKET "/var/run/docker.sock"
#define CHECKPOINT_ID "flyt"
#define STATUS_TIMEOUT_MS 5000
#define STOP_TIMEOUT_S 10

static const char *sock(agent_t *a)
{
	return a->docker_socket ? a->docker_socket : DEFAULT_SOCKET;
}

#define ENGINE(a) ((engine_api_t){ .name = "Docker", .socket = sock(a), .api = API })

static const char *cname(workload_t *w)
{
	return flyt_json_str(w->spec, "container", "");
}

static int container_post(agent_t *a, const char *name, const char *action, flyt_error_t *err)
{
	return engine_container_post(&ENGINE(a), name, action, 0, err);
}

static int docker_probe(agent_t *a, json_t *caps, flyt_error_t *err)
{
	_cleanup_json_ json_t *info = NULL;
	flyt_error_t e = FLYT_ERROR_INIT;
	char reason[512] = "";
	if (engine_call(sock(a), "GET", API "/info", NULL, &info, STATUS_TIMEOUT_MS, &e) < 0)
		snprintf(reason, sizeof(reason), "Docker engine not reachable at %s: %s", sock(a), e.msg);
	else if (!json_is_true(json_object_get(info, "ExperimentalBuild")))
		snprintf(
		    reason, sizeof(reason),
		    "checkpoint not enabled: dockerd at %s runs without --experimental (Docker 20.10 needs it for checkpoints)",
		    sock(a));
	else if (strcmp(flyt_json_str(info, "Driver", ""), "overlay2") != 0)
		snprintf(
		    reason, sizeof(reason),
		    "dockerd uses the %s storage driver; flyt moves a container's filesystem changes from overlay2 only",
		    flyt_json_str(info, "Driver", "?"));
	else if (!a->criu_ok)
		snprintf(reason, sizeof(reason), "%s", a->criu_reason);
	json_object_set_new(caps, "available", json_boolean(!reason[0]));
	if (reason[0])
		json_object_set_new(caps, "reason", json_string(reason));
	json_object_set_new(caps, "socket", json_string(sock(a)));
	if (info)
		json_object_set_new(caps, "version", json_string(flyt_json_str(info, "ServerVersion", "")));
	json_object_set_new(caps, "migration", json_true());
	json_object_set_new(caps, "modes", json_pack("[s,s]", "stop-copy", "shared"));
	return 0;
}

static int docker_validate(agent_t *a, json_t *spec, flyt_error_t *err)
{
	return container_spec_validate("docker spec", spec, err);
}

/* Adopting: the container must exist; its name, image and image id go into the
 * spec (a container adopted by id is known by name from then on). */
static int adopt(agent_t *a, workload_t *w, json_t *ins, flyt_error_t *err)
{
	const char *name = flyt_json_str(ins, "Name", "");
	if (name[0] == '/')
		name++;
	json_t *cfg = json_object_get(ins, "Config");
	const char *image = flyt_json_str(cfg, "Image", ""), *image_id = flyt_json_str(ins, "Image", "");
	const char *want = flyt_json_str(w->spec, "image", NULL);
	if (want && strcmp(want, image) != 0 && strcmp(want, image_id) != 0 &&
	    !(strchr(image, ':') && strncmp(image, want, strlen(want)) == 0 && image[strlen(want)] == ':'))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "container %s runs image %s, not %s as the spec says",
				      name, image, want);
	if (!container_name_valid(name))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "container %s has an unusable name", name);
	json_t *spec = json_deep_copy(w->spec);
	json_object_set_new(spec, "container", json_string(name));
	json_object_set_new(spec, "image", json_string(image));
	json_object_set_new(spec, "image_id", json_string(image_id));
	json_decref(w->spec);
	w->spec = spec;
	return 0;
}

static int docker_start(agent_t *a, workload_t *w, flyt_error_t *err)
{
	_cleanup_json_ json_t *ins = NULL;
	if (engine_inspect(&ENGINE(a), cname(w), &ins, err) < 0)
		return -1;
	if (adopt(a, w, ins, err) < 0)
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

static int docker_stop(agent_t *a, workload_t *w, flyt_error_t *err)
{
	_cleanup_free_ char *action = flyt_asprintf("stop?t=%d", STOP_TIMEOUT_S);
	flyt_error_t e = FLYT_ERROR_INIT;
	if (container_post(a, cname(w), action, &e) < 0 && e.code != FLYT_E_NOT_FOUND) {
		*err = e;
		return -1;
	}
	w->pid = 0;
	w->start_ticks = 0;
	w->state = WL_STOPPED;
	return 0;
}

/* Removing the workload removes the container: flyt manages it. */
static int docker_destroy(agent_t *a, workload_t *w, flyt_error_t *err)
{
	return container_destroy(&ENGINE(a), w, err);
}

static int docker_status(agent_t *a, workload_t *w, json_t *ret, flyt_error_t *err)
{
	return container_status(&ENGINE(a), w, ret, err);
}

/* ---- migration ---- */

static char *final_path(migration_t *m, const char *name)
{
	return flyt_asprintf("%s/final/%s", m->images_dir, name);
}

/* target: the name must be free here; say whether the image is here already */
static int docker_incoming(migration_t *m, json_t *ret_info, flyt_error_t *err)
{
	agent_t *a = m->agent;
	_cleanup_json_ json_t *ins = NULL;
	flyt_error_t e = FLYT_ERROR_INIT;
	if (engine_inspect(&ENGINE(a), cname(m->w), &ins, &e) == 0)
		return flyt_error_set(err, FLYT_E_CONFLICT, 0, "%s already has a Docker container named %s", a->name,
				      cname(m->w));
	if (e.code != FLYT_E_NOT_FOUND) {
		*err = e;
		return -1;
	}
	const char *image_id = flyt_json_str(m->w->spec, "image_id", "");
	bool have = false;
	if (image_id[0]) {
		_cleanup_free_ char *path = flyt_asprintf(API "/images/%s/json", image_id);
		_cleanup_json_ json_t *img = NULL;
		flyt_error_t ie = FLYT_ERROR_INIT;
		have = engine_call(sock(a), "GET", path, NULL, &img, STATUS_TIMEOUT_MS, &ie) == 0;
	}
	json_object_set_new(ret_info, "has_image", json_boolean(have));
	return 0;
}

/* The image reference to save or create with: the name when it still names the
 * container's image, its id otherwise. */
static const char *image_ref(agent_t *a, json_t *ins)
{
	const char *name = flyt_json_str(json_object_get(ins, "Config"), "Image", "");
	const char *id = flyt_json_str(ins, "Image", "");
	if (!name[0] || !container_name_valid(id + (strncmp(id, "sha256:", 7) == 0 ? 7 : 0)))
		return id;
	_cleanup_free_ char *esc = flyt_url_escape(name);
	_cleanup_free_ char *path = flyt_asprintf(API "/images/%s/json", esc);
	_cleanup_json_ json_t *img = NULL;
	flyt_error_t e = FLYT_ERROR_INIT;
	if (engine_call(sock(a), "GET", path, NULL, &img, STATUS_TIMEOUT_MS, &e) == 0 &&
	    strcmp(flyt_json_str(img, "Id", ""), id) == 0)
		return name;
	return id;
}

static int docker_dump(migration_t *m, flyt_error_t *err)
{
	agent_t *a = m->agent;
	workload_t *w = m->w;
	_cleanup_free_ char *final_dir = flyt_asprintf("%s/final", m->images_dir);
	if (flyt_mkdir_p(final_dir, 0700, err) < 0)
		return -1;
	_cleanup_json_ json_t *ins = NULL;
	if (engine_inspect(&ENGINE(a), cname(w), &ins, err) < 0)
		return -1;
	json_t *gd = json_object_get(ins, "GraphDriver");
	const char *upper = flyt_json_str(json_object_get(gd, "Data"), "UpperDir", "");
	if (strcmp(flyt_json_str(gd, "Name", ""), "overlay2") != 0 ||
	    container_path_check("the container's upper directory", upper, true, err) < 0)
		return flyt_error_set(err, FLYT_E_UNSUPPORTED, 0,
				      "container %s is not on overlay2 storage: its filesystem changes cannot move",
				      cname(w));
	_cleanup_free_ char *cjson = final_path(m, "container.json");
	if (container_write_json(cjson, ins, err) < 0)
		return -1;
	/* the image does not change: save it while the container still runs */
	if (!json_is_true(json_object_get(m->peer_info, "has_image"))) {
		_cleanup_free_ char *esc = flyt_url_escape(image_ref(a, ins));
		_cleanup_free_ char *path = flyt_asprintf(API "/images/%s/get", esc);
		_cleanup_free_ char *tar = final_path(m, "image.tar");
		if (engine_download(sock(a), "GET", path, tar, err) < 0)
			return flyt_error_prefix(err, "docker save %s", image_ref(a, ins));
	}

	m->t_freeze = flyt_now_ms();
	if (container_post(a, cname(w), "pause", err) < 0)
		return -1;
	_cleanup_free_ char *cpath = flyt_asprintf(API "/containers/%s/checkpoints", cname(w));
	_cleanup_json_ json_t *body =
	    json_pack("{s:s, s:s, s:b}", "CheckpointID", "checkpoint", "CheckpointDir", final_dir, "Exit", 0);
	_cleanup_free_ char *tar = final_path(m, "rootfs-diff.tar");
	_cleanup_free_ char *vdir = final_path(m, "volumes");
	int r = engine_call(sock(a), "POST", cpath, body, NULL, 10 * 60 * 1000, err);
	if (r < 0)
		flyt_error_prefix(err, "docker checkpoint create %s", cname(w));
	/* frozen: the upper directory and the volumes hold still */
	if (r == 0)
		r = container_tar_create(upper, tar, err);
	if (r == 0)
		r = container_volumes_save(ins, vdir, err);
	if (r < 0) {
		flyt_error_t ue = FLYT_ERROR_INIT;
		if (container_post(a, cname(w), "unpause", &ue) < 0)
			log_warn("migration %s: unpausing %s after a failed dump: %s", m->id, cname(w), ue.msg);
		return -1;
	}
	m->dump_ms = (int64_t)(flyt_now_ms() - m->t_freeze);
	return 0;
}

static int docker_dump_finish(migration_t *m, bool commit, flyt_error_t *err)
{
	agent_t *a = m->agent;
	workload_t *w = m->w;
	if (!commit) {
		if (container_post(a, cname(w), "unpause", err) < 0)
			return -1;
		_cleanup_json_ json_t *ins = NULL;
		if (engine_inspect(&ENGINE(a), cname(w), &ins, err) < 0)
			return -1;
		if (!container_running(ins))
			return flyt_error_set(err, FLYT_E_INTERNAL, 0, "container %s did not resume (%s)", cname(w),
					      flyt_json_str(container_state(ins), "Status", "?"));
		container_take_pid(w, ins);
		return 0;
	}
	/* a paused container gets SIGKILL and dies as the freezer lets it go: it
	 * runs no instruction more */
	if (container_post(a, cname(w), "kill?signal=KILL", err) < 0)
		return -1;
	uint64_t deadline = flyt_now_ms() + 30000;
	for (;;) {
		_cleanup_json_ json_t *ins = NULL;
		if (engine_inspect(&ENGINE(a), cname(w), &ins, err) < 0)
			return -1;
		if (!json_is_true(json_object_get(container_state(ins), "Running")))
			break;
		if (flyt_now_ms() > deadline)
			return flyt_error_set(err, FLYT_E_TIMEOUT, 0, "container %s still runs 30 s after SIGKILL",
					      cname(w));
		flyt_sleep_ms(10);
	}
	w->pid = 0;
	return 0;
}

/* Records what restore created, so that discard removes that and nothing else. */
static int note_created(migration_t *m, const char *what, const char *name, flyt_error_t *err)
{
	_cleanup_free_ char *path = flyt_asprintf("%s/docker-created.json", m->dir);
	return container_note_created(path, what, name, err);
}

/* The body of POST /containers/create from a source container's inspect record:
 * its Config, its HostConfig, and its user-defined networks. */
static json_t *create_body(agent_t *a, json_t *ins, const char *image)
{
	json_t *body = json_deep_copy(json_object_get(ins, "Config"));
	json_object_set_new(body, "Image", json_string(image));
	json_object_set(body, "HostConfig", json_object_get(ins, "HostConfig"));
	json_t *eps = json_object();
	const char *key;
	json_t *net;
	json_object_foreach (json_object_get(json_object_get(ins, "NetworkSettings"), "Networks"), key, net) {
		if (strcmp(key, "bridge") == 0 || strcmp(key, "host") == 0 || strcmp(key, "none") == 0)
			continue;
		json_t *ep = json_object();
		if (json_is_array(json_object_get(net, "Aliases")))
			json_object_set(ep, "Aliases", json_object_get(net, "Aliases"));
		json_object_set_new(eps, key, ep);
	}
	json_object_set_new(body, "NetworkingConfig", json_pack("{s:o}", "EndpointsConfig", eps));
	return body;
}

static int docker_root(agent_t *a, char **ret, flyt_error_t *err)
{
	_cleanup_json_ json_t *info = NULL;
	if (engine_call(sock(a), "GET", API "/info", NULL, &info, STATUS_TIMEOUT_MS, err) < 0)
		return -1;
	const char *root = flyt_json_str(info, "DockerRootDir", "");
	if (container_path_check("Docker's root directory", root, true, err) < 0)
		return -1;
	*ret = flyt_strdup(root);
	return 0;
}

/* Puts the checkpoint in from where dockerd starts containers from:
 * ROOT/containers/ID/checkpoints/NAME. */
static int place_checkpoint(migration_t *m, const char *id, const char *from, bool copy, flyt_error_t *err)
{
	_cleanup_free_ char *root = NULL;
	if (docker_root(m->agent, &root, err) < 0)
		return -1;
	if (!container_name_valid(id))
		return flyt_error_set(err, FLYT_E_CORRUPT, 0, "dockerd gave a strange container id");
	_cleanup_free_ char *dir = flyt_asprintf("%s/containers/%s/checkpoints", root, id);
	_cleanup_free_ char *to = flyt_asprintf("%s/%s", dir, CHECKPOINT_ID);
	if (flyt_mkdir_p(dir, 0700, err) < 0)
		return -1;
	flyt_rm_rf(to, NULL);
	return copy ? container_copy_dir(from, to, err) : container_move_dir(from, to, err);
}

static int docker_restore(migration_t *m, flyt_error_t *err)
{
	agent_t *a = m->agent;
	workload_t *w = m->w;
	if (m->role == ROLE_SOURCE)
		return 0; /* the stopped container is still here (see resume) */
	_cleanup_free_ char *cjson = final_path(m, "container.json");
	_cleanup_json_ json_t *ins = NULL;
	if (container_read_json(cjson, &ins, err) < 0)
		return flyt_error_prefix(err, "the container's configuration");
	const char *image_id = flyt_json_str(ins, "Image", "");
	_cleanup_free_ char *image_tar = final_path(m, "image.tar");
	struct stat st;
	if (lstat(image_tar, &st) == 0) {
		_cleanup_free_ char *out = NULL;
		if (engine_upload(sock(a), "POST", API "/images/load?quiet=1", image_tar, &out, err) < 0)
			return flyt_error_prefix(err, "docker load");
		if (out && strstr(out, "\"error"))
			return flyt_error_set(err, FLYT_E_IO, 0, "docker load: %.300s", out);
	}
	/* create with the name the image had, when it names the same image here */
	const char *image = image_id;
	const char *name_ref = flyt_json_str(json_object_get(ins, "Config"), "Image", "");
	if (name_ref[0]) {
		_cleanup_free_ char *esc = flyt_url_escape(name_ref);
		_cleanup_free_ char *path = flyt_asprintf(API "/images/%s/json", esc);
		_cleanup_json_ json_t *img = NULL;
		flyt_error_t e = FLYT_ERROR_INIT;
		if (engine_call(sock(a), "GET", path, NULL, &img, STATUS_TIMEOUT_MS, &e) == 0 &&
		    strcmp(flyt_json_str(img, "Id", ""), image_id) == 0)
			image = name_ref;
	}
	_cleanup_free_ char *record = flyt_asprintf("%s/docker-created.json", m->dir);
	_cleanup_free_ char *vdir = final_path(m, "volumes");
	if (container_volumes_restore(&ENGINE(a), ins, vdir, record, err) < 0)
		return -1;
	_cleanup_json_ json_t *body = create_body(a, ins, image);
	_cleanup_free_ char *cpath = flyt_asprintf(API "/containers/create?name=%s", cname(w));
	_cleanup_json_ json_t *created = NULL;
	if (engine_call(sock(a), "POST", cpath, body, &created, 0, err) < 0)
		return flyt_error_prefix(err, "docker create %s", cname(w));
	const char *id = flyt_json_str(created, "Id", "");
	if (note_created(m, "containers", id, err) < 0)
		return -1;
	_cleanup_json_ json_t *nins = NULL;
	if (engine_inspect(&ENGINE(a), id, &nins, err) < 0)
		return -1;
	const char *upper =
	    flyt_json_str(json_object_get(json_object_get(nins, "GraphDriver"), "Data"), "UpperDir", "");
	_cleanup_free_ char *diff = final_path(m, "rootfs-diff.tar");
	if (container_path_check("the new container's upper directory", upper, true, err) < 0 ||
	    container_tar_extract(diff, upper, err) < 0)
		return flyt_error_prefix(err, "the container's filesystem changes");
	_cleanup_free_ char *ckpt = final_path(m, "checkpoint");
	if (place_checkpoint(m, id, ckpt, m->mode == MODE_SHARED, err) < 0)
		return flyt_error_prefix(err, "the checkpoint");
	return 0;
}

static int docker_resume(migration_t *m, flyt_error_t *err)
{
	agent_t *a = m->agent;
	workload_t *w = m->w;
	if (m->role == ROLE_SOURCE) {
		/* the switch-over failed after this copy was killed: start the stopped
		 * container from its own checkpoint */
		_cleanup_json_ json_t *ins = NULL;
		_cleanup_free_ char *ckpt = final_path(m, "checkpoint");
		if (engine_inspect(&ENGINE(a), cname(w), &ins, err) < 0 ||
		    place_checkpoint(m, flyt_json_str(ins, "Id", ""), ckpt, true, err) < 0)
			return -1;
	}
	uint64_t t0 = flyt_now_ms();
	if (container_post(a, cname(w), "start?checkpoint=" CHECKPOINT_ID, err) < 0)
		return -1;
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
	/* dockerd keeps a checkpoint until told otherwise */
	_cleanup_free_ char *dpath = flyt_asprintf(API "/containers/%s/checkpoints/" CHECKPOINT_ID, cname(w));
	flyt_error_t de = FLYT_ERROR_INIT;
	if (engine_call(sock(a), "DELETE", dpath, NULL, NULL, 0, &de) < 0)
		log_warn("migration %s: removing the used checkpoint: %s", m->id, de.msg);
	return 0;
}

static int docker_discard(migration_t *m, flyt_error_t *err)
{
	agent_t *a = m->agent;
	_cleanup_free_ char *path = flyt_asprintf("%s/docker-created.json", m->dir);
	_cleanup_json_ json_t *j = NULL;
	flyt_error_t e = FLYT_ERROR_INIT;
	if (container_read_json(path, &j, &e) < 0)
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
	unlink(path);
	return r;
}

/* The volumes moved with the container: their copies here go too, unless another
 * container still uses them (dockerd refuses then, and they stay). */
static int docker_commit_done(migration_t *m, flyt_error_t *err)
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

const driver_t driver_docker = {
	.kind = "docker",
	.probe = docker_probe,
	.validate = docker_validate,
	.start = docker_start,
	.stop = docker_stop,
	.destroy = docker_destroy,
	.status = docker_status,
	.dump = docker_dump,
	.dump_finish = docker_dump_finish,
	.engine_holds_source = true,
	.restore = docker_restore,
	.resume = docker_resume,
	.discard = docker_discard,
	.incoming = docker_incoming,
	.commit_done = docker_commit_done,
};
