/* flyt-launch: starts a process workload as PID 1 of its own PID and mount
 * namespaces, the shape CRIU can checkpoint from the host and restore on another.
 *
 *   flyt-launch --files DIR [--cwd DIR] -- CMD [ARG...]
 *
 * The workload sees DIR (its files directory, which travels with it) at
 * /run/flyt/workload, has its stdout and stderr appended to stdout.log and
 * stderr.log there, stdin on /dev/null, no inherited descriptors, its own session,
 * and a /proc of its own. The environment is passed through as is. On success the
 * workload's host PID is printed on stdout and the status is 0; otherwise the
 * reason is printed on stderr and the status is 1. flytd runs this helper because
 * setting up namespaces after fork() is unsafe in a threaded program. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define WORKLOAD_MOUNT "/run/flyt/workload"

static void fail(int errfd, const char *what)
{
	char msg[512];
	int n = snprintf(msg, sizeof(msg), "%s: %s", what, strerror(errno));
	if (write(errfd, msg, (size_t)n) < 0) {
		/* nothing more we can do */
	}
	_exit(127);
}

/* Mounts that belong to other software on this host and would not exist on a
 * migration target: namespace handles (ip netns), container root filesystems
 * (overlay, FUSE), everything below /tmp and /run (per-session and per-engine
 * scratch space) and the container engines' storage. The workload's mount table
 * keeps what every host of the cluster is expected to have (/, /proc, /sys,
 * /dev, /home, /var, ...). CRIU would otherwise have to recreate them on the
 * target, and refuses the dump outright for nsfs mounts. */
static bool transient_mount(const char *mp, const char *fstype)
{
	static const char *const types[] = { "nsfs", "overlay", "fuse", "autofs" };
	static const char *const under[] = { "/tmp/",
					     "/run/",
					     "/var/run/",
					     "/var/tmp/",
					     "/var/lib/docker/",
					     "/var/lib/containers/",
					     "/var/lib/libvirt/",
					     "/mnt/" };
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(fstype, types[i]) == 0 ||
		    (strncmp(fstype, types[i], strlen(types[i])) == 0 && fstype[strlen(types[i])] == '.'))
			return true;
	for (size_t i = 0; i < sizeof(under) / sizeof(under[0]); i++)
		if (strncmp(mp, under[i], strlen(under[i])) == 0)
			return true;
	return false;
}

static void detach_transient_mounts(int errfd)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		fail(errfd, "open /proc/self/mountinfo");
	char line[8192];
	char *paths[1024];
	int n = 0;
	while (n < 1024 && fgets(line, sizeof(line), f)) {
		char mp[4096], fstype[256];
		char *sep = strstr(line, " - ");
		if (!sep || sscanf(sep + 3, "%255s", fstype) != 1 || sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
			continue;
		if (transient_mount(mp, fstype))
			paths[n++] = strdup(mp);
	}
	fclose(f);
	/* deepest first, in reverse mount order; a parent's detach takes its
	 * children with it, so later failures (EINVAL) are expected */
	while (n-- > 0) {
		if (paths[n])
			umount2(paths[n], MNT_DETACH);
		free(paths[n]);
	}
}

static void mkdir_p(const char *path)
{
	char buf[4096];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(buf, 0755);
			*p = '/';
		}
	}
	mkdir(buf, 0755);
}

int main(int argc, char **argv)
{
	const char *files = NULL, *cwd = NULL;
	int i = 1;
	for (; i < argc; i++) {
		if (strcmp(argv[i], "--files") == 0 && i + 1 < argc)
			files = argv[++i];
		else if (strcmp(argv[i], "--cwd") == 0 && i + 1 < argc)
			cwd = argv[++i];
		else if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else {
			fprintf(stderr, "flyt-launch: unexpected argument %s\n", argv[i]);
			return 1;
		}
	}
	if (!files || i >= argc) {
		fprintf(stderr, "usage: flyt-launch --files DIR [--cwd DIR] -- CMD [ARG...]\n");
		return 1;
	}
	char **cmd = argv + i;

	int errpipe[2];
	if (pipe2(errpipe, O_CLOEXEC) < 0) {
		perror("flyt-launch: pipe");
		return 1;
	}
	mkdir_p(WORKLOAD_MOUNT);
	if (unshare(CLONE_NEWPID | CLONE_NEWNS) < 0) {
		fprintf(stderr, "flyt-launch: cannot create namespaces: %s\n", strerror(errno));
		return 1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		perror("flyt-launch: fork");
		return 1;
	}
	if (pid == 0) {
		int errfd = errpipe[1];
		close(errpipe[0]);
		/* CRIU refuses a tree whose session leader lives outside its namespace */
		if (setsid() < 0)
			fail(errfd, "setsid");
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			fail(errfd, "make mounts private");
		detach_transient_mounts(errfd);
		if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
			fail(errfd, "mount /proc");
		if (mount(files, WORKLOAD_MOUNT, NULL, MS_BIND, NULL) < 0)
			fail(errfd, "bind-mount the files directory");
		int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
		int out = open(WORKLOAD_MOUNT "/stdout.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		int err = open(WORKLOAD_MOUNT "/stderr.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (in < 0 || out < 0 || err < 0)
			fail(errfd, "open stdio");
		if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
			fail(errfd, "dup2");
		if (chdir(cwd ? cwd : WORKLOAD_MOUNT) < 0)
			fail(errfd, "chdir");
		/* nothing of the agent's leaks into the workload but the error pipe,
		 * which closes on exec */
		for (int fd = 3; fd < 1024; fd++)
			if (fd != errfd)
				close(fd);
		execvp(cmd[0], cmd);
		char what[300];
		snprintf(what, sizeof(what), "cannot run %s", cmd[0]);
		fail(errfd, what);
	}
	close(errpipe[1]);
	char msg[512];
	ssize_t n;
	do
		n = read(errpipe[0], msg, sizeof(msg) - 1);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		msg[n] = '\0';
		fprintf(stderr, "flyt-launch: %s\n", msg);
		waitpid(pid, NULL, 0);
		return 1;
	}
	printf("%d\n", (int)pid);
	return 0;
}
