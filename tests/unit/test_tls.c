/* Unit tests of lib/tls: a CA is created once and kept; certificates it signs
 * name their holder and role, cover their addresses and pair with their keys;
 * another CA's certificate does not pass as the cluster's; two identities talk
 * over a TLS session on a socketpair (frames of lib/stream inside it, in both
 * directions, more than a socket buffer holds); a peer with another CA's
 * certificate fails the handshake; a reloaded identity presents its new
 * certificate. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/stream.h"
#include "lib/tls.h"
#include "lib/util.h"
#include "tap.h"
#include "testutil.h"

/* A directory holding ca.pem (copied from ca_dir), and cert.pem and key.pem
 * signed by the CA in ca_dir for cn and role. */
static char *identity(const char *root, const char *name, const char *ca_dir, const char *cn, const char *role)
{
	char *dir = flyt_asprintf("%s/%s", root, name);
	flyt_error_t err = FLYT_ERROR_INIT;
	_cleanup_free_ char *key = flyt_asprintf("%s/key.pem", dir), *cert = flyt_asprintf("%s/cert.pem", dir);
	_cleanup_free_ char *ca = flyt_asprintf("%s/ca.pem", dir), *ca_src = flyt_asprintf("%s/ca.pem", ca_dir);
	_cleanup_free_ char *ca_text = test_read(ca_src);
	const char *const sans[] = { "127.0.0.1", "host.example", NULL };
	if (flyt_mkdir_p(dir, 0700, &err) < 0 || !ca_text ||
	    flyt_write_file_atomic(ca, ca_text, strlen(ca_text), 0644, &err) < 0)
		diag("identity %s: %s", name, err.msg);
	_cleanup_free_ char *csr = flyt_pki_new_key_and_csr(key, cn, &err);
	_cleanup_free_ char *pem = csr ? flyt_pki_sign(ca_dir, csr, cn, role, sans, 30, &err) : NULL;
	if (!pem || flyt_write_file_atomic(cert, pem, strlen(pem), 0644, &err) < 0)
		diag("identity %s: %s", name, err.msg);
	return dir;
}

typedef struct {
	flyt_tls_t *t;
	int fd;
	bool server;
	int r;
	flyt_cert_info_t peer;
	flyt_error_t err;
	size_t bytes; /* echoed */
} side_t;

/* The server side: handshake, then echo DATA frames until the peer's EOF frame. */
static void *serve(void *arg)
{
	side_t *s = arg;
	s->err = (flyt_error_t)FLYT_ERROR_INIT;
	flyt_stream_t st;
	flyt_stream_init(&st, s->fd);
	s->r = flyt_tls_conn_start(s->t, s->fd, true, 10000, &st.tls, &s->peer, &s->err);
	if (s->r < 0) {
		close(s->fd);
		return NULL;
	}
	char *buf = malloc(FLYT_FRAME_MAX);
	for (;;) {
		flyt_frame_type_t type;
		uint32_t len;
		if (flyt_stream_recv(&st, &type, buf, FLYT_FRAME_MAX, &len, &s->err) < 0) {
			s->r = -1;
			break;
		}
		if (type == FLYT_FRAME_TUNNEL_EOF)
			break;
		s->bytes += len;
		if (flyt_stream_send(&st, type, buf, len, &s->err) < 0) {
			s->r = -1;
			break;
		}
	}
	free(buf);
	flyt_stream_close(&st);
	return NULL;
}

/* A socketpair with serve() on one end in a thread; returns the other end. */
static int start_server(flyt_tls_t *server, side_t *srv, pthread_t *th)
{
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
	*srv = (side_t){ .t = server, .fd = sv[0], .server = true };
	pthread_create(th, NULL, serve, srv);
	return sv[1];
}

static void test_session(flyt_tls_t *server, flyt_tls_t *client)
{
	side_t srv;
	pthread_t th;
	int fd = start_server(server, &srv, &th);
	flyt_error_t err = FLYT_ERROR_INIT;
	flyt_stream_t st;
	flyt_stream_init(&st, fd);
	flyt_cert_info_t peer = { 0 };
	int r = flyt_tls_conn_start(client, fd, false, 10000, &st.tls, &peer, &err);
	ok(r == 0, "the client's handshake succeeds (%s)", err.msg);
	is_str(peer.cn, "agent-a", "the client sees the server's name");
	is_str(peer.role, "agent", "and its role");
	/* 3 MiB in 64 KiB frames, each echoed back: more than any socket buffer */
	size_t n = 64 * 1024, rounds = 48, back = 0;
	char *out = malloc(n), *in = malloc(FLYT_FRAME_MAX);
	bool same = true;
	for (size_t i = 0; r == 0 && i < rounds; i++) {
		memset(out, (int)('a' + i % 26), n);
		flyt_frame_type_t type;
		uint32_t len;
		if (flyt_stream_send(&st, FLYT_FRAME_DATA, out, (uint32_t)n, &err) < 0 ||
		    flyt_stream_recv(&st, &type, in, FLYT_FRAME_MAX, &len, &err) < 0) {
			r = -1;
			break;
		}
		same = same && type == FLYT_FRAME_DATA && len == n && memcmp(in, out, n) == 0;
		back += len;
	}
	ok(r == 0 && same && back == n * rounds, "%zu bytes go and come back intact in TLS (%s)", back, err.msg);
	flyt_stream_send(&st, FLYT_FRAME_TUNNEL_EOF, NULL, 0, &err);
	pthread_join(th, NULL);
	ok(srv.r == 0, "the server side saw no error (%s)", srv.err.msg);
	is_str(srv.peer.cn, "agent-b", "the server sees the client's name");
	flyt_stream_close(&st);
	free(out);
	free(in);
}

