/* The page tunnel of lazy migrations: CRIU's lazy-pages daemon on the target and
 * its page server on the source talk their own unauthenticated protocol; flyt
 * carries it through an authenticated, checksummed migration-stream connection
 * instead of exposing the page server (and with it the workload's memory) on the
 * network. Each side relays between a loopback TCP connection to its CRIU process
 * and the framed connection to the other agent. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "lib/error.h"
#include "lib/stream.h"

/* Relays until both directions have closed, the framed side fails, or *stop turns
 * true. *bytes (may be NULL) counts bytes carried in both directions. The framed
 * stream's progress callback, if any, is called after each chunk sent on it. */
int tunnel_relay(int plain_fd, flyt_stream_t *framed, const volatile bool *stop, uint64_t *bytes, flyt_error_t *err);
