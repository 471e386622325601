/* TCP connect/listen with deadlines and failure detection. */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cleanup.h"

static int make_addr(const char *host, uint16_t port, struct sockaddr_storage *ss, socklen_t *len, flyt_error_t *err)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		*len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		*len = sizeof(*sin6);
		return 0;
	}
	return flyt_error_set(err, FLYT_E_INVALID, 0, "\"%s\" is not a numeric IP address", host);
}

int flyt_tcp_connect(const char *host, uint16_t port, unsigned timeout_ms, flyt_error_t *err)
{
	struct sockaddr_storage ss;
	socklen_t len;
	if (make_addr(host, port, &ss, &len, err) < 0)
		return -1;
	_cleanup_close_ int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return flyt_error_set(err, FLYT_E_INTERNAL, errno, "socket");
	if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
		if (errno != EINPROGRESS)
			return flyt_error_set(err, FLYT_E_UNAVAILABLE, errno, "connect to %s:%u", host, port);
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int r;
		do
			r = poll(&p, 1, (int)timeout_ms);
		while (r < 0 && errno == EINTR);
		if (r == 0)
			return flyt_error_set(err, FLYT_E_TIMEOUT, 0, "connect to %s:%u: no answer within %u ms", host,
					      port, timeout_ms);
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
		if (soerr)
			return flyt_error_set(err, FLYT_E_UNAVAILABLE, soerr, "connect to %s:%u", host, port);
	}
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	return TAKE_FD(fd);
}

int flyt_tcp_listen(const char *host, uint16_t port, int backlog, uint16_t *ret_port, flyt_error_t *err)
{
	struct sockaddr_storage ss;
	socklen_t len;
	if (make_addr(host, port, &ss, &len, err) < 0)
		return -1;
	_cleanup_close_ int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return flyt_error_set(err, FLYT_E_INTERNAL, errno, "socket");
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0)
		return flyt_error_set(err, FLYT_E_IO, errno, "bind %s:%u", host, port);
	if (listen(fd, backlog) < 0)
		return flyt_error_set(err, FLYT_E_IO, errno, "listen %s:%u", host, port);
	if (ret_port) {
		struct sockaddr_storage bound;
		socklen_t bl = sizeof(bound);
		getsockname(fd, (struct sockaddr *)&bound, &bl);
		*ret_port = bound.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
							: ntohs(((struct sockaddr_in *)&bound)->sin_port);
	}
	return TAKE_FD(fd);
}

void flyt_socket_timeouts(int fd, unsigned io_timeout_ms)
{
	struct timeval tv = { .tv_sec = io_timeout_ms / 1000, .tv_usec = (io_timeout_ms % 1000) * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

void flyt_tcp_tune(int fd, unsigned io_timeout_ms)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	int idle = 2, intvl = 1, cnt = 5;
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	unsigned user_timeout = io_timeout_ms < 10000 ? 10000 : io_timeout_ms;
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof(user_timeout));
	int buf = 4 * 1024 * 1024;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	if (io_timeout_ms)
		flyt_socket_timeouts(fd, io_timeout_ms);
}

int flyt_write_all(int fd, const void *buf, size_t len, flyt_error_t *err)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return flyt_error_set(err, FLYT_E_TIMEOUT, 0, "send: peer stopped reading");
			return flyt_error_set(err, FLYT_E_UNAVAILABLE, errno, "send");
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int flyt_read_all(int fd, void *buf, size_t len, flyt_error_t *err)
{
	char *p = buf;
	while (len > 0) {
		ssize_t n = recv(fd, p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return flyt_error_set(err, FLYT_E_TIMEOUT, 0, "receive: no data from peer in time");
			return flyt_error_set(err, FLYT_E_UNAVAILABLE, errno, "receive");
		}
		if (n == 0)
			return flyt_error_set(err, FLYT_E_UNAVAILABLE, 0, "receive: connection closed by peer");
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
