/* Byte relay between a plain socket and a framed stream. */
#include "tunnel.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/net.h"

int tunnel_relay(int plain_fd, flyt_stream_t *framed, const volatile bool *stop, uint64_t *bytes, flyt_error_t *err)
{
	_cleanup_free_ char *buf = malloc(FLYT_FRAME_MAX);
	if (!buf)
		return flyt_error_set(err, FLYT_E_INTERNAL, ENOMEM, "tunnel");
	bool plain_open = true, framed_open = true;
	while (plain_open || framed_open) {
		if (stop && *stop)
			return flyt_error_set(err, FLYT_E_CANCELLED, 0, "tunnel stopped");
		struct pollfd p[2];
		int np = 0, ip = -1, ifr = -1;
		if (plain_open) {
			p[np] = (struct pollfd){ .fd = plain_fd, .events = POLLIN };
			ip = np++;
		}
		if (framed_open) {
			p[np] = (struct pollfd){ .fd = framed->fd, .events = POLLIN };
			ifr = np++;
		}
		/* decrypted bytes TLS holds back do not wake poll */
		bool pending = framed_open && flyt_stream_pending(framed);
		int r = poll(p, (nfds_t)np, pending ? 0 : 500);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return flyt_error_set(err, FLYT_E_INTERNAL, errno, "tunnel poll");
		}
		if (r == 0 && !pending)
			continue;
		if (ip >= 0 && p[ip].revents) {
			ssize_t n = recv(plain_fd, buf, 256 * 1024, 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				plain_open = false;
				if (flyt_stream_send(framed, FLYT_FRAME_TUNNEL_EOF, NULL, 0, err) < 0)
					return flyt_error_prefix(err, "tunnel");
			} else {
				if (flyt_stream_send(framed, FLYT_FRAME_TUNNEL, buf, (uint32_t)n, err) < 0)
					return flyt_error_prefix(err, "tunnel");
				if (bytes)
					*bytes += (uint64_t)n;
				if (framed->progress)
					framed->progress(framed->progress_ctx, framed->bytes_sent);
			}
		}
		if (ifr >= 0 && (p[ifr].revents || pending)) {
			flyt_frame_type_t type;
			uint32_t len;
			if (flyt_stream_recv(framed, &type, buf, FLYT_FRAME_MAX, &len, err) < 0)
				return flyt_error_prefix(err, "tunnel");
			if (type == FLYT_FRAME_TUNNEL_EOF) {
				framed_open = false;
				shutdown(plain_fd, SHUT_WR);
			} else if (type == FLYT_FRAME_TUNNEL) {
				if (flyt_write_all(plain_fd, buf, len, err) < 0) {
					/* the local CRIU end went away: tell the other side */
					plain_open = false;
					flyt_error_t ignored = FLYT_ERROR_INIT;
					flyt_stream_send(framed, FLYT_FRAME_TUNNEL_EOF, NULL, 0, &ignored);
					framed_open = false;
				} else if (bytes) {
					*bytes += len;
				}
			} else {
				return flyt_error_set(err, FLYT_E_CORRUPT, 0, "tunnel: unexpected frame type %d", type);
			}
		}
	}
	return 0;
}
