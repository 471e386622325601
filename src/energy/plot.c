/* SVG plots of signals and simulations (see plot.h). */
#include "energy/plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "energy/text.h"
#include "energy/time.h"
#include "lib/cleanup.h"

#define WIDTH 1200
#define LEFT 80
#define RIGHT 20
#define TOP 48
#define CHART_H 340
#define PLOT_W (WIDTH - LEFT - RIGHT)
#define STRIP_H 16
#define MAX_STRIPS 6

static const char *const palette[] = { "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
				       "#9467bd", "#8c564b", "#e377c2", "#7f7f7f" };

static const char *area_color(const energy_plot_t *p, const char *area)
{
	for (size_t i = 0; area && i < p->nareas; i++)
		if (strcmp(p->areas[i], area) == 0)
			return palette[i % (sizeof(palette) / sizeof(palette[0]))];
	return "#bbbbbb";
}

typedef struct {
	int64_t from, to;
	double lo, hi;
	double x0, y0, w, h;
} frame_t;

static double fx(const frame_t *f, int64_t t)
{
	return f->x0 + (double)(t - f->from) / (double)(f->to - f->from) * f->w;
}

static double fy(const frame_t *f, double v)
{
	return f->y0 + f->h - (v - f->lo) / (f->hi - f->lo) * f->h;
}

/* A "nice" step (1, 2 or 5 times a power of ten) giving about n ticks over span. */
static double nice_step(double span, int n)
{
	double raw = span / n;
	double mag = pow(10, floor(log10(raw)));
	double r = raw / mag;
	return (r < 1.5 ? 1 : r < 3.5 ? 2 : r < 7.5 ? 5 : 10) * mag;
}

static void y_axis(energy_text_t *t, const frame_t *f, const char *label)
{
	double step = nice_step(f->hi - f->lo, 6);
	for (double v = ceil(f->lo / step) * step; v <= f->hi + step * 1e-9; v += step) {
		double y = fy(f, v);
		energy_text_printf(t,
				   "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>"
				   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-size=\"11\">%g</text>\n",
				   f->x0, y, f->x0 + f->w, y, f->x0 - 6, y + 4, fabs(v) < step * 1e-6 ? 0 : v);
	}
	energy_text_printf(t,
			   "<text x=\"16\" y=\"%.1f\" font-size=\"12\" transform=\"rotate(-90 16 %.1f)\" "
			   "text-anchor=\"middle\">",
			   f->y0 + f->h / 2, f->y0 + f->h / 2);
	energy_text_xml(t, label);
	energy_text_printf(t, "</text>\n");
}

/* Time ticks: the finest of a list of intervals that gives at most 12. */
static void x_axis(energy_text_t *t, const frame_t *f, double y_text)
{
	static const struct {
		int64_t ms;
		int months;
	} steps[] = {
		{ ENERGY_MS_PER_HOUR, 0 },
		{ 3 * ENERGY_MS_PER_HOUR, 0 },
		{ 6 * ENERGY_MS_PER_HOUR, 0 },
		{ 12 * ENERGY_MS_PER_HOUR, 0 },
		{ ENERGY_MS_PER_DAY, 0 },
		{ 7 * ENERGY_MS_PER_DAY, 0 },
		{ 0, 1 },
		{ 0, 3 },
		{ 0, 12 },
	};
	int64_t span = f->to - f->from;
	size_t k = 0;
	for (; k + 1 < sizeof(steps) / sizeof(steps[0]); k++) {
		int64_t approx = steps[k].ms ? steps[k].ms : steps[k].months * 30 * ENERGY_MS_PER_DAY;
		if (span / approx <= 12)
			break;
	}
	int y, m, d;
	energy_time_to_civil(f->from, &y, &m, &d);
	for (int i = 0; i < 400; i++) {
		int64_t tick;
		char label[32];
		if (steps[k].ms) {
			tick = (f->from / steps[k].ms + i) * steps[k].ms;
			char full[ENERGY_TIME_MAX];
			energy_time_format(tick, full, sizeof(full));
			if (steps[k].ms < ENERGY_MS_PER_DAY)
				snprintf(label, sizeof(label), "%.5s", full + 11);
			else
				snprintf(label, sizeof(label), "%.10s", full);
		} else {
			/* the first day of a month (or quarter, or year) */
			int step = steps[k].months, mm = ((m - 1) / step + i) * step;
			int yy = y + mm / 12;
			mm = mm % 12 + 1;
			tick = energy_time_from_civil(yy, mm, 1, 0, 0, 0);
			if (step == 12)
				snprintf(label, sizeof(label), "%d", yy);
			else
				snprintf(label, sizeof(label), "%d-%02d", yy, mm);
		}
		if (tick < f->from)
			continue;
		if (tick > f->to)
			break;
		double x = fx(f, tick);
		energy_text_printf(t,
				   "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>"
				   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"11\">%s</text>\n",
				   x, f->y0, x, f->y0 + f->h, x, y_text, label);
	}
}

