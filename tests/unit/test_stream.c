/* Unit tests of lib/stream and lib/crc32c: frames round-trip; any damaged byte, a
 * wrong sequence number, an unknown type or an over-long frame ends the stream as
 * CORRUPT; the peer's ERROR frame becomes an error; directory trees arrive whole,
 * and the receiving side refuses paths that leave its root, never follows a
 * symbolic link, and refuses files whose length differs from the announced one.
 * The two ends are a socketpair; a thread plays the sender where the data exceeds
 * the socket buffer. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/crc32c.h"
#include "lib/json.h"
#include "lib/net.h"
#include "lib/stream.h"
#include "tap.h"
#include "testutil.h"

/* A connected pair of stream sockets; both ends close-on-exec. */
static void make_pair(int *a, int *b)
{
	int sv[2] = { -1, -1 };
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		diag("socketpair: %s", strerror(errno));
	*a = sv[0];
	*b = sv[1];
}

/* The bytes of one frame as they travel: sends it through a fresh pair with the
 * given sequence number and reads them back. Returns the frame's size. */
static size_t frame_bytes(flyt_frame_type_t type, const char *payload, uint32_t seq, unsigned char *out, size_t cap)
{
	int a, b;
	make_pair(&a, &b);
	_cleanup_close_ int tx = a, rx = b;
	flyt_stream_t s;
	flyt_stream_init(&s, tx);
	s.send_seq = seq;
	flyt_error_t err = FLYT_ERROR_INIT;
	uint32_t len = payload ? (uint32_t)strlen(payload) : 0;
	if (flyt_stream_send(&s, type, payload, len, &err) < 0 || FLYT_FRAME_HEADER + len > cap ||
	    flyt_read_all(rx, out, FLYT_FRAME_HEADER + len, &err) < 0) {
		diag("frame_bytes: %s", err.msg);
		return 0;
	}
	return FLYT_FRAME_HEADER + len;
}

/* Feeds raw bytes to a receiver expecting sequence number 0, the sending side
 * closed behind them (a reader wanting more sees the end, not a hang). */
static int recv_bytes(const unsigned char *bytes, size_t len, flyt_frame_type_t *type, char *buf, uint32_t cap,
		      uint32_t *ret_len, flyt_error_t *err)
{
	int a, b;
	make_pair(&a, &b);
	_cleanup_close_ int rx = b;
	{
		_cleanup_close_ int tx = a;
		flyt_error_t werr = FLYT_ERROR_INIT;
		if (flyt_write_all(tx, bytes, len, &werr) < 0)
			diag("recv_bytes: %s", werr.msg);
	}
	flyt_stream_t s;
	flyt_stream_init(&s, rx);
	return flyt_stream_recv(&s, type, buf, cap, ret_len, err);
}

/* Frames of every kind arrive in order with their payloads, counted both ways. */
static void test_roundtrip(void)
{
	int a, b;
	make_pair(&a, &b);
	_cleanup_close_ int tx_fd = a, rx_fd = b;
	flyt_stream_t tx, rx;
	flyt_stream_init(&tx, tx_fd);
	flyt_stream_init(&rx, rx_fd);
	flyt_error_t err = FLYT_ERROR_INIT;

	_cleanup_json_ json_t *hello = json_pack("{s:s, s:i}", "type", "hello", "version", 1);
	is_int(flyt_stream_send_json(&tx, FLYT_FRAME_HELLO, hello, &err), 0, "send a HELLO");
	is_int(flyt_stream_send(&tx, FLYT_FRAME_TUNNEL, "raw\0bytes", 9, &err), 0, "send raw bytes with a NUL");
	is_int(flyt_stream_send(&tx, FLYT_FRAME_TUNNEL_EOF, NULL, 0, &err), 0, "send an empty frame");
	_cleanup_json_ json_t *ctrl = json_pack("{s:s}", "type", "dump");
	is_int(flyt_stream_send_json(&tx, FLYT_FRAME_CTRL, ctrl, &err), 0, "send a CTRL");
	is_int(tx.send_seq, 4, "the sender counted four frames");

	_cleanup_json_ json_t *got_hello = NULL;
	is_int(flyt_stream_recv_json(&rx, FLYT_FRAME_HELLO, &got_hello, &err), 0, "receive the HELLO");
	is_str(flyt_json_str(got_hello, "type", NULL), "hello", "... with its content");

	_cleanup_free_ char *buf = malloc(FLYT_FRAME_MAX);
	flyt_frame_type_t type = 0;
	uint32_t len = 0;
	is_int(flyt_stream_recv(&rx, &type, buf, FLYT_FRAME_MAX, &len, &err), 0, "receive the raw frame");
	ok(type == FLYT_FRAME_TUNNEL && len == 9 && memcmp(buf, "raw\0bytes", 9) == 0, "... type, length and bytes");
	is_int(flyt_stream_recv(&rx, &type, buf, FLYT_FRAME_MAX, &len, &err), 0, "receive the empty frame");
	ok(type == FLYT_FRAME_TUNNEL_EOF && len == 0, "... type and zero length");

	_cleanup_json_ json_t *wrong = NULL;
	is_int(flyt_stream_recv_json(&rx, FLYT_FRAME_HELLO, &wrong, &err), -1,
	       "a CTRL where a HELLO is expected fails");
	is_int(err.code, FLYT_E_CORRUPT, "... as CORRUPT");
	is_int(rx.recv_seq, 4, "the receiver counted four frames");
	ok(tx.bytes_sent == rx.bytes_received && tx.bytes_sent > 0, "bytes sent equal bytes received (%llu)",
	   (unsigned long long)tx.bytes_sent);

	/* a frame at the maximum passes, one byte more is refused before sending */
	_cleanup_free_ char *max = flyt_malloc0(FLYT_FRAME_MAX + 1);
	is_int(flyt_stream_send(&tx, FLYT_FRAME_DATA, max, FLYT_FRAME_MAX + 1, &err), -1,
	       "a payload over FLYT_FRAME_MAX is refused");
	is_int(tx.send_seq, 4, "... and uses no sequence number");
}

