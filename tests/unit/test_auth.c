/* Unit tests of lib/auth: token files (permissions, content rules, creation),
 * constant-time comparison and bearer header parsing. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/auth.h"
#include "lib/cleanup.h"
#include "tap.h"
#include "testutil.h"

/* Replaces path with a file holding content and exactly the given mode (chmod
 * after, so the umask does not matter; a new file, so a read-only old one does not
 * stop an unprivileged run). */
static void put_file(const char *path, const char *content, mode_t mode)
{
	unlink(path);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, content, strlen(content)) != (ssize_t)strlen(content) || fchmod(fd, mode) < 0)
		diag("setup of %s failed: %s", path, strerror(errno));
}

/* token_load: group/other-readable files are refused, 0600 and 0400 accepted, the
 * first line is the token, empty/long/spaced tokens refused. */
static void test_token_load(const char *tmp)
{
	flyt_error_t err = FLYT_ERROR_INIT;
	char token[FLYT_TOKEN_MAX];
	_cleanup_free_ char *path = flyt_asprintf("%s/token", tmp);

	put_file(path, "s3cret\n", 0644);
	is_int(flyt_token_load(path, token, &err), -1, "a token file with mode 0644 is refused");
	is_int(err.code, FLYT_E_FORBIDDEN, "... as FORBIDDEN");
	ok(strstr(err.msg, "chmod 600") != NULL, "... telling how to fix it (%s)", err.msg);

	put_file(path, "s3cret\n", 0640);
	is_int(flyt_token_load(path, token, &err), -1, "a group-readable token file (0640) is refused");
	put_file(path, "s3cret\n", 0604);
	is_int(flyt_token_load(path, token, &err), -1, "an other-readable token file (0604) is refused");

	put_file(path, "s3cret\nsecond line\n", 0600);
	is_int(flyt_token_load(path, token, &err), 0, "a token file with mode 0600 is accepted");
	is_str(token, "s3cret", "... the token is the first line");
	put_file(path, "s3cret\r\n", 0400);
	is_int(flyt_token_load(path, token, &err), 0, "mode 0400 is accepted");
	is_str(token, "s3cret", "... and a CRLF line end is not part of the token");
	put_file(path, "no-newline", 0600);
	is_int(flyt_token_load(path, token, &err), 0, "a token without a newline is accepted");
	is_str(token, "no-newline", "... whole");

	put_file(path, "", 0600);
	is_int(flyt_token_load(path, token, &err), -1, "an empty token file is refused");
	is_int(err.code, FLYT_E_INVALID, "... as INVALID");
	put_file(path, "\nsecret\n", 0600);
	is_int(flyt_token_load(path, token, &err), -1, "an empty first line is refused");
	put_file(path, "two words\n", 0600);
	is_int(flyt_token_load(path, token, &err), -1, "a token with a space is refused");
	put_file(path, "tab\there\n", 0600);
	is_int(flyt_token_load(path, token, &err), -1, "a token with a tab is refused");

	char longest[FLYT_TOKEN_MAX + 1];
	memset(longest, 'k', FLYT_TOKEN_MAX - 1);
	longest[FLYT_TOKEN_MAX - 1] = '\0';
	put_file(path, longest, 0600);
	is_int(flyt_token_load(path, token, &err), 0, "a token of FLYT_TOKEN_MAX - 1 characters is accepted");
	is_int(strlen(token), FLYT_TOKEN_MAX - 1, "... whole");
	memset(longest, 'k', FLYT_TOKEN_MAX);
	longest[FLYT_TOKEN_MAX] = '\0';
	put_file(path, longest, 0600);
	is_int(flyt_token_load(path, token, &err), -1, "a token of FLYT_TOKEN_MAX characters is refused");
	is_int(err.code, FLYT_E_INVALID, "... as INVALID");

	_cleanup_free_ char *missing = flyt_asprintf("%s/missing", tmp);
	is_int(flyt_token_load(missing, token, &err), -1, "a missing token file fails");
	is_int(err.code, FLYT_E_NOT_FOUND, "... as NOT_FOUND");

	_cleanup_free_ char *dir = flyt_asprintf("%s/tokdir", tmp);
	mkdir(dir, 0700);
	is_int(flyt_token_load(dir, token, &err), -1, "a directory is not a token file");
	is_int(err.code, FLYT_E_INVALID, "... INVALID");
}

