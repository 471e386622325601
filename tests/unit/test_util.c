/* Unit tests of lib/util: name, id and relative-path validation, integer parsing,
 * files (read, atomic write, mkdir -p, rm -rf that never follows links, tree size),
 * clocks, random ids and string vectors. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/util.h"
#include "tap.h"
#include "testutil.h"

static void write_text(const char *path, const char *text)
{
	flyt_error_t err = FLYT_ERROR_INIT;
	if (flyt_write_file_atomic(path, text, strlen(text), 0644, &err) < 0)
		diag("setup: %s", err.msg);
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/* Names: 1-63 of [a-z0-9_.-], starting with a letter or digit. */
static void test_name_valid(void)
{
	ok(flyt_name_valid("web"), "a plain name is valid");
	ok(flyt_name_valid("a"), "a one-letter name is valid");
	ok(flyt_name_valid("0db-1.prod_x"), "digits, '-', '.' and '_' are allowed");
	char n63[64], n64[65];
	memset(n63, 'a', 63);
	n63[63] = '\0';
	memset(n64, 'a', 64);
	n64[64] = '\0';
	ok(flyt_name_valid(n63), "63 characters are valid");
	ok(!flyt_name_valid(n64), "64 characters are refused");
	ok(!flyt_name_valid(""), "the empty name is refused");
	ok(!flyt_name_valid(NULL), "NULL is refused");
	ok(!flyt_name_valid("Web"), "upper case is refused");
	ok(!flyt_name_valid("-web"), "a leading '-' is refused");
	ok(!flyt_name_valid(".web"), "a leading '.' is refused (hidden files, \"..\")");
	ok(!flyt_name_valid("_web"), "a leading '_' is refused");
	ok(!flyt_name_valid(".."), "\"..\" is refused");
	ok(!flyt_name_valid("a/b"), "a slash is refused");
	ok(!flyt_name_valid("a b"), "a space is refused");
	ok(!flyt_name_valid("a\nb"), "a newline is refused");
	ok(!flyt_name_valid("caf\xc3\xa9"), "non-ASCII bytes are refused");
}

/* Ids: exactly 32 lower-case hex digits. */
static void test_id_valid(void)
{
	ok(flyt_id_valid("0123456789abcdef0123456789abcdef"), "32 lower-case hex digits are valid");
	ok(!flyt_id_valid("0123456789ABCDEF0123456789abcdef"), "upper-case hex is refused");
	ok(!flyt_id_valid("0123456789abcdef0123456789abcde"), "31 digits are refused");
	ok(!flyt_id_valid("0123456789abcdef0123456789abcdef0"), "33 digits are refused");
	ok(!flyt_id_valid("0123456789abcdef0123456789abcdeg"), "a non-hex letter is refused");
	ok(!flyt_id_valid(""), "the empty id is refused");
	ok(!flyt_id_valid(NULL), "NULL is refused");

	char id[33];
	flyt_error_t err = FLYT_ERROR_INIT;
	is_int(flyt_new_id(id, &err), 0, "new_id succeeds");
	ok(flyt_id_valid(id), "a new id is a valid id (%s)", id);
	char other[33];
	flyt_new_id(other, &err);
	ok(strcmp(id, other) != 0, "two new ids differ");

	char hex[129];
	is_int(flyt_random_hex(hex, 64, &err), 0, "random_hex takes up to 64 bytes");
	is_int(strlen(hex), 128, "random_hex writes two digits per byte");
	is_int(strspn(hex, "0123456789abcdef"), 128, "random_hex writes lower-case hex only");
	is_int(flyt_random_hex(hex, 65, &err), -1, "random_hex refuses more than 64 bytes");
	is_int(err.code, FLYT_E_INTERNAL, "... as an internal error");
}

/* Relative paths: no absolute, no "." or "..", no empty components, printable only,
 * at most 1024 bytes. */
