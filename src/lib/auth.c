/* Token files and constant-time comparison. */
#include "auth.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "util.h"

int flyt_token_load(const char *path, char out[FLYT_TOKEN_MAX], flyt_error_t *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	if (fd < 0)
		return flyt_error_set(err, errno == ENOENT ? FLYT_E_NOT_FOUND : FLYT_E_IO, errno,
				      "cannot read token file %s", path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return flyt_error_set(err, FLYT_E_IO, errno, "stat %s", path);
	if (!S_ISREG(st.st_mode))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "token file %s is not a regular file", path);
	if (st.st_uid != geteuid())
		return flyt_error_set(err, FLYT_E_FORBIDDEN, 0, "token file %s belongs to another user (uid %u)", path,
				      (unsigned)st.st_uid);
	if (st.st_mode & 077)
		return flyt_error_set(err, FLYT_E_FORBIDDEN, 0,
				      "token file %s is readable by others (mode %03o); run: chmod 600 %s", path,
				      (unsigned)(st.st_mode & 0777), path);
	char buf[FLYT_TOKEN_MAX + 2];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		return flyt_error_set(err, FLYT_E_IO, errno, "read %s", path);
	buf[n] = '\0';
	size_t len = strcspn(buf, "\r\n");
	buf[len] = '\0';
	if (len == 0)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "token file %s is empty", path);
	if (len >= FLYT_TOKEN_MAX)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "token in %s is longer than %d characters", path,
				      FLYT_TOKEN_MAX - 1);
	for (size_t i = 0; i < len; i++)
		if (!isgraph((unsigned char)buf[i]))
			return flyt_error_set(err, FLYT_E_INVALID, 0,
					      "token in %s contains a space or control character", path);
	memcpy(out, buf, len + 1);
	return 0;
}

int flyt_token_load_or_create(const char *path, char out[FLYT_TOKEN_MAX], bool *ret_created, flyt_error_t *err)
{
	if (ret_created)
		*ret_created = false;
	flyt_error_t e = FLYT_ERROR_INIT;
	if (flyt_token_load(path, out, &e) == 0)
		return 0;
	if (e.code != FLYT_E_NOT_FOUND) {
		if (err)
			*err = e;
		return -1;
	}
	char tok[65];
	if (flyt_random_hex(tok, 32, err) < 0)
		return -1;
	/* written whole under a temporary name, then linked into place: a crash or a
	 * full disk never leaves an empty token file behind, and an existing file
	 * (a racing creator) is never replaced */
	_cleanup_free_ char *tmp = flyt_asprintf("%s.tmp.%d", path, (int)getpid());
	_cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return flyt_error_set(err, FLYT_E_IO, errno, "create token file %s", tmp);
	char line[80];
	int n = snprintf(line, sizeof(line), "%s\n", tok);
	if (write(fd, line, (size_t)n) != n || fsync(fd) < 0) {
		int saved = errno;
		unlink(tmp);
		return flyt_error_set(err, FLYT_E_IO, saved, "write token file %s", tmp);
	}
	if (link(tmp, path) < 0) {
		int saved = errno;
		unlink(tmp);
		return flyt_error_set(err, FLYT_E_IO, saved, "create token file %s", path);
	}
	unlink(tmp);
	memcpy(out, tok, sizeof(tok));
	if (ret_created)
		*ret_created = true;
	return 0;
}

bool flyt_token_equal(const char *a, const char *b)
{
	if (!a || !b)
		return false;
	size_t la = strlen(a), lb = strlen(b);
	unsigned char diff = (unsigned char)(la != lb);
	/* walk the expected token's length whatever the input, so timing shows nothing */
	for (size_t i = 0; i < lb; i++) {
		unsigned char ca = i < la ? (unsigned char)a[i] : 0;
		diff |= (unsigned char)(ca ^ (unsigned char)b[i]);
	}
	return diff == 0;
}

const char *flyt_bearer_token(const char *authorization)
{
	if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
		return NULL;
	const char *t = authorization + 7;
	while (*t == ' ')
		t++;
	return *t ? t : NULL;
}

static bool hex_of_len(const char *s, size_t len)
{
	if (strlen(s) != len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

int flyt_join_token_parse(const char *text, flyt_join_token_t *ret, flyt_error_t *err)
{
	memset(ret, 0, sizeof(*ret));
	static const char prefix[] = "flyt1.";
	if (!text || strncmp(text, prefix, sizeof(prefix) - 1) != 0)
		return flyt_error_set(err, FLYT_E_UNAUTHORIZED, 0,
				      "not a flyt join token (expected flyt1.ID.SECRET.CA)");
	char buf[FLYT_JOIN_ID_HEX + FLYT_JOIN_SECRET_HEX + FLYT_JOIN_CA_HEX + 4];
	const char *rest = text + sizeof(prefix) - 1;
	if (strlen(rest) >= sizeof(buf))
		return flyt_error_set(err, FLYT_E_UNAUTHORIZED, 0, "malformed join token");
	memcpy(buf, rest, strlen(rest) + 1);
	char *save = NULL;
	const char *id = strtok_r(buf, ".", &save), *secret = strtok_r(NULL, ".", &save),
		   *ca = strtok_r(NULL, ".", &save), *more = strtok_r(NULL, ".", &save);
	if (!id || !secret || !ca || more || !hex_of_len(id, FLYT_JOIN_ID_HEX) ||
	    !hex_of_len(secret, FLYT_JOIN_SECRET_HEX) || !hex_of_len(ca, FLYT_JOIN_CA_HEX))
		return flyt_error_set(err, FLYT_E_UNAUTHORIZED, 0, "malformed join token");
	memcpy(ret->id, id, FLYT_JOIN_ID_HEX + 1);
	memcpy(ret->secret, secret, FLYT_JOIN_SECRET_HEX + 1);
	memcpy(ret->ca_sha256, ca, FLYT_JOIN_CA_HEX + 1);
	return 0;
}