/* Min, max and mean of the samples of s whose time lies in [a, b). */
static bool bucket(const energy_series_t *s, size_t *cursor, int64_t a, int64_t b, double *lo, double *hi, double *mean)
{
	while (*cursor < s->n && s->s[*cursor].t_ms < a)
		(*cursor)++;
	size_t n = 0;
	double sum = 0;
	for (size_t i = *cursor; i < s->n && s->s[i].t_ms < b; i++) {
		double v = s->s[i].v;
		if (n == 0 || v < *lo)
			*lo = v;
		if (n == 0 || v > *hi)
			*hi = v;
		sum += v;
		n++;
	}
	if (n)
		*mean = sum / (double)n;
	return n > 0;
}

static size_t samples_in(const energy_series_t *s, int64_t from, int64_t to)
{
	size_t n = 0;
	for (size_t i = 0; i < s->n; i++)
		n += s->s[i].t_ms >= from && s->s[i].t_ms < to;
	return n;
}

static void draw_series(energy_text_t *t, const frame_t *f, const energy_series_t *s, const char *color)
{
	if (samples_in(s, f->from, f->to) <= (size_t)PLOT_W / 2) {
		/* few samples: the steps themselves */
		energy_text_printf(t, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" d=\"", color);
		bool pen = false;
		int64_t prev_end = INT64_MIN;
		for (size_t i = 0; i < s->n; i++) {
			int64_t a = s->s[i].t_ms, b = a + s->step_ms;
			if (b <= f->from || a >= f->to)
				continue;
			if (a < f->from)
				a = f->from;
			if (b > f->to)
				b = f->to;
			double y = fy(f, s->s[i].v);
			energy_text_printf(t, "%s%.1f %.1f L%.1f %.1f ", pen && prev_end == s->s[i].t_ms ? "L" : "M",
					   fx(f, a), y, fx(f, b), y);
			pen = true;
			prev_end = s->s[i].t_ms + s->step_ms;
		}
		energy_text_printf(t, "\"/>\n");
		return;
	}
	/* many samples: per pixel column the range (band) and the mean (line) */
	double lo[PLOT_W], hi[PLOT_W], mean[PLOT_W];
	bool have[PLOT_W];
	size_t cursor = 0;
	for (int x = 0; x < PLOT_W; x++) {
		int64_t a = f->from + (int64_t)((double)(f->to - f->from) * x / PLOT_W);
		int64_t b = f->from + (int64_t)((double)(f->to - f->from) * (x + 1) / PLOT_W);
		have[x] = bucket(s, &cursor, a, b, &lo[x], &hi[x], &mean[x]);
	}
	for (int x = 0; x < PLOT_W;) {
		if (!have[x]) {
			x++;
			continue;
		}
		int end = x;
		while (end < PLOT_W && have[end])
			end++;
		energy_text_printf(t, "<path fill=\"%s\" fill-opacity=\"0.22\" stroke=\"none\" d=\"M", color);
		for (int k = x; k < end; k++)
			energy_text_printf(t, "%.1f %.1f ", f->x0 + k + 0.5, fy(f, hi[k]));
		for (int k = end - 1; k >= x; k--)
			energy_text_printf(t, "L%.1f %.1f ", f->x0 + k + 0.5, fy(f, lo[k]));
		energy_text_printf(t, "Z\"/>\n<path fill=\"none\" stroke=\"%s\" stroke-width=\"1\" d=\"M", color);
		for (int k = x; k < end; k++)
			energy_text_printf(t, "%s%.1f %.1f ", k > x ? "L" : "", f->x0 + k + 0.5, fy(f, mean[k]));
		energy_text_printf(t, "\"/>\n");
		x = end;
	}
}