/* Every single damaged byte of a frame is detected: CORRUPT, or for a damaged
 * length a stream that ends early. */
static void test_damaged_bytes(void)
{
	unsigned char frame[256];
	size_t n = frame_bytes(FLYT_FRAME_CTRL, "{\"type\":\"go\"}", 0, frame, sizeof(frame));
	ok(n == FLYT_FRAME_HEADER + 13, "setup: a CTRL frame of %zu bytes", n);

	char buf[256];
	flyt_frame_type_t type;
	uint32_t len;
	flyt_error_t err = FLYT_ERROR_INIT;
	is_int(recv_bytes(frame, n, &type, buf, sizeof(buf), &len, &err), 0, "the undamaged frame is accepted");

	int undetected = 0, not_corrupt = 0;
	for (size_t pos = 0; pos < n; pos++) {
		for (unsigned bit = 0; bit < 8; bit++) {
			unsigned char damaged[256];
			memcpy(damaged, frame, n);
			damaged[pos] ^= (unsigned char)(1u << bit);
			flyt_error_clear(&err);
			int r = recv_bytes(damaged, n, &type, buf, sizeof(buf), &len, &err);
			if (r == 0) {
				undetected++;
				diag("flipping bit %u of byte %zu went unnoticed", bit, pos);
			} else if (err.code != FLYT_E_CORRUPT && !(pos >= 12 && pos < 16)) {
				not_corrupt++;
				diag("flipping bit %u of byte %zu gave %s", bit, pos, flyt_code_name(err.code));
			}
		}
	}
	is_int(undetected, 0, "every flipped bit of the frame is detected");
	is_int(not_corrupt, 0, "outside the length field, every flipped bit gives CORRUPT");

	unsigned char payload_flip[256];
	memcpy(payload_flip, frame, n);
	payload_flip[FLYT_FRAME_HEADER + 3] ^= 0x20;
	recv_bytes(payload_flip, n, &type, buf, sizeof(buf), &len, &err);
	ok(err.code == FLYT_E_CORRUPT && strstr(err.msg, "checksum") != NULL,
	   "a flipped payload byte is a checksum mismatch (%s)", err.msg);
}

/* The sequence must be 0, 1, 2, ...: a gap or a replay is CORRUPT even with a
 * valid checksum. */
static void test_sequence(void)
{
	unsigned char frame[128];
	char buf[128];
	flyt_frame_type_t type;
	uint32_t len;
	flyt_error_t err = FLYT_ERROR_INIT;
	size_t n = frame_bytes(FLYT_FRAME_DATA, "abc", 1, frame, sizeof(frame));
	is_int(recv_bytes(frame, n, &type, buf, sizeof(buf), &len, &err), -1,
	       "frame 1 where frame 0 is expected is refused");
	is_int(err.code, FLYT_E_CORRUPT, "... as CORRUPT");
	ok(strstr(err.msg, "frame 1") != NULL, "... naming the sequence numbers (%s)", err.msg);

	/* the same frame twice: the replay is refused */
	int a, b;
	make_pair(&a, &b);
	_cleanup_close_ int tx_fd = a, rx_fd = b;
	flyt_stream_t tx, rx;
	flyt_stream_init(&tx, tx_fd);
	flyt_stream_init(&rx, rx_fd);
	flyt_stream_send(&tx, FLYT_FRAME_DATA, "one", 3, &err);
	tx.send_seq = 0;
	flyt_stream_send(&tx, FLYT_FRAME_DATA, "one", 3, &err);
	is_int(flyt_stream_recv(&rx, &type, buf, sizeof(buf), &len, &err), 0, "the first frame is accepted");
	is_int(flyt_stream_recv(&rx, &type, buf, sizeof(buf), &len, &err), -1, "its replay is refused");
	is_int(err.code, FLYT_E_CORRUPT, "... as CORRUPT");
}

