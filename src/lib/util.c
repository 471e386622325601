/* Clocks, files, names and random identifiers. */
#include "util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"

uint64_t flyt_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t flyt_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int64_t flyt_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void flyt_format_time(int64_t wall_ms, char *buf, size_t size)
{
	time_t secs = (time_t)(wall_ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
	if (n > 0 && n < size)
		snprintf(buf + n, size - n, ".%03dZ", (int)(wall_ms % 1000));
}

void flyt_sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int flyt_read_file(const char *path, size_t max, char **ret, size_t *ret_len, flyt_error_t *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return flyt_error_set(err, errno == ENOENT ? FLYT_E_NOT_FOUND : FLYT_E_IO, errno, "open %s", path);
	size_t cap = 4096, len = 0;
	_cleanup_free_ char *buf = malloc(cap);
	if (!buf)
		return flyt_error_set(err, FLYT_E_INTERNAL, ENOMEM, "read %s", path);
	for (;;) {
		if (len + 1 >= cap) {
			if (cap > max + 1)
				return flyt_error_set(err, FLYT_E_TOO_LARGE, 0, "%s is larger than %zu bytes", path,
						      max);
			cap *= 2;
			char *nb = realloc(buf, cap);
			if (!nb)
				return flyt_error_set(err, FLYT_E_INTERNAL, ENOMEM, "read %s", path);
			buf = nb;
		}
		ssize_t n = read(fd, buf + len, cap - len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return flyt_error_set(err, FLYT_E_IO, errno, "read %s", path);
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max)
			return flyt_error_set(err, FLYT_E_TOO_LARGE, 0, "%s is larger than %zu bytes", path, max);
	}
	buf[len] = '\0';
	if (ret_len)
		*ret_len = len;
	*ret = TAKE_PTR(buf);
	return 0;
}

static int fsync_parent(const char *path)
{
	_cleanup_free_ char *dir = flyt_strdup(path);
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	return fsync(dfd);
}

int flyt_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, flyt_error_t *err)
{
	_cleanup_free_ char *tmp = flyt_asprintf("%s.tmp.%d", path, (int)getpid());
	_cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return flyt_error_set(err, FLYT_E_IO, errno, "create %s", tmp);
	const char *p = data;
	size_t left = len;
	while (left > 0) {
		ssize_t n = write(fd, p, left);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			unlink(tmp);
			return flyt_error_set(err, FLYT_E_IO, e, "write %s", tmp);
		}
		p += n;
		left -= (size_t)n;
	}
	if (fsync(fd) < 0) {
		int e = errno;
		unlink(tmp);
		return flyt_error_set(err, FLYT_E_IO, e, "fsync %s", tmp);
	}
	if (rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return flyt_error_set(err, FLYT_E_IO, e, "rename %s", path);
	}
	fsync_parent(path);
	return 0;
}

int flyt_mkdir_p(const char *path, mode_t mode, flyt_error_t *err)
{
	_cleanup_free_ char *p = flyt_strdup(path);
	size_t len = strlen(p);
	while (len > 1 && p[len - 1] == '/')
		p[--len] = '\0';
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return flyt_error_set(err, FLYT_E_IO, errno, "mkdir %s", p);
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		return flyt_error_set(err, FLYT_E_IO, errno, "mkdir %s", p);
	struct stat st;
	if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode))
		return flyt_error_set(err, FLYT_E_IO, ENOTDIR, "mkdir %s", p);
	return 0;
}

/* Removes everything inside the directory dfd (which it closes), staying on dev. */
static int rm_rf_children(int dfd, dev_t dev, const char *what, flyt_error_t *err)
{
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return flyt_error_set(err, FLYT_E_IO, errno, "open %s", what);
	}
	_cleanup_closedir_ DIR *dir = d;
	int r = 0;
	struct dirent *de;
	while ((de = readdir(dir))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		struct stat st;
		if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;
			r = flyt_error_set(err, FLYT_E_IO, errno, "stat %s/%s", what, de->d_name);
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			if (st.st_dev != dev) {
				r = flyt_error_set(err, FLYT_E_IO, EXDEV, "refusing to cross into %s/%s", what,
						   de->d_name);
				continue;
			}
			int cfd = openat(dirfd(dir), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd < 0) {
				r = flyt_error_set(err, FLYT_E_IO, errno, "open %s/%s", what, de->d_name);
				continue;
			}
			if (rm_rf_children(cfd, dev, what, err) < 0)
				r = -1;
			if (unlinkat(dirfd(dir), de->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT)
				r = flyt_error_set(err, FLYT_E_IO, errno, "rmdir %s/%s", what, de->d_name);
		} else if (unlinkat(dirfd(dir), de->d_name, 0) < 0 && errno != ENOENT) {
			r = flyt_error_set(err, FLYT_E_IO, errno, "unlink %s/%s", what, de->d_name);
		}
	}
	return r;
}

