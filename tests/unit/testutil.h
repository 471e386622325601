/* Helpers shared by the unit tests: a private temporary directory per test program,
 * owned argument vectors built from literals, and waiting for a condition with a
 * deadline (tests never sleep a fixed time and hope). */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/cleanup.h"
#include "lib/util.h"

/* Creates /tmp/flyt-unit-<what>-XXXXXX and returns its path (caller owns it; the
 * cleanup below removes the tree). Aborts when it cannot: nothing is testable then. */
static inline char *test_tmpdir(const char *what)
{
	char *path = flyt_asprintf("/tmp/flyt-unit-%s-XXXXXX", what);
	if (!mkdtemp(path)) {
		perror("mkdtemp");
		abort();
	}
	return path;
}

static inline void test_tmpdir_removep(char **path)
{
	if (!*path)
		return;
	flyt_rm_rf(*path, NULL);
	free(*path);
}
#define _cleanup_tmpdir_ _cleanup_(test_tmpdir_removep)

/* A NULL-terminated, owned copy of the arguments up to the NULL sentinel; free it
 * with flyt_strv_free (or declare it _cleanup_strv_). */
static inline __attribute__((sentinel)) char **test_strv(const char *first, ...)
{
	char **v = flyt_malloc0(sizeof(char *));
	va_list ap;
	va_start(ap, first);
	for (const char *s = first; s; s = va_arg(ap, const char *))
		flyt_strv_push(&v, s);
	va_end(ap);
	return v;
}

/* Polls cond(ctx) every 5 ms until it holds or timeout_ms have passed; returns the
 * last answer. */
static inline bool test_wait_for(bool (*cond)(void *ctx), void *ctx, unsigned timeout_ms)
{
	uint64_t deadline = flyt_now_ms() + timeout_ms;
	for (;;) {
		if (cond(ctx))
			return true;
		if (flyt_now_ms() >= deadline)
			return false;
		flyt_sleep_ms(5);
	}
}

/* Reads a small file into a new string; NULL when it cannot be read. */
static inline char *test_read(const char *path)
{
	char *text = NULL;
	if (flyt_read_file(path, 16 * 1024 * 1024, &text, NULL, NULL) < 0)
		return NULL;
	return text;
}
