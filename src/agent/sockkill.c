/* SOCK_DESTROY of TCP sockets by inode, over NETLINK_SOCK_DIAG. */
#include "sockkill.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/util.h"

typedef struct {
	struct nlmsghdr nlh;
	struct inet_diag_req_v2 r;
} diag_req_t;

static bool wanted(const uint64_t *inodes, size_t n, uint64_t ino)
{
	for (size_t i = 0; i < n; i++)
		if (inodes[i] == ino)
			return true;
	return false;
}

/* Sends one SOCK_DESTROY for id and waits for its acknowledgement. */
static int destroy_one(int fd, uint8_t family, const struct inet_diag_sockid *id, uint32_t seq)
{
	diag_req_t req = { 0 };
	req.nlh.nlmsg_len = sizeof(req);
	req.nlh.nlmsg_type = SOCK_DESTROY;
	req.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	req.nlh.nlmsg_seq = seq;
	req.r.sdiag_family = family;
	req.r.sdiag_protocol = IPPROTO_TCP;
	req.r.idiag_states = ~0u;
	req.r.id = *id;
	if (send(fd, &req, sizeof(req), 0) < 0)
		return -errno;
	char buf[4096];
	ssize_t n = recv(fd, buf, sizeof(buf), 0);
	if (n < 0)
		return -errno;
	struct nlmsghdr *h = (struct nlmsghdr *)buf;
	if (NLMSG_OK(h, (size_t)n) && h->nlmsg_type == NLMSG_ERROR) {
		struct nlmsgerr *e = NLMSG_DATA(h);
		return e->error;
	}
	return 0;
}

static int kill_family(int fd, uint8_t family, const uint64_t *inodes, size_t n, unsigned *count, flyt_error_t *err)
{
	diag_req_t req = { 0 };
	req.nlh.nlmsg_len = sizeof(req);
	req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.nlh.nlmsg_seq = 1;
	req.r.sdiag_family = family;
	req.r.sdiag_protocol = IPPROTO_TCP;
	req.r.idiag_states = ~(1u << TCP_LISTEN) & 0xfffu;
	if (send(fd, &req, sizeof(req), 0) < 0)
		return flyt_error_set(err, FLYT_E_IO, errno, "sock_diag dump");

	/* collect first, destroy after the dump: the netlink socket carries one
	 * conversation at a time */
	size_t cap = 16, found = 0;
	_cleanup_free_ struct inet_diag_sockid *ids = flyt_malloc0(cap * sizeof(*ids));
	bool done = false;
	char buf[32768];
	while (!done) {
		ssize_t len = recv(fd, buf, sizeof(buf), 0);
		if (len < 0) {
			if (errno == EINTR)
				continue;
			return flyt_error_set(err, FLYT_E_IO, errno, "sock_diag receive");
		}
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)len); h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_type == NLMSG_DONE) {
				done = true;
				break;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(h);
				return flyt_error_set(err, FLYT_E_IO, -e->error, "sock_diag dump");
			}
			struct inet_diag_msg *m = NLMSG_DATA(h);
			if (!wanted(inodes, n, m->idiag_inode))
				continue;
			if (found == cap) {
				cap *= 2;
				struct inet_diag_sockid *nids = realloc(ids, cap * sizeof(*ids));
				if (!nids)
					abort();
				ids = nids;
			}
			ids[found++] = m->id;
		}
	}
	for (size_t i = 0; i < found; i++)
		if (destroy_one(fd, family, &ids[i], (uint32_t)(i + 2)) == 0)
			(*count)++;
	return 0;
}

int sockkill_inodes(const uint64_t *inodes, size_t n, unsigned *ret_count, flyt_error_t *err)
{
	*ret_count = 0;
	if (n == 0)
		return 0;
	_cleanup_close_ int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return flyt_error_set(err, FLYT_E_IO, errno, "netlink socket");
	unsigned count = 0;
	if (kill_family(fd, AF_INET, inodes, n, &count, err) < 0 ||
	    kill_family(fd, AF_INET6, inodes, n, &count, err) < 0)
		return -1;
	*ret_count = count;
	return 0;
}
