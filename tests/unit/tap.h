/* A tiny TAP producer for flyt's unit tests (meson runs them with protocol : 'tap').
 *
 *   ok(cond, "what this proves, %d", x);
 *   is_int(got, want, "...");
 *   is_str(got, want, "...");        NULL is a value: is_str(NULL, NULL, ...) passes
 *   diag("context: %s", err.msg);    a "# ..." comment line
 *   return done();                   prints the plan, exit status 1 on any failure
 *
 * plan(n) may announce the count up front; without it done() prints "1..N" at the
 * end, which TAP allows. A failed check prints the file and line it comes from and
 * what differed. stdout is flushed after every line so that a test may fork. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static struct {
	int planned; /* -1 until plan() */
	int run;
	int failed;
} tap_state = { .planned = -1 };

static inline void plan(int n)
{
	tap_state.planned = n;
	printf("1..%d\n", n);
	fflush(stdout);
}

/* A comment line; a message of several lines gives several comment lines. */
static inline __attribute__((format(printf, 1, 2))) void diag(const char *fmt, ...)
{
	char text[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	printf("# ");
	for (const char *c = text; *c; c++) {
		putchar(*c);
		if (*c == '\n')
			printf("# ");
	}
	printf("\n");
	fflush(stdout);
}

__attribute__((format(printf, 4, 0))) static inline bool tap_result(const char *file, int line, bool pass,
								    const char *fmt, va_list ap)
{
	tap_state.run++;
	if (!pass)
		tap_state.failed++;
	/* a newline would end the TAP line and '#' start a directive: escape both */
	char text[1024];
	vsnprintf(text, sizeof(text), fmt, ap);
	printf("%s %d - ", pass ? "ok" : "not ok", tap_state.run);
	for (const char *c = text; *c; c++) {
		if (*c == '\n')
			fputs("\\n", stdout);
		else if (*c == '#')
			fputs("\\#", stdout);
		else
			putchar(*c);
	}
	printf("\n");
	if (!pass)
		printf("#   failed at %s:%d\n", file, line);
	fflush(stdout);
	return pass;
}

static inline __attribute__((format(printf, 4, 5))) bool tap_ok_at(const char *file, int line, bool pass,
								   const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tap_result(file, line, pass, fmt, ap);
	va_end(ap);
	return pass;
}

static inline __attribute__((format(printf, 5, 6))) bool tap_is_int_at(const char *file, int line, long long got,
								       long long want, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	bool pass = tap_result(file, line, got == want, fmt, ap);
	va_end(ap);
	if (!pass) {
		diag("       got: %lld (0x%llx)", got, (unsigned long long)got);
		diag("  expected: %lld (0x%llx)", want, (unsigned long long)want);
	}
	return pass;
}

static inline __attribute__((format(printf, 5, 6))) bool tap_is_str_at(const char *file, int line, const char *got,
								       const char *want, const char *fmt, ...)
{
	bool same = (!got && !want) || (got && want && strcmp(got, want) == 0);
	va_list ap;
	va_start(ap, fmt);
	bool pass = tap_result(file, line, same, fmt, ap);
	va_end(ap);
	if (!pass) {
		diag("       got: %s%s%s", got ? "\"" : "", got ? got : "NULL", got ? "\"" : "");
		diag("  expected: %s%s%s", want ? "\"" : "", want ? want : "NULL", want ? "\"" : "");
	}
	return pass;
}

#define ok(cond, ...) tap_ok_at(__FILE__, __LINE__, (cond), __VA_ARGS__)
#define is_int(got, want, ...) tap_is_int_at(__FILE__, __LINE__, (long long)(got), (long long)(want), __VA_ARGS__)
#define is_str(got, want, ...) tap_is_str_at(__FILE__, __LINE__, (got), (want), __VA_ARGS__)

/* Ends the run: prints the plan when none was given, and returns the exit status. */
static inline int done(void)
{
	if (tap_state.planned < 0)
		printf("1..%d\n", tap_state.run);
	else if (tap_state.planned != tap_state.run)
		diag("planned %d tests but ran %d", tap_state.planned, tap_state.run);
	if (tap_state.failed)
		diag("%d of %d tests failed", tap_state.failed, tap_state.run);
	fflush(stdout);
	if (tap_state.failed || (tap_state.planned >= 0 && tap_state.planned != tap_state.run))
		return 1;
	return 0;
}