static void test_relpath_valid(void)
{
	ok(flyt_relpath_valid("a"), "a single component is valid");
	ok(flyt_relpath_valid("images/pages-1.img"), "nested paths are valid");
	ok(flyt_relpath_valid(".hidden/..x/x.."), "dots inside names are fine");
	ok(flyt_relpath_valid("with space/ok"), "spaces are printable");
	ok(!flyt_relpath_valid(""), "the empty path is refused");
	ok(!flyt_relpath_valid(NULL), "NULL is refused");
	ok(!flyt_relpath_valid("/abs"), "an absolute path is refused");
	ok(!flyt_relpath_valid(".."), "\"..\" is refused");
	ok(!flyt_relpath_valid("../x"), "a leading \"..\" is refused");
	ok(!flyt_relpath_valid("a/../../x"), "an inner \"..\" is refused");
	ok(!flyt_relpath_valid("a/.."), "a trailing \"..\" is refused");
	ok(!flyt_relpath_valid("."), "\".\" is refused");
	ok(!flyt_relpath_valid("./a"), "a \".\" component is refused");
	ok(!flyt_relpath_valid("a//b"), "an empty component is refused");
	ok(!flyt_relpath_valid("a/"), "a trailing slash is refused");
	ok(!flyt_relpath_valid("a\nb"), "a newline is refused");
	ok(!flyt_relpath_valid("a\x7f"), "DEL is refused");
	ok(!flyt_relpath_valid("a\tb"), "a tab is refused");

	char p1024[1025], p1025[1026];
	memset(p1024, 'a', 1024);
	p1024[1024] = '\0';
	memset(p1025, 'a', 1025);
	p1025[1025] = '\0';
	ok(flyt_relpath_valid(p1024), "1024 bytes are valid");
	ok(!flyt_relpath_valid(p1025), "1025 bytes are refused");
}

/* parse_u64: decimal digits only, no sign or space, within max; *ret untouched on
 * failure. */
static void test_parse_u64(void)
{
	uint64_t v = 77;
	is_int(flyt_parse_u64("0", 10, &v), 0, "\"0\" parses");
	is_int(v, 0, "... to 0");
	is_int(flyt_parse_u64("10", 10, &v), 0, "max itself is accepted");
	is_int(v, 10, "... to 10");
	v = 77;
	is_int(flyt_parse_u64("11", 10, &v), -1, "max + 1 is refused");
	is_int(v, 77, "a refused value leaves *ret untouched");
	ok(flyt_parse_u64("18446744073709551615", UINT64_MAX, &v) == 0 && v == UINT64_MAX,
	   "UINT64_MAX parses with max UINT64_MAX");
	is_int(flyt_parse_u64("18446744073709551616", UINT64_MAX, &v), -1, "UINT64_MAX + 1 overflows and is refused");
	is_int(flyt_parse_u64("", 10, &v), -1, "the empty string is refused");
	is_int(flyt_parse_u64(NULL, 10, &v), -1, "NULL is refused");
	is_int(flyt_parse_u64("-1", UINT64_MAX, &v), -1, "a minus sign is refused (strtoull would wrap it)");
	is_int(flyt_parse_u64("+1", 10, &v), -1, "a plus sign is refused");
	is_int(flyt_parse_u64(" 1", 10, &v), -1, "leading space is refused");
	is_int(flyt_parse_u64("1 ", 10, &v), -1, "trailing space is refused");
	is_int(flyt_parse_u64("1x", 10, &v), -1, "trailing junk is refused");
	is_int(flyt_parse_u64("0x10", 100, &v), -1, "hex is refused");
}

