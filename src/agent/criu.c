/* CRIU command lines and their logs. */
#include "criu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/util.h"

int criu_version(const char *criu, char *out, size_t size, flyt_error_t *err)
{
	char *argv[] = { (char *)criu, (char *)"--version", NULL };
	flyt_spawn_opts_t o = {
		.argv = argv, .out = FLYT_SPAWN_CAPTURE, .err = FLYT_SPAWN_CAPTURE, .timeout_ms = 10000
	};
	flyt_spawn_result_t res;
	if (flyt_spawn_run(&o, &res, err) < 0)
		return flyt_error_prefix(err, "criu");
	const char *v = res.out ? strstr(res.out, "Version:") : NULL;
	if (res.exit_code != 0 || !v) {
		char how[512];
		flyt_spawn_describe(&res, how, sizeof(how));
		flyt_spawn_result_free(&res);
		return flyt_error_set(err, FLYT_E_UNSUPPORTED, 0, "%s --version %s", criu, how);
	}
	v += strlen("Version:");
	while (*v == ' ')
		v++;
	size_t n = strcspn(v, " \n");
	if (n >= size)
		n = size - 1;
	memcpy(out, v, n);
	out[n] = '\0';
	flyt_spawn_result_free(&res);
	return 0;
}

bool criu_has_feature(const char *criu, const char *feature)
{
	char *argv[] = { (char *)criu, (char *)"check", (char *)"--feature", (char *)feature, NULL };
	flyt_spawn_opts_t o = { .argv = argv, .out = FLYT_SPAWN_NULL, .err = FLYT_SPAWN_NULL, .timeout_ms = 20000 };
	flyt_spawn_result_t res;
	flyt_error_t err = FLYT_ERROR_INIT;
	if (flyt_spawn_run(&o, &res, &err) < 0)
		return false;
	bool ok = res.exit_code == 0;
	flyt_spawn_result_free(&res);
	return ok;
}

void criu_log_errors(const char *log_path, char *out, size_t size)
{
	out[0] = '\0';
	_cleanup_free_ char *text = NULL;
	if (!log_path || flyt_read_file(log_path, 64u * 1024 * 1024, &text, NULL, NULL) < 0)
		return;
	const char *lines[3] = { 0 };
	size_t lens[3] = { 0 };
	int nl = 0;
	for (char *p = text; *p;) {
		char *e = strchrnul(p, '\n');
		size_t len = (size_t)(e - p);
		const char *er = memmem(p, len, "Error (", 7);
		if (er && !memmem(p, len, "RLIMIT_NOFILE", 13) && !memmem(p, len, "Restoring FAILED", 16) &&
		    !memmem(p, len, "Dumping FAILED", 14)) {
			if (nl == 3) {
				memmove(lines, lines + 1, 2 * sizeof(lines[0]));
				memmove(lens, lens + 1, 2 * sizeof(lens[0]));
				nl = 2;
			}
			lines[nl] = er;
			lens[nl] = len - (size_t)(er - p);
			nl++;
		}
		p = *e ? e + 1 : e;
	}
	size_t o = 0;
	for (int i = 0; i < nl && o + 3 < size; i++) {
		int n = snprintf(out + o, size - o, "%s%.*s", i ? "; " : "", (int)lens[i], lines[i]);
		if (n < 0)
			break;
		o += (size_t)n;
		if (o >= size)
			o = size - 1;
	}
}

int criu_failed(const char *what, const flyt_spawn_result_t *res, const char *log_path, flyt_error_t *err)
{
	char how[256], log_err[1024];
	flyt_spawn_describe(res, how, sizeof(how));
	/* describe() quotes stderr; criu writes its story to the log instead */
	char *colon = strchr(how, ':');
	if (colon)
		*colon = '\0';
	criu_log_errors(log_path, log_err, sizeof(log_err));
	if (log_err[0])
		return flyt_error_set(err, FLYT_E_IO, 0, "%s: criu %s: %s (log: %s)", what, how, log_err, log_path);
	return flyt_error_set(err, FLYT_E_IO, 0, "%s: criu %s (log: %s)", what, how, log_path ? log_path : "none");
}

