/* Unit tests of the agent's QMP client (src/agent/drivers/qmp.c) against a scripted
 * monitor: a child process that listens on a unix socket in a temporary directory
 * and plays QEMU's side of one conversation, line by line. Checked: the greeting
 * and capabilities negotiation, a command's "return", events skipped, a QMP error
 * turned into QEMU's description, a closed monitor, a peer that is not QMP. */
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/drivers/qmp.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/net.h"
#include "tap.h"
#include "testutil.h"

#define GREETING "{\"QMP\": {\"version\": {}, \"capabilities\": []}}\r\n"

/* Reads one line from fd into buf (without the newline). */
static bool read_line(int fd, char *buf, size_t size)
{
	size_t n = 0;
	while (n + 1 < size) {
		char c;
		if (read(fd, &c, 1) != 1)
			return false;
		if (c == '\n')
			break;
		buf[n++] = c;
	}
	buf[n] = '\0';
	return true;
}

static void say(int fd, const char *text)
{
	flyt_write_all(fd, text, strlen(text), NULL);
}

/* The scripted monitor: for each request line, the expected command and the lines
 * to answer with; NULL expected command ends the conversation (the socket closes). */
typedef struct {
	const char *expect;
	const char *answer;
} step_t;

static pid_t serve(const char *path, const char *greeting, const step_t *steps)
{
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 1) < 0)
		abort();
	pid_t pid = fork();
	if (pid != 0) {
		close(lfd);
		return pid;
	}
	int fd = accept(lfd, NULL, NULL);
	say(fd, greeting);
	char line[4096];
	for (const step_t *s = steps; s->expect; s++) {
		if (!read_line(fd, line, sizeof(line)) || !strstr(line, s->expect))
			_exit(1);
		say(fd, s->answer);
	}
	close(fd);
	_exit(0);
}

static int reap(pid_t pid)
{
	int st = 0;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	_cleanup_tmpdir_ char *dir = test_tmpdir("qmp");
	_cleanup_free_ char *path = flyt_asprintf("%s/qmp.sock", dir);

	{
		static const step_t steps[] = {
			{ "\"qmp_capabilities\"", "{\"return\": {}}\r\n" },
			{ "\"query-status\"",
			  "{\"event\": \"STOP\", \"timestamp\": {}}\r\n{\"return\": {\"status\": \"running\"}}\r\n" },
			{ "\"migrate\"", "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no such host\"}}\r\n" },
			{ "\"cont\"", "{\"return\": {}}\r\n" },
			{ NULL, NULL },
		};
		pid_t pid = serve(path, GREETING, steps);
		qmp_t q;
		flyt_error_t err = FLYT_ERROR_INIT;
		int r = qmp_open(&q, dir, "qmp.sock", 5000, &err);
		is_int(r, 0, "qmp_open negotiates capabilities (%s)", err.msg);
		json_t *ret = NULL;
		r = qmp_call(&q, "query-status", NULL, &ret, &err);
		is_int(r, 0, "a command after an event succeeds");
		is_str(flyt_json_str(ret, "status", NULL), "running", "its \"return\" is returned, the event skipped");
		json_decref(ret);
		r = qmp_call(&q, "migrate", json_pack("{s:s}", "uri", "tcp:x:1"), NULL, &err);
		is_int(r, -1, "a QMP error fails the call");
		ok(strstr(err.msg, "QMP migrate: no such host") != NULL, "with QEMU's description: %s", err.msg);
		err = (flyt_error_t)FLYT_ERROR_INIT;
		is_int(qmp_call(&q, "cont", NULL, NULL, &err), 0, "the connection is still usable after an error");
		r = qmp_call(&q, "query-migrate", NULL, NULL, &err);
		is_int(r, -1, "a closed monitor fails the call");
		ok(strstr(err.msg, "QMP query-migrate") != NULL, "naming the command: %s", err.msg);
		qmp_close(&q);
		is_int(reap(pid), 0, "the monitor saw the expected commands");
	}
	{
		static const step_t none[] = { { NULL, NULL } };
		pid_t pid = serve(path, "HTTP/1.0 200 OK\r\n", none);
		qmp_t q;
		flyt_error_t err = FLYT_ERROR_INIT;
		is_int(qmp_open(&q, dir, "qmp.sock", 5000, &err), -1, "a peer that is not QMP is refused");
		diag("%s", err.msg);
		reap(pid);
	}
	{
		qmp_t q;
		flyt_error_t err = FLYT_ERROR_INIT;
		unlink(path);
		is_int(qmp_open(&q, dir, "qmp.sock", 5000, &err), -1, "no monitor socket: an error");
		ok(strstr(err.msg, "monitor") != NULL, "naming the monitor: %s", err.msg);
	}
	return done();
}