/* read_file: whole content, NUL-terminated, bounded by max. */
static void test_read_file(const char *tmp)
{
	_cleanup_free_ char *path = flyt_asprintf("%s/read", tmp);
	write_text(path, "0123456789");
	flyt_error_t err = FLYT_ERROR_INIT;
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	is_int(flyt_read_file(path, 10, &text, &len, &err), 0, "a file of exactly max bytes is read");
	is_str(text, "0123456789", "... with its content");
	is_int(len, 10, "... and its length");

	_cleanup_free_ char *none = NULL;
	is_int(flyt_read_file(path, 9, &none, NULL, &err), -1, "a file longer than max is refused");
	is_int(err.code, FLYT_E_TOO_LARGE, "... as TOO_LARGE");
	ok(none == NULL, "... and *ret is not written");

	_cleanup_free_ char *missing = flyt_asprintf("%s/missing", tmp);
	is_int(flyt_read_file(missing, 100, &none, NULL, &err), -1, "a missing file fails");
	is_int(err.code, FLYT_E_NOT_FOUND, "... as NOT_FOUND");

	/* larger than the first read buffer, to exercise growing it */
	_cleanup_free_ char *big = flyt_malloc0(20001);
	memset(big, 'b', 20000);
	_cleanup_free_ char *bigpath = flyt_asprintf("%s/big", tmp);
	write_text(bigpath, big);
	_cleanup_free_ char *bigtext = NULL;
	ok(flyt_read_file(bigpath, 20000, &bigtext, &len, &err) == 0 && len == 20000 && strcmp(bigtext, big) == 0,
	   "a 20000-byte file is read whole");
	_cleanup_free_ char *bigtoo = NULL;
	is_int(flyt_read_file(bigpath, 19999, &bigtoo, NULL, &err), -1, "... and refused with max one byte short");
}

/* write_file_atomic: content and mode, replaces the old file, leaves no temporary,
 * replaces a symbolic link instead of writing through it, and refuses a planted
 * link at its temporary name. */
static void test_write_file_atomic(const char *tmp)
{
	flyt_error_t err = FLYT_ERROR_INIT;
	_cleanup_free_ char *path = flyt_asprintf("%s/atomic", tmp);
	is_int(flyt_write_file_atomic(path, "first", 5, 0600, &err), 0, "write_file_atomic creates a file");
	_cleanup_free_ char *first = test_read(path);
	is_str(first, "first", "... with the content");
	struct stat st;
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "... and mode 0600");

	is_int(flyt_write_file_atomic(path, "second!", 7, 0600, &err), 0, "write_file_atomic replaces a file");
	_cleanup_free_ char *second = test_read(path);
	is_str(second, "second!", "... with the new content");

	_cleanup_free_ char *tmpname = flyt_asprintf("%s.tmp.%d", path, (int)getpid());
	ok(!exists(tmpname), "no temporary file is left behind");

	/* a symbolic link at the destination is replaced, its target stays as it was */
	_cleanup_free_ char *outside = flyt_asprintf("%s/outside", tmp);
	write_text(outside, "precious");
	_cleanup_free_ char *link = flyt_asprintf("%s/link", tmp);
	ok(symlink(outside, link) == 0, "setup: symlink");
	is_int(flyt_write_file_atomic(link, "new", 3, 0600, &err), 0, "writing over a symlink succeeds");
	ok(lstat(link, &st) == 0 && S_ISREG(st.st_mode), "... the symlink became a regular file");
	_cleanup_free_ char *kept = test_read(outside);
	is_str(kept, "precious", "... and its old target is untouched");

	/* a link planted at the temporary name must not be written through */
	_cleanup_free_ char *victim = flyt_asprintf("%s/victim", tmp);
	write_text(victim, "victim");
	_cleanup_free_ char *planted_dest = flyt_asprintf("%s/planted", tmp);
	_cleanup_free_ char *planted_tmp = flyt_asprintf("%s.tmp.%d", planted_dest, (int)getpid());
	ok(symlink(victim, planted_tmp) == 0, "setup: symlink at the temporary name");
	is_int(flyt_write_file_atomic(planted_dest, "evil", 4, 0600, &err), -1,
	       "a symlink at the temporary name makes the write fail");
	_cleanup_free_ char *victim_text = test_read(victim);
	is_str(victim_text, "victim", "... and its target is untouched");

	_cleanup_free_ char *nodir = flyt_asprintf("%s/no/such/dir/file", tmp);
	is_int(flyt_write_file_atomic(nodir, "x", 1, 0600, &err), -1, "writing into a missing directory fails");
	is_int(err.code, FLYT_E_IO, "... as IO");
}

