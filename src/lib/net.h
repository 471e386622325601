/* TCP helpers for the migration data channel: connect with a deadline, listen,
 * and the socket options that make a cut link show up as an error within seconds
 * instead of hanging (keepalive, TCP_USER_TIMEOUT, send/receive timeouts). */
#pragma once

#include <stdint.h>

#include "error.h"

/* Connects to host:port (numeric address) within timeout_ms. */
int flyt_tcp_connect(const char *host, uint16_t port, unsigned timeout_ms, flyt_error_t *err);

/* Listens on host:port (numeric; port 0 picks one). *ret_port gets the port. */
int flyt_tcp_listen(const char *host, uint16_t port, int backlog, uint16_t *ret_port, flyt_error_t *err);

/* Applies keepalive, TCP_USER_TIMEOUT and SO_RCVTIMEO/SO_SNDTIMEO of io_timeout_ms,
 * TCP_NODELAY, and large buffers. */
void flyt_tcp_tune(int fd, unsigned io_timeout_ms);

/* Sets SO_RCVTIMEO/SO_SNDTIMEO only. */
void flyt_socket_timeouts(int fd, unsigned io_timeout_ms);

/* Writes/reads exactly len bytes; timeouts give FLYT_E_TIMEOUT, a closed peer
 * FLYT_E_UNAVAILABLE. */
int flyt_write_all(int fd, const void *buf, size_t len, flyt_error_t *err);
int flyt_read_all(int fd, void *buf, size_t len, flyt_error_t *err);
