/* Framed, checksummed migration stream and directory-tree transfer. */
#include "stream.h"

#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "cleanup.h"
#include "crc32c.h"
#include "json.h"
#include "net.h"
#include "tls.h"
#include "util.h"

void flyt_stream_init(flyt_stream_t *s, int fd)
{
	memset(s, 0, sizeof(*s));
	s->fd = fd;
}

void flyt_stream_close(flyt_stream_t *s)
{
	flyt_tls_conn_free(s->tls);
	s->tls = NULL;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

bool flyt_stream_pending(flyt_stream_t *s)
{
	return s->tls && flyt_tls_conn_pending(s->tls);
}

static void put32(unsigned char *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, 4);
}

static uint32_t get32(const unsigned char *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return be32toh(v);
}

/* Sleeps until the bytes sent so far fit the rate limit. */
static void throttle(flyt_stream_t *s)
{
	uint64_t now = flyt_now_us();
	if (!s->rate_started_us) {
		s->rate_started_us = now;
		return;
	}
	uint64_t due_us = s->bytes_sent * 1000000u / s->rate_bps;
	uint64_t elapsed = now - s->rate_started_us;
	while (due_us > elapsed) {
		if (s->cancel && *s->cancel)
			return;
		uint64_t wait = due_us - elapsed;
		flyt_sleep_ms((unsigned)(wait > 100000 ? 100 : (wait + 999) / 1000));
		elapsed = flyt_now_us() - s->rate_started_us;
	}
}

int flyt_stream_send(flyt_stream_t *s, flyt_frame_type_t type, const void *payload, uint32_t len, flyt_error_t *err)
{
	if (len > FLYT_FRAME_MAX)
		return flyt_error_set(err, FLYT_E_INTERNAL, 0, "frame of %u bytes exceeds the maximum", len);
	if (s->cancel && *s->cancel)
		return flyt_error_set(err, FLYT_E_CANCELLED, 0, "cancelled");
	unsigned char h[FLYT_FRAME_HEADER];
	put32(h, FLYT_FRAME_MAGIC);
	h[4] = FLYT_FRAME_VERSION;
	h[5] = (unsigned char)type;
	h[6] = h[7] = 0;
	put32(h + 8, s->send_seq);
	put32(h + 12, len);
	uint32_t crc = flyt_crc32c(0, h, 16);
	crc = flyt_crc32c(crc, payload, len);
	put32(h + 16, crc);

	_cleanup_free_ unsigned char *damaged = NULL;
	if (s->corrupt_frame && s->send_seq == s->corrupt_frame && len > 0) {
		damaged = flyt_malloc0(len);
		memcpy(damaged, payload, len);
		damaged[len / 2] ^= 0x10;
		payload = damaged;
	}
	if (s->tls) {
		flyt_tls_conn_cork(s->tls);
		if (flyt_tls_conn_send(s->tls, h, sizeof(h), err) < 0 ||
		    flyt_tls_conn_send(s->tls, payload, len, err) < 0 || flyt_tls_conn_uncork(s->tls, err) < 0)
			return -1;
		goto sent;
	}
	struct iovec iov[2] = { { h, sizeof(h) }, { (void *)payload, len } };
	int niov = len ? 2 : 1;
	size_t total = sizeof(h) + len;
	while (total > 0) {
		/* sendmsg rather than writev: MSG_NOSIGNAL turns a vanished peer into
		 * EPIPE instead of SIGPIPE */
		struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)niov };
		ssize_t n = sendmsg(s->fd, &msg, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return flyt_error_set(err, FLYT_E_TIMEOUT, 0, "stream: peer stopped reading");
			return flyt_error_set(err, FLYT_E_UNAVAILABLE, errno, "stream: send");
		}
		total -= (size_t)n;
		size_t k = (size_t)n;
		for (int i = 0; i < niov && k > 0; i++) {
			size_t take = k < iov[i].iov_len ? k : iov[i].iov_len;
			iov[i].iov_base = (char *)iov[i].iov_base + take;
			iov[i].iov_len -= take;
			k -= take;
		}
	}
sent:
	s->send_seq++;
	s->bytes_sent += sizeof(h) + len;
	if (s->rate_bps)
		throttle(s);
	return 0;
}

int flyt_stream_send_json(flyt_stream_t *s, flyt_frame_type_t type, json_t *j, flyt_error_t *err)
{
	_cleanup_free_ char *text = flyt_json_dumps(j);
	size_t len = strlen(text);
	if (len > FLYT_FRAME_JSON_MAX)
		return flyt_error_set(err, FLYT_E_INTERNAL, 0, "control message of %zu bytes is too large", len);
	return flyt_stream_send(s, type, text, (uint32_t)len, err);
}

