/* The power model (see account.h). */
#include "energy/account.h"

static double utilisation(double cpus, double cores)
{
	if (cpus <= 0)
		cpus = 1;
	double u = cores > 0 ? cores / cpus : 0;
	return u > 1 ? 1 : u;
}

double energy_power_host(double idle_w, double max_w, double cpus, double cores)
{
	return idle_w + (max_w - idle_w) * utilisation(cpus, cores);
}

double energy_power_workload(double idle_w, double max_w, double cpus, unsigned n, double cores)
{
	return (n ? idle_w / n : idle_w) + (max_w - idle_w) * utilisation(cpus, cores);
}

double energy_wh(double watts, int64_t ms)
{
	return watts * (double)ms / 3600000.0;
}

double energy_co2_g(double watts, int64_t ms, double g_per_kwh)
{
	return energy_wh(watts, ms) / 1000.0 * g_per_kwh;
}

double energy_cost(double watts, int64_t ms, double price_per_mwh)
{
	return energy_wh(watts, ms) / 1e6 * price_per_mwh;
}
