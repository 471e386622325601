/* Plots of signals and simulations as SVG text (no library, no I/O: the caller
 * writes the text where it wants). Long series are drawn as a min-max envelope
 * per pixel column with the mean as a line, so a three-year hourly series stays
 * a file of a few hundred kilobytes. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "energy/signal.h"
#include "energy/sim.h"

typedef struct {
	const char *title;
	const energy_set_t *set;
	energy_kind_t kind;
	int64_t from_ms, to_ms;
	const char (*areas)[ENERGY_AREA_MAX]; /* the areas to draw, in this order */
	size_t nareas;
	/* optional: a simulation whose moves are marked and whose placement of
	 * the first workloads is drawn as a strip per workload under the chart */
	const energy_sim_result_t *sim;
	const energy_fleet_t *fleet;
} energy_plot_t;

/* The signal of each area over the period, with the moves of the simulation.
 * Caller frees. */
char *energy_plot_signals_svg(const energy_plot_t *p);

/* Cumulative cost and CO2 of the simulated policy against staying put. Caller
 * frees. */
char *energy_plot_cumulative_svg(const energy_sim_result_t *r, const energy_fleet_t *f, const char *title);