void flyt_stream_send_error(flyt_stream_t *s, const flyt_error_t *e)
{
	_cleanup_json_ json_t *j = json_pack("{s:s, s:s}", "code", flyt_code_name(e->code), "message", e->msg);
	flyt_error_t ignored = FLYT_ERROR_INIT;
	if (j)
		flyt_stream_send_json(s, FLYT_FRAME_ERROR, j, &ignored);
}

/* Reads exactly len bytes, within s->deadline_ms when set. */
/* Waits until fd is readable or s->deadline_ms passes: 1 readable, 0 not yet
 * (call again), -1 with err. */
static int wait_readable(flyt_stream_t *s, flyt_error_t *err)
{
	uint64_t now = flyt_now_ms();
	if (now >= s->deadline_ms)
		return flyt_error_set(err, FLYT_E_TIMEOUT, 0, "receive: deadline passed");
	struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
	int r = poll(&pfd, 1, (int)(s->deadline_ms - now));
	if (r < 0 && errno != EINTR)
		return flyt_error_set(err, FLYT_E_INTERNAL, errno, "poll");
	return r > 0;
}

static int read_full_tls(flyt_stream_t *s, char *p, size_t len, flyt_error_t *err)
{
	while (len > 0) {
		if (s->deadline_ms && !flyt_tls_conn_pending(s->tls)) {
			int r = wait_readable(s, err);
			if (r < 0)
				return -1;
			if (r == 0)
				continue;
		}
		ssize_t n = flyt_tls_conn_recv(s->tls, p, len, err);
		if (n < 0)
			return -1;
		if (n == 0)
			return flyt_error_set(err, FLYT_E_UNAVAILABLE, 0, "receive: connection closed by peer");
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int read_full(flyt_stream_t *s, void *buf, size_t len, flyt_error_t *err)
{
	if (s->tls)
		return read_full_tls(s, buf, len, err);
	if (!s->deadline_ms)
		return flyt_read_all(s->fd, buf, len, err);
	char *p = buf;
	while (len > 0) {
		int r = wait_readable(s, err);
		if (r < 0)
			return -1;
		if (r == 0)
			continue;
		ssize_t n = recv(s->fd, p, len, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
				continue;
			return flyt_error_set(err, FLYT_E_UNAVAILABLE, errno, "receive");
		}
		if (n == 0)
			return flyt_error_set(err, FLYT_E_UNAVAILABLE, 0, "receive: connection closed by peer");
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int flyt_stream_recv(flyt_stream_t *s, flyt_frame_type_t *ret_type, void *buf, uint32_t cap, uint32_t *ret_len,
		     flyt_error_t *err)
{
	unsigned char h[FLYT_FRAME_HEADER];
	if (s->cancel && *s->cancel)
		return flyt_error_set(err, FLYT_E_CANCELLED, 0, "cancelled");
	if (read_full(s, h, sizeof(h), err) < 0)
		return flyt_error_prefix(err, "stream");
	if (get32(h) != FLYT_FRAME_MAGIC || h[4] != FLYT_FRAME_VERSION)
		return flyt_error_set(err, FLYT_E_CORRUPT, 0,
				      "stream: bad frame header (not a flyt stream, or damaged)");
	uint8_t type = h[5];
	uint32_t seq = get32(h + 8), len = get32(h + 12), crc = get32(h + 16);
	if (type == 0 || type >= FLYT_FRAME_TYPE_MAX)
		return flyt_error_set(err, FLYT_E_CORRUPT, 0, "stream: unknown frame type %u", type);
	if (len > FLYT_FRAME_MAX || len > cap)
		return flyt_error_set(err, FLYT_E_CORRUPT, 0, "stream: frame length %u exceeds the limit", len);
	if (seq != s->recv_seq)
		return flyt_error_set(err, FLYT_E_CORRUPT, 0, "stream: frame %u arrived where %u was expected", seq,
				      s->recv_seq);
	if (len > 0 && read_full(s, buf, len, err) < 0)
		return flyt_error_prefix(err, "stream");
	uint32_t c = flyt_crc32c(0, h, 16);
	c = flyt_crc32c(c, buf, len);
	if (c != crc)
		return flyt_error_set(err, FLYT_E_CORRUPT, 0,
				      "stream: checksum mismatch in frame %u (data damaged in transit)", seq);
	s->recv_seq++;
	s->bytes_received += sizeof(h) + len;
	if (type == FLYT_FRAME_ERROR) {
		_cleanup_json_ json_t *j = json_loadb(buf, len, 0, NULL);
		flyt_code_t code = flyt_code_from_name(flyt_json_str(j, "code", NULL));
		if (code == FLYT_E_INVALID_CODE || code == FLYT_OK)
			code = FLYT_E_INTERNAL;
		return flyt_error_set(err, code, 0, "peer: %s", flyt_json_str(j, "message", "unspecified error"));
	}
	*ret_type = (flyt_frame_type_t)type;
	*ret_len = len;
	return 0;
}

int flyt_stream_recv_json(flyt_stream_t *s, flyt_frame_type_t type, json_t **ret, flyt_error_t *err)
{
	_cleanup_free_ char *buf = malloc(FLYT_FRAME_MAX);
	if (!buf)
		return flyt_error_set(err, FLYT_E_INTERNAL, ENOMEM, "stream");
	flyt_frame_type_t got;
	uint32_t len;
	if (flyt_stream_recv(s, &got, buf, FLYT_FRAME_MAX, &len, err) < 0)
		return -1;
	if (got != type)
		return flyt_error_set(err, FLYT_E_CORRUPT, 0, "stream: expected frame type %d, got %d", type, got);
	if (len > FLYT_FRAME_JSON_MAX)
		return flyt_error_set(err, FLYT_E_CORRUPT, 0, "stream: control message too large");
	return flyt_json_parse_object(buf, len, FLYT_FRAME_JSON_MAX, ret, err);
}

/* ---- sending trees ---- */

static int send_file(flyt_stream_t *s, int dfd, const char *name, const char *path, const struct stat *st, char *buf,
		     flyt_error_t *err)
{
	_cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return flyt_error_set(err, FLYT_E_IO, errno, "open %s", path);
	_cleanup_json_ json_t *e = json_pack("{s:s, s:s, s:i, s:I}", "path", path, "kind", "file", "mode",
					     (int)(st->st_mode & 07777), "size", (json_int_t)st->st_size);
	if (flyt_stream_send_json(s, FLYT_FRAME_ENTRY, e, err) < 0)
		return -1;
	uint64_t sent = 0;
	for (;;) {
		ssize_t n = read(fd, buf, FLYT_FRAME_MAX);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return flyt_error_set(err, FLYT_E_IO, errno, "read %s", path);
		}
		if (n == 0)
			break;
		if (flyt_stream_send(s, FLYT_FRAME_DATA, buf, (uint32_t)n, err) < 0)
			return -1;
		sent += (uint64_t)n;
		if (s->progress)
			s->progress(s->progress_ctx, s->bytes_sent);
	}
	_cleanup_json_ json_t *end = json_pack("{s:I}", "size", (json_int_t)sent);
	return flyt_stream_send_json(s, FLYT_FRAME_ENTRY_END, end, err);
}

static int send_dir(flyt_stream_t *s, int dfd, const char *prefix, char *buf, int depth, flyt_error_t *err)
{
	if (depth > 64)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "directory tree deeper than 64 levels at %s", prefix);
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return flyt_error_set(err, FLYT_E_IO, errno, "opendir %s", prefix);
	}
	_cleanup_closedir_ DIR *dir = d;
	struct dirent *de;
	while ((de = readdir(dir))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		_cleanup_free_ char *path = flyt_asprintf("%s/%s", prefix, de->d_name);
		if (!flyt_relpath_valid(path))
			return flyt_error_set(err, FLYT_E_INVALID, 0, "cannot send %s: unusable file name", path);
		struct stat st;
		if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;
			return flyt_error_set(err, FLYT_E_IO, errno, "stat %s", path);
		}
		if (S_ISREG(st.st_mode)) {
			if (send_file(s, dirfd(dir), de->d_name, path, &st, buf, err) < 0)
				return -1;
		} else if (S_ISDIR(st.st_mode)) {
			_cleanup_json_ json_t *e = json_pack("{s:s, s:s, s:i}", "path", path, "kind", "dir", "mode",
							     (int)(st.st_mode & 07777));
			if (flyt_stream_send_json(s, FLYT_FRAME_ENTRY, e, err) < 0)
				return -1;
			int cfd = openat(dirfd(dir), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd < 0)
				return flyt_error_set(err, FLYT_E_IO, errno, "open %s", path);
			if (send_dir(s, cfd, path, buf, depth + 1, err) < 0)
				return -1;
		} else if (S_ISLNK(st.st_mode)) {
			char target[4096];
			ssize_t n = readlinkat(dirfd(dir), de->d_name, target, sizeof(target) - 1);
			if (n < 0)
				return flyt_error_set(err, FLYT_E_IO, errno, "readlink %s", path);
			target[n] = '\0';
			_cleanup_json_ json_t *e =
			    json_pack("{s:s, s:s, s:s}", "path", path, "kind", "symlink", "target", target);
			if (flyt_stream_send_json(s, FLYT_FRAME_ENTRY, e, err) < 0)
				return -1;
		}
		/* sockets, fifos and devices are not files a workload's state lives in */
	}
	return 0;
}