int flyt_rm_rf(const char *path, flyt_error_t *err)
{
	struct stat st;
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return flyt_error_set(err, FLYT_E_IO, errno, "stat %s", path);
	}
	if (!S_ISDIR(st.st_mode)) {
		if (unlink(path) < 0 && errno != ENOENT)
			return flyt_error_set(err, FLYT_E_IO, errno, "unlink %s", path);
		return 0;
	}
	int dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return flyt_error_set(err, FLYT_E_IO, errno, "open %s", path);
	if (rm_rf_children(dfd, st.st_dev, path, err) < 0)
		return -1;
	if (rmdir(path) < 0 && errno != ENOENT)
		return flyt_error_set(err, FLYT_E_IO, errno, "rmdir %s", path);
	return 0;
}

static int tree_size_at(int dfd, uint64_t *total, flyt_error_t *err)
{
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return flyt_error_set(err, FLYT_E_IO, errno, "opendir");
	}
	_cleanup_closedir_ DIR *dir = d;
	struct dirent *de;
	while ((de = readdir(dir))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		struct stat st;
		if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISREG(st.st_mode)) {
			*total += (uint64_t)st.st_size;
		} else if (S_ISDIR(st.st_mode)) {
			int cfd = openat(dirfd(dir), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd >= 0 && tree_size_at(cfd, total, err) < 0)
				return -1;
		}
	}
	return 0;
}

int flyt_tree_size(const char *path, uint64_t *ret, flyt_error_t *err)
{
	int dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return flyt_error_set(err, FLYT_E_IO, errno, "open %s", path);
	uint64_t total = 0;
	if (tree_size_at(dfd, &total, err) < 0)
		return flyt_error_prefix(err, "size of %s", path);
	*ret = total;
	return 0;
}

bool flyt_name_valid(const char *name)
{
	if (!name || !name[0])
		return false;
	size_t len = strlen(name);
	if (len > 63)
		return false;
	if (!islower((unsigned char)name[0]) && !isdigit((unsigned char)name[0]))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (!(islower(c) || isdigit(c) || c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}

bool flyt_id_valid(const char *id)
{
	if (!id || strlen(id) != 32)
		return false;
	for (const char *p = id; *p; p++)
		if (!isxdigit((unsigned char)*p) || isupper((unsigned char)*p))
			return false;
	return true;
}

bool flyt_relpath_valid(const char *path)
{
	if (!path || !path[0] || path[0] == '/')
		return false;
	size_t len = strlen(path);
	if (len > 1024)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)path[i];
		if (c < 0x20 || c == 0x7f)
			return false;
	}
	const char *p = path;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t clen = slash ? (size_t)(slash - p) : strlen(p);
		if (clen == 0)
			return false;
		if ((clen == 1 && p[0] == '.') || (clen == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		if (!slash)
			break;
		p = slash + 1;
		if (!*p)
			return false;
	}
	return true;
}

int flyt_random_hex(char *out, size_t bytes, flyt_error_t *err)
{
	unsigned char buf[64];
	if (bytes > sizeof(buf))
		return flyt_error_set(err, FLYT_E_INTERNAL, 0, "random_hex: %zu bytes is too many", bytes);
	size_t got = 0;
	while (got < bytes) {
		ssize_t n = getrandom(buf + got, bytes - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return flyt_error_set(err, FLYT_E_INTERNAL, errno, "getrandom");
		}
		got += (size_t)n;
	}
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < bytes; i++) {
		out[2 * i] = hex[buf[i] >> 4];
		out[2 * i + 1] = hex[buf[i] & 15];
	}
	out[2 * bytes] = '\0';
	return 0;
}

int flyt_new_id(char out[33], flyt_error_t *err)
{
	return flyt_random_hex(out, 16, err);
}

int flyt_parse_u64(const char *s, uint64_t max, uint64_t *ret)
{
	if (!s || !*s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*ret = v;
	return 0;
}

char *flyt_strdup(const char *s)
{
	char *d = strdup(s ? s : "");
	if (!d)
		abort();
	return d;
}

void *flyt_malloc0(size_t size)
{
	void *p = calloc(1, size ? size : 1);
	if (!p)
		abort();
	return p;
}

char *flyt_asprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	return s;
}

size_t flyt_strv_len(char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

void flyt_strv_push(char ***v, const char *s)
{
	size_t n = flyt_strv_len(*v);
	char **nv = realloc(*v, (n + 2) * sizeof(char *));
	if (!nv)
		abort();
	nv[n] = flyt_strdup(s);
	nv[n + 1] = NULL;
	*v = nv;
}

bool flyt_startswith(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

int flyt_version_cmp(const char *a, const char *b)
{
	while (*a || *b) {
		long x = strtol(a, (char **)&a, 10), y = strtol(b, (char **)&b, 10);
		if (x != y)
			return x < y ? -1 : 1;
		if (*a == '.')
			a++;
		if (*b == '.')
			b++;
		if (!*a && !*b)
			break;
		if (!(*a >= '0' && *a <= '9') && *a)
			a++;
		if (!(*b >= '0' && *b <= '9') && *b)
			b++;
	}
	return 0;
}
