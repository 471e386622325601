/* Fault injection for the reliability tests (tests/integration/test_fault_matrix.py):
 * stops a migration at a chosen phase so that a test can kill a daemon or cut a
 * link exactly there, and damages one frame of the migration stream. Off unless
 * FLYT_FAULT is set in flytd's environment, and loud when it is.
 *
 *   FLYT_FAULT=pause:ROLE:PHASE  the migration thread of that role (source or
 *       target) stops when it enters PHASE: it writes the migration's id to
 *       STATE/fault-paused and waits until that file is removed (at most ten
 *       minutes). The migration's record already shows the phase. Besides
 *       the phases, PHASE may be "pages": the source's page tunnel of a lazy
 *       migration stops once it has sent the first MiB of memory pages (the
 *       target then runs its copy, most of whose memory has not come yet).
 *   FLYT_FAULT=corrupt:N         the source sends frame number N of its images
 *       channel with one payload bit flipped after the checksum was computed,
 *       as a damaged link would deliver it.
 *   FLYT_FAULT=corrupt-live:N    (target) an engine's own migration stream
 *       (QEMU's) reaches its QEMU through a relay that flips one bit of its
 *       byte number N from the source, as a damaged link would deliver it. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/agent.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/net.h"
#include "lib/util.h"

#define PAUSE_MAX_MS (10 * 60 * 1000)

void fault_init(agent_t *a)
{
	const char *spec = getenv("FLYT_FAULT");
	if (!spec || !spec[0])
		return;
	char role[16] = "", phase[32] = "";
	unsigned long n = 0;
	if (sscanf(spec, "pause:%15[a-z]:%31[a-z_-]", role, phase) == 2 &&
	    (!strcmp(role, "source") || !strcmp(role, "target"))) {
		snprintf(a->fault_pause_role, sizeof(a->fault_pause_role), "%s", role);
		snprintf(a->fault_pause_phase, sizeof(a->fault_pause_phase), "%s", phase);
	} else if (sscanf(spec, "corrupt:%lu", &n) == 1 && n > 0 && n < UINT32_MAX) {
		a->fault_corrupt_frame = (uint32_t)n;
	} else if (sscanf(spec, "corrupt-live:%lu", &n) == 1 && n > 0) {
		a->fault_corrupt_live = n;
	} else {
		log_error("FLYT_FAULT=%s not understood (pause:ROLE:PHASE, corrupt:N or corrupt-live:N); ignored",
			  spec);
		return;
	}
	log_warn("FAULT INJECTION ON (FLYT_FAULT=%s): for tests only, never in production", spec);
}

void fault_phase(migration_t *m, migration_phase_t phase)
{
	fault_point(m, migration_phase_name(phase));
}

void fault_point(migration_t *m, const char *point)
{
	agent_t *a = m->agent;
	const char *role = m->role == ROLE_SOURCE ? "source" : "target";
	if (!a->fault_pause_phase[0] || strcmp(a->fault_pause_role, role) != 0 ||
	    strcmp(a->fault_pause_phase, point) != 0)
		return;
	_cleanup_free_ char *path = flyt_asprintf("%s/fault-paused", a->state_dir);
	_cleanup_free_ char *tmp = flyt_asprintf("%s/fault-paused.tmp", a->state_dir);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, m->id, strlen(m->id)) < 0 || close(fd) < 0 || rename(tmp, path) < 0) {
		log_error("fault injection: cannot write %s: %s", path, strerror(errno));
		return;
	}
	log_warn("fault injection: migration %s (%s) paused on entering %s until %s is removed", m->id, role, point,
		 path);
	uint64_t until = flyt_now_ms() + PAUSE_MAX_MS;
	while (access(path, F_OK) == 0 && flyt_now_ms() < until)
		flyt_sleep_ms(20);
	unlink(path);
	log_warn("fault injection: migration %s goes on", m->id);
}

typedef struct {
	int listen_fd;
	char host[128];
	uint16_t port;
	uint64_t flip_at;
	char id[64];
} relay_t;

/* Copies what one side sent to the other; from the source (dir 0), byte
 * number flip_at goes with its lowest bit flipped. */
static bool relay_copy(int from, int to, uint64_t *seen, uint64_t flip_at, const char *id)
{
	char buf[65536];
	ssize_t n = read(from, buf, sizeof(buf));
	if (n <= 0)
		return false;
	if (seen) {
		if (flip_at >= *seen && flip_at < *seen + (uint64_t)n) {
			buf[flip_at - *seen] ^= 1;
			log_warn("fault injection: migration %s: flipped a bit of byte %llu of the engine's stream", id,
				 (unsigned long long)flip_at);
		}
		*seen += (uint64_t)n;
	}
	flyt_error_t err = FLYT_ERROR_INIT;
	return flyt_write_all(to, buf, (size_t)n, &err) == 0;
}

static void *relay_thread(void *arg)
{
	relay_t *r = arg;
	struct pollfd lp = { .fd = r->listen_fd, .events = POLLIN };
	int in = -1, out = -1;
	flyt_error_t err = FLYT_ERROR_INIT;
	if (poll(&lp, 1, 120000) == 1 && (in = accept4(r->listen_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0 &&
	    (out = flyt_tcp_connect(r->host, r->port, 10000, &err)) >= 0) {
		uint64_t seen = 0;
		for (;;) {
			struct pollfd p[2] = { { .fd = in, .events = POLLIN }, { .fd = out, .events = POLLIN } };
			if (poll(p, 2, -1) < 0 && errno != EINTR)
				break;
			if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) &&
			    !relay_copy(in, out, &seen, r->flip_at, r->id))
				break;
			if ((p[1].revents & (POLLIN | POLLHUP | POLLERR)) && !relay_copy(out, in, NULL, 0, r->id))
				break;
		}
	}
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	close(r->listen_fd);
	free(r);
	return NULL;
}

int fault_live_relay(migration_t *m, const char *host, uint16_t port, uint16_t *ret_port, flyt_error_t *err)
{
	if (!m->agent->fault_corrupt_live)
		return 0;
	relay_t *r = calloc(1, sizeof(*r));
	if (!r)
		return flyt_error_set(err, FLYT_E_INTERNAL, ENOMEM, "relay");
	r->listen_fd = flyt_tcp_listen(host, 0, 1, ret_port, err);
	if (r->listen_fd < 0) {
		free(r);
		return -1;
	}
	snprintf(r->host, sizeof(r->host), "%s", host);
	r->port = port;
	r->flip_at = m->agent->fault_corrupt_live;
	snprintf(r->id, sizeof(r->id), "%s", m->id);
	pthread_t t;
	if (pthread_create(&t, NULL, relay_thread, r) != 0) {
		close(r->listen_fd);
		free(r);
		return flyt_error_set(err, FLYT_E_INTERNAL, errno, "relay thread");
	}
	pthread_detach(t);
	log_warn("fault injection: migration %s: the engine's stream goes through a relay on port %u", m->id,
		 (unsigned)*ret_port);
	return 1;
}