/* Frames with a valid checksum but an unknown type, or longer than the receiver's
 * buffer, are CORRUPT; so is something that is not a flyt stream. */
static void test_bad_frames(void)
{
	unsigned char frame[128];
	char buf[128];
	flyt_frame_type_t type;
	uint32_t len;
	flyt_error_t err = FLYT_ERROR_INIT;

	size_t n = frame_bytes((flyt_frame_type_t)0, "x", 0, frame, sizeof(frame));
	is_int(recv_bytes(frame, n, &type, buf, sizeof(buf), &len, &err), -1, "frame type 0 is refused");
	is_int(err.code, FLYT_E_CORRUPT, "... as CORRUPT");
	n = frame_bytes(FLYT_FRAME_TYPE_MAX, "x", 0, frame, sizeof(frame));
	is_int(recv_bytes(frame, n, &type, buf, sizeof(buf), &len, &err), -1, "frame type MAX is refused");
	is_int(err.code, FLYT_E_CORRUPT, "... as CORRUPT");

	n = frame_bytes(FLYT_FRAME_DATA, "0123456789", 0, frame, sizeof(frame));
	is_int(recv_bytes(frame, n, &type, buf, 9, &len, &err), -1, "a frame longer than the buffer is refused");
	is_int(err.code, FLYT_E_CORRUPT, "... as CORRUPT");
	is_int(recv_bytes(frame, n, &type, buf, 10, &len, &err), 0, "a frame exactly as long as the buffer passes");

	static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	is_int(recv_bytes((const unsigned char *)http, sizeof(http) - 1, &type, buf, sizeof(buf), &len, &err), -1,
	       "an HTTP request is not a flyt stream");
	is_int(err.code, FLYT_E_CORRUPT, "... CORRUPT");

	is_int(recv_bytes(frame, 10, &type, buf, sizeof(buf), &len, &err), -1, "half a header then EOF fails");
	is_int(err.code, FLYT_E_UNAVAILABLE, "... as UNAVAILABLE (the peer went away)");
	is_int(recv_bytes(frame, n - 2, &type, buf, sizeof(buf), &len, &err), -1, "a truncated payload fails");
	is_int(err.code, FLYT_E_UNAVAILABLE, "... as UNAVAILABLE");

	/* a JSON frame that is not JSON */
	n = frame_bytes(FLYT_FRAME_CTRL, "{not json", 0, frame, sizeof(frame));
	int a, b;
	make_pair(&a, &b);
	_cleanup_close_ int tx = a, rx_fd = b;
	flyt_write_all(tx, frame, n, &err);
	flyt_stream_t rx;
	flyt_stream_init(&rx, rx_fd);
	json_t *j = NULL;
	is_int(flyt_stream_recv_json(&rx, FLYT_FRAME_CTRL, &j, &err), -1, "a CTRL frame with broken JSON fails");
	is_int(err.code, FLYT_E_INVALID, "... as INVALID");
}

/* The peer's ERROR frame ends the stream with its code and message. */
static void test_error_frame(void)
{
	int a, b;
	make_pair(&a, &b);
	_cleanup_close_ int tx_fd = a, rx_fd = b;
	flyt_stream_t tx, rx;
	flyt_stream_init(&tx, tx_fd);
	flyt_stream_init(&rx, rx_fd);
	flyt_error_t sent = FLYT_ERROR_INIT;
	flyt_error_set(&sent, FLYT_E_NOT_FOUND, 0, "no checkpoint for web");
	flyt_stream_send_error(&tx, &sent);

	char buf[256];
	flyt_frame_type_t type;
	uint32_t len;
	flyt_error_t err = FLYT_ERROR_INIT;
	is_int(flyt_stream_recv(&rx, &type, buf, sizeof(buf), &len, &err), -1, "an ERROR frame is returned as -1");
	is_int(err.code, FLYT_E_NOT_FOUND, "... with the peer's code");
	is_str(err.msg, "peer: no checkpoint for web", "... and message");
}

/* A peer that went away is UNAVAILABLE for the sender (with SIGPIPE ignored, as
 * main() does here). */
static void test_closed_peer(void)
{
	int a, b;
	make_pair(&a, &b);
	close(b);
	_cleanup_close_ int fd = a;
	flyt_stream_t s;
	flyt_stream_init(&s, fd);
	flyt_error_t err = FLYT_ERROR_INIT;
	is_int(flyt_stream_send(&s, FLYT_FRAME_DATA, "x", 1, &err), -1, "sending to a closed peer fails");
	is_int(err.code, FLYT_E_UNAVAILABLE, "... as UNAVAILABLE");
}

/* BUG: flyt_stream_send writes with writev(), which raises SIGPIPE when the peer
 * has gone, so a program that has not ignored SIGPIPE dies instead of getting
 * UNAVAILABLE (flyt_write_all in net.c passes MSG_NOSIGNAL for exactly this).
 * Runs in a child with SIGPIPE at its default disposition. */
