/* The controller's energy signals: replay files read at start (--signals-file),
 * samples cached in the store, and, with --signals-url, a fetcher thread that
 * asks an Energi Data Service API for each dataset every --signals-interval,
 * paced to 40 requests per 10 s, backing off after failures and HTTP 429.
 *
 * A failed fetch marks the signals its dataset carries stale (with the reason)
 * until a fetch of it succeeds again; the policy engine moves nothing on a stale
 * signal. The fetcher never stops on an error: it waits and tries again.
 *
 * What the policy sees is one set, rebuilt after every successful fetch from the
 * files and the cache, then the forecast datasets, then the realised ones (so a
 * realised value replaces the forecast of the same time). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/controller.h"
#include "controller/eds_client.h"
#include "energy/parse.h"
#include "energy/time.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/util.h"

#define MAX_DATASETS 8
#define FILE_MAX_BYTES (256u * 1024 * 1024)
/* fetched samples kept: the band window (or a day) before now, and a margin */
#define KEEP_MARGIN_MS (2 * ENERGY_MS_PER_DAY)
/* after the first full fetch, a regular fetch asks for this much of the past */
#define RECENT_MS (3 * ENERGY_MS_PER_HOUR)
/* and every so often for the whole window again */
#define FULL_EVERY_MS (6 * ENERGY_MS_PER_HOUR)

typedef struct {
	const energy_eds_dataset_t *d;
	energy_set_t set; /* what it fetched */
	energy_backoff_t backoff;
	int64_t next_ms;      /* wall clock: the next regular fetch */
	int64_t last_full_ms; /* wall clock: the last fetch of the whole window */
	int64_t last_ok_ms, last_try_ms;
	bool failed;
	char why[400];
	long last_status;
	size_t last_rows;
	uint64_t requests, failures;
} dataset_t;

struct signals {
	pthread_mutex_t lock;
	energy_set_t base; /* files and the cache */
	energy_set_t view; /* base, then the datasets' sets */
	json_t *files;
	dataset_t ds[MAX_DATASETS];
	size_t nds;
	eds_client_t client;
	pthread_t thread;
	bool thread_started;
};

/* Rebuilds the view (lock held). */
static void rebuild(struct signals *s)
{
	energy_set_free(&s->view);
	energy_set_merge(&s->view, &s->base);
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < s->nds; i++)
			if ((s->ds[i].d->ahead_ms > 0) == (pass == 0))
				energy_set_merge(&s->view, &s->ds[i].set);
}

static int load_file(struct signals *s, const char *path, flyt_error_t *err)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	if (flyt_read_file(path, FILE_MAX_BYTES, &text, &len, err) < 0)
		return flyt_error_prefix(err, "--signals-file");
	energy_parse_info_t info;
	_cleanup_free_ char *what = flyt_asprintf("signals file %s", path);
	if (energy_parse(text, len, what, &s->base, &info, err) < 0)
		return -1;
	char from[ENERGY_TIME_MAX], to[ENERGY_TIME_MAX];
	energy_time_format(info.first_ms, from, sizeof(from));
	energy_time_format(info.last_ms, to, sizeof(to));
	json_array_append_new(s->files,
			      json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:s}", "type", "file", "path", path,
					"format", info.format, "dataset", info.dataset, "rows", (json_int_t)info.rows,
					"values", (json_int_t)info.values, "from", from, "to", to));
	log_info("signals: %s: %zu values (%s, %s .. %s)", path, info.values, info.format, from, to);
	return 0;
}

/* The distinct areas of the hosts, upper-case (caller frees the vector). */
static char **host_areas(ctl_t *c)
{
	_cleanup_json_ json_t *hosts = store_hosts_list(c->store);
	char **out = flyt_malloc0(sizeof(char *));
	size_t i;
	json_t *h;
	json_array_foreach (hosts, i, h) {
		const char *a = flyt_json_str(h, "area", NULL);
		if (!a || !energy_area_valid(a))
			continue;
		bool seen = false;
		for (char **p = out; *p && !seen; p++)
			seen = strcmp(*p, a) == 0;
		if (!seen)
			flyt_strv_push(&out, a);
	}
	return out;
}