static void header(energy_text_t *t, int height, const char *title)
{
	energy_text_printf(t,
			   "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
			   "font-family=\"sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
			   "<text x=\"%d\" y=\"24\" font-size=\"15\" font-weight=\"bold\">",
			   WIDTH, height, WIDTH, height, LEFT);
	energy_text_xml(t, title ? title : "");
	energy_text_printf(t, "</text>\n");
}

char *energy_plot_signals_svg(const energy_plot_t *p)
{
	energy_text_t t = { 0 };
	size_t nstrips = 0;
	if (p->sim && p->fleet)
		nstrips = p->fleet->nworkloads < MAX_STRIPS ? p->fleet->nworkloads : MAX_STRIPS;
	int height = TOP + CHART_H + 34 + (int)nstrips * (STRIP_H + 6) + 36;
	header(&t, height, p->title);

	frame_t f = { .from = p->from_ms, .to = p->to_ms, .x0 = LEFT, .y0 = TOP, .w = PLOT_W, .h = CHART_H };
	bool any = false;
	for (size_t a = 0; a < p->nareas; a++) {
		const energy_series_t *s = energy_set_find(p->set, p->areas[a], p->kind);
		for (size_t i = 0; s && i < s->n; i++) {
			if (s->s[i].t_ms < f.from || s->s[i].t_ms >= f.to)
				continue;
			if (!any || s->s[i].v < f.lo)
				f.lo = s->s[i].v;
			if (!any || s->s[i].v > f.hi)
				f.hi = s->s[i].v;
			any = true;
		}
	}
	if (!any || f.hi - f.lo < 1e-9) {
		f.lo = any ? f.lo - 1 : 0;
		f.hi = any ? f.hi + 1 : 1;
	}
	double pad = (f.hi - f.lo) * 0.04;
	f.lo -= pad;
	f.hi += pad;
	if (f.to <= f.from)
		f.to = f.from + 1;

	char label[64];
	snprintf(label, sizeof(label), "%s, %s", energy_kind_name(p->kind), energy_kind_unit(p->kind));
	y_axis(&t, &f, label);
	x_axis(&t, &f, f.y0 + f.h + 16);
	energy_text_printf(
	    &t, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#999\"/>\n", f.x0,
	    f.y0, f.w, f.h);
	for (size_t a = 0; a < p->nareas; a++) {
		const energy_series_t *s = energy_set_find(p->set, p->areas[a], p->kind);
		if (s)
			draw_series(&t, &f, s, area_color(p, p->areas[a]));
	}

	double legend_y = f.y0 + f.h + 34;
	if (p->sim && p->fleet) {
		/* moves: a tick on the chart's top edge, in the colour of the area moved to */
		for (size_t i = 0; i < p->sim->nlog; i++) {
			const energy_sim_move_t *m = &p->sim->log[i];
			if (m->t_ms < f.from || m->t_ms > f.to)
				continue;
			double x = fx(&f, m->t_ms);
			energy_text_printf(&t,
					   "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n", x,
					   f.y0 - 8, x, f.y0, area_color(p, p->fleet->hosts[m->to].area));
		}
		/* where each workload was: a strip coloured by area */
		for (size_t w = 0; w < nstrips; w++) {
			double y = legend_y + (double)w * (STRIP_H + 6);
			ssize_t host = -1;
			for (size_t i = 0; i < p->sim->nlog && host < 0; i++)
				if (p->sim->log[i].workload == w)
					host = (ssize_t)p->sim->log[i].from;
			if (host < 0) {
				energy_input_t probe = { .hosts = p->fleet->hosts, .nhosts = p->fleet->nhosts };
				host = energy_input_host(&probe, p->fleet->workloads[w].host);
			}
			int64_t start = f.from;
			for (size_t i = 0; i <= p->sim->nlog; i++) {
				bool last = i == p->sim->nlog;
				if (!last && p->sim->log[i].workload != w)
					continue;
				int64_t end = last ? f.to : p->sim->log[i].t_ms;
				if (end > start && host >= 0)
					energy_text_printf(
					    &t,
					    "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%d\" fill=\"%s\"/>\n",
					    fx(&f, start), y, fx(&f, end) - fx(&f, start), STRIP_H,
					    area_color(p, p->fleet->hosts[host].area));
				if (!last) {
					start = end;
					host = (ssize_t)p->sim->log[i].to;
				}
			}
			energy_text_printf(&t, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" font-size=\"11\">",
					   LEFT - 6, y + STRIP_H - 4);
			energy_text_xml(&t, p->fleet->workloads[w].name);
			energy_text_printf(&t, "</text>\n");
		}
		legend_y += (double)nstrips * (STRIP_H + 6);
	}
	double x = LEFT;
	for (size_t a = 0; a < p->nareas; a++) {
		energy_text_printf(&t, "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"12\" fill=\"%s\"/>", x,
				   legend_y + 4, area_color(p, p->areas[a]));
		energy_text_printf(&t, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\">", x + 16, legend_y + 14);
		energy_text_xml(&t, p->areas[a]);
		energy_text_printf(&t, "</text>\n");
		x += 90;
	}
	if (p->sim)
		energy_text_printf(&t,
				   "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\">ticks on top: moves (colour of the "
				   "area moved to); strips: where each workload ran</text>\n",
				   x + 10, legend_y + 14);
	energy_text_printf(&t, "</svg>\n");
	return energy_text_take(&t);
}

