/* A bounded, sequenced event log with waiting readers and an SSE adapter. */
#include "events.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "json.h"
#include "util.h"

struct flyt_events {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	json_t **ring;
	size_t capacity;
	uint64_t last;	/* seq of the newest event; events last-capacity+1..last are kept */
	uint64_t first; /* seq of the first event published by this process */
	bool closing;
	flyt_events_sink_fn sink;
	void *sink_ctx;
};

void flyt_events_set_last(flyt_events_t *ev, uint64_t seq)
{
	pthread_mutex_lock(&ev->lock);
	ev->last = seq;
	ev->first = seq + 1;
	pthread_mutex_unlock(&ev->lock);
}

void flyt_events_set_sink(flyt_events_t *ev, flyt_events_sink_fn fn, void *ctx)
{
	pthread_mutex_lock(&ev->lock);
	ev->sink = fn;
	ev->sink_ctx = ctx;
	pthread_mutex_unlock(&ev->lock);
}

flyt_events_t *flyt_events_new(size_t capacity)
{
	flyt_events_t *ev = flyt_malloc0(sizeof(*ev));
	pthread_mutex_init(&ev->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ev->cond, &ca);
	pthread_condattr_destroy(&ca);
	ev->capacity = capacity ? capacity : 1024;
	ev->first = 1;
	ev->ring = flyt_malloc0(ev->capacity * sizeof(json_t *));
	return ev;
}

void flyt_events_free(flyt_events_t *ev)
{
	if (!ev)
		return;
	for (size_t i = 0; i < ev->capacity; i++)
		json_decref(ev->ring[i]);
	free(ev->ring);
	pthread_cond_destroy(&ev->cond);
	pthread_mutex_destroy(&ev->lock);
	free(ev);
}

uint64_t flyt_events_publish(flyt_events_t *ev, const char *type, json_t *data)
{
	json_t *e = json_is_object(data) ? data : json_object();
	if (!json_is_object(data))
		json_decref(data);
	char when[40];
	flyt_format_time(flyt_wall_ms(), when, sizeof(when));
	json_object_set_new(e, "time", json_string(when));
	json_object_set_new(e, "type", json_string(type));
	pthread_mutex_lock(&ev->lock);
	uint64_t seq = ++ev->last;
	json_object_set_new(e, "seq", json_integer((json_int_t)seq));
	size_t slot = (size_t)(seq % ev->capacity);
	json_decref(ev->ring[slot]);
	ev->ring[slot] = e;
	if (ev->sink)
		ev->sink(ev->sink_ctx, seq, e);
	pthread_cond_broadcast(&ev->cond);
	pthread_mutex_unlock(&ev->lock);
	return seq;
}

uint64_t flyt_events_last(flyt_events_t *ev)
{
	pthread_mutex_lock(&ev->lock);
	uint64_t s = ev->last;
	pthread_mutex_unlock(&ev->lock);
	return s;
}

json_t *flyt_events_since(flyt_events_t *ev, uint64_t since, size_t max, unsigned wait_ms)
{
	json_t *out = json_array();
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += wait_ms / 1000;
	deadline.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&ev->lock);
	while (ev->last <= since && wait_ms > 0 && !ev->closing) {
		if (pthread_cond_timedwait(&ev->cond, &ev->lock, &deadline) == ETIMEDOUT)
			break;
	}
	uint64_t first = since + 1;
	if (ev->last >= ev->capacity && first <= ev->last - ev->capacity)
		first = ev->last - ev->capacity + 1;
	if (first < ev->first)
		first = ev->first; /* older ones are not in memory */
	for (uint64_t s = first; s <= ev->last && json_array_size(out) < max; s++) {
		json_t *e = ev->ring[s % ev->capacity];
		if (e)
			json_array_append(out, e);
	}
	pthread_mutex_unlock(&ev->lock);
	return out;
}

void flyt_events_wake(flyt_events_t *ev)
{
	pthread_mutex_lock(&ev->lock);
	ev->closing = true;
	pthread_cond_broadcast(&ev->cond);
	pthread_mutex_unlock(&ev->lock);
}

typedef struct {
	flyt_events_t *ev;
	uint64_t since;
	char *pending;
	size_t pending_len, pending_off;
	uint64_t last_write_ms;
	flyt_events_filter_fn filter;
	void *filter_ctx;
	void (*filter_ctx_free)(void *);
} sse_t;

static void sse_free(void *p)
{
	sse_t *s = p;
	free(s->pending);
	if (s->filter_ctx_free)
		s->filter_ctx_free(s->filter_ctx);
	free(s);
}

static void sse_append(sse_t *s, const char *text)
{
	size_t n = strlen(text);
	char *nb = realloc(s->pending, s->pending_len + n + 1);
	if (!nb)
		abort();
	memcpy(nb + s->pending_len, text, n + 1);
	s->pending = nb;
	s->pending_len += n;
}

static ssize_t sse_read(void *ctx, char *buf, size_t max)
{
	sse_t *s = ctx;
	if (s->pending_off >= s->pending_len) {
		free(s->pending);
		s->pending = NULL;
		s->pending_len = s->pending_off = 0;
		_cleanup_json_ json_t *events = flyt_events_since(s->ev, s->since, 64, 1000);
		size_t i;
		json_t *e;
		json_array_foreach (events, i, e) {
			s->since = (uint64_t)flyt_json_int(e, "seq", (json_int_t)s->since);
			if (s->filter && !s->filter(e, s->filter_ctx))
				continue;
			_cleanup_free_ char *data = flyt_json_dumps(e);
			_cleanup_free_ char *chunk =
			    flyt_asprintf("id: %llu\nevent: %s\ndata: %s\n\n", (unsigned long long)s->since,
					  flyt_json_str(e, "type", "event"), data);
			sse_append(s, chunk);
		}
		uint64_t now = flyt_now_ms();
		if (s->pending_len == 0 && now - s->last_write_ms >= 15000)
			sse_append(s, ": keep-alive\n\n");
		if (s->pending_len == 0)
			return 0;
		s->last_write_ms = now;
	}
	size_t n = s->pending_len - s->pending_off;
	if (n > max)
		n = max;
	memcpy(buf, s->pending + s->pending_off, n);
	s->pending_off += n;
	return (ssize_t)n;
}

void flyt_events_sse(flyt_events_t *ev, uint64_t since, flyt_events_filter_fn filter, void *filter_ctx,
		     void (*filter_ctx_free)(void *), flyt_http_response_t *res)
{
	sse_t *s = flyt_malloc0(sizeof(*s));
	s->ev = ev;
	s->since = since;
	s->filter = filter;
	s->filter_ctx = filter_ctx;
	s->filter_ctx_free = filter_ctx_free;
	s->last_write_ms = flyt_now_ms();
	/* an opening comment so clients see the stream is established */
	sse_append(s, ": flyt events\n\n");
	res->status = 200;
	res->content_type = "text/event-stream";
	res->stream = sse_read;
	res->stream_ctx = s;
	res->stream_free = sse_free;
}