int flyt_stream_send_tree(flyt_stream_t *s, const char *dir, const char *prefix, flyt_error_t *err)
{
	if (!flyt_relpath_valid(prefix))
		return flyt_error_set(err, FLYT_E_INTERNAL, 0, "bad tree prefix %s", prefix);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return flyt_error_set(err, FLYT_E_IO, errno, "open %s", dir);
	_cleanup_free_ char *buf = malloc(FLYT_FRAME_MAX);
	if (!buf) {
		close(dfd);
		return flyt_error_set(err, FLYT_E_INTERNAL, ENOMEM, "send tree");
	}
	struct stat st;
	fstat(dfd, &st);
	/* announce every directory of the prefix, so "images/final" arrives whole */
	_cleanup_free_ char *part = flyt_strdup(prefix);
	for (char *slash = part;; slash++) {
		slash = strchr(slash, '/');
		if (slash)
			*slash = '\0';
		_cleanup_json_ json_t *e =
		    json_pack("{s:s, s:s, s:i}", "path", part, "kind", "dir", "mode", (int)(st.st_mode & 07777));
		if (flyt_stream_send_json(s, FLYT_FRAME_ENTRY, e, err) < 0) {
			close(dfd);
			return -1;
		}
		if (!slash)
			break;
		*slash = '/';
	}
	return send_dir(s, dfd, prefix, buf, 0, err);
}

