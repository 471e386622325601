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
 *       as a damaged link would deliver it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "lib/cleanup.h"
#include "lib/log.h"
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
	} else {
		log_error("FLYT_FAULT=%s not understood (pause:ROLE:PHASE or corrupt:N); ignored", spec);
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
