/* Small helpers shared by every program: clocks, files, names, random ids. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

/* Milliseconds / microseconds on the monotonic clock, and wall-clock milliseconds
 * since the epoch. */
uint64_t flyt_now_ms(void);
uint64_t flyt_now_us(void);
int64_t flyt_wall_ms(void);

/* Formats wall-clock milliseconds as "2026-11-29T18:00:00.123Z" into buf. */
void flyt_format_time(int64_t wall_ms, char *buf, size_t size);

/* Sleeps for ms milliseconds (restarting on EINTR). */
void flyt_sleep_ms(unsigned ms);

/* Reads a whole file of at most max bytes; *ret is NUL-terminated, owned by the caller. */
int flyt_read_file(const char *path, size_t max, char **ret, size_t *ret_len, flyt_error_t *err);

/* Writes data to path through a temporary file, fsync and rename, so that readers see
 * either the old or the new content, never a mix. */
int flyt_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, flyt_error_t *err);

/* mkdir -p. */
int flyt_mkdir_p(const char *path, mode_t mode, flyt_error_t *err);

/* rm -rf that never follows symbolic links and never leaves path's file system.
 * A missing path is not an error. */
int flyt_rm_rf(const char *path, flyt_error_t *err);

/* Total size in bytes of the regular files below path (symbolic links not followed). */
int flyt_tree_size(const char *path, uint64_t *ret, flyt_error_t *err);

/* Names of hosts and workloads: 1-63 characters of [a-z0-9_.-], starting with a
 * letter or digit. Safe as a file name and in URLs. */
bool flyt_name_valid(const char *name);

/* Identifiers flyt generates: 32 lower-case hex digits. */
bool flyt_id_valid(const char *id);

/* A relative path below a directory: not empty, not absolute, no "." or ".." or empty
 * components, at most 1024 bytes, printable characters only. */
bool flyt_relpath_valid(const char *path);

/* Fills out with 2*bytes hex digits from the kernel's random source. */
int flyt_random_hex(char *out, size_t bytes, flyt_error_t *err);

/* A new 32-hex-digit identifier. out must hold 33 bytes. */
int flyt_new_id(char out[33], flyt_error_t *err);

/* Parses a decimal unsigned integer that must fit in max; rejects trailing junk. */
int flyt_parse_u64(const char *s, uint64_t max, uint64_t *ret);

/* strdup that aborts on out-of-memory (the daemons cannot do anything useful then). */
char *flyt_strdup(const char *s);
void *flyt_malloc0(size_t size);
char *flyt_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Appends a copy of s to the NULL-terminated array *v (which may be NULL). */
void flyt_strv_push(char ***v, const char *s);
size_t flyt_strv_len(char *const *v);

/* True when s starts with prefix. */
bool flyt_startswith(const char *s, const char *prefix);

/* Compares dotted version strings ("4.2.1" < "4.10"): <0, 0 or >0. */
int flyt_version_cmp(const char *a, const char *b);
