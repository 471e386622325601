/* The policy engine (see plan.h for the rules). */
#include "energy/plan.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "energy/account.h"
#include "energy/time.h"
#include "lib/cleanup.h"
#include "lib/util.h"

static const char *const action_names[ENERGY_ACTION_MAX] = {
	[ENERGY_STAY] = "stay",
	[ENERGY_MOVE] = "move",
	[ENERGY_BLOCKED] = "blocked",
};

const char *energy_action_name(energy_action_t a)
{
	return a < ENERGY_ACTION_MAX ? action_names[a] : "?";
}

/* ---- signal views ---- */

void energy_area_fill(energy_area_t *a, const char *area, const energy_set_t *set, int64_t now_ms,
		      const energy_policy_t *p, const char *const *stale)
{
	memset(a, 0, sizeof(*a));
	snprintf(a->area, sizeof(a->area), "%s", area);
	for (int k = 0; k < ENERGY_KIND_MAX; k++) {
		energy_view_t *v = &a->sig[k];
		v->now = v->ahead = v->band_mean = NAN;
		const energy_series_t *s = energy_set_find(set, area, (energy_kind_t)k);
		int64_t first, end;
		char t1[ENERGY_TIME_MAX], t2[ENERGY_TIME_MAX];
		if (!s || !energy_series_span(s, &first, &end)) {
			snprintf(v->why, sizeof(v->why), "no %s data for %s", energy_kind_name((energy_kind_t)k), area);
			continue;
		}
		bool have = energy_series_at(s, now_ms, &v->now);
		if (have) {
			v->ahead = v->now;
			int64_t covered = 0;
			double m;
			if (p->horizon_ms > 0 && energy_series_mean(s, now_ms, now_ms + p->horizon_ms, &m, &covered))
				v->ahead = m;
			if (energy_series_mean(s, now_ms - p->band_window_ms, now_ms, &m, &covered) &&
			    covered * 2 >= p->band_window_ms) {
				v->band_ok = true;
				v->band_mean = m;
			}
		}
		if (stale && stale[k]) {
			snprintf(v->why, sizeof(v->why), "%s", stale[k]);
		} else if (!have) {
			energy_time_format(first, t1, sizeof(t1));
			energy_time_format(end, t2, sizeof(t2));
			if (now_ms < first)
				snprintf(v->why, sizeof(v->why), "the %s data of %s starts at %s",
					 energy_kind_name(s->kind), area, t1);
			else if (now_ms >= end)
				snprintf(v->why, sizeof(v->why), "the %s data of %s ends at %s",
					 energy_kind_name(s->kind), area, t2);
			else
				snprintf(v->why, sizeof(v->why), "the %s data of %s has a gap here",
					 energy_kind_name(s->kind), area);
		} else {
			v->ok = true;
		}
	}
}

/* ---- the engine ---- */

typedef struct {
	unsigned n;	  /* running workloads on the host */
	double cores;	  /* their CPU use */
	double res_cores; /* reserved by moves planned in this round */
	int64_t res_mem;
} load_t;

typedef struct {
	const energy_input_t *in;
	const energy_policy_t *p;
	energy_kind_t sig;
	load_t *load;
	ssize_t *balance_first; /* per host: the workload that moves off it first, or -1 */
	double *priority;	/* per workload: order of the moves */
} ctx_t;

ssize_t energy_input_host(const energy_input_t *in, const char *name)
{
	for (size_t i = 0; name && i < in->nhosts; i++)
		if (strcmp(in->hosts[i].name, name) == 0)
			return (ssize_t)i;
	return -1;
}

static const energy_view_t *view_of(const energy_input_t *in, const char *area, energy_kind_t k)
{
	if (!area || k < 0 || k >= ENERGY_KIND_MAX)
		return NULL;
	for (size_t i = 0; i < in->nareas; i++)
		if (strcmp(in->areas[i].area, area) == 0)
			return &in->areas[i].sig[k];
	return NULL;
}

static void fmt_value(energy_kind_t k, double v, char *buf, size_t size)
{
	if (isnan(v))
		snprintf(buf, size, "-");
	else if (k == ENERGY_CO2)
		snprintf(buf, size, "%.0f %s", v, energy_kind_unit(k));
	else
		snprintf(buf, size, "%.2f %s", v, energy_kind_unit(k));
}

static void fmt_duration(int64_t ms, char *buf, size_t size)
{
	/* rounded for people: "2h 5m", "40m", "15s" */
	int64_t s = ms / 1000;
	if (s >= 86400)
		snprintf(buf, size, "%lldd %lldh", (long long)(s / 86400), (long long)(s % 86400 / 3600));
	else if (s >= 3600)
		snprintf(buf, size, "%lldh %lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
	else if (s >= 60)
		snprintf(buf, size, "%lldm", (long long)(s / 60));
	else
		snprintf(buf, size, "%llds", (long long)s);
}

__attribute__((format(printf, 4, 5))) static void decide(energy_decision_t *d, energy_action_t action, const char *code,
							 const char *fmt, ...)
{
	d->action = action;
	d->code = code;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d->reason, sizeof(d->reason), fmt, ap);
	va_end(ap);
}

