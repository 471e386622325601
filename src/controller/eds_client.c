/* The Energi Data Service client (see eds_client.h). */
#include "controller/eds_client.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/http.h"
#include "lib/util.h"

/* Largest answer read: a month of 5-minute records for a few areas is ~3 MB. */
#define EDS_MAX_ANSWER (64u * 1024 * 1024)

void eds_client_init(eds_client_t *c, const char *base_url, long timeout_ms)
{
	*c = (eds_client_t){ .base_url = base_url, .timeout_ms = timeout_ms ? timeout_ms : 30000 };
	energy_ratelimit_init(&c->rl, ENERGY_EDS_RATE_MAX, ENERGY_EDS_RATE_WINDOW_MS);
}

/* The start of a body for an error message: printable ASCII, one line. */
static void excerpt(const char *body, size_t len, char *buf, size_t size)
{
	size_t n = 0;
	for (size_t i = 0; i < len && n + 1 < size && n < 160; i++)
		buf[n++] = isprint((unsigned char)body[i]) ? body[i] : ' ';
	buf[n] = '\0';
}

int eds_fetch(eds_client_t *c, const energy_eds_dataset_t *d, char *const *areas, int64_t start_ms, int64_t end_ms,
	      int64_t now_ms, energy_set_t *out, eds_result_t *res, flyt_error_t *err)
{
	*res = (eds_result_t){ .retry_after_ms = -1 };
	size_t nareas = flyt_strv_len(areas);
	_cleanup_free_ char *path =
	    energy_eds_query(d, areas, start_ms, end_ms, energy_eds_limit(d, nareas, start_ms, end_ms));
	snprintf(res->path, sizeof(res->path), "%s", path);
	int64_t wait = energy_ratelimit_take(&c->rl, now_ms);
	if (wait > 0) {
		res->paced = true;
		res->retry_after_ms = wait;
		return flyt_error_set(err, FLYT_E_UNAVAILABLE, 0,
				      "%s: not sent: %d requests in %d s reached; next in %lld ms", d->name,
				      ENERGY_EDS_RATE_MAX, ENERGY_EDS_RATE_WINDOW_MS / 1000, (long long)wait);
	}
	flyt_http_client_t http = {
		.base_url = c->base_url,
		.timeout_ms = c->timeout_ms,
		.connect_timeout_ms = 10000,
		.max_response = EDS_MAX_ANSWER,
	};
	flyt_http_answer_t ans;
	if (flyt_http_get_answer(&http, path, &ans, err) < 0)
		return flyt_error_prefix(err, "%s", d->name);
	res->status = ans.status;
	res->retry_after_ms = ans.retry_after_ms;
	char text[200];
	excerpt(ans.body, ans.len, text, sizeof(text));
	int r = 0;
	if (ans.status == 429) {
		r = flyt_error_set(err, FLYT_E_UNAVAILABLE, 0, "%s: HTTP 429 (too many requests): backing off%s",
				   d->name, ans.retry_after_ms > 0 ? " as its Retry-After says" : "");
	} else if (ans.status != 200) {
		r = flyt_error_set(err, FLYT_E_UNAVAILABLE, 0, "%s: HTTP %ld: %s", d->name, ans.status,
				   text[0] ? text : "(no body)");
	} else {
		_cleanup_free_ char *what = flyt_asprintf("the %s answer", d->name);
		_cleanup_(energy_set_free) energy_set_t got = ENERGY_SET_INIT;
		if (energy_parse_json(ans.body, ans.len, what, &got, &res->info, err) < 0) {
			err->code = FLYT_E_CORRUPT;
			r = -1;
		} else {
			energy_set_merge(out, &got);
		}
	}
	flyt_http_answer_free(&ans);
	return r;
}