/* load_or_create creates a 0600 file with 64 hex digits, then loads the same token;
 * it never replaces a file it refuses. */
static void test_load_or_create(const char *tmp)
{
	flyt_error_t err = FLYT_ERROR_INIT;
	char token[FLYT_TOKEN_MAX];
	_cleanup_free_ char *path = flyt_asprintf("%s/created-token", tmp);

	umask(0);
	bool created = false;
	is_int(flyt_token_load_or_create(path, token, &created, &err), 0, "load_or_create creates a missing token");
	umask(022);
	ok(created, "... and says so");
	is_int(strlen(token), 64, "... of 64 characters");
	is_int(strspn(token, "0123456789abcdef"), 64, "... all hex digits");
	struct stat st;
	ok(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600,
	   "... in a file of mode 0600, even with umask 0 (mode %o)", (unsigned)(st.st_mode & 07777));
	_cleanup_free_ char *content = test_read(path);
	_cleanup_free_ char *want = flyt_asprintf("%s\n", token);
	is_str(content, want, "... the file holds the token and a newline");

	char again[FLYT_TOKEN_MAX];
	created = true;
	is_int(flyt_token_load_or_create(path, again, &created, &err), 0, "a second call succeeds");
	ok(!created, "... without creating");
	is_str(again, token, "... and loads the same token");

	_cleanup_free_ char *other = flyt_asprintf("%s/other-token", tmp);
	char token2[FLYT_TOKEN_MAX];
	is_int(flyt_token_load_or_create(other, token2, NULL, &err), 0, "ret_created may be NULL");
	ok(strcmp(token, token2) != 0, "two created tokens differ");

	_cleanup_free_ char *open_file = flyt_asprintf("%s/readable-token", tmp);
	put_file(open_file, "visible\n", 0644);
	is_int(flyt_token_load_or_create(open_file, token, &created, &err), -1,
	       "an existing 0644 token file is refused, not replaced");
	is_int(err.code, FLYT_E_FORBIDDEN, "... as FORBIDDEN");
	_cleanup_free_ char *still = test_read(open_file);
	is_str(still, "visible\n", "... and left as it was");
}

/* BUG: error.h promises that err may be NULL everywhere ("Fills err (if not
 * NULL)"), but flyt_token_load_or_create copies the load error with `*err = e`
 * unconditionally and crashes when err is NULL and the file is refused. Runs in a
 * child so that the crash shows up as a failed check. */
static void test_load_or_create_null_err(const char *tmp)
{
	_cleanup_free_ char *path = flyt_asprintf("%s/null-err-token", tmp);
	put_file(path, "visible\n", 0644);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		char token[FLYT_TOKEN_MAX];
		_exit(flyt_token_load_or_create(path, token, NULL, NULL) == -1 ? 0 : 1);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "auth: load_or_create with err NULL returns -1 on a refused file instead of crashing");
	if (WIFSIGNALED(status))
		diag("the child died of signal %d", WTERMSIG(status));
}

/* token_equal: equal strings only; length differences and NULLs are unequal. */
static void test_token_equal(void)
{
	ok(flyt_token_equal("abc", "abc"), "equal tokens are equal");
	ok(!flyt_token_equal("abc", "abd"), "a different last character differs");
	ok(!flyt_token_equal("xbc", "abc"), "a different first character differs");
	ok(!flyt_token_equal("ab", "abc"), "a prefix of the token differs");
	ok(!flyt_token_equal("abcd", "abc"), "the token plus more differs");
	ok(!flyt_token_equal("", "abc"), "the empty string differs");
	ok(!flyt_token_equal(NULL, "abc"), "NULL differs");
	ok(!flyt_token_equal("abc", NULL), "NULL expected differs");
	ok(!flyt_token_equal("ABC", "abc"), "comparison is case-sensitive");
}