/* mkdir_p: creates every level, accepts existing directories and trailing slashes,
 * refuses a file in the way. */
static void test_mkdir_p(const char *tmp)
{
	flyt_error_t err = FLYT_ERROR_INIT;
	_cleanup_free_ char *deep = flyt_asprintf("%s/m/a/b/c", tmp);
	is_int(flyt_mkdir_p(deep, 0755, &err), 0, "mkdir_p creates nested directories");
	struct stat st;
	ok(stat(deep, &st) == 0 && S_ISDIR(st.st_mode), "... the deepest one exists");
	is_int(flyt_mkdir_p(deep, 0755, &err), 0, "mkdir_p of an existing directory succeeds");
	_cleanup_free_ char *slash = flyt_asprintf("%s/m/x//y/", tmp);
	is_int(flyt_mkdir_p(slash, 0755, &err), 0, "double and trailing slashes are fine");
	_cleanup_free_ char *xy = flyt_asprintf("%s/m/x/y", tmp);
	ok(stat(xy, &st) == 0 && S_ISDIR(st.st_mode), "... and create the directory");

	_cleanup_free_ char *file = flyt_asprintf("%s/m/file", tmp);
	write_text(file, "x");
	is_int(flyt_mkdir_p(file, 0755, &err), -1, "mkdir_p where a file exists fails");
	_cleanup_free_ char *below = flyt_asprintf("%s/m/file/sub", tmp);
	is_int(flyt_mkdir_p(below, 0755, &err), -1, "mkdir_p below a file fails");
	is_int(err.code, FLYT_E_IO, "... as IO");
}

/* rm_rf removes a whole tree but never follows a symbolic link out of it. */
static void test_rm_rf(const char *tmp)
{
	flyt_error_t err = FLYT_ERROR_INIT;
	_cleanup_free_ char *outside = flyt_asprintf("%s/outside-dir", tmp);
	_cleanup_free_ char *outside_file = flyt_asprintf("%s/outside-dir/keep", tmp);
	flyt_mkdir_p(outside, 0755, &err);
	write_text(outside_file, "keep me");

	_cleanup_free_ char *root = flyt_asprintf("%s/victim-tree", tmp);
	_cleanup_free_ char *deep = flyt_asprintf("%s/a/b/c", root);
	flyt_mkdir_p(deep, 0755, &err);
	_cleanup_free_ char *f1 = flyt_asprintf("%s/a/f1", root);
	_cleanup_free_ char *f2 = flyt_asprintf("%s/a/b/c/f2", root);
	write_text(f1, "1");
	write_text(f2, "2");
	_cleanup_free_ char *dirlink = flyt_asprintf("%s/a/b/to-outside", root);
	_cleanup_free_ char *filelink = flyt_asprintf("%s/to-keep", root);
	ok(symlink(outside, dirlink) == 0 && symlink(outside_file, filelink) == 0, "setup: links out of the tree");
	_cleanup_free_ char *empty = flyt_asprintf("%s/empty", root);
	flyt_mkdir_p(empty, 0755, &err);

	is_int(flyt_rm_rf(root, &err), 0, "rm_rf removes the tree");
	ok(!exists(root), "... the tree is gone");
	ok(exists(outside_file), "... the directory a link pointed to keeps its content");
	_cleanup_free_ char *kept = test_read(outside_file);
	is_str(kept, "keep me", "... unchanged");

	/* rm_rf of a link to a directory removes the link only */
	_cleanup_free_ char *toplink = flyt_asprintf("%s/toplink", tmp);
	ok(symlink(outside, toplink) == 0, "setup: link to a directory");
	is_int(flyt_rm_rf(toplink, &err), 0, "rm_rf of a symlink succeeds");
	ok(!exists(toplink), "... the link is gone");
	ok(exists(outside_file), "... the directory behind it is not emptied");

	is_int(flyt_rm_rf(root, &err), 0, "rm_rf of a missing path is not an error");
	_cleanup_free_ char *plain = flyt_asprintf("%s/plain", tmp);
	write_text(plain, "x");
	is_int(flyt_rm_rf(plain, &err), 0, "rm_rf of a regular file succeeds");
	ok(!exists(plain), "... the file is gone");
}