static void fetch_one(ctl_t *c, dataset_t *ds, char *const *areas, int64_t now)
{
	struct signals *s = c->signals;
	energy_policy_t p;
	policy_settings(c, &p);
	int64_t pnow = ctl_policy_now(c);
	int64_t back = p.band_window_ms > ENERGY_MS_PER_DAY ? p.band_window_ms : ENERGY_MS_PER_DAY;
	bool full = ds->last_full_ms == 0 || now - ds->last_full_ms >= FULL_EVERY_MS;
	int64_t start = pnow - (full ? back : RECENT_MS);
	start -= start % ENERGY_MS_PER_HOUR;
	int64_t end = pnow + ds->d->ahead_ms + ENERGY_MS_PER_HOUR;
	_cleanup_(energy_set_free) energy_set_t got = ENERGY_SET_INIT;
	eds_result_t res;
	flyt_error_t err = FLYT_ERROR_INIT;
	int r = eds_fetch(&s->client, ds->d, areas, start, end, now, &got, &res, &err);
	if (r < 0 && res.paced) {
		/* not a failure: our own pacing; try again when a slot is free */
		pthread_mutex_lock(&s->lock);
		ds->backoff.next_ms = now + res.retry_after_ms;
		pthread_mutex_unlock(&s->lock);
		return;
	}
	int64_t base = c->signals_interval_ms / 10;
	base = base < 100 ? 100 : base > 30000 ? 30000 : base;
	pthread_mutex_lock(&s->lock);
	ds->requests++;
	ds->last_try_ms = now;
	ds->last_status = res.status;
	bool was_failed = ds->failed;
	if (r == 0) {
		energy_set_merge(&ds->set, &got);
		energy_set_trim(&ds->set, pnow - back - KEEP_MARGIN_MS);
		rebuild(s);
		ds->failed = false;
		ds->why[0] = '\0';
		ds->last_ok_ms = now;
		ds->last_rows = res.info.rows;
		if (full)
			ds->last_full_ms = now;
		ds->next_ms = now + c->signals_interval_ms;
		energy_backoff_ok(&ds->backoff);
	} else {
		ds->failures++;
		ds->failed = true;
		snprintf(ds->why, sizeof(ds->why), "%s", err.msg);
		int64_t delay =
		    energy_backoff_fail(&ds->backoff, now, base, c->signals_interval_ms, res.retry_after_ms);
		snprintf(ds->why + strlen(ds->why), sizeof(ds->why) - strlen(ds->why), " (next attempt in %lld ms)",
			 (long long)delay);
	}
	pthread_mutex_unlock(&s->lock);

	if (r == 0) {
		flyt_error_t serr = FLYT_ERROR_INIT;
		if (store_signals_put(c->store, &got, ds->d->name, flyt_wall_ms(), pnow - back - KEEP_MARGIN_MS,
				      &serr) < 0)
			log_warn("signals: %s: not cached: %s", ds->d->name, serr.msg);
		log_debug("signals: %s: %zu records", ds->d->name, res.info.rows);
		if (was_failed) {
			log_info("signals: %s is fresh again", ds->d->name);
			ctl_publish(c, "signal.fresh", json_pack("{s:s}", "dataset", ds->d->name));
		}
	} else {
		if (!was_failed) {
			log_warn("signals: %s: %s; its signals are stale until a fetch succeeds", ds->d->name, err.msg);
			ctl_publish(c, "signal.stale",
				    json_pack("{s:s, s:s}", "dataset", ds->d->name, "reason", err.msg));
		} else {
			log_debug("signals: %s: still failing: %s", ds->d->name, err.msg);
		}
	}
}

static void *fetcher(void *arg)
{
	ctl_t *c = arg;
	struct signals *s = c->signals;
	while (!atomic_load(&c->stopping)) {
		int64_t now = flyt_wall_ms();
		_cleanup_strv_ char **areas = host_areas(c);
		for (size_t i = 0; i < s->nds && !atomic_load(&c->stopping); i++) {
			dataset_t *ds = &s->ds[i];
			pthread_mutex_lock(&s->lock);
			bool due = now >= ds->next_ms && energy_backoff_ready(&ds->backoff, now);
			pthread_mutex_unlock(&s->lock);
			if (!due)
				continue;
			if (!areas[0]) {
				/* no host has an area yet: nothing to ask for */
				pthread_mutex_lock(&s->lock);
				ds->next_ms = now + 1000;
				pthread_mutex_unlock(&s->lock);
				continue;
			}
			fetch_one(c, ds, areas, flyt_wall_ms());
		}
		for (int k = 0; k < 2 && !atomic_load(&c->stopping); k++)
			flyt_sleep_ms(50);
	}
	return NULL;
}

