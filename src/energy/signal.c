/* Energy signal series in memory (see signal.h). */
#include "energy/signal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "energy/time.h"
#include "lib/util.h"

static const struct {
	const char *name;
	const char *unit;
} kinds[ENERGY_KIND_MAX] = {
	[ENERGY_CO2] = { "co2", "g/kWh" },
	[ENERGY_PRICE_EUR] = { "price_eur", "EUR/MWh" },
	[ENERGY_PRICE_DKK] = { "price_dkk", "DKK/MWh" },
};

const char *energy_kind_name(energy_kind_t k)
{
	return k >= 0 && k < ENERGY_KIND_MAX ? kinds[k].name : NULL;
}

const char *energy_kind_unit(energy_kind_t k)
{
	return k >= 0 && k < ENERGY_KIND_MAX ? kinds[k].unit : NULL;
}

energy_kind_t energy_kind_from_name(const char *name)
{
	for (int k = 0; name && k < ENERGY_KIND_MAX; k++)
		if (strcmp(kinds[k].name, name) == 0)
			return (energy_kind_t)k;
	return ENERGY_KIND_INVALID;
}

bool energy_area_valid(const char *area)
{
	size_t n = area ? strlen(area) : 0;
	if (n == 0 || n >= ENERGY_AREA_MAX)
		return false;
	for (const char *p = area; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' ||
		      *p == '-'))
			return false;
	return true;
}

void energy_set_init(energy_set_t *set)
{
	*set = (energy_set_t)ENERGY_SET_INIT;
}

static void series_free(energy_series_t *s)
{
	if (!s)
		return;
	free(s->s);
	free(s);
}

void energy_set_free(energy_set_t *set)
{
	for (size_t i = 0; i < set->n; i++)
		series_free(set->series[i]);
	free(set->series);
	energy_set_init(set);
}

size_t energy_set_samples(const energy_set_t *set)
{
	size_t n = 0;
	for (size_t i = 0; i < set->n; i++)
		n += set->series[i]->n;
	return n;
}

energy_series_t *energy_set_find(const energy_set_t *set, const char *area, energy_kind_t kind)
{
	for (size_t i = 0; i < set->n; i++)
		if (set->series[i]->kind == kind && strcmp(set->series[i]->area, area) == 0)
			return set->series[i];
	return NULL;
}

static energy_series_t *set_ensure(energy_set_t *set, const char *area, energy_kind_t kind, int64_t step_hint_ms)
{
	energy_series_t *s = energy_set_find(set, area, kind);
	if (s)
		return s;
	if (set->n == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 8;
		energy_series_t **nv = realloc(set->series, cap * sizeof(*nv));
		if (!nv)
			abort();
		set->series = nv;
		set->cap = cap;
	}
	s = flyt_malloc0(sizeof(*s));
	snprintf(s->area, sizeof(s->area), "%s", area);
	s->kind = kind;
	s->step_hint_ms = step_hint_ms;
	set->series[set->n++] = s;
	return s;
}

static void series_push(energy_series_t *s, int64_t t_ms, double v)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		energy_sample_t *nv = realloc(s->s, cap * sizeof(*nv));
		if (!nv)
			abort();
		s->s = nv;
		s->cap = cap;
	}
	s->s[s->n++] = (energy_sample_t){ t_ms, v };
}

void energy_set_append(energy_set_t *set, const char *area, energy_kind_t kind, int64_t step_hint_ms, int64_t t_ms,
		       double v)
{
	series_push(set_ensure(set, area, kind, step_hint_ms), t_ms, v);
}

static int sample_cmp(const void *a, const void *b)
{
	const energy_sample_t *x = a, *y = b;
	return x->t_ms < y->t_ms ? -1 : x->t_ms > y->t_ms;
}

static bool sorted(const energy_series_t *s)
{
	for (size_t i = 1; i < s->n; i++)
		if (s->s[i].t_ms < s->s[i - 1].t_ms)
			return false;
	return true;
}