static void test_closed_peer_sigpipe(void)
{
	int a, b;
	make_pair(&a, &b);
	close(b);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		signal(SIGPIPE, SIG_DFL);
		flyt_stream_t s;
		flyt_stream_init(&s, a);
		flyt_error_t err = FLYT_ERROR_INIT;
		int r = flyt_stream_send(&s, FLYT_FRAME_DATA, "x", 1, &err);
		_exit(r == -1 && err.code == FLYT_E_UNAVAILABLE ? 0 : 1);
	}
	close(a);
	int status = 0;
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "stream: sending to a closed peer is UNAVAILABLE even when SIGPIPE is not ignored");
	if (WIFSIGNALED(status))
		diag("the sender died of signal %d", WTERMSIG(status));
}

/* A set cancel flag stops sending and receiving. */
static void test_cancel(void)
{
	int a, b;
	make_pair(&a, &b);
	_cleanup_close_ int fd_a = a, fd_b = b;
	(void)fd_b;
	volatile bool cancel = true;
	flyt_stream_t s;
	flyt_stream_init(&s, fd_a);
	s.cancel = &cancel;
	flyt_error_t err = FLYT_ERROR_INIT;
	is_int(flyt_stream_send(&s, FLYT_FRAME_DATA, "x", 1, &err), -1, "send with cancel set fails");
	is_int(err.code, FLYT_E_CANCELLED, "... as CANCELLED");
	char buf[16];
	flyt_frame_type_t type;
	uint32_t len;
	is_int(flyt_stream_recv(&s, &type, buf, sizeof(buf), &len, &err), -1, "recv with cancel set fails");
	is_int(err.code, FLYT_E_CANCELLED, "... as CANCELLED");
}

/* Bit-at-a-time CRC-32C, the definition the fast paths must agree with. */
static uint32_t crc32c_reference(const unsigned char *p, size_t len)
{
	uint32_t crc = 0xFFFFFFFFu;
	for (size_t i = 0; i < len; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
	}
	return ~crc;
}

/* CRC-32C: the standard check value, RFC 3720 vectors, chaining, and agreement
 * with the reference at every length and alignment. */
static void test_crc32c(void)
{
	is_int(flyt_crc32c(0, "123456789", 9), 0xE3069283u, "CRC-32C of \"123456789\" is 0xE3069283");
	is_int(flyt_crc32c(0, "", 0), 0, "CRC-32C of nothing is 0");
	unsigned char v[32];
	memset(v, 0, sizeof(v));
	is_int(flyt_crc32c(0, v, 32), 0x8A9136AAu, "RFC 3720: 32 zero bytes");
	memset(v, 0xff, sizeof(v));
	is_int(flyt_crc32c(0, v, 32), 0x62A8AB43u, "RFC 3720: 32 bytes of 0xff");
	for (int i = 0; i < 32; i++)
		v[i] = (unsigned char)i;
	is_int(flyt_crc32c(0, v, 32), 0x46DD794Eu, "RFC 3720: bytes 0..31");

	uint32_t part = flyt_crc32c(0, "12345", 5);
	is_int(flyt_crc32c(part, "6789", 4), 0xE3069283u, "a CRC continues across pieces");

	unsigned char data[300];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 131u + 7u);
	int mismatches = 0;
	for (size_t off = 0; off < 8; off++)
		for (size_t len = 0; len + off <= 200; len++)
			if (flyt_crc32c(0, data + off, len) != crc32c_reference(data + off, len))
				mismatches++;
	is_int(mismatches, 0, "every length 0..200 at every alignment agrees with the reference");
}

/* ---- trees ---- */

static void put(const char *path, const void *data, size_t len, mode_t mode)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len || fchmod(fd, mode) < 0)
		diag("setup of %s failed: %s", path, strerror(errno));
}

typedef struct {
	flyt_stream_t stream;
	const char *dir;
	int result;
	flyt_error_t err;
} sender_t;

/* The sending agent: the tree, then a CTRL "done" (trees have no end frame of their
 * own; the protocol's next message ends them). */
static void *sender_main(void *arg)
{
	sender_t *snd = arg;
	snd->result = flyt_stream_send_tree(&snd->stream, snd->dir, "files", &snd->err);
	if (snd->result == 0) {
		_cleanup_json_ json_t *done_msg = json_pack("{s:s}", "type", "done");
		snd->result = flyt_stream_send_json(&snd->stream, FLYT_FRAME_CTRL, done_msg, &snd->err);
	} else {
		flyt_stream_send_error(&snd->stream, &snd->err);
	}
	return NULL;
}

static bool same_file(const char *a, const char *b)
{
	_cleanup_free_ char *ta = NULL, *tb = NULL;
	size_t la = 0, lb = 0;
	if (flyt_read_file(a, 64 << 20, &ta, &la, NULL) < 0 || flyt_read_file(b, 64 << 20, &tb, &lb, NULL) < 0)
		return false;
	return la == lb && memcmp(ta, tb, la) == 0;
}

