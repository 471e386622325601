/* The migration stream: framed, checksummed messages over one TCP connection
 * between two agents, carrying control messages (JSON), whole directory trees
 * (CRIU images, a workload's files) and tunnelled bytes.
 *
 * Frame (all integers big-endian), 20 bytes of header then the payload:
 *   u32 magic "FLYT" | u8 version (1) | u8 type | u16 flags (0)
 *   u32 sequence number (0, 1, 2, ... per direction)
 *   u32 payload length (at most FLYT_FRAME_MAX)
 *   u32 CRC-32C over the first 16 header bytes and the payload
 * A frame with a wrong magic, version, length, sequence or checksum ends the
 * stream with FLYT_E_CORRUPT: nothing after a damaged byte is trusted. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "error.h"

#define FLYT_FRAME_MAGIC 0x464c5954u
#define FLYT_FRAME_VERSION 1
#define FLYT_FRAME_HEADER 20
#define FLYT_FRAME_MAX (1024u * 1024u)
#define FLYT_FRAME_JSON_MAX (64u * 1024u)

typedef enum {
	FLYT_FRAME_HELLO = 1,  /* JSON: the first frame of a connection */
	FLYT_FRAME_CTRL,       /* JSON: a control message {"type": ...} */
	FLYT_FRAME_ENTRY,      /* JSON: a tree entry {"path","kind","mode","size","target"} */
	FLYT_FRAME_DATA,       /* raw bytes of the current file */
	FLYT_FRAME_ENTRY_END,  /* JSON: {"size"} closes the current file */
	FLYT_FRAME_TUNNEL,     /* raw tunnelled bytes */
	FLYT_FRAME_TUNNEL_EOF, /* the tunnelled connection closed */
	FLYT_FRAME_ERROR,      /* JSON: {"code","message"}: the peer gives up */
	FLYT_FRAME_TYPE_MAX,
} flyt_frame_type_t;

struct flyt_tls_conn;

typedef struct {
	int fd;
	/* When set, frames travel inside this TLS session over fd (lib/tls.h). */
	struct flyt_tls_conn *tls;
	uint32_t send_seq, recv_seq;
	uint64_t bytes_sent, bytes_received;
	/* When set and true, long transfers stop with FLYT_E_CANCELLED. */
	const volatile bool *cancel;
	/* When not 0, receiving fails with FLYT_E_TIMEOUT at this monotonic time (ms),
	 * however slowly the peer trickles bytes. */
	uint64_t deadline_ms;
	/* Sending rate limit in bytes per second (0: none), applied to every frame. */
	uint64_t rate_bps;
	uint64_t rate_started_us;
	/* Called after each data frame sent/received with the running byte count. */
	void (*progress)(void *ctx, uint64_t bytes);
	void *progress_ctx;
	/* Fault injection (tests): when not 0, the frame with this sequence number
	 * goes out with one payload bit flipped after its checksum was computed. */
	uint32_t corrupt_frame;
} flyt_stream_t;

void flyt_stream_init(flyt_stream_t *s, int fd);
/* Frees the TLS session and closes fd (both when set). */
void flyt_stream_close(flyt_stream_t *s);
/* Whether bytes are waiting that poll on fd would not show (TLS buffers them). */
bool flyt_stream_pending(flyt_stream_t *s);

int flyt_stream_send(flyt_stream_t *s, flyt_frame_type_t type, const void *payload, uint32_t len, flyt_error_t *err);
int flyt_stream_send_json(flyt_stream_t *s, flyt_frame_type_t type, json_t *j, flyt_error_t *err);

/* Receives one frame into buf (capacity cap, at least FLYT_FRAME_MAX to accept any
 * frame). A FLYT_FRAME_ERROR frame from the peer is returned as -1 with its error. */
int flyt_stream_recv(flyt_stream_t *s, flyt_frame_type_t *ret_type, void *buf, uint32_t cap, uint32_t *ret_len,
		     flyt_error_t *err);

/* Receives one frame that must be JSON of the given type (CTRL, HELLO, ...). */
int flyt_stream_recv_json(flyt_stream_t *s, flyt_frame_type_t type, json_t **ret, flyt_error_t *err);

/* Sends an ERROR frame describing e (best effort, errors ignored). */
void flyt_stream_send_error(flyt_stream_t *s, const flyt_error_t *e);

/* Sends the tree below dir (directories, regular files, symbolic links; nothing
 * else) with paths prefixed by prefix ("images", "files"). */
int flyt_stream_send_tree(flyt_stream_t *s, const char *dir, const char *prefix, flyt_error_t *err);

/* Receiving side of trees: writes entries below root_fd, never following symbolic
 * links and never leaving root (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS). */
typedef struct {
	int root_fd;
	int cur_fd;
	char cur_path[1100];
	uint64_t expected, written;
	uint64_t files, bytes;
} flyt_tree_sink_t;

void flyt_tree_sink_init(flyt_tree_sink_t *sink, int root_fd);
/* Handles ENTRY, DATA and ENTRY_END frames: 1 when handled, 0 when the frame is of
 * another type, -1 on error. */
int flyt_tree_sink_frame(flyt_tree_sink_t *sink, flyt_frame_type_t type, const void *payload, uint32_t len,
			 flyt_error_t *err);
/* Closes a partly written file. */
void flyt_tree_sink_close(flyt_tree_sink_t *sink);

/* Opens path below root_fd without following symbolic links or leaving root. */
int flyt_openat_beneath(int root_fd, const char *path, int flags, mode_t mode, flyt_error_t *err);
