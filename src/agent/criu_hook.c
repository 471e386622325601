/* flyt-criu-hook: CRIU's action script during a migration's dump.
 *
 * CRIU runs it at each stage with CRTOOLS_SCRIPT_ACTION set. At "post-dump" the
 * workload is frozen and its images are complete; CRIU then kills the workload if
 * the script exits 0, or resumes it (and unlocks its sockets) otherwise. The hook
 * tells flytd the dump is done (over the unix socket FLYT_HOOK_SOCKET) and waits
 * for the verdict: "commit" or anything else. If flytd goes away before answering,
 * the durable decision file FLYT_HOOK_DECISION decides; without it the workload
 * resumes, so a crashed agent never loses the only running copy. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int decision_file_says_commit(void)
{
	const char *path = getenv("FLYT_HOOK_DECISION");
	if (!path)
		return 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	char buf[16] = "";
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n >= 6 && strncmp(buf, "commit", 6) == 0;
}

int main(void)
{
	const char *action = getenv("CRTOOLS_SCRIPT_ACTION");
	if (!action || strcmp(action, "post-dump") != 0)
		return 0;
	const char *path = getenv("FLYT_HOOK_SOCKET");
	if (!path)
		return 0; /* not a flyt migration: let CRIU finish as asked */

	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (fd < 0 || strlen(path) >= sizeof(sa.sun_path))
		return decision_file_says_commit() ? 0 : 1;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return decision_file_says_commit() ? 0 : 1;
	if (write(fd, "dumped\n", 7) != 7)
		return decision_file_says_commit() ? 0 : 1;
	char verdict[32];
	size_t got = 0;
	while (got < sizeof(verdict) - 1) {
		ssize_t n = read(fd, verdict + got, sizeof(verdict) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (memchr(verdict, '\n', got))
			break;
	}
	verdict[got] = '\0';
	close(fd);
	if (strncmp(verdict, "commit\n", 7) == 0)
		return 0;
	if (got == 0)
		return decision_file_says_commit() ? 0 : 1;
	return 1;
}