static mode_t mode_of(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0 ? st.st_mode : 0;
}

/* A tree of files (one spanning several frames, one empty), directories and a
 * symbolic link arrives whole; a fifo is skipped; set-id bits are dropped. */
static void test_tree_roundtrip(const char *tmp)
{
	_cleanup_free_ char *src = flyt_asprintf("%s/src", tmp);
	_cleanup_free_ char *dst = flyt_asprintf("%s/dst", tmp);
	_cleanup_free_ char *deeper = flyt_asprintf("%s/sub/deeper", src);
	flyt_error_t err = FLYT_ERROR_INIT;
	flyt_mkdir_p(deeper, 0755, &err);
	flyt_mkdir_p(dst, 0755, &err);

	size_t big_len = 2 * FLYT_FRAME_MAX + 12345;
	_cleanup_free_ unsigned char *big = malloc(big_len);
	for (size_t i = 0; i < big_len; i++)
		big[i] = (unsigned char)((i * 2654435761u) >> 13);
	_cleanup_free_ char *p_small = flyt_asprintf("%s/a.txt", src);
	_cleanup_free_ char *p_empty = flyt_asprintf("%s/empty", src);
	_cleanup_free_ char *p_big = flyt_asprintf("%s/sub/big.bin", src);
	_cleanup_free_ char *p_exec = flyt_asprintf("%s/sub/deeper/tool", src);
	_cleanup_free_ char *p_link = flyt_asprintf("%s/link", src);
	_cleanup_free_ char *p_fifo = flyt_asprintf("%s/fifo", src);
	put(p_small, "hello\n", 6, 0640);
	put(p_empty, "", 0, 0600);
	put(p_big, big, big_len, 0644);
	put(p_exec, "#!/bin/sh\n", 10, 04755);
	ok(symlink("a.txt", p_link) == 0 && mkfifo(p_fifo, 0600) == 0, "setup: a symlink and a fifo");

	int a, b;
	make_pair(&a, &b);
	_cleanup_close_ int tx_fd = a, rx_fd = b;
	sender_t snd = { .dir = src, .err = FLYT_ERROR_INIT };
	flyt_stream_init(&snd.stream, tx_fd);
	pthread_t thread;
	pthread_create(&thread, NULL, sender_main, &snd);

	_cleanup_close_ int root = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	flyt_tree_sink_t sink;
	flyt_tree_sink_init(&sink, root);
	flyt_stream_t rx;
	flyt_stream_init(&rx, rx_fd);
	_cleanup_free_ char *buf = malloc(FLYT_FRAME_MAX);
	int r = 0;
	bool finished = false;
	while (!finished) {
		flyt_frame_type_t type;
		uint32_t len;
		r = flyt_stream_recv(&rx, &type, buf, FLYT_FRAME_MAX, &len, &err);
		if (r < 0)
			break;
		r = flyt_tree_sink_frame(&sink, type, buf, len, &err);
		if (r < 0)
			break;
		if (r == 0)
			finished = type == FLYT_FRAME_CTRL;
	}
	if (!finished)
		shutdown(rx_fd, SHUT_RDWR); /* a sender blocked on a full socket gets EPIPE */
	flyt_tree_sink_close(&sink);
	pthread_join(thread, NULL);
	is_int(snd.result, 0, "the sender sent the tree (%s)", snd.err.msg);
	ok(finished, "the receiver took every frame up to the final CTRL (%s)", err.msg);

	_cleanup_free_ char *d_small = flyt_asprintf("%s/files/a.txt", dst);
	_cleanup_free_ char *d_empty = flyt_asprintf("%s/files/empty", dst);
	_cleanup_free_ char *d_big = flyt_asprintf("%s/files/sub/big.bin", dst);
	_cleanup_free_ char *d_exec = flyt_asprintf("%s/files/sub/deeper/tool", dst);
	_cleanup_free_ char *d_link = flyt_asprintf("%s/files/link", dst);
	_cleanup_free_ char *d_fifo = flyt_asprintf("%s/files/fifo", dst);
	ok(same_file(p_small, d_small), "a small file arrives");
	is_int(mode_of(d_small) & 07777, 0640, "... with its mode");
	ok(same_file(p_empty, d_empty), "an empty file arrives");
	ok(same_file(p_big, d_big), "a file over several frames arrives byte for byte");
	ok(same_file(p_exec, d_exec), "a file in a nested directory arrives");
	is_int(mode_of(d_exec) & 07777, 0755, "... without its set-uid bit");
	ok(S_ISLNK(mode_of(d_link)), "a symbolic link arrives as a link");
	char target[64] = "";
	ssize_t tn = readlink(d_link, target, sizeof(target) - 1);
	is_str(tn > 0 ? target : "", "a.txt", "... with its target");
	is_int(mode_of(d_fifo), 0, "a fifo is not sent");
	is_int(sink.files, 4, "the sink counted four files");
	is_int(sink.bytes, 6 + big_len + 10, "... and their bytes");
}

