/* Unit tests of lib/events: sequence numbers, reading after a point, waiting for
 * the next event, the bounded ring, the persistence sink, numbering that goes on
 * after a restart, and the server-sent-event stream's wire format. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/events.h"
#include "lib/json.h"
#include "lib/util.h"
#include "tap.h"

static void test_sequence(void)
{
	flyt_events_t *ev = flyt_events_new(16);
	is_int((int)flyt_events_last(ev), 0, "a new log is empty");
	uint64_t a = flyt_events_publish(ev, "x.one", json_pack("{s:i}", "n", 1));
	uint64_t b = flyt_events_publish(ev, "x.two", NULL);
	is_int((int)a, 1, "the first event gets seq 1");
	is_int((int)b, 2, "the next one seq 2");
	_cleanup_json_ json_t *all = flyt_events_since(ev, 0, 100, 0);
	is_int((int)json_array_size(all), 2, "both are read after 0");
	json_t *first = json_array_get(all, 0);
	is_str(flyt_json_str(first, "type", NULL), "x.one", "events keep their type");
	is_int((int)flyt_json_int(first, "n", 0), 1, "and their fields");
	ok(flyt_json_str(first, "time", NULL) != NULL, "and get a time");
	_cleanup_json_ json_t *after = flyt_events_since(ev, 1, 100, 0);
	is_int((int)json_array_size(after), 1, "reading after 1 gives only the second");
	_cleanup_json_ json_t *limited = flyt_events_since(ev, 0, 1, 0);
	is_int((int)json_array_size(limited), 1, "max bounds the answer");
	flyt_events_free(ev);
}

static void test_ring(void)
{
	flyt_events_t *ev = flyt_events_new(4);
	for (int i = 0; i < 10; i++)
		flyt_events_publish(ev, "tick", json_pack("{s:i}", "i", i));
	_cleanup_json_ json_t *all = flyt_events_since(ev, 0, 100, 0);
	is_int((int)json_array_size(all), 4, "only the newest `capacity` events are kept");
	is_int((int)flyt_json_int(json_array_get(all, 0), "seq", 0), 7,
	       "a reader that fell behind starts at the oldest kept");
	is_int((int)flyt_json_int(json_array_get(all, 3), "seq", 0), 10, "and ends at the newest");
	flyt_events_free(ev);
}

typedef struct {
	flyt_events_t *ev;
	uint64_t got;
} waiter_t;

static void *waiter(void *arg)
{
	waiter_t *w = arg;
	_cleanup_json_ json_t *evs = flyt_events_since(w->ev, 0, 10, 30000);
	w->got = json_array_size(evs) ? (uint64_t)flyt_json_int(json_array_get(evs, 0), "seq", 0) : 0;
	return NULL;
}

static void test_wait(void)
{
	flyt_events_t *ev = flyt_events_new(8);
	uint64_t t0 = flyt_now_ms();
	_cleanup_json_ json_t *none = flyt_events_since(ev, 0, 10, 50);
	is_int((int)json_array_size(none), 0, "waiting with nothing published returns empty");
	ok(flyt_now_ms() - t0 >= 40, "after about the time asked for");

	waiter_t w = { .ev = ev };
	pthread_t t;
	pthread_create(&t, NULL, waiter, &w);
	flyt_events_publish(ev, "wake", NULL);
	pthread_join(t, NULL);
	is_int((int)w.got, 1, "a waiting reader gets the event published meanwhile");

	/* flyt_events_wake releases a waiter at once, with nothing */
	waiter_t w2 = { .ev = flyt_events_new(8) };
	pthread_create(&t, NULL, waiter, &w2);
	flyt_events_wake(w2.ev);
	pthread_join(t, NULL);
	is_int((int)w2.got, 0, "wake ends a wait without events");
	flyt_events_free(w2.ev);
	flyt_events_free(ev);
}

static void sink(void *ctx, uint64_t seq, json_t *event)
{
	json_t *seen = ctx;
	json_array_append_new(
	    seen, json_pack("{s:I, s:s}", "seq", (json_int_t)seq, "type", flyt_json_str(event, "type", "")));
}

static void test_sink_and_restart(void)
{
	flyt_events_t *ev = flyt_events_new(8);
	flyt_events_set_last(ev, 41);
	_cleanup_json_ json_t *seen = json_array();
	flyt_events_set_sink(ev, sink, seen);
	uint64_t s = flyt_events_publish(ev, "after.restart", NULL);
	is_int((int)s, 42, "numbering goes on after set_last");
	is_int((int)json_array_size(seen), 1, "the sink sees every event");
	is_int((int)flyt_json_int(json_array_get(seen, 0), "seq", 0), 42, "with its seq");
	_cleanup_json_ json_t *old = flyt_events_since(ev, 0, 10, 0);
	is_int((int)json_array_size(old), 1, "events from before the restart are not invented from memory");
	flyt_events_free(ev);
}

static void test_sse(void)
{
	flyt_events_t *ev = flyt_events_new(8);
	flyt_events_publish(ev, "host.online", json_pack("{s:s}", "host", "a"));
	flyt_http_response_t res = { 0 };
	flyt_events_sse(ev, 0, NULL, NULL, NULL, &res);
	is_str(res.content_type, "text/event-stream", "the stream is text/event-stream");
	ok(res.stream != NULL, "and is streamed");
	char buf[4096] = "";
	size_t len = 0;
	/* the opening comment, then the event */
	for (int i = 0; i < 4 && !strstr(buf, "\n\ndata") && !strstr(buf, "event: host.online"); i++) {
		ssize_t n = res.stream(res.stream_ctx, buf + len, sizeof(buf) - 1 - len);
		if (n > 0)
			len += (size_t)n;
		buf[len] = '\0';
	}
	ok(strncmp(buf, ": ", 2) == 0, "it opens with a comment line");
	ok(strstr(buf, "id: 1\nevent: host.online\ndata: {") != NULL, "an event is id, event and data lines");
	ok(strstr(buf, "\"host\":\"a\"") != NULL, "whose data is the event as JSON");
	ok(strstr(buf, "}\n\n") != NULL, "ended by a blank line");
	res.stream_free(res.stream_ctx);
	flyt_events_free(ev);
}

int main(void)
{
	test_sequence();
	test_ring();
	test_wait();
	test_sink_and_restart();
	test_sse();
	return done();
}