static bool has_string(char *const *v, const char *s)
{
	for (size_t i = 0; v && v[i]; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

static double cpu_pct_after(const ctx_t *c, size_t t, double add)
{
	const energy_host_t *h = &c->in->hosts[t];
	if (h->cpus <= 0)
		return NAN;
	return (c->load[t].cores + c->load[t].res_cores + add) / h->cpus * 100;
}

static double mem_pct_after(const ctx_t *c, size_t t, int64_t add)
{
	const energy_host_t *h = &c->in->hosts[t];
	if (h->mem_total <= 0 || h->mem_available < 0)
		return NAN;
	double used = (double)(h->mem_total - h->mem_available + c->load[t].res_mem + (add > 0 ? add : 0));
	return used / (double)h->mem_total * 100;
}

/* Whether host t can take workload w now (capacity counts the moves planned so
 * far); the reason in note otherwise. */
static bool target_ok(const ctx_t *c, const energy_workload_t *w, size_t t, char *note, size_t size)
{
	const energy_host_t *h = &c->in->hosts[t];
	double cpu = cpu_pct_after(c, t, w->cpu_cores), mem = mem_pct_after(c, t, w->rss_bytes);
	if (!h->online)
		snprintf(note, size, "offline");
	else if (h->drain)
		snprintf(note, size, "draining");
	else if (h->drivers && !has_string(h->drivers, w->kind))
		snprintf(note, size, "cannot run %s workloads", w->kind);
	else if (has_string(w->avoid, h->name))
		snprintf(note, size, "its pre-flight check refused this workload recently");
	else if (!isnan(mem) && mem > c->p->mem_high_pct)
		snprintf(note, size, "memory would reach %.0f%% (limit %.0f%%)", mem, c->p->mem_high_pct);
	else if (!isnan(cpu) && cpu > c->p->cpu_high_pct)
		snprintf(note, size, "CPU would reach %.0f%% (limit %.0f%%)", cpu, c->p->cpu_high_pct);
	else
		return true;
	return false;
}

static double free_mem(const ctx_t *c, size_t t)
{
	const energy_host_t *h = &c->in->hosts[t];
	return h->mem_available >= 0 ? (double)(h->mem_available - c->load[t].res_mem) : 0;
}

typedef struct {
	const ctx_t *c;
	const energy_workload_t *w;
} alt_sort_t;

/* Eligible first; then the lowest value (none last); then the least CPU; then the
 * most free memory; then the name. */
static int alt_cmp(const void *a, const void *b, void *arg)
{
	const energy_alt_t *x = a, *y = b;
	const ctx_t *sort_ctx = ((alt_sort_t *)arg)->c;
	const energy_workload_t *sort_w = ((alt_sort_t *)arg)->w;
	if (x->eligible != y->eligible)
		return x->eligible ? -1 : 1;
	if (isnan(x->value) != isnan(y->value))
		return isnan(x->value) ? 1 : -1;
	if (!isnan(x->value) && x->value != y->value)
		return x->value < y->value ? -1 : 1;
	double cx = cpu_pct_after(sort_ctx, x->host, sort_w->cpu_cores);
	double cy = cpu_pct_after(sort_ctx, y->host, sort_w->cpu_cores);
	if (!isnan(cx) && !isnan(cy) && cx != cy)
		return cx < cy ? -1 : 1;
	double mx = free_mem(sort_ctx, x->host), my = free_mem(sort_ctx, y->host);
	if (mx != my)
		return mx > my ? -1 : 1;
	return strcmp(sort_ctx->in->hosts[x->host].name, sort_ctx->in->hosts[y->host].name);
}

/* The alternatives of w (every other host), with their eligibility and value,
 * best first. value_of gives the compared value of a host (NAN: none) and may
 * veto it with a note. */
typedef bool (*value_fn)(const ctx_t *c, const energy_workload_t *w, size_t t, double *ret, char *note, size_t size);

static void alternatives(const ctx_t *c, energy_decision_t *d, const energy_workload_t *w, value_fn value_of)
{
	const energy_input_t *in = c->in;
	d->alts = flyt_malloc0((in->nhosts ? in->nhosts : 1) * sizeof(energy_alt_t));
	d->nalts = 0;
	for (size_t t = 0; t < in->nhosts; t++) {
		if ((ssize_t)t == d->source)
			continue;
		energy_alt_t *a = &d->alts[d->nalts++];
		a->host = t;
		a->value = a->gain = NAN;
		a->eligible = target_ok(c, w, t, a->note, sizeof(a->note));
		double v = NAN;
		char note[160] = "";
		bool ok = value_of ? value_of(c, w, t, &v, note, sizeof(note)) : true;
		a->value = v;
		if (!isnan(d->value_here) && !isnan(v))
			a->gain = d->value_here - v;
		if (a->eligible && !ok) {
			a->eligible = false;
			snprintf(a->note, sizeof(a->note), "%s", note);
		}
	}
	alt_sort_t arg = { c, w };
	qsort_r(d->alts, d->nalts, sizeof(energy_alt_t), alt_cmp, &arg);
}

/* "h2: offline; h3: draining" */
static void alt_notes(const ctx_t *c, const energy_decision_t *d, char *buf, size_t size)
{
	buf[0] = '\0';
	for (size_t i = 0; i < d->nalts && strlen(buf) + 1 < size; i++) {
		size_t n = strlen(buf);
		snprintf(buf + n, size - n, "%s%s: %s", i ? "; " : "", c->in->hosts[d->alts[i].host].name,
			 d->alts[i].note[0] ? d->alts[i].note : "no");
	}
	if (d->nalts == 0)
		snprintf(buf, size, "there is no other host");
}

/* The policy's signal in t's area, required fresh. */
static bool energy_value(const ctx_t *c, const energy_workload_t *w, size_t t, double *ret, char *note, size_t size)
{
	const energy_host_t *h = &c->in->hosts[t];
	if (!h->area) {
		snprintf(note, size, "no electricity area");
		return false;
	}
	const energy_view_t *v = view_of(c->in, h->area, c->sig);
	if (!v || !v->ok) {
		snprintf(note, size, "%s: %s", h->area, v ? v->why : "no signal");
		return false;
	}
	*ret = v->ahead;
	return true;
}

/* Band: the price ahead, and the area must not be above its own band. */
static bool band_value(const ctx_t *c, const energy_workload_t *w, size_t t, double *ret, char *note, size_t size)
{
	if (!energy_value(c, w, t, ret, note, size))
		return false;
	const energy_host_t *h = &c->in->hosts[t];
	const energy_view_t *v = view_of(c->in, h->area, c->sig);
	if (!v->band_ok) {
		snprintf(note, size, "%s: not enough history for its band mean", h->area);
		return false;
	}
	double upper = v->band_mean + c->p->band_pct / 100 * fabs(v->band_mean);
	if (v->now > upper) {
		char a[48], b[48];
		fmt_value(c->sig, v->now, a, sizeof(a));
		fmt_value(c->sig, upper, b, sizeof(b));
		snprintf(note, size, "%s is above its own band too (%s > %s)", h->area, a, b);
		return false;
	}
	return true;
}

/* Drain: the policy's signal where there is one, else nothing (ranked by load). */
static bool drain_value(const ctx_t *c, const energy_workload_t *w, size_t t, double *ret, char *note, size_t size)
{
	char ignored[160];
	if (c->sig != ENERGY_KIND_INVALID)
		energy_value(c, w, t, ret, ignored, sizeof(ignored));
	return true;
}

/* Balance: the CPU use the target would have. */
static bool balance_value(const ctx_t *c, const energy_workload_t *w, size_t t, double *ret, char *note, size_t size)
{
	*ret = cpu_pct_after(c, t, w->cpu_cores);
	return true;
}

static const char *better_word(const energy_policy_t *p)
{
	return p->kind == ENERGY_POLICY_GREENEST ? "greener" : "cheaper";
}

static void horizon_note(const energy_policy_t *p, char *buf, size_t size)
{
	char d[32];
	energy_duration_format(p->horizon_ms, d, sizeof(d));
	if (p->horizon_ms > 0)
		snprintf(buf, size, " (means over the next %s)", d);
	else
		buf[0] = '\0';
}

/* The first eligible alternative whose gain meets the requirement, or -1. */
static ssize_t first_good(const energy_decision_t *d, bool need_gain)
{
	for (size_t i = 0; i < d->nalts; i++) {
		if (!d->alts[i].eligible)
			break;
		if (!need_gain || (!isnan(d->alts[i].gain) && d->alts[i].gain >= d->required && d->alts[i].gain > 0))
			return (ssize_t)i;
	}
	return -1;
}

/* greenest and cheapest */
static void decide_energy(ctx_t *c, energy_decision_t *d, const energy_workload_t *w, const energy_host_t *src)
{
	const energy_policy_t *p = c->p;
	const char *kname = energy_kind_name(c->sig);
	if (!src->area) {
		decide(d, ENERGY_STAY, "no_area", "its host %s has no electricity area (flyt host set %s --area AREA)",
		       src->name, src->name);
		return;
	}
	const energy_view_t *v = view_of(c->in, src->area, c->sig);
	if (!v || !v->ok) {
		decide(d, ENERGY_STAY, "stale_signal", "no fresh %s signal for %s (%s): a stale signal moves nothing",
		       kname, src->area, v ? v->why : "no data");
		return;
	}
	d->value_here = v->ahead;
	d->required = fmax(p->min_gain_abs, p->min_gain_pct / 100 * fabs(v->ahead));
	alternatives(c, d, w, energy_value);
	char here[48], there[48], gain[48], req[48], hz[64], notes[400];
	fmt_value(c->sig, d->value_here, here, sizeof(here));
	fmt_value(c->sig, d->required, req, sizeof(req));
	horizon_note(p, hz, sizeof(hz));
	if (d->nalts == 0 || !d->alts[0].eligible) {
		alt_notes(c, d, notes, sizeof(notes));
		decide(d, ENERGY_STAY, "no_target", "no other host can take it: %s", notes);
		return;
	}
	const energy_alt_t *best = &d->alts[0];
	const energy_host_t *bh = &c->in->hosts[best->host];
	fmt_value(c->sig, best->value, there, sizeof(there));
	fmt_value(c->sig, best->gain, gain, sizeof(gain));
	d->value_there = best->value;
	d->gain = best->gain;
	if (best->gain < d->required || best->gain <= 0) {
		if (best->value >= d->value_here)
			decide(d, ENERGY_STAY, "best_here",
			       "%s (%s) is already the %s area: %s here, %s at best elsewhere (%s in %s)%s", src->name,
			       src->area, p->kind == ENERGY_POLICY_GREENEST ? "greenest" : "cheapest", here, there,
			       bh->name, bh->area, hz);
		else
			decide(d, ENERGY_STAY, "gain_below_minimum",
			       "%s (%s) is %s by only %s (%s against %s here), less than the %s a move must gain%s",
			       bh->name, bh->area, better_word(p), gain, there, here, req, hz);
		return;
	}
	ssize_t idx = first_good(d, true);
	d->target = (ssize_t)d->alts[idx].host;
	c->priority[d->workload] = best->gain / (d->required > 0 ? d->required : 1);
	decide(d, ENERGY_MOVE, p->kind == ENERGY_POLICY_GREENEST ? "greener" : "cheaper",
	       "%s is %s: %s there against %s here in %s, a gain of %s where %s is required%s", bh->area,
	       better_word(p), there, here, src->area, gain, req, hz);
}

static void decide_band(ctx_t *c, energy_decision_t *d, const energy_workload_t *w, const energy_host_t *src)
{
	const energy_policy_t *p = c->p;
	const char *kname = energy_kind_name(c->sig);
	if (!src->area) {
		decide(d, ENERGY_STAY, "no_area", "its host %s has no electricity area (flyt host set %s --area AREA)",
		       src->name, src->name);
		return;
	}
	const energy_view_t *v = view_of(c->in, src->area, c->sig);
	if (!v || !v->ok) {
		decide(d, ENERGY_STAY, "stale_signal", "no fresh %s signal for %s (%s): a stale signal moves nothing",
		       kname, src->area, v ? v->why : "no data");
		return;
	}
	char win[32], now_s[48], mean_s[48], upper_s[48];
	energy_duration_format(p->band_window_ms, win, sizeof(win));
	if (!v->band_ok) {
		decide(d, ENERGY_STAY, "stale_signal",
		       "the band of %s needs %s of prices before now (at least half of it): a stale signal moves "
		       "nothing",
		       src->area, win);
		return;
	}
	double upper = v->band_mean + p->band_pct / 100 * fabs(v->band_mean);
	fmt_value(c->sig, v->now, now_s, sizeof(now_s));
	fmt_value(c->sig, v->band_mean, mean_s, sizeof(mean_s));
	fmt_value(c->sig, upper, upper_s, sizeof(upper_s));
	d->value_here = v->ahead;
	d->required = fmax(p->min_gain_abs, p->min_gain_pct / 100 * fabs(v->ahead));
	if (v->now <= upper) {
		decide(d, ENERGY_STAY, "within_band",
		       "the price in %s, %s, is within its band (mean %s over %s, + %g%% = %s)", src->area, now_s,
		       mean_s, win, p->band_pct, upper_s);
		return;
	}
	alternatives(c, d, w, band_value);
	ssize_t idx = first_good(d, true);
	char notes[400];
	if (idx < 0) {
		alt_notes(c, d, notes, sizeof(notes));
		decide(
		    d, ENERGY_STAY, "no_target",
		    "the price in %s, %s, is above its band (mean %s over %s, + %g%% = %s), but no host is cheaper by "
		    "the gain required within its own band: %s",
		    src->area, now_s, mean_s, win, p->band_pct, upper_s, notes);
		if (d->nalts > 0) {
			d->value_there = d->alts[0].value;
			d->gain = d->alts[0].gain;
		}
		return;
	}
	const energy_alt_t *best = &d->alts[idx];
	const energy_host_t *bh = &c->in->hosts[best->host];
	char there[48], gain[48];
	fmt_value(c->sig, best->value, there, sizeof(there));
	fmt_value(c->sig, best->gain, gain, sizeof(gain));
	d->target = (ssize_t)best->host;
	d->value_there = best->value;
	d->gain = best->gain;
	c->priority[d->workload] = best->gain / (d->required > 0 ? d->required : 1);
	decide(
	    d, ENERGY_MOVE, "above_band",
	    "the price in %s, %s, is above its band (mean %s over %s, + %g%% = %s); %s is at %s, within its own band, "
	    "a gain of %s",
	    src->area, now_s, mean_s, win, p->band_pct, upper_s, bh->area, there, gain);
}

static bool overloaded(const ctx_t *c, size_t h, double *ret_cpu, double *ret_mem)
{
	*ret_cpu = cpu_pct_after(c, h, 0);
	*ret_mem = mem_pct_after(c, h, 0);
	return (!isnan(*ret_cpu) && *ret_cpu > c->p->cpu_high_pct) ||
	       (!isnan(*ret_mem) && *ret_mem > c->p->mem_high_pct);
}

static void decide_balance(ctx_t *c, energy_decision_t *d, const energy_workload_t *w, const energy_host_t *src)
{
	double cpu, mem;
	size_t s = (size_t)d->source;
	if (!overloaded(c, s, &cpu, &mem)) {
		decide(d, ENERGY_STAY, "not_overloaded",
		       "%s is within its limits (CPU %.0f%% of %.0f%%, memory %.0f%% of %.0f%%)", src->name,
		       isnan(cpu) ? 0 : cpu, c->p->cpu_high_pct, isnan(mem) ? 0 : mem, c->p->mem_high_pct);
		return;
	}
	ssize_t first = c->balance_first[s];
	if (first != (ssize_t)d->workload) {
		decide(d, ENERGY_STAY, "other_moves_first", "%s is overloaded; %s moves off it first (it uses more)",
		       src->name, first >= 0 ? c->in->workloads[first].name : "another workload");
		return;
	}
	d->value_here = cpu;
	alternatives(c, d, w, balance_value);
	char notes[400];
	if (d->nalts == 0 || !d->alts[0].eligible) {
		alt_notes(c, d, notes, sizeof(notes));
		decide(d, ENERGY_STAY, "no_target", "%s is overloaded but no other host can take %s: %s", src->name,
		       w->name, notes);
		return;
	}
	const energy_alt_t *best = &d->alts[0];
	d->target = (ssize_t)best->host;
	d->value_there = best->value;
	c->priority[d->workload] = fmax(cpu / c->p->cpu_high_pct, isnan(mem) ? 0 : mem / c->p->mem_high_pct);
	decide(d, ENERGY_MOVE, "overloaded",
	       "%s is overloaded (CPU %.0f%%, memory %.0f%%; limits %.0f%% and %.0f%%); %s will be at %.0f%% CPU with "
	       "it",
	       src->name, isnan(cpu) ? 0 : cpu, isnan(mem) ? 0 : mem, c->p->cpu_high_pct, c->p->mem_high_pct,
	       c->in->hosts[best->host].name, isnan(best->value) ? 0 : best->value);
}

static void decide_drain(ctx_t *c, energy_decision_t *d, const energy_workload_t *w, const energy_host_t *src)
{
	if (c->sig != ENERGY_KIND_INVALID && src->area) {
		const energy_view_t *v = view_of(c->in, src->area, c->sig);
		if (v && v->ok)
			d->value_here = v->ahead;
	}
	alternatives(c, d, w, drain_value);
	char notes[400];
	if (d->nalts == 0 || !d->alts[0].eligible) {
		alt_notes(c, d, notes, sizeof(notes));
		decide(d, ENERGY_BLOCKED, "no_target", "its host %s is draining, but no host can take it: %s",
		       src->name, notes);
		return;
	}
	const energy_alt_t *best = &d->alts[0];
	const energy_host_t *bh = &c->in->hosts[best->host];
	d->target = (ssize_t)best->host;
	d->value_there = best->value;
	d->gain = best->gain;
	c->priority[d->workload] = INFINITY;
	char there[48];
	fmt_value(c->sig, best->value, there, sizeof(there));
	if (!isnan(best->value))
		decide(d, ENERGY_MOVE, "drain", "its host %s is draining; %s is the best host for it (%s, %s)",
		       src->name, bh->name, bh->area ? bh->area : "no area", there);
	else
		decide(d, ENERGY_MOVE, "drain", "its host %s is draining; %s is the least loaded host that can take it",
		       src->name, bh->name);
}

static bool movable(const ctx_t *c, const energy_workload_t *w)
{
	const int64_t now = c->in->now_ms;
	return w->running && !w->migrating && w->auto_migrate &&
	       (w->hold_until_ms == ENERGY_NO_TIME || w->hold_until_ms <= now) &&
	       (w->last_move_ms == ENERGY_NO_TIME || now - w->last_move_ms >= c->p->min_dwell_ms);
}

static void decide_one(ctx_t *c, energy_decision_t *d)
{
	const energy_input_t *in = c->in;
	const energy_workload_t *w = &in->workloads[d->workload];
	const int64_t now = in->now_ms;
	char a[64], b[64], when[ENERGY_TIME_MAX];
	if (d->source < 0) {
		decide(d, ENERGY_STAY, "unknown_host", "its host %s is not known", w->host ? w->host : "-");
		return;
	}
	const energy_host_t *src = &in->hosts[d->source];
	if (!w->running) {
		decide(d, ENERGY_STAY, "not_running", "it is not running");
		return;
	}
	if (w->migrating) {
		decide(d, ENERGY_STAY, "migrating", "a migration of it is in progress");
		return;
	}
	if (!src->drain && !w->auto_migrate) {
		decide(d, ENERGY_STAY, "auto_migrate_off", "auto-migrate is off for it");
		return;
	}
	if (w->hold_until_ms != ENERGY_NO_TIME && w->hold_until_ms > now) {
		energy_time_format(w->hold_until_ms, when, sizeof(when));
		decide(d, ENERGY_STAY, "hold", "its last automatic migration failed (%s); no new attempt before %s",
		       w->hold_reason ? w->hold_reason : "see its migrations", when);
		return;
	}
	if (src->drain) {
		decide_drain(c, d, w, src);
		return;
	}
	if (w->last_move_ms != ENERGY_NO_TIME && now - w->last_move_ms < c->p->min_dwell_ms) {
		fmt_duration(now - w->last_move_ms, a, sizeof(a));
		fmt_duration(c->p->min_dwell_ms, b, sizeof(b));
		decide(d, ENERGY_STAY, "dwell", "it moved %s ago; it stays at least %s on a host (min_dwell)", a, b);
		return;
	}
	switch (c->p->kind) {
	case ENERGY_POLICY_GREENEST:
	case ENERGY_POLICY_CHEAPEST:
		decide_energy(c, d, w, src);
		break;
	case ENERGY_POLICY_BAND:
		decide_band(c, d, w, src);
		break;
	case ENERGY_POLICY_BALANCE:
		decide_balance(c, d, w, src);
		break;
	default:
		decide(d, ENERGY_STAY, "policy_none", "the policy is none: nothing moves by itself");
		break;
	}
}

/* For balance: on each overloaded host, the movable workload to move first (the
 * most CPU when the CPU is over its limit, else the most memory). */
static void pick_balance(ctx_t *c)
{
	const energy_input_t *in = c->in;
	for (size_t h = 0; h < in->nhosts; h++) {
		c->balance_first[h] = -1;
		double cpu, mem;
		if (!overloaded(c, h, &cpu, &mem))
			continue;
		bool by_cpu = !isnan(cpu) && cpu > c->p->cpu_high_pct;
		for (size_t i = 0; i < in->nworkloads; i++) {
			const energy_workload_t *w = &in->workloads[i];
			if (!w->host || strcmp(w->host, in->hosts[h].name) != 0 || !movable(c, w))
				continue;
			ssize_t f = c->balance_first[h];
			if (f < 0) {
				c->balance_first[h] = (ssize_t)i;
				continue;
			}
			const energy_workload_t *o = &in->workloads[f];
			double mine = by_cpu ? w->cpu_cores : (double)w->rss_bytes;
			double theirs = by_cpu ? o->cpu_cores : (double)o->rss_bytes;
			if (mine > theirs)
				c->balance_first[h] = (ssize_t)i;
		}
	}
}

/* Moves in order: the highest priority first (drains are infinite), then by name. */
static int move_cmp(const void *a, const void *b, void *arg)
{
	const ctx_t *order_ctx = arg;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	double px = order_ctx->priority[x], py = order_ctx->priority[y];
	if (px != py)
		return px > py ? -1 : 1;
	return strcmp(order_ctx->in->workloads[x].name, order_ctx->in->workloads[y].name);
}

/* Savings of moving d's workload from its host to the target, per hour, at the
 * current values (not the horizon means). */
static void estimate_saving(const ctx_t *c, energy_decision_t *d)
{
	const energy_host_t *s = &c->in->hosts[d->source], *t = &c->in->hosts[d->target];
	const energy_view_t *co2s = view_of(c->in, s->area, ENERGY_CO2), *co2t = view_of(c->in, t->area, ENERGY_CO2);
	energy_kind_t pk = energy_policy_price_kind(c->p);
	const energy_view_t *ps = view_of(c->in, s->area, pk), *pt = view_of(c->in, t->area, pk);
	double kw = d->power_w / 1000;
	if (co2s && co2t && !isnan(co2s->now) && !isnan(co2t->now))
		d->saving_co2_g_per_h = kw * (co2s->now - co2t->now);
	if (ps && pt && !isnan(ps->now) && !isnan(pt->now))
		d->saving_cost_per_h = kw * (ps->now - pt->now) / 1000;
}

void energy_plan_make(const energy_input_t *in, energy_plan_t *ret)
{
	*ret = (energy_plan_t){ 0 };
	ret->n = in->nworkloads;
	ret->d = flyt_malloc0((in->nworkloads ? in->nworkloads : 1) * sizeof(energy_decision_t));
	_cleanup_free_ load_t *load = flyt_malloc0((in->nhosts ? in->nhosts : 1) * sizeof(load_t));
	_cleanup_free_ ssize_t *first = flyt_malloc0((in->nhosts ? in->nhosts : 1) * sizeof(ssize_t));
	_cleanup_free_ double *priority = flyt_malloc0((in->nworkloads ? in->nworkloads : 1) * sizeof(double));
	_cleanup_free_ size_t *moves = flyt_malloc0((in->nworkloads ? in->nworkloads : 1) * sizeof(size_t));
	ctx_t c = { .in = in,
		    .p = in->policy,
		    .sig = energy_policy_signal(in->policy),
		    .load = load,
		    .balance_first = first,
		    .priority = priority };

	for (size_t i = 0; i < in->nworkloads; i++) {
		const energy_workload_t *w = &in->workloads[i];
		ssize_t h = energy_input_host(in, w->host);
		if (h >= 0 && (w->running || w->migrating)) {
			load[h].n++;
			load[h].cores += w->cpu_cores > 0 ? w->cpu_cores : 0;
		}
	}
	pick_balance(&c);

	size_t nmoves = 0;
	for (size_t i = 0; i < in->nworkloads; i++) {
		energy_decision_t *d = &ret->d[i];
		const energy_workload_t *w = &in->workloads[i];
		d->workload = i;
		d->source = energy_input_host(in, w->host);
		d->target = -1;
		d->signal = c.sig;
		d->value_here = d->value_there = d->gain = d->required = NAN;
		d->saving_co2_g_per_h = d->saving_cost_per_h = NAN;
		if (d->source >= 0) {
			const energy_host_t *h = &in->hosts[d->source];
			d->power_w =
			    energy_power_workload(h->idle_w, h->max_w, h->cpus, load[d->source].n, w->cpu_cores);
		}
		decide_one(&c, d);
		if (d->action == ENERGY_MOVE)
			moves[nmoves++] = i;
	}

	/* the limits and the capacity taken by earlier moves, in priority order */
	qsort_r(moves, nmoves, sizeof(size_t), move_cmp, &c);
	int64_t running = in->active_migrations, recent = in->recent_migrations;
	for (size_t k = 0; k < nmoves; k++) {
		energy_decision_t *d = &ret->d[moves[k]];
		const energy_workload_t *w = &in->workloads[d->workload];
		char was[sizeof(d->reason)], tn[64];
		memcpy(was, d->reason, sizeof(was));
		snprintf(tn, sizeof(tn), "%s", in->hosts[d->target].name);
		if (running >= c.p->max_concurrent) {
			decide(d, ENERGY_BLOCKED, "limit_concurrent",
			       "not now: %lld migration(s) running (max_concurrent %lld); it would move to %s: %s",
			       (long long)running, (long long)c.p->max_concurrent, tn, was);
			continue;
		}
		if (recent >= c.p->max_per_hour) {
			decide(
			    d, ENERGY_BLOCKED, "limit_hourly",
			    "not now: %lld policy migration(s) in the last hour (max_per_hour %lld); it would move to %s: "
			    "%s",
			    (long long)recent, (long long)c.p->max_per_hour, tn, was);
			continue;
		}
		/* capacity may have gone to earlier moves: the next alternative that
		 * still qualifies, else blocked */
		char note[160];
		if (!target_ok(&c, w, (size_t)d->target, note, sizeof(note))) {
			ssize_t next = -1;
			for (size_t a = 0; a < d->nalts && next < 0; a++) {
				const energy_alt_t *alt = &d->alts[a];
				bool gain_ok = strcmp(d->code, "drain") == 0 || strcmp(d->code, "overloaded") == 0 ||
					       (!isnan(alt->gain) && alt->gain >= d->required && alt->gain > 0);
				if (alt->eligible && gain_ok && target_ok(&c, w, alt->host, note, sizeof(note)))
					next = (ssize_t)alt->host;
			}
			if (next < 0) {
				decide(
				    d, ENERGY_BLOCKED, "no_capacity",
				    "not now: the hosts it could go to are full with the moves planned before it; it "
				    "would move to %s: %s",
				    tn, was);
				continue;
			}
			d->target = next;
			snprintf(d->reason, sizeof(d->reason), "%s (%s is full with earlier moves; %s instead)", was,
				 tn, in->hosts[next].name);
		}
		running++;
		recent++;
		load[d->target].res_cores += w->cpu_cores > 0 ? w->cpu_cores : 0;
		load[d->target].res_mem += w->rss_bytes > 0 ? w->rss_bytes : 0;
		estimate_saving(&c, d);
	}
	for (size_t i = 0; i < ret->n; i++) {
		if (ret->d[i].action == ENERGY_MOVE)
			ret->moves++;
		else if (ret->d[i].action == ENERGY_BLOCKED)
			ret->blocked++;
	}
}

void energy_plan_free(energy_plan_t *p)
{
	for (size_t i = 0; p->d && i < p->n; i++)
		free(p->d[i].alts);
	free(p->d);
	*p = (energy_plan_t){ 0 };
}

static json_t *num(double v)
{
	return isnan(v) || isinf(v) ? json_null() : json_real(v);
}

static json_t *time_json(int64_t ms)
{
	if (ms == ENERGY_NO_TIME)
		return json_null();
	char t[ENERGY_TIME_MAX];
	energy_time_format(ms, t, sizeof(t));
	return json_string(t);
}

json_t *energy_decision_json(const energy_input_t *in, const energy_decision_t *d)
{
	const energy_workload_t *w = &in->workloads[d->workload];
	const energy_host_t *src = d->source >= 0 ? &in->hosts[d->source] : NULL;
	const energy_host_t *dst = d->target >= 0 ? &in->hosts[d->target] : NULL;
	const energy_policy_t *p = in->policy;
	json_t *j = json_object();
	json_object_set_new(j, "workload", json_string(w->name));
	json_object_set_new(j, "host", w->host ? json_string(w->host) : json_null());
	json_object_set_new(j, "area", src && src->area ? json_string(src->area) : json_null());
	json_object_set_new(j, "action", json_string(energy_action_name(d->action)));
	json_object_set_new(j, "code", json_string(d->code ? d->code : ""));
	json_object_set_new(j, "reason", json_string(d->reason));
	json_object_set_new(j, "target", dst ? json_string(dst->name) : json_null());
	json_object_set_new(j, "target_area", dst && dst->area ? json_string(dst->area) : json_null());
	json_object_set_new(j, "policy", json_string(energy_policy_kind_name(p->kind)));
	json_object_set_new(j, "signal", d->signal >= 0 ? json_string(energy_kind_name(d->signal)) : json_null());
	json_object_set_new(j, "unit", d->signal >= 0 ? json_string(energy_kind_unit(d->signal)) : json_null());
	json_object_set_new(j, "value_here", num(d->value_here));
	json_object_set_new(j, "value_there", num(d->value_there));
	json_object_set_new(j, "gain", num(d->gain));
	json_object_set_new(j, "required", num(d->required));
	json_object_set_new(j, "power_w", num(d->power_w));
	json_object_set_new(j, "saving",
			    json_pack("{s:o, s:o, s:s}", "co2_g_per_h", num(d->saving_co2_g_per_h), "cost_per_h",
				      num(d->saving_cost_per_h), "currency", p->currency));

	json_t *areas = json_object();
	for (size_t i = 0; i < in->nareas; i++) {
		json_t *a = json_object();
		for (int k = 0; k < ENERGY_KIND_MAX; k++) {
			const energy_view_t *v = &in->areas[i].sig[k];
			if (isnan(v->now) && !v->ok && strstr(v->why, "no ") == v->why)
				continue; /* no data of that kind at all */
			json_t *s =
			    json_pack("{s:b, s:o, s:o}", "fresh", v->ok, "now", num(v->now), "ahead", num(v->ahead));
			if (p->kind == ENERGY_POLICY_BAND)
				json_object_set_new(s, "band_mean", v->band_ok ? num(v->band_mean) : json_null());
			if (!v->ok)
				json_object_set_new(s, "why", json_string(v->why));
			json_object_set_new(a, energy_kind_name((energy_kind_t)k), s);
		}
		json_object_set_new(areas, in->areas[i].area, a);
	}
	json_t *settings = energy_policy_json(p);
	json_t *inputs = json_pack(
	    "{s:o, s:o, s:{s:b, s:b, s:f, s:o, s:o, s:o}, s:{s:I, s:I, s:I, s:I}, s:o}", "time", time_json(in->now_ms),
	    "areas", areas, "workload", "auto_migrate", w->auto_migrate, "running", w->running, "cpu_cores",
	    w->cpu_cores, "rss_bytes", w->rss_bytes >= 0 ? json_integer(w->rss_bytes) : json_null(), "last_move",
	    time_json(w->last_move_ms), "hold_until", time_json(w->hold_until_ms), "limits", "running",
	    (json_int_t)in->active_migrations, "max_concurrent", (json_int_t)p->max_concurrent, "last_hour",
	    (json_int_t)in->recent_migrations, "max_per_hour", (json_int_t)p->max_per_hour, "settings", settings);
	json_object_set_new(j, "inputs", inputs);

	json_t *alts = json_array();
	for (size_t i = 0; i < d->nalts; i++) {
		const energy_alt_t *a = &d->alts[i];
		const energy_host_t *h = &in->hosts[a->host];
		json_array_append_new(alts,
				      json_pack("{s:s, s:o, s:b, s:o, s:o, s:s}", "host", h->name, "area",
						h->area ? json_string(h->area) : json_null(), "eligible", a->eligible,
						"value", num(a->value), "gain", num(a->gain), "note", a->note));
	}
	json_object_set_new(j, "alternatives", alts);
	return j;
}
