/* The workload kinds this agent knows: one line per driver. */
#include "agent/agent.h"
#include "lib/cleanup.h"

/* clang-format off */
const driver_t *const agent_drivers[] = {
	&driver_process,
	&driver_fake,
	&driver_runc,
	&driver_docker,
	&driver_podman,
	&driver_qemu,
	&driver_libvirt,
};
/* clang-format on */
const size_t agent_ndrivers = ELEMENTSOF(agent_drivers);