int signals_start(ctl_t *c, flyt_error_t *err)
{
	struct signals *s = flyt_malloc0(sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->files = json_array();
	c->signals = s;
	for (char **f = c->signals_files; f && *f; f++)
		if (load_file(s, *f, err) < 0)
			return -1;
	/* what earlier runs fetched, for the window a band needs */
	energy_policy_t p;
	policy_settings(c, &p);
	int64_t since = ctl_policy_now(c) - p.band_window_ms - KEEP_MARGIN_MS;
	if (store_signals_load(c->store, since, &s->base, err) < 0)
		return flyt_error_prefix(err, "loading the cached signal samples");
	if (c->signals_url) {
		if (!flyt_startswith(c->signals_url, "http://") && !flyt_startswith(c->signals_url, "https://"))
			return flyt_error_set(err, FLYT_E_INVALID, 0,
					      "--signals-url must be an http:// or https:// URL");
		size_t n = strlen(c->signals_url);
		while (n > 0 && c->signals_url[n - 1] == '/')
			c->signals_url[--n] = '\0';
		eds_client_init(&s->client, c->signals_url, 30000);
		static const char *const defaults[] = { "CO2EmisProg", "CO2Emis", "DayAheadPrices", NULL };
		const char *const *names = c->signals_datasets ? (const char *const *)c->signals_datasets : defaults;
		for (size_t i = 0; names[i]; i++) {
			const energy_eds_dataset_t *d = energy_eds_dataset(names[i]);
			if (!d)
				return flyt_error_set(err, FLYT_E_INVALID, 0, "--signals-dataset %s: flyt reads %s",
						      names[i], energy_eds_dataset_names());
			if (s->nds == MAX_DATASETS)
				return flyt_error_set(err, FLYT_E_INVALID, 0, "at most %d datasets", MAX_DATASETS);
			s->ds[s->nds++] = (dataset_t){ .d = d, .set = ENERGY_SET_INIT };
		}
	} else if (c->signals_datasets) {
		return flyt_error_set(err, FLYT_E_INVALID, 0, "--signals-dataset needs --signals-url");
	}
	rebuild(s);
	if (s->nds) {
		if (pthread_create(&s->thread, NULL, fetcher, c) != 0)
			return flyt_error_set(err, FLYT_E_INTERNAL, 0, "cannot start the signal fetcher");
		s->thread_started = true;
		log_info("signals: fetching %zu dataset(s) from %s every %lld ms", s->nds, c->signals_url,
			 (long long)c->signals_interval_ms);
	}
	return 0;
}

void signals_stop(ctl_t *c)
{
	struct signals *s = c->signals;
	if (!s)
		return;
	if (s->thread_started)
		pthread_join(s->thread, NULL);
	energy_set_free(&s->base);
	energy_set_free(&s->view);
	for (size_t i = 0; i < s->nds; i++)
		energy_set_free(&s->ds[i].set);
	json_decref(s->files);
	pthread_mutex_destroy(&s->lock);
	free(s);
	c->signals = NULL;
}

/* Why each kind is stale (lock held): the first failing dataset carrying it. */
static void stale_reasons(struct signals *s, const char *out[ENERGY_KIND_MAX])
{
	for (int k = 0; k < ENERGY_KIND_MAX; k++) {
		out[k] = NULL;
		for (size_t i = 0; i < s->nds && !out[k]; i++)
			if (s->ds[i].failed && energy_eds_carries(s->ds[i].d, (energy_kind_t)k))
				out[k] = s->ds[i].why;
	}
}

void signals_fill(ctl_t *c, char *const *areas, size_t n, int64_t now, const energy_policy_t *p, energy_area_t *out)
{
	struct signals *s = c->signals;
	pthread_mutex_lock(&s->lock);
	const char *stale[ENERGY_KIND_MAX];
	stale_reasons(s, stale);
	for (size_t i = 0; i < n; i++)
		energy_area_fill(&out[i], areas[i], &s->view, now, p, stale);
	pthread_mutex_unlock(&s->lock);
}

static json_t *time_or_null(int64_t ms)
{
	if (ms <= 0)
		return json_null();
	char t[40];
	flyt_format_time(ms, t, sizeof(t));
	return json_string(t);
}

static json_t *energy_time_json(int64_t ms)
{
	char t[ENERGY_TIME_MAX];
	energy_time_format(ms, t, sizeof(t));
	return json_string(t);
}

json_t *signals_status(ctl_t *c)
{
	struct signals *s = c->signals;
	energy_policy_t p;
	policy_settings(c, &p);
	int64_t now = ctl_policy_now(c);
	_cleanup_strv_ char **hareas = host_areas(c);
	pthread_mutex_lock(&s->lock);
	json_t *sources = json_deep_copy(s->files);
	for (size_t i = 0; i < s->nds; i++) {
		dataset_t *ds = &s->ds[i];
		const char *state = ds->failed ? "failing" : ds->last_ok_ms ? "ok" : "waiting";
		json_array_append_new(
		    sources,
		    json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:I, s:I, s:I, s:I}", "type", "api", "dataset",
			      ds->d->name, "url", c->signals_url, "state", state, "why",
			      ds->failed ? json_string(ds->why) : json_null(), "last_ok", time_or_null(ds->last_ok_ms),
			      "last_attempt", time_or_null(ds->last_try_ms), "next_attempt",
			      time_or_null(ds->failed ? ds->backoff.next_ms : ds->next_ms), "requests",
			      (json_int_t)ds->requests, "failures", (json_int_t)ds->failures, "last_status",
			      (json_int_t)ds->last_status, "last_records", (json_int_t)ds->last_rows));
	}
	/* the areas of the hosts and of the data */
	_cleanup_strv_ char **areas = NULL;
	for (char **a = hareas; *a; a++)
		flyt_strv_push(&areas, *a);
	for (size_t i = 0; i < s->view.n; i++) {
		bool seen = false;
		for (char **a = areas; a && *a && !seen; a++)
			seen = strcmp(*a, s->view.series[i]->area) == 0;
		if (!seen)
			flyt_strv_push(&areas, s->view.series[i]->area);
	}
	const char *stale[ENERGY_KIND_MAX];
	stale_reasons(s, stale);
	json_t *out_areas = json_object();
	for (char **a = areas; a && *a; a++) {
		energy_area_t view;
		energy_area_fill(&view, *a, &s->view, now, &p, stale);
		json_t *obj = json_object();
		for (int k = 0; k < ENERGY_KIND_MAX; k++) {
			const energy_series_t *ser = energy_set_find(&s->view, *a, (energy_kind_t)k);
			const energy_view_t *v = &view.sig[k];
			if (!ser && !stale[k])
				continue;
			json_t *e = json_pack("{s:b, s:s}", "fresh", v->ok, "unit", energy_kind_unit((energy_kind_t)k));
			json_object_set_new(e, "value", isnan(v->now) ? json_null() : json_real(v->now));
			if (p.horizon_ms > 0)
				json_object_set_new(e, "ahead", isnan(v->ahead) ? json_null() : json_real(v->ahead));
			if (!v->ok)
				json_object_set_new(e, "why", json_string(v->why));
			int64_t first, end;
			if (energy_series_span(ser, &first, &end)) {
				json_object_set_new(e, "from", energy_time_json(first));
				json_object_set_new(e, "to", energy_time_json(end));
				json_object_set_new(e, "samples", json_integer((json_int_t)ser->n));
				json_object_set_new(e, "step_ms", json_integer(ser->step_ms));
			}
			json_object_set_new(obj, energy_kind_name((energy_kind_t)k), e);
		}
		bool is_host_area = false;
		for (char **h = hareas; *h && !is_host_area; h++)
			is_host_area = strcmp(*h, *a) == 0;
		json_object_set_new(obj, "hosts_here", json_boolean(is_host_area));
		json_object_set_new(out_areas, *a, obj);
	}
	pthread_mutex_unlock(&s->lock);
	return json_pack("{s:o, s:o, s:o}", "time", energy_time_json(now), "sources", sources, "areas", out_areas);
}

