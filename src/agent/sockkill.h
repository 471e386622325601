/* Resetting a workload's TCP connections on the source host once a migration has
 * committed. CRIU dumps established connections in TCP repair mode, and a socket
 * closed in repair mode vanishes silently: its peers would wait for replies that
 * never come. Destroying those sockets through the kernel's sock_diag interface
 * (SOCK_DESTROY, what `ss -K` does) sends each peer a reset, so clients notice at
 * once and reconnect to the workload's new address. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

/* Destroys every non-listening TCP socket (IPv4 and IPv6) of the current network
 * namespace whose inode is in inodes. *ret_count gets how many were reset. */
int sockkill_inodes(const uint64_t *inodes, size_t n, unsigned *ret_count, flyt_error_t *err);