/* bearer_token: "Bearer TOKEN", scheme case-insensitive, nothing else. */
static void test_bearer(void)
{
	is_str(flyt_bearer_token("Bearer abc"), "abc", "\"Bearer abc\" gives abc");
	is_str(flyt_bearer_token("bearer abc"), "abc", "the scheme is case-insensitive");
	is_str(flyt_bearer_token("BEARER   abc"), "abc", "extra spaces before the token are skipped");
	is_str(flyt_bearer_token("Bearer "), NULL, "no token gives NULL");
	is_str(flyt_bearer_token("Bearer    "), NULL, "only spaces gives NULL");
	is_str(flyt_bearer_token("Bearer"), NULL, "the bare scheme gives NULL");
	is_str(flyt_bearer_token("Bearerabc"), NULL, "the scheme needs a space");
	is_str(flyt_bearer_token("Basic YWJjOmRlZg=="), NULL, "another scheme gives NULL");
	is_str(flyt_bearer_token("abc"), NULL, "a bare token gives NULL");
	is_str(flyt_bearer_token(""), NULL, "an empty header gives NULL");
	is_str(flyt_bearer_token(NULL), NULL, "no header gives NULL");
}

/* join tokens: "flyt1.ID.SECRET.CA" with exactly sized lower-case hex parts. */
static void test_join_token(void)
{
	char id[33], secret[65], ca[65];
	memset(id, 'a', 32), id[32] = '\0';
	memset(secret, '1', 64), secret[64] = '\0';
	memset(ca, 'f', 64), ca[64] = '\0';
	char good[200];
	snprintf(good, sizeof(good), "flyt1.%s.%s.%s", id, secret, ca);
	flyt_join_token_t t;
	flyt_error_t err = FLYT_ERROR_INIT;
	ok(flyt_join_token_parse(good, &t, &err) == 0, "a join token parses (%s)", err.msg);
	is_str(t.id, id, "its id");
	is_str(t.secret, secret, "its secret");
	is_str(t.ca_sha256, ca, "its CA hash");
	const char *bad[] = {
		NULL,
		"",
		"flyt1.",
		"flyt2.aaaa",
		"flyt1.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.11",
		"flyt1..." /* empty parts */,
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		flyt_error_t e = FLYT_ERROR_INIT;
		ok(flyt_join_token_parse(bad[i], &t, &e) < 0 && e.code == FLYT_E_UNAUTHORIZED, "refused: %s",
		   bad[i] ? bad[i] : "(null)");
	}
	char variant[260];
	snprintf(variant, sizeof(variant), "%s.%s", good, ca);
	ok(flyt_join_token_parse(variant, &t, &err) < 0, "a fifth part is refused");
	snprintf(variant, sizeof(variant), "flyt1.%s.%s.%s", id, secret, ca);
	variant[10] = 'A';
	ok(flyt_join_token_parse(variant, &t, &err) < 0, "upper-case hex is refused");
	snprintf(variant, sizeof(variant), "flyt1.%.31s.%s.%s", id, secret, ca);
	ok(flyt_join_token_parse(variant, &t, &err) < 0, "a short id is refused");
	snprintf(variant, sizeof(variant), "flyt1.%s.%s.%sff", id, secret, ca);
	ok(flyt_join_token_parse(variant, &t, &err) < 0, "a long CA hash is refused");
}

int main(void)
{
	_cleanup_tmpdir_ char *tmp = test_tmpdir("auth");
	test_join_token();
	test_token_load(tmp);
	test_load_or_create(tmp);
	test_load_or_create_null_err(tmp);
	test_token_equal();
	test_bearer();
	return done();
}