/* argv with its first element replaced by the configured binary (the strings
 * stay owned by the caller; only the array is new). */
static char **with_binary(const char *criu, char **argv)
{
	size_t n = flyt_strv_len(argv);
	char **full = flyt_malloc0((n + 1) * sizeof(char *));
	full[0] = (char *)criu;
	for (size_t i = 1; i < n; i++)
		full[i] = argv[i];
	return full;
}

int criu_run(const char *criu, char **argv, const char *log_path, unsigned timeout_ms, char *const *env,
	     flyt_error_t *err)
{
	_cleanup_free_ char **full = with_binary(criu, argv);
	flyt_spawn_opts_t o = {
		.argv = full,
		.env = env,
		.out = FLYT_SPAWN_CAPTURE,
		.err = FLYT_SPAWN_CAPTURE,
		.timeout_ms = timeout_ms,
	};
	flyt_spawn_result_t res;
	if (flyt_spawn_run(&o, &res, err) < 0)
		return flyt_error_prefix(err, "criu %s", argv[1]);
	int r = 0;
	if (res.exit_code != 0)
		r = criu_failed(argv[1], &res, log_path, err);
	flyt_spawn_result_free(&res);
	return r;
}

int criu_start(const char *criu, char **argv, const char *out_path, char *const *env, flyt_child_t *child,
	       flyt_error_t *err)
{
	_cleanup_free_ char **full = with_binary(criu, argv);
	flyt_spawn_opts_t o = {
		.argv = full,
		.env = env,
		.out = FLYT_SPAWN_FILE,
		.err = FLYT_SPAWN_FILE,
		.out_path = out_path,
		.err_path = out_path,
	};
	if (flyt_spawn_start(&o, child, err) < 0)
		return flyt_error_prefix(err, "criu %s", argv[1]);
	return 0;
}

int criu_lazy_pages_start(const char *criu, uint16_t port, const char *images, const char *work_dir, const char *log,
			  const char *log_path, const char *out_path, flyt_child_t *child, flyt_error_t *err)
{
	char port_s[16];
	snprintf(port_s, sizeof(port_s), "%u", port);
	_cleanup_strv_ char **argv = NULL;
	flyt_strv_push(&argv, "criu");
	flyt_strv_push(&argv, "lazy-pages");
	flyt_strv_push(&argv, "--page-server");
	flyt_strv_push(&argv, "--address");
	flyt_strv_push(&argv, "127.0.0.1");
	flyt_strv_push(&argv, "--port");
	flyt_strv_push(&argv, port_s);
	flyt_strv_push(&argv, "-D");
	flyt_strv_push(&argv, images);
	flyt_strv_push(&argv, "-W");
	flyt_strv_push(&argv, work_dir);
	flyt_strv_push(&argv, "-o");
	flyt_strv_push(&argv, log);
	_cleanup_free_ char *sock = flyt_asprintf("%s/lazy-pages.socket", work_dir);
	unlink(sock);
	if (criu_start(criu, argv, out_path, NULL, child, err) < 0)
		return -1;
	/* criu restore hands its userfaultfds to the daemon over this socket: it
	 * must exist before the restore starts */
	uint64_t deadline = flyt_now_ms() + 30000;
	struct stat st;
	while (lstat(sock, &st) < 0) {
		flyt_spawn_result_t res;
		if (flyt_child_wait(child, 2, &res, err) != 0)
			return criu_failed("lazy-pages", &res, log_path, err);
		if (flyt_now_ms() > deadline) {
			flyt_child_reap(child);
			return flyt_error_set(err, FLYT_E_TIMEOUT, 0, "criu lazy-pages did not get ready within 30 s");
		}
	}
	return 0;
}