/* tree_size sums regular files below a directory, not following links. */
static void test_tree_size(const char *tmp)
{
	flyt_error_t err = FLYT_ERROR_INIT;
	_cleanup_free_ char *root = flyt_asprintf("%s/sized", tmp);
	_cleanup_free_ char *sub = flyt_asprintf("%s/sub/deeper", root);
	flyt_mkdir_p(sub, 0755, &err);
	_cleanup_free_ char *a = flyt_asprintf("%s/a", root);
	_cleanup_free_ char *b = flyt_asprintf("%s/sub/deeper/b", root);
	write_text(a, "0123456789");	       /* 10 */
	write_text(b, "01234567890123456789"); /* 20 */
	_cleanup_free_ char *big = flyt_asprintf("%s/big-outside", tmp);
	_cleanup_free_ char *bigtext = flyt_malloc0(5001);
	memset(bigtext, 'x', 5000);
	write_text(big, bigtext);
	_cleanup_free_ char *link = flyt_asprintf("%s/link", root);
	_cleanup_free_ char *dirlink = flyt_asprintf("%s/dirlink", root);
	ok(symlink(big, link) == 0 && symlink(tmp, dirlink) == 0, "setup: links to a big file and a directory");

	uint64_t size = 0;
	is_int(flyt_tree_size(root, &size, &err), 0, "tree_size succeeds");
	is_int(size, 30, "tree_size counts regular files only, links not followed");

	_cleanup_free_ char *missing = flyt_asprintf("%s/missing", tmp);
	is_int(flyt_tree_size(missing, &size, &err), -1, "tree_size of a missing directory fails");
}

/* Clocks, time formatting and the small string helpers. */
static void test_misc(void)
{
	uint64_t m1 = flyt_now_ms(), u1 = flyt_now_us();
	uint64_t m2 = flyt_now_ms(), u2 = flyt_now_us();
	ok(m2 >= m1 && u2 >= u1, "the monotonic clocks do not go back");
	ok(flyt_wall_ms() > 1700000000000LL, "the wall clock is after 2023");

	char buf[40];
	flyt_format_time(0, buf, sizeof(buf));
	is_str(buf, "1970-01-01T00:00:00.000Z", "format_time of the epoch");
	flyt_format_time(1234567890123LL, buf, sizeof(buf));
	is_str(buf, "2009-02-13T23:31:30.123Z", "format_time keeps milliseconds");

	_cleanup_strv_ char **v = NULL;
	is_int(flyt_strv_len(v), 0, "a NULL vector is empty");
	flyt_strv_push(&v, "a");
	flyt_strv_push(&v, "b");
	is_int(flyt_strv_len(v), 2, "strv_push appends");
	ok(v && strcmp(v[0], "a") == 0 && strcmp(v[1], "b") == 0 && v[2] == NULL, "... in order, NULL-terminated");

	ok(flyt_startswith("images/x", "images/"), "startswith finds a prefix");
	ok(!flyt_startswith("imag", "images/"), "startswith refuses a shorter string");
	ok(flyt_startswith("x", ""), "every string starts with \"\"");

	_cleanup_free_ char *s = flyt_asprintf("%s-%d", "n", 5);
	is_str(s, "n-5", "asprintf formats");
	_cleanup_free_ char *d = flyt_strdup(NULL);
	is_str(d, "", "strdup of NULL is \"\"");
}

int main(void)
{
	umask(022);
	_cleanup_tmpdir_ char *tmp = test_tmpdir("util");
	test_name_valid();
	test_id_valid();
	test_relpath_valid();
	test_parse_u64();
	test_read_file(tmp);
	test_write_file_atomic(tmp);
	test_mkdir_p(tmp);
	test_rm_rf(tmp);
	test_tree_size(tmp);
	test_misc();
	return done();
}
