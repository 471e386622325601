/* Line-oriented logging to stderr, text or JSON lines. */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

static const char *const level_names[FLYT_LOG_MAX] = {
	[FLYT_LOG_DEBUG] = "debug",
	[FLYT_LOG_INFO] = "info",
	[FLYT_LOG_WARN] = "warn",
	[FLYT_LOG_ERROR] = "error",
};

static struct {
	char program[32];
	flyt_log_level_t level;
	flyt_log_format_t format;
	pthread_mutex_t lock;
} log_state = {
	.program = "flyt",
	.level = FLYT_LOG_INFO,
	.format = FLYT_LOG_TEXT,
	.lock = PTHREAD_MUTEX_INITIALIZER,
};

void flyt_log_setup(const char *program, flyt_log_level_t level, flyt_log_format_t format)
{
	snprintf(log_state.program, sizeof(log_state.program), "%s", program ? program : "flyt");
	if (level >= 0 && level < FLYT_LOG_MAX)
		log_state.level = level;
	log_state.format = format;
}

flyt_log_level_t flyt_log_level_from_name(const char *name)
{
	for (int i = 0; i < FLYT_LOG_MAX; i++)
		if (name && strcmp(name, level_names[i]) == 0)
			return (flyt_log_level_t)i;
	return FLYT_LOG_INVALID;
}

bool flyt_log_enabled(flyt_log_level_t level)
{
	return level >= log_state.level;
}

void flyt_log(flyt_log_level_t level, const char *fmt, ...)
{
	if (level < log_state.level || level >= FLYT_LOG_MAX)
		return;

	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char when[40];
	size_t n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + n, sizeof(when) - n, ".%03ldZ", ts.tv_nsec / 1000000);

	pthread_mutex_lock(&log_state.lock);
	if (log_state.format == FLYT_LOG_JSON) {
		json_t *rec = json_pack("{s:s, s:s, s:s, s:s}", "ts", when, "level", level_names[level], "program",
					log_state.program, "msg", msg);
		char *line = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
		if (line)
			fprintf(stderr, "%s\n", line);
		free(line);
		json_decref(rec);
	} else {
		fprintf(stderr, "%s %-5s %s: %s\n", when, level_names[level], log_state.program, msg);
	}
	fflush(stderr);
	pthread_mutex_unlock(&log_state.lock);
}
