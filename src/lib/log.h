/* Logging for the daemons: one line per record on stderr, either for people
 * ("2026-11-29T18:00:00.123Z info  agent: listening on ...") or as JSON lines
 * ({"ts":...,"level":"info","msg":...}) for log collectors. Thread-safe. */
#pragma once

#include <stdbool.h>

typedef enum {
	FLYT_LOG_DEBUG,
	FLYT_LOG_INFO,
	FLYT_LOG_WARN,
	FLYT_LOG_ERROR,
	FLYT_LOG_MAX,
	FLYT_LOG_INVALID = -1,
} flyt_log_level_t;

typedef enum {
	FLYT_LOG_TEXT,
	FLYT_LOG_JSON,
} flyt_log_format_t;

void flyt_log_setup(const char *program, flyt_log_level_t level, flyt_log_format_t format);
flyt_log_level_t flyt_log_level_from_name(const char *name);
bool flyt_log_enabled(flyt_log_level_t level);

void flyt_log(flyt_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) flyt_log(FLYT_LOG_DEBUG, __VA_ARGS__)
#define log_info(...) flyt_log(FLYT_LOG_INFO, __VA_ARGS__)
#define log_warn(...) flyt_log(FLYT_LOG_WARN, __VA_ARGS__)
#define log_error(...) flyt_log(FLYT_LOG_ERROR, __VA_ARGS__)
