/* The fake driver: workloads that exist only in the agent's memory and state
 * directory, for testing the controller, the API, the UI and the migration
 * protocol without root, CRIU or real processes (libvirt's test:///default idea).
 *
 * Spec: {"payload": "any text", "fail": "dump"|"restore"|"resume"|"", "delay_ms": N}
 * A fake workload "runs" as soon as it starts; its image is a JSON file holding its
 * payload and a generation counter that each migration increments, so a test can
 * see that state travelled. "fail" makes that step fail, "delay_ms" slows the dump
 * (to test cancel and progress). */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/util.h"

static int fake_probe(agent_t *a, json_t *caps, flyt_error_t *err)
{
	json_object_set_new(caps, "available", json_true());
	json_object_set_new(caps, "migration", json_true());
	return 0;
}

static int fake_validate(agent_t *a, json_t *spec, flyt_error_t *err)
{
	static const char *const keys[] = { "payload", "fail", "delay_ms", "generation", NULL };
	if (flyt_json_check_keys(spec, "fake spec", keys, err) < 0)
		return -1;
	const char *payload = NULL, *s = NULL;
	int64_t n = 0;
	if (flyt_json_get_string(spec, "payload", false, 65536, &payload, err) < 0 ||
	    flyt_json_get_string(spec, "fail", false, 16, &s, err) < 0 ||
	    flyt_json_get_int(spec, "delay_ms", false, 0, 600000, &n, err) < 0 ||
	    flyt_json_get_int(spec, "generation", false, 0, INT32_MAX, &n, err) < 0)
		return flyt_error_prefix(err, "fake spec");
	if (s && s[0] && strcmp(s, "dump") && strcmp(s, "restore") && strcmp(s, "resume"))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "fake spec: \"fail\" must be dump, restore or resume");
	return 0;
}

static int fake_start(agent_t *a, workload_t *w, flyt_error_t *err)
{
	if (flyt_mkdir_p(w->files_dir, 0755, err) < 0)
		return -1;
	w->state = WL_RUNNING;
	w->pid = 0;
	return 0;
}

static int fake_stop(agent_t *a, workload_t *w, flyt_error_t *err)
{
	w->state = WL_STOPPED;
	return 0;
}

static int fake_status(agent_t *a, workload_t *w, json_t *ret, flyt_error_t *err)
{
	json_object_set_new(ret, "pid", json_null());
	json_object_set_new(ret, "generation", json_integer(flyt_json_int(w->spec, "generation", 0)));
	return 0;
}

static bool fails_at(migration_t *m, json_t *spec, const char *step)
{
	const char *f = flyt_json_str(spec, "fail", "");
	return strcmp(f, step) == 0;
}

static int fake_dump(migration_t *m, flyt_error_t *err)
{
	m->t_freeze = flyt_now_ms();
	int64_t delay = flyt_json_int(m->w->spec, "delay_ms", 0);
	uint64_t until = flyt_now_ms() + (uint64_t)delay;
	while (flyt_now_ms() < until && !atomic_load(&m->cancel))
		flyt_sleep_ms(10);
	if (fails_at(m, m->w->spec, "dump"))
		return flyt_error_set(err, FLYT_E_IO, 0, "dump: fake failure requested by the spec");
	_cleanup_free_ char *dir = flyt_asprintf("%s/final", m->images_dir);
	if (flyt_mkdir_p(dir, 0700, err) < 0)
		return -1;
	_cleanup_json_ json_t *img = json_deep_copy(m->w->spec);
	json_object_set_new(img, "generation", json_integer(flyt_json_int(m->w->spec, "generation", 0) + 1));
	_cleanup_free_ char *text = flyt_json_dumps(img);
	_cleanup_free_ char *path = flyt_asprintf("%s/fake.json", dir);
	m->dump_ms = (int64_t)(flyt_now_ms() - m->t_freeze);
	return flyt_write_file_atomic(path, text, strlen(text), 0600, err);
}

static int fake_dump_finish(migration_t *m, bool commit, flyt_error_t *err)
{
	m->w->state = commit ? WL_STOPPED : WL_RUNNING;
	return 0;
}

static int fake_restore(migration_t *m, flyt_error_t *err)
{
	_cleanup_free_ char *path = flyt_asprintf("%s/final/fake.json", m->images_dir);
	_cleanup_free_ char *text = NULL;
	size_t len;
	if (flyt_read_file(path, 1024 * 1024, &text, &len, err) < 0)
		return flyt_error_prefix(err, "restore");
	_cleanup_json_ json_t *img = NULL;
	if (flyt_json_parse_object(text, len, 1024 * 1024, &img, err) < 0)
		return flyt_error_prefix(err, "restore");
	if (fails_at(m, img, "restore"))
		return flyt_error_set(err, FLYT_E_IO, 0, "restore: fake failure requested by the spec");
	json_decref(m->w->spec);
	m->w->spec = json_incref(img);
	return 0;
}

static int fake_resume(migration_t *m, flyt_error_t *err)
{
	if (fails_at(m, m->w->spec, "resume"))
		return flyt_error_set(err, FLYT_E_IO, 0, "resume: fake failure requested by the spec");
	return 0;
}

static int fake_discard(migration_t *m, flyt_error_t *err)
{
	return 0;
}

const driver_t driver_fake = {
	.kind = "fake",
	.probe = fake_probe,
	.validate = fake_validate,
	.start = fake_start,
	.stop = fake_stop,
	.destroy = fake_stop,
	.status = fake_status,
	.dump = fake_dump,
	.dump_finish = fake_dump_finish,
	.restore = fake_restore,
	.resume = fake_resume,
	.discard = fake_discard,
};