/* An ENTRY frame payload. */
static char *entry(const char *path, const char *kind, int64_t size)
{
	_cleanup_json_ json_t *j =
	    json_pack("{s:s, s:s, s:i, s:I}", "path", path, "kind", kind, "mode", 0644, "size", (json_int_t)size);
	return flyt_json_dumps(j);
}

/* Hands one frame to the sink: 1 handled, 0 not a tree frame, -1 refused. */
static int sink_json(flyt_tree_sink_t *sink, flyt_frame_type_t type, const char *payload, flyt_error_t *err)
{
	return flyt_tree_sink_frame(sink, type, payload, (uint32_t)strlen(payload), err);
}

static bool dir_is_empty(const char *path)
{
	_cleanup_closedir_ DIR *d = opendir(path);
	if (!d)
		return false;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			return false;
	return true;
}

/* Paths that leave the root are refused and nothing is written for them. */
static void test_sink_paths(const char *tmp)
{
	_cleanup_free_ char *rootdir = flyt_asprintf("%s/paths/root", tmp);
	flyt_error_t err = FLYT_ERROR_INIT;
	flyt_mkdir_p(rootdir, 0755, &err);
	_cleanup_close_ int root = open(rootdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	flyt_tree_sink_t sink;
	flyt_tree_sink_init(&sink, root);

	_cleanup_free_ char *abs_target = flyt_asprintf("%s/paths/abs-file", tmp);
	const char *refused[] = { "../x", "a/../../x", "..", "./x", "a//b", "" };
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		_cleanup_free_ char *e = entry(refused[i], "file", 0);
		is_int(sink_json(&sink, FLYT_FRAME_ENTRY, e, &err), -1, "entry path \"%s\" is refused", refused[i]);
		is_int(err.code, FLYT_E_INVALID, "... as INVALID");
	}
	_cleanup_free_ char *abs_entry = entry(abs_target, "file", 0);
	is_int(sink_json(&sink, FLYT_FRAME_ENTRY, abs_entry, &err), -1, "an absolute entry path is refused");
	_cleanup_free_ char *abs_dir = entry("/abs", "dir", 0);
	is_int(sink_json(&sink, FLYT_FRAME_ENTRY, abs_dir, &err), -1, "the directory entry \"/abs\" is refused");
	_cleanup_free_ char *x_outside = flyt_asprintf("%s/paths/x", tmp);
	ok(access(x_outside, F_OK) < 0 && access(abs_target, F_OK) < 0 && access("/abs", F_OK) < 0,
	   "nothing was created outside the root");
	ok(dir_is_empty(rootdir), "nor inside it");
	is_int(sink.cur_fd, -1, "no file is open after refused entries");

	_cleanup_free_ char *bad_kind = entry("dev", "device", 0);
	is_int(sink_json(&sink, FLYT_FRAME_ENTRY, bad_kind, &err), -1, "an unknown kind is refused");
	is_int(err.code, FLYT_E_INVALID, "... as INVALID");
	is_int(sink_json(&sink, FLYT_FRAME_ENTRY, "{\"kind\":\"file\"}", &err), -1, "an entry without path is refused");
	is_int(sink_json(&sink, FLYT_FRAME_ENTRY, "not json", &err), -1, "an entry that is not JSON is refused");
	is_int(sink_json(&sink, FLYT_FRAME_ENTRY, "{\"path\":\"l\",\"kind\":\"symlink\"}", &err), -1,
	       "a symlink without target is refused");
	is_int(flyt_tree_sink_frame(&sink, FLYT_FRAME_CTRL, "{}", 2, &err), 0,
	       "frames of other types are not the sink's");
}

/* Symbolic links in the receiving root are never followed: not ones already there,
 * not ones the stream itself created. */
