/* The workload kinds this agent knows: one line per driver. */
#include "agent/agent.h"
#include "lib/cleanup.h"

const driver_t *const agent_drivers[] = {
	&driver_process,
	&driver_fake,
	&driver_qemu,
	&driver_libvirt,
};
const size_t agent_ndrivers = ELEMENTSOF(agent_drivers);
