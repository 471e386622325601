/* An in-memory event log with sequence numbers: publishers append JSON events,
 * readers ask for everything after a sequence number and may wait for more. It
 * backs the server-sent event streams and the long polls of both daemons.
 * Keeps the newest `capacity` events; a reader that fell further behind is told
 * so (its first event is later than it asked for). Thread-safe. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "error.h"
#include "http.h"

typedef struct flyt_events flyt_events_t;

flyt_events_t *flyt_events_new(size_t capacity);
void flyt_events_free(flyt_events_t *ev);

/* Appends {"seq":N,"time":...,"type":type, ...fields of data}; takes ownership of
 * data (an object, may be NULL). Returns the sequence number. */
uint64_t flyt_events_publish(flyt_events_t *ev, const char *type, json_t *data);

/* The sequence number of the newest event (0 when none). */
uint64_t flyt_events_last(flyt_events_t *ev);

/* Returns a new array of the events with seq > since (at most max), waiting up to
 * wait_ms for the first one when there is none yet. */
json_t *flyt_events_since(flyt_events_t *ev, uint64_t since, size_t max, unsigned wait_ms);

/* Continues numbering after seq (a restarted controller goes on where its store
 * ended). Call before publishing. */
void flyt_events_set_last(flyt_events_t *ev, uint64_t seq);

/* Called for every event as it is published, in order (to persist it). */
typedef void (*flyt_events_sink_fn)(void *ctx, uint64_t seq, json_t *event);
void flyt_events_set_sink(flyt_events_t *ev, flyt_events_sink_fn fn, void *ctx);

/* Wakes all waiters (used at shutdown). */
void flyt_events_wake(flyt_events_t *ev);

/* Fills res with a server-sent event stream of ev starting after `since`, with
 * keep-alive comments; ends when the server stops. filter (may be NULL) keeps only
 * events for which it returns true. */
typedef bool (*flyt_events_filter_fn)(json_t *event, void *ctx);
void flyt_events_sse(flyt_events_t *ev, uint64_t since, flyt_events_filter_fn filter, void *filter_ctx,
		     void (*filter_ctx_free)(void *), flyt_http_response_t *res);