int signals_samples(ctl_t *c, const char *area, const char *kind, int64_t from_ms, int64_t to_ms, int64_t limit,
		    json_t **ret, flyt_error_t *err)
{
	energy_kind_t k = energy_kind_from_name(kind);
	if (k == ENERGY_KIND_INVALID)
		return flyt_error_set(err, FLYT_E_INVALID, 0, "kind must be co2, price_eur or price_dkk");
	if (!energy_area_valid(area))
		return flyt_error_set(err, FLYT_E_INVALID, 0, "\"%.32s\" is not an area name", area);
	struct signals *s = c->signals;
	pthread_mutex_lock(&s->lock);
	const energy_series_t *ser = energy_set_find(&s->view, area, k);
	json_t *samples = json_array();
	int64_t step = ser ? ser->step_ms : 0;
	for (size_t i = 0; ser && i < ser->n && (int64_t)json_array_size(samples) < limit; i++) {
		if (ser->s[i].t_ms < from_ms || ser->s[i].t_ms >= to_ms)
			continue;
		json_array_append_new(samples, json_pack("[o, f]", energy_time_json(ser->s[i].t_ms), ser->s[i].v));
	}
	pthread_mutex_unlock(&s->lock);
	if (!ser) {
		json_decref(samples);
		return flyt_error_set(err, FLYT_E_NOT_FOUND, 0, "no %s signal for %s", kind, area);
	}
	*ret = json_pack("{s:s, s:s, s:s, s:I, s:o}", "area", area, "kind", kind, "unit", energy_kind_unit(k),
			 "step_ms", (json_int_t)step, "samples", samples);
	return 0;
}