static void cumulative_panel(energy_text_t *t, const energy_sim_result_t *r, double y0, const double *policy,
			     const double *stay, const char *label)
{
	frame_t f = { .from = r->from_ms, .to = r->to_ms, .x0 = LEFT, .y0 = y0, .w = PLOT_W, .h = 220 };
	f.lo = 0;
	f.hi = 0;
	for (size_t i = 0; i < r->ncurve; i++) {
		f.lo = fmin(f.lo, fmin(policy[i], stay[i]));
		f.hi = fmax(f.hi, fmax(policy[i], stay[i]));
	}
	if (f.hi - f.lo < 1e-9)
		f.hi = f.lo + 1;
	f.hi += (f.hi - f.lo) * 0.04;
	if (f.to <= f.from)
		f.to = f.from + 1;
	y_axis(t, &f, label);
	x_axis(t, &f, f.y0 + f.h + 16);
	energy_text_printf(
	    t, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#999\"/>\n", f.x0,
	    f.y0, f.w, f.h);
	const double *lines[2] = { stay, policy };
	const char *style[2] = { "stroke=\"#7f7f7f\" stroke-dasharray=\"6 4\"", "stroke=\"#2ca02c\"" };
	for (int l = 0; l < 2; l++) {
		energy_text_printf(t, "<path fill=\"none\" stroke-width=\"2\" %s d=\"M%.1f %.1f ", style[l],
				   fx(&f, r->from_ms), fy(&f, 0));
		for (size_t i = 0; i < r->ncurve; i++)
			energy_text_printf(t, "L%.1f %.1f ", fx(&f, r->curve_t[i]), fy(&f, lines[l][i]));
		energy_text_printf(t, "\"/>\n");
	}
}

char *energy_plot_cumulative_svg(const energy_sim_result_t *r, const energy_fleet_t *f, const char *title)
{
	energy_text_t t = { 0 };
	int panels = (r->has_price ? 1 : 0) + (r->has_co2 ? 1 : 0);
	int height = TOP + panels * 270 + 40;
	header(&t, height, title);
	double y = TOP;
	char label[64];
	if (r->has_price) {
		snprintf(label, sizeof(label), "cumulative cost, %s", f->policy.currency);
		cumulative_panel(&t, r, y, r->curve_cost, r->curve_cost_stay, label);
		y += 270;
	}
	if (r->has_co2) {
		double kg[ENERGY_SIM_CURVE_MAX], kg_stay[ENERGY_SIM_CURVE_MAX];
		for (size_t i = 0; i < r->ncurve; i++) {
			kg[i] = r->curve_co2[i] / 1000;
			kg_stay[i] = r->curve_co2_stay[i] / 1000;
		}
		cumulative_panel(&t, r, y, kg, kg_stay, "cumulative CO2, kg");
		y += 270;
	}
	energy_text_printf(&t,
			   "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#2ca02c\" stroke-width=\"2\"/>"
			   "<text x=\"%d\" y=\"%.1f\" font-size=\"12\">with the policy</text>"
			   "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#7f7f7f\" stroke-width=\"2\" "
			   "stroke-dasharray=\"6 4\"/><text x=\"%d\" y=\"%.1f\" font-size=\"12\">staying put</text>\n",
			   LEFT, y + 10, LEFT + 30, y + 10, LEFT + 36, y + 14, LEFT + 160, y + 10, LEFT + 190, y + 10,
			   LEFT + 196, y + 14);
	energy_text_printf(&t, "</svg>\n");
	return energy_text_take(&t);
}