/* ---- receiving trees ---- */

int flyt_openat_beneath(int root_fd, const char *path, int flags, mode_t mode, flyt_error_t *err)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
		.mode = (flags & O_CREAT) ? mode : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	int fd = (int)syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
	if (fd < 0)
		return flyt_error_set(err, FLYT_E_IO, errno, "open %s", path);
	return fd;
}

/* Splits path into its parent directory (opened beneath root) and last component. */
static int open_parent(int root_fd, const char *path, const char **ret_name, flyt_error_t *err)
{
	const char *slash = strrchr(path, '/');
	if (!slash) {
		*ret_name = path;
		return fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
	}
	_cleanup_free_ char *parent = strndup(path, (size_t)(slash - path));
	*ret_name = slash + 1;
	return flyt_openat_beneath(root_fd, parent, O_RDONLY | O_DIRECTORY, 0, err);
}

void flyt_tree_sink_init(flyt_tree_sink_t *sink, int root_fd)
{
	memset(sink, 0, sizeof(*sink));
	sink->root_fd = root_fd;
	sink->cur_fd = -1;
}

void flyt_tree_sink_close(flyt_tree_sink_t *sink)
{
	if (sink->cur_fd >= 0)
		close(sink->cur_fd);
	sink->cur_fd = -1;
}

