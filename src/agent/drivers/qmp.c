/* QMP client: line-delimited JSON over a unix socket (see qmp.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent/drivers/qmp.h"
#include "lib/json.h"
#include "lib/net.h"
#include "lib/util.h"

#define QMP_LINE_MAX (1024 * 1024)

/* Returns the next complete JSON message (one line), skipping events. */
static int qmp_read_msg(qmp_t *q, bool skip_events, json_t **ret, flyt_error_t *err)
{
	for (;;) {
		char *nl = q->len ? memchr(q->buf, '\n', q->len) : NULL;
		if (nl) {
			size_t n = (size_t)(nl - q->buf) + 1;
			json_t *msg = NULL;
			int r = flyt_json_parse_object(q->buf, n, QMP_LINE_MAX, &msg, err);
			memmove(q->buf, q->buf + n, q->len - n);
			q->len -= n;
			if (r < 0)
				return flyt_error_prefix(err, "QMP");
			const char *event = flyt_json_str(msg, "event", NULL);
			if (event && !strcmp(event, "BLOCK_JOB_COMPLETED")) {
				json_t *data = json_object_get(msg, "data");
				const char *why = flyt_json_str(data, "error", NULL);
				if (why)
					snprintf(q->job_error, sizeof(q->job_error), "%s: %s",
						 flyt_json_str(data, "device", "?"), why);
			}
			if (skip_events && event) {
				json_decref(msg);
				continue;
			}
			*ret = msg;
			return 0;
		}
		if (q->len >= QMP_LINE_MAX)
			return flyt_error_set(err, FLYT_E_CORRUPT, 0, "QMP: message longer than %d bytes",
					      QMP_LINE_MAX);
		if (q->cap - q->len < 4096) {
			q->cap = q->cap ? q->cap * 2 : 8192;
			q->buf = realloc(q->buf, q->cap);
			if (!q->buf)
				abort();
		}
		ssize_t k = read(q->fd, q->buf + q->len, q->cap - q->len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return flyt_error_set(err, errno == EAGAIN ? FLYT_E_TIMEOUT : FLYT_E_IO, errno, "QMP read");
		if (k == 0)
			return flyt_error_set(err, FLYT_E_IO, 0, "QMP: QEMU closed the monitor");
		q->len += (size_t)k;
	}
}

int qmp_open(qmp_t *q, const char *dir, const char *name, unsigned timeout_ms, flyt_error_t *err)
{
	*q = (qmp_t)QMP_INIT;
	int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return flyt_error_set(err, FLYT_E_IO, errno, "open %s", dir);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dfd, name);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		close(dfd);
		return flyt_error_set(err, FLYT_E_IO, errno, "socket");
	}
	int r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	int e = errno;
	close(dfd);
	if (r < 0) {
		close(fd);
		return flyt_error_set(err, FLYT_E_IO, e, "connect to QEMU's monitor %s/%s", dir, name);
	}
	flyt_socket_timeouts(fd, timeout_ms);
	q->fd = fd;
	json_t *greeting = NULL;
	if (qmp_read_msg(q, true, &greeting, err) < 0) {
		qmp_close(q);
		return -1;
	}
	bool ok = json_object_get(greeting, "QMP") != NULL;
	json_decref(greeting);
	if (!ok) {
		qmp_close(q);
		return flyt_error_set(err, FLYT_E_CORRUPT, 0, "QMP: no greeting from QEMU");
	}
	if (qmp_call(q, "qmp_capabilities", NULL, NULL, err) < 0) {
		qmp_close(q);
		return -1;
	}
	return 0;
}

int qmp_call(qmp_t *q, const char *command, json_t *args, json_t **ret, flyt_error_t *err)
{
	json_t *req = json_pack("{s:s}", "execute", command);
	if (args)
		json_object_set_new(req, "arguments", args);
	char *text = flyt_json_dumps(req);
	json_decref(req);
	size_t n = strlen(text);
	text = realloc(text, n + 2);
	if (!text)
		abort();
	text[n++] = '\n';
	int r = flyt_write_all(q->fd, text, n, err);
	free(text);
	if (r < 0)
		return flyt_error_prefix(err, "QMP %s", command);
	json_t *msg = NULL;
	if (qmp_read_msg(q, true, &msg, err) < 0)
		return flyt_error_prefix(err, "QMP %s", command);
	json_t *e = json_object_get(msg, "error");
	if (e) {
		flyt_error_set(err, FLYT_E_IO, 0, "QMP %s: %s", command, flyt_json_str(e, "desc", "error"));
		json_decref(msg);
		return -1;
	}
	if (ret) {
		json_t *v = json_object_get(msg, "return");
		*ret = v ? json_incref(v) : json_object();
	}
	json_decref(msg);
	return 0;
}

void qmp_close(qmp_t *q)
{
	if (q->fd >= 0)
		close(q->fd);
	free(q->buf);
	*q = (qmp_t)QMP_INIT;
}