static void test_sink_symlinks(const char *tmp)
{
	_cleanup_free_ char *rootdir = flyt_asprintf("%s/links/root", tmp);
	_cleanup_free_ char *outside = flyt_asprintf("%s/links/outside", tmp);
	flyt_error_t err = FLYT_ERROR_INIT;
	flyt_mkdir_p(rootdir, 0755, &err);
	flyt_mkdir_p(outside, 0755, &err);
	_cleanup_free_ char *evil = flyt_asprintf("%s/evil", rootdir);
	_cleanup_free_ char *dangling = flyt_asprintf("%s/dangling", rootdir);
	_cleanup_free_ char *dangling_target = flyt_asprintf("%s/created-through-link", outside);
	ok(symlink(outside, evil) == 0 && symlink(dangling_target, dangling) == 0,
	   "setup: root/evil -> outside, root/dangling -> outside/created-through-link");

	_cleanup_close_ int root = open(rootdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	flyt_tree_sink_t sink;
	flyt_tree_sink_init(&sink, root);

	_cleanup_free_ char *through = entry("evil/file", "file", 4);
	is_int(sink_json(&sink, FLYT_FRAME_ENTRY, through, &err), -1, "a file entry \"evil/file\" is refused");
	is_int(sink_json(&sink, FLYT_FRAME_DATA, "data", &err), -1, "... and no data can follow it");
	_cleanup_free_ char *dir_through = entry("evil/sub", "dir", 0);
	is_int(sink_json(&sink, FLYT_FRAME_ENTRY, dir_through, &err), -1, "a dir entry \"evil/sub\" is refused");
	_cleanup_json_ json_t *lj = json_pack("{s:s, s:s, s:s}", "path", "evil/l", "kind", "symlink", "target", "/");
	_cleanup_free_ char *link_through_json = flyt_json_dumps(lj);
	is_int(sink_json(&sink, FLYT_FRAME_ENTRY, link_through_json, &err), -1,
	       "a symlink entry \"evil/l\" is refused");
	_cleanup_free_ char *onto_link = entry("dangling", "file", 0);
	is_int(sink_json(&sink, FLYT_FRAME_ENTRY, onto_link, &err), -1,
	       "a file entry named like an existing dangling link is refused");
	_cleanup_free_ char *dir_onto_link = entry("evil", "dir", 0);
	is_int(sink_json(&sink, FLYT_FRAME_ENTRY, dir_onto_link, &err), -1,
	       "a dir entry named like a link to a directory is refused");

	/* the stream creates a link, then tries to write through it */
	_cleanup_json_ json_t *mk = json_pack("{s:s, s:s, s:s}", "path", "made", "kind", "symlink", "target", outside);
	_cleanup_free_ char *mk_json = flyt_json_dumps(mk);
	is_int(sink_json(&sink, FLYT_FRAME_ENTRY, mk_json, &err), 1, "a symlink entry is created (links are data)");
	_cleanup_free_ char *via_made = entry("made/file", "file", 0);
	is_int(sink_json(&sink, FLYT_FRAME_ENTRY, via_made, &err), -1, "a file through the link it made is refused");
	_cleanup_free_ char *deep_via = entry("made/a/b", "dir", 0);
	is_int(sink_json(&sink, FLYT_FRAME_ENTRY, deep_via, &err), -1, "a deeper path through it is refused");

	/* a link that stays inside the root is not followed either, last component
	 * of the parent or further up */
	_cleanup_free_ char *inner_dir = flyt_asprintf("%s/real", rootdir);
	(void)inner_dir;
	_cleanup_free_ char *inner_sub = flyt_asprintf("%s/real/sub", rootdir);
	_cleanup_free_ char *inner_link = flyt_asprintf("%s/inner", rootdir);
	ok(flyt_mkdir_p(inner_sub, 0755, &err) == 0 && symlink("real", inner_link) == 0, "setup: root/inner -> real");
	_cleanup_free_ char *via_inner = entry("inner/file", "file", 0);
	is_int(sink_json(&sink, FLYT_FRAME_ENTRY, via_inner, &err), -1,
	       "a file through a link inside the root is refused");
	_cleanup_free_ char *via_inner_deep = entry("inner/sub/file", "file", 0);
	is_int(sink_json(&sink, FLYT_FRAME_ENTRY, via_inner_deep, &err), -1,
	       "a file below a link inside the root is refused");
	_cleanup_free_ char *real_file = flyt_asprintf("%s/real/file", rootdir);
	ok(access(real_file, F_OK) < 0 && dir_is_empty(inner_sub), "... and nothing appears behind the link");

	ok(dir_is_empty(outside), "nothing was written outside the root");
	ok(access(dangling_target, F_OK) < 0, "the dangling link's target was not created");

	int fd = flyt_openat_beneath(root, "evil", O_RDONLY | O_DIRECTORY, 0, &err);
	ok(fd < 0, "openat_beneath refuses to open a link");
	if (fd >= 0)
		close(fd);
	fd = flyt_openat_beneath(root, "../links", O_RDONLY | O_DIRECTORY, 0, &err);
	ok(fd < 0, "openat_beneath refuses \"..\"");
	if (fd >= 0)
		close(fd);
	fd = flyt_openat_beneath(root, "/etc", O_RDONLY | O_DIRECTORY, 0, &err);
	ok(fd < 0, "openat_beneath refuses an absolute path");
	if (fd >= 0)
		close(fd);
	fd = flyt_openat_beneath(root, "plain", O_WRONLY | O_CREAT | O_EXCL, 0600, &err);
	ok(fd >= 0, "openat_beneath creates a plain file (%s)", err.msg);
	if (fd >= 0)
		close(fd);
}

/* A file must arrive with exactly the announced length, in order. */
static void test_sink_lengths(const char *tmp)
{
	_cleanup_free_ char *rootdir = flyt_asprintf("%s/lengths", tmp);
	flyt_error_t err = FLYT_ERROR_INIT;
	flyt_mkdir_p(rootdir, 0755, &err);
	_cleanup_close_ int root = open(rootdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	flyt_tree_sink_t sink;
	flyt_tree_sink_init(&sink, root);

	is_int(sink_json(&sink, FLYT_FRAME_DATA, "stray", &err), -1, "data outside a file is refused");
	is_int(err.code, FLYT_E_CORRUPT, "... as CORRUPT");
	is_int(sink_json(&sink, FLYT_FRAME_ENTRY_END, "{\"size\":0}", &err), -1, "an end outside a file is refused");
	is_int(err.code, FLYT_E_CORRUPT, "... as CORRUPT");

	_cleanup_free_ char *longer = entry("longer", "file", 3);
	is_int(sink_json(&sink, FLYT_FRAME_ENTRY, longer, &err), 1, "a file announced with 3 bytes starts");
	is_int(sink_json(&sink, FLYT_FRAME_DATA, "abc", &err), 1, "3 bytes are taken");
	is_int(sink_json(&sink, FLYT_FRAME_DATA, "d", &err), -1, "a 4th byte is refused");
	is_int(err.code, FLYT_E_CORRUPT, "... as CORRUPT: longer than announced");
	flyt_tree_sink_close(&sink);

	_cleanup_free_ char *at_once = entry("at-once", "file", 3);
	sink_json(&sink, FLYT_FRAME_ENTRY, at_once, &err);
	is_int(sink_json(&sink, FLYT_FRAME_DATA, "abcde", &err), -1,
	       "5 bytes in one frame for 3 announced are refused");
	is_int(err.code, FLYT_E_CORRUPT, "... as CORRUPT");
	flyt_tree_sink_close(&sink);

	_cleanup_free_ char *shorter = entry("shorter", "file", 10);
	sink_json(&sink, FLYT_FRAME_ENTRY, shorter, &err);
	sink_json(&sink, FLYT_FRAME_DATA, "abcd", &err);
	is_int(sink_json(&sink, FLYT_FRAME_ENTRY_END, "{\"size\":4}", &err), -1,
	       "a file ending after 4 of 10 announced bytes is refused");
	is_int(err.code, FLYT_E_CORRUPT, "... as CORRUPT");
	flyt_tree_sink_close(&sink);

	_cleanup_free_ char *miscount = entry("miscount", "file", 4);
	sink_json(&sink, FLYT_FRAME_ENTRY, miscount, &err);
	sink_json(&sink, FLYT_FRAME_DATA, "abcd", &err);
	is_int(sink_json(&sink, FLYT_FRAME_ENTRY_END, "{\"size\":5}", &err), -1,
	       "an end whose count disagrees with the bytes received is refused");
	is_int(err.code, FLYT_E_CORRUPT, "... as CORRUPT");
	flyt_tree_sink_close(&sink);

	_cleanup_free_ char *first = entry("first", "file", 2);
	_cleanup_free_ char *second = entry("second", "file", 2);
	sink_json(&sink, FLYT_FRAME_ENTRY, first, &err);
	is_int(sink_json(&sink, FLYT_FRAME_ENTRY, second, &err), -1, "a new entry before the end of a file is refused");
	is_int(err.code, FLYT_E_CORRUPT, "... as CORRUPT");
	flyt_tree_sink_close(&sink);

	_cleanup_free_ char *good = entry("good", "file", 5);
	is_int(sink_json(&sink, FLYT_FRAME_ENTRY, good, &err), 1, "a correct file starts");
	sink_json(&sink, FLYT_FRAME_DATA, "he", &err);
	sink_json(&sink, FLYT_FRAME_DATA, "llo", &err);
	is_int(sink_json(&sink, FLYT_FRAME_ENTRY_END, "{\"size\":5}", &err), 1, "... and ends");
	_cleanup_free_ char *good_path = flyt_asprintf("%s/good", rootdir);
	_cleanup_free_ char *good_text = test_read(good_path);
	is_str(good_text, "hello", "... with its content");
	is_int(sink.files, 1, "only the correct file counts as received");

	is_int(sink_json(&sink, FLYT_FRAME_ENTRY, good, &err), -1, "a file that exists already is not overwritten");
}

int main(void)
{
	/* a vanished peer must be an error, not a signal; test_closed_peer_sigpipe
	 * checks the default disposition in a child of its own */
	signal(SIGPIPE, SIG_IGN);
	_cleanup_tmpdir_ char *tmp = test_tmpdir("stream");
	test_roundtrip();
	test_damaged_bytes();
	test_sequence();
	test_bad_frames();
	test_error_frame();
	test_closed_peer();
	test_closed_peer_sigpipe();
	test_cancel();
	test_crc32c();
	test_tree_roundtrip(tmp);
	test_sink_paths(tmp);
	test_sink_symlinks(tmp);
	test_sink_lengths(tmp);
	return done();
}
