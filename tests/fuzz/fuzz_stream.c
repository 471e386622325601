/* Fuzz target: the receiving side of the migration stream. The input is what a
 * peer sends (or what a damaged link delivers): frames are read until the stream
 * ends or is refused; CTRL and HELLO payloads go through the JSON reader, tree
 * frames into a tree sink below a scratch root. Whatever the bytes, nothing may
 * crash, and nothing may appear outside the root (no path escape, no symbolic
 * link followed). */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/json.h"
#include "lib/stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char scratch[64]; /* a private directory holding only "root" */
static char root[80];
static unsigned char frame[FLYT_FRAME_MAX];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	if (ftw->level > 0)
		remove(path);
	return 0;
}

/* The scratch directory goes when the fuzzer exits (libFuzzer exits through
 * exit(): at the end of its runs, and after reporting a finding). */
static void remove_scratch(void)
{
	nftw(scratch, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	rmdir(scratch);
}

static void setup(void)
{
	if (scratch[0])
		return;
	snprintf(scratch, sizeof(scratch), "/tmp/flyt-fuzz-stream-XXXXXX");
	if (!mkdtemp(scratch))
		abort();
	atexit(remove_scratch);
	snprintf(root, sizeof(root), "%s/root", scratch);
	if (mkdir(root, 0700) < 0)
		abort();
}

/* Only "root" may exist in the scratch directory. */
static void check_nothing_escaped(void)
{
	DIR *d = opendir(scratch);
	if (!d)
		abort();
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "root")) {
			fprintf(stderr, "fuzz_stream: %s appeared outside the sink's root\n", e->d_name);
			abort();
		}
	}
	closedir(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	int fd = memfd_create("fuzz-stream", MFD_CLOEXEC);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size || lseek(fd, 0, SEEK_SET) != 0)
		abort();
	int root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0)
		abort();

	flyt_stream_t s;
	flyt_stream_init(&s, fd);
	flyt_tree_sink_t sink;
	flyt_tree_sink_init(&sink, root_fd);
	for (;;) {
		flyt_error_t err = FLYT_ERROR_INIT;
		flyt_frame_type_t type;
		uint32_t len = 0;
		if (flyt_stream_recv(&s, &type, frame, sizeof(frame), &len, &err) < 0)
			break;
		if (type == FLYT_FRAME_CTRL || type == FLYT_FRAME_HELLO) {
			json_t *j = NULL;
			if (flyt_json_parse_object((const char *)frame, len, FLYT_FRAME_JSON_MAX, &j, &err) == 0) {
				(void)flyt_json_str(j, "type", NULL);
				json_decref(j);
			}
			continue;
		}
		if (flyt_tree_sink_frame(&sink, type, frame, len, &err) < 0)
			break;
	}
	flyt_tree_sink_close(&sink);
	close(root_fd);
	close(fd);
	check_nothing_escaped();
	nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
