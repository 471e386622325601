/* The power model and energy accounting.
 *
 * A host draws idle_w when it does nothing and max_w with every CPU busy, linearly
 * in between: P = idle + (max - idle) * min(1, cores in use / CPUs).
 * A workload is attributed the dynamic power of the cores it uses plus an equal
 * share of its host's idle power: P_w = idle / n + (max - idle) * min(1, cores /
 * CPUs), n being the number of workloads on that host. Summed over a host's
 * workloads that is the host's power (while it is below full load), so a host
 * with workloads is fully accounted to them; an empty host's idle power is
 * nobody's (see docs/energy.md for why).
 *
 * Energy is power times time; CO2 is energy times the area's intensity (g/kWh);
 * cost is energy times the area's price (per MWh). */
#pragma once

#include <stdint.h>

/* Watts of a host of the model (idle_w, max_w, cpus) using cores; cpus <= 0 is
 * taken as 1. */
double energy_power_host(double idle_w, double max_w, double cpus, double cores);

/* Watts attributed to one of n workloads on such a host, using cores. */
double energy_power_workload(double idle_w, double max_w, double cpus, unsigned n, double cores);

/* Grams of CO2 of `watts` for ms milliseconds at intensity g/kWh. */
double energy_co2_g(double watts, int64_t ms, double g_per_kwh);

/* Cost of `watts` for ms milliseconds at a price per MWh. */
double energy_cost(double watts, int64_t ms, double price_per_mwh);

/* Watt-hours of `watts` for ms milliseconds. */
double energy_wh(double watts, int64_t ms);