static int sink_entry(flyt_tree_sink_t *sink, const void *payload, uint32_t len, flyt_error_t *err)
{
	if (sink->cur_fd >= 0)
		return flyt_error_set(err, FLYT_E_CORRUPT, 0, "stream: new entry before the end of %s", sink->cur_path);
	_cleanup_json_ json_t *e = NULL;
	if (flyt_json_parse_object(payload, len, FLYT_FRAME_JSON_MAX, &e, err) < 0)
		return flyt_error_prefix(err, "stream entry");
	const char *path = NULL, *kind = NULL, *target = NULL;
	int64_t mode = 0644, size = 0;
	if (flyt_json_get_string(e, "path", true, 1024, &path, err) < 0 ||
	    flyt_json_get_string(e, "kind", true, 16, &kind, err) < 0 ||
	    flyt_json_get_int(e, "mode", false, 0, 07777, &mode, err) < 0 ||
	    flyt_json_get_int(e, "size", false, 0, INT64_MAX, &size, err) < 0 ||
	    flyt_json_get_string(e, "target", false, 4095, &target, err) < 0)
		return flyt_error_prefix(err, "stream entry");
	if (!flyt_relpath_valid(path))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "stream entry: refusing path \"%.100s\"", path);
	/* no set-id bits arrive through the stream */
	mode &= 0777;

	const char *name;
	_cleanup_close_ int pfd = open_parent(sink->root_fd, path, &name, err);
	if (pfd < 0)
		return flyt_error_prefix(err, "stream entry %s", path);
	if (strcmp(kind, "dir") == 0) {
		if (mkdirat(pfd, name, (mode_t)mode | 0700) < 0 && errno != EEXIST)
			return flyt_error_set(err, FLYT_E_IO, errno, "mkdir %s", path);
		struct stat st;
		if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
			return flyt_error_set(err, FLYT_E_IO, ENOTDIR, "mkdir %s", path);
		return 0;
	}
	if (strcmp(kind, "symlink") == 0) {
		if (!target || !target[0])
			return flyt_error_set(err, FLYT_E_INVALID, 0, "stream entry %s: symlink without target", path);
		if (symlinkat(target, pfd, name) < 0)
			return flyt_error_set(err, FLYT_E_IO, errno, "symlink %s", path);
		return 0;
	}
	if (strcmp(kind, "file") != 0)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "stream entry %s: unknown kind \"%.16s\"", path, kind);
	int fd = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, (mode_t)mode);
	if (fd < 0)
		return flyt_error_set(err, FLYT_E_IO, errno, "create %s", path);
	/* the mode asked for, not the umask's idea of it */
	fchmod(fd, (mode_t)mode);
	sink->cur_fd = fd;
	snprintf(sink->cur_path, sizeof(sink->cur_path), "%s", path);
	sink->expected = (uint64_t)size;
	sink->written = 0;
	return 0;
}

static int sink_data(flyt_tree_sink_t *sink, const void *payload, uint32_t len, flyt_error_t *err)
{
	if (sink->cur_fd < 0)
		return flyt_error_set(err, FLYT_E_CORRUPT, 0, "stream: file data outside a file");
	if (sink->written + len > sink->expected)
		return flyt_error_set(err, FLYT_E_CORRUPT, 0, "stream: %s is longer than announced", sink->cur_path);
	const char *p = payload;
	size_t left = len;
	while (left > 0) {
		ssize_t n = write(sink->cur_fd, p, left);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return flyt_error_set(err, FLYT_E_IO, errno, "write %s", sink->cur_path);
		}
		p += n;
		left -= (size_t)n;
	}
	sink->written += len;
	sink->bytes += len;
	return 0;
}

static int sink_end(flyt_tree_sink_t *sink, const void *payload, uint32_t len, flyt_error_t *err)
{
	if (sink->cur_fd < 0)
		return flyt_error_set(err, FLYT_E_CORRUPT, 0, "stream: end of a file that was not started");
	_cleanup_json_ json_t *e = NULL;
	if (flyt_json_parse_object(payload, len, FLYT_FRAME_JSON_MAX, &e, err) < 0)
		return -1;
	int64_t size = -1;
	if (flyt_json_get_int(e, "size", true, 0, INT64_MAX, &size, err) < 0)
		return -1;
	if ((uint64_t)size != sink->written || sink->written != sink->expected)
		return flyt_error_set(err, FLYT_E_CORRUPT, 0,
				      "stream: %s arrived with %llu bytes, announced %llu, sender counted %lld",
				      sink->cur_path, (unsigned long long)sink->written,
				      (unsigned long long)sink->expected, (long long)size);
	int r = close(sink->cur_fd);
	sink->cur_fd = -1;
	if (r < 0)
		return flyt_error_set(err, FLYT_E_IO, errno, "close %s", sink->cur_path);
	sink->files++;
	return 0;
}

int flyt_tree_sink_frame(flyt_tree_sink_t *sink, flyt_frame_type_t type, const void *payload, uint32_t len,
			 flyt_error_t *err)
{
	int r;
	switch (type) {
	case FLYT_FRAME_ENTRY:
		r = sink_entry(sink, payload, len, err);
		break;
	case FLYT_FRAME_DATA:
		r = sink_data(sink, payload, len, err);
		break;
	case FLYT_FRAME_ENTRY_END:
		r = sink_end(sink, payload, len, err);
		break;
	default:
		return 0;
	}
	return r < 0 ? -1 : 1;
}
