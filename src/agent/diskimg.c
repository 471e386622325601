/* Empty disk images for the VM drivers' copies of local disks: a target agent
 * creates one per disk the source copies into it during a live migration (QEMU's
 * drive-mirror, libvirt's NBD storage migration), of the source disk's virtual
 * size and format. raw images are sparse files flyt makes itself; qcow2 images
 * come from qemu-img (package qemu-utils), looked up next to the QEMU binary
 * flytd was given (--qemu), then on PATH. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "lib/cleanup.h"
#include "lib/spawn.h"
#include "lib/util.h"

#define QEMU_IMG_TIMEOUT_MS 60000

bool diskimg_format_valid(const char *format)
{
	return format && (strcmp(format, "raw") == 0 || strcmp(format, "qcow2") == 0);
}

/* qemu-img next to --qemu's binary, else the first on PATH; NULL when none. */
static const char *qemu_img_path(agent_t *a, char *buf, size_t size)
{
	const char *slash = a->qemu ? strrchr(a->qemu, '/') : NULL;
	if (slash) {
		snprintf(buf, size, "%.*s/qemu-img", (int)(slash - a->qemu), a->qemu);
		if (access(buf, X_OK) == 0)
			return buf;
	}
	const char *path = getenv("PATH");
	_cleanup_free_ char *copy = flyt_strdup(path ? path : "/usr/bin:/bin");
	char *save = NULL;
	for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		snprintf(buf, size, "%s/qemu-img", d);
		if (access(buf, X_OK) == 0)
			return buf;
	}
	return NULL;
}

static int create_raw(const char *path, uint64_t size, flyt_error_t *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return flyt_error_set(err, FLYT_E_IO, errno, "create %s", path);
	int r = ftruncate(fd, (off_t)size);
	int e = errno;
	close(fd);
	if (r < 0) {
		unlink(path);
		return flyt_error_set(err, FLYT_E_IO, e, "size %s", path);
	}
	return 0;
}

static int create_qcow2(agent_t *a, const char *path, uint64_t size, flyt_error_t *err)
{
	char buf[512];
	const char *qemu_img = qemu_img_path(a, buf, sizeof(buf));
	if (!qemu_img)
		return flyt_error_set(err, FLYT_E_UNSUPPORTED, 0,
				      "copying a qcow2 disk needs qemu-img on the target host (install qemu-utils)");
	char sizes[32];
	snprintf(sizes, sizeof(sizes), "%llu", (unsigned long long)size);
	const char *argv[] = { qemu_img, "create", "-q", "-f", "qcow2", path, sizes, NULL };
	if (flyt_spawn_tool(argv, QEMU_IMG_TIMEOUT_MS, err) < 0) {
		unlink(path);
		return -1;
	}
	return 0;
}

int diskimg_create(agent_t *a, const char *path, const char *format, uint64_t size, flyt_error_t *err)
{
	if (!diskimg_format_valid(format))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "disk format must be raw or qcow2");
	if (size == 0 || size > DISKIMG_MAX_SIZE)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "bad disk size %llu (at most 64 TiB)",
				      (unsigned long long)size);
	/* whatever was there (a copy left by an earlier migration) is not in use:
	 * the workload is arriving */
	if (unlink(path) < 0 && errno != ENOENT)
		return flyt_error_set(err, FLYT_E_IO, errno, "remove the old %s", path);
	if (strcmp(format, "raw") == 0)
		return create_raw(path, size, err);
	return create_qcow2(a, path, size, err);
}