static void test_refused(flyt_tls_t *server, flyt_tls_t *stranger)
{
	side_t srv;
	pthread_t th;
	int fd = start_server(server, &srv, &th);
	flyt_error_t err = FLYT_ERROR_INIT;
	flyt_tls_conn_t *c = NULL;
	int r = flyt_tls_conn_start(stranger, fd, false, 10000, &c, NULL, &err);
	pthread_join(th, NULL);
	ok(r < 0 || srv.r < 0, "a peer of another CA gets no session");
	ok(srv.r < 0, "the server refused it: %s", srv.err.msg);
	ok(r < 0, "and the stranger does not trust the server either: %s", err.msg);
	flyt_tls_conn_free(c);
	close(fd);
}

int main(void)
{
	_cleanup_tmpdir_ char *root = test_tmpdir("tls");
	flyt_error_t err = FLYT_ERROR_INIT;
	_cleanup_free_ char *ca_dir = flyt_asprintf("%s/ca", root), *other_ca = flyt_asprintf("%s/other", root);
	bool created = false;
	ok(flyt_pki_ca_ensure(ca_dir, &created, &err) == 0 && created, "a new CA is created (%s)", err.msg);
	_cleanup_free_ char *ca_pem = flyt_asprintf("%s/ca.pem", ca_dir),
			    *ca_key = flyt_asprintf("%s/ca-key.pem", ca_dir);
	_cleanup_free_ char *first = test_read(ca_pem);
	struct stat st;
	ok(stat(ca_key, &st) == 0 && (st.st_mode & 0077) == 0, "the CA's key is readable by its owner only");
	ok(flyt_pki_ca_ensure(ca_dir, &created, &err) == 0 && !created, "a second call keeps it");
	_cleanup_free_ char *again = test_read(ca_pem);
	is_str(again, first, "the same CA certificate");
	flyt_pki_ca_ensure(other_ca, NULL, &err);

	_cleanup_free_ char *a = identity(root, "a", ca_dir, "agent-a", "agent");
	_cleanup_free_ char *b = identity(root, "b", ca_dir, "agent-b", "agent");
	_cleanup_free_ char *x = identity(root, "x", other_ca, "agent-a", "agent");
	_cleanup_free_ char *a_cert = flyt_asprintf("%s/cert.pem", a), *a_key = flyt_asprintf("%s/key.pem", a);
	_cleanup_free_ char *b_key = flyt_asprintf("%s/key.pem", b), *x_cert = flyt_asprintf("%s/cert.pem", x);
	flyt_cert_info_t info;
	ok(flyt_pki_cert_file_info(a_cert, &info, &err) == 0, "the certificate reads back (%s)", err.msg);
	is_str(info.cn, "agent-a", "it names its holder");
	is_str(info.role, "agent", "and its role");
	ok(info.not_after - info.not_before > 29 * 86400 && info.not_after - info.not_before < 31 * 86400,
	   "valid for the days asked");
	ok(strlen(info.fingerprint) == 64, "a SHA-256 fingerprint");
	ok(flyt_pki_check_pair(ca_pem, a_cert, a_key, &err) == 0, "certificate, key and CA belong together");
	ok(flyt_pki_check_pair(ca_pem, a_cert, b_key, &err) < 0, "another key does not pair: %s", err.msg);
	ok(flyt_pki_check_pair(ca_pem, x_cert, a_key, &err) < 0, "another CA's certificate is refused: %s", err.msg);
	_cleanup_free_ char *bad =
	    flyt_pki_sign(ca_dir, "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n", "x", "agent", NULL, 1, &err);
	ok(!bad, "a malformed request is refused: %s", err.msg);
	const char *const wild[] = { "bad name!", NULL };
	_cleanup_free_ char *csr = flyt_pki_new_key_and_csr(a_key, "agent-a", &err);
	_cleanup_free_ char *odd = flyt_pki_sign(ca_dir, csr, "agent-a", "agent", wild, 1, &err);
	ok(!odd, "a SAN that is neither an address nor a host name is refused: %s", err.msg);

	flyt_tls_t *ta = NULL, *tb = NULL, *tx = NULL;
	/* a's key was replaced by the request above: make a's identity again */
	free(a);
	a = identity(root, "a", ca_dir, "agent-a", "agent");
	ok(flyt_tls_load(a, &ta, &err) == 0, "identity a loads (%s)", err.msg);
	ok(flyt_tls_load(b, &tb, &err) == 0, "identity b loads (%s)", err.msg);
	ok(flyt_tls_load(x, &tx, &err) == 0, "the stranger's identity loads (%s)", err.msg);
	if (ta && tb && tx) {
		test_session(ta, tb);
		test_refused(ta, tx);
		/* renewal: a new certificate, served from the next handshake */
		flyt_cert_info_t before, after;
		flyt_tls_info(ta, &before);
		free(identity(root, "a", ca_dir, "agent-a", "agent"));
		ok(flyt_tls_reload(ta, &err) == 0, "the renewed identity reloads (%s)", err.msg);
		flyt_tls_info(ta, &after);
		ok(strcmp(before.serial, after.serial) != 0, "with a new serial");
		test_session(ta, tb);
	}
	flyt_tls_free(ta);
	flyt_tls_free(tb);
	flyt_tls_free(tx);
	return done();
}