int energy_set_finish(energy_set_t *set, flyt_error_t *err)
{
	for (size_t k = 0; k < set->n; k++) {
		energy_series_t *s = set->series[k];
		/* newest-first files are common: reverse before sorting */
		if (s->n > 1 && s->s[0].t_ms > s->s[s->n - 1].t_ms)
			for (size_t i = 0, j = s->n - 1; i < j; i++, j--) {
				energy_sample_t tmp = s->s[i];
				s->s[i] = s->s[j];
				s->s[j] = tmp;
			}
		if (!sorted(s))
			qsort(s->s, s->n, sizeof(s->s[0]), sample_cmp);
		size_t out = 0;
		int64_t step = 0;
		for (size_t i = 0; i < s->n; i++) {
			if (out > 0 && s->s[out - 1].t_ms == s->s[i].t_ms) {
				if (s->s[out - 1].v != s->s[i].v) {
					char when[ENERGY_TIME_MAX];
					energy_time_format(s->s[i].t_ms, when, sizeof(when));
					return flyt_error_set(
					    err, FLYT_E_INVALID, 0, "two different %s values for %s at %s: %g and %g",
					    energy_kind_name(s->kind), s->area, when, s->s[out - 1].v, s->s[i].v);
				}
				continue;
			}
			if (out > 0) {
				int64_t d = s->s[i].t_ms - s->s[out - 1].t_ms;
				if (step == 0 || d < step)
					step = d;
			}
			s->s[out++] = s->s[i];
		}
		s->n = out;
		s->step_ms = step ? step : s->step_hint_ms;
		if (s->step_ms <= 0)
			s->step_ms = ENERGY_MS_PER_HOUR;
	}
	return 0;
}

/* Merges the sorted samples of b into a (b wins at equal times). */
static void series_merge(energy_series_t *a, const energy_series_t *b)
{
	size_t cap = a->n + b->n + 1;
	energy_sample_t *m = malloc(cap * sizeof(*m));
	if (!m)
		abort();
	size_t i = 0, j = 0, n = 0;
	while (i < a->n || j < b->n) {
		if (j >= b->n || (i < a->n && a->s[i].t_ms < b->s[j].t_ms)) {
			m[n++] = a->s[i++];
		} else {
			if (i < a->n && a->s[i].t_ms == b->s[j].t_ms)
				i++;
			m[n++] = b->s[j++];
		}
	}
	free(a->s);
	a->s = m;
	a->n = n;
	a->cap = cap; /* what was allocated (not n + b->n + 1: appending after a merge overran it) */
	if (b->step_ms > 0 && (a->step_ms <= 0 || b->step_ms < a->step_ms))
		a->step_ms = b->step_ms;
}

void energy_set_merge(energy_set_t *dst, const energy_set_t *src)
{
	for (size_t k = 0; k < src->n; k++) {
		const energy_series_t *b = src->series[k];
		energy_series_t *a = set_ensure(dst, b->area, b->kind, b->step_hint_ms);
		series_merge(a, b);
	}
}

void energy_set_trim(energy_set_t *set, int64_t t_ms)
{
	for (size_t k = 0; k < set->n; k++) {
		energy_series_t *s = set->series[k];
		size_t drop = 0;
		while (drop < s->n && s->s[drop].t_ms + s->step_ms <= t_ms)
			drop++;
		if (drop) {
			memmove(s->s, s->s + drop, (s->n - drop) * sizeof(s->s[0]));
			s->n -= drop;
		}
	}
}

/* Index of the last sample at or before t, or -1. */
static ssize_t index_at(const energy_series_t *s, int64_t t_ms)
{
	size_t lo = 0, hi = s->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->s[mid].t_ms <= t_ms)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (ssize_t)lo - 1;
}

bool energy_series_at(const energy_series_t *s, int64_t t_ms, double *ret)
{
	if (!s || s->n == 0)
		return false;
	ssize_t i = index_at(s, t_ms);
	if (i < 0 || t_ms >= s->s[i].t_ms + s->step_ms)
		return false;
	*ret = s->s[i].v;
	return true;
}

bool energy_series_mean(const energy_series_t *s, int64_t from_ms, int64_t to_ms, double *ret_mean,
			int64_t *ret_covered_ms)
{
	if (ret_covered_ms)
		*ret_covered_ms = 0;
	if (!s || s->n == 0 || to_ms <= from_ms)
		return false;
	ssize_t i = index_at(s, from_ms);
	if (i < 0)
		i = 0;
	double sum = 0;
	int64_t covered = 0;
	for (size_t k = (size_t)i; k < s->n && s->s[k].t_ms < to_ms; k++) {
		int64_t a = s->s[k].t_ms > from_ms ? s->s[k].t_ms : from_ms;
		int64_t b = s->s[k].t_ms + s->step_ms;
		if (k + 1 < s->n && s->s[k + 1].t_ms < b)
			b = s->s[k + 1].t_ms;
		if (b > to_ms)
			b = to_ms;
		if (b <= a)
			continue;
		sum += s->s[k].v * (double)(b - a);
		covered += b - a;
	}
	if (ret_covered_ms)
		*ret_covered_ms = covered;
	if (covered == 0)
		return false;
	*ret_mean = sum / (double)covered;
	return true;
}

bool energy_series_span(const energy_series_t *s, int64_t *ret_first_ms, int64_t *ret_end_ms)
{
	if (!s || s->n == 0)
		return false;
	*ret_first_ms = s->s[0].t_ms;
	*ret_end_ms = s->s[s->n - 1].t_ms + s->step_ms;
	return true;
}
