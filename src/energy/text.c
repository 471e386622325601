/* The growing text buffer (see text.h). */
#include "energy/text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void reserve(energy_text_t *t, size_t more)
{
	if (t->len + more + 1 <= t->cap)
		return;
	size_t cap = t->cap ? t->cap : 1024;
	while (cap < t->len + more + 1)
		cap *= 2;
	char *nb = realloc(t->buf, cap);
	if (!nb)
		abort();
	t->buf = nb;
	t->cap = cap;
}

void energy_text_printf(energy_text_t *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	reserve(t, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(t->buf + t->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}

void energy_text_xml(energy_text_t *t, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&':
			energy_text_printf(t, "&amp;");
			break;
		case '<':
			energy_text_printf(t, "&lt;");
			break;
		case '>':
			energy_text_printf(t, "&gt;");
			break;
		case '"':
			energy_text_printf(t, "&quot;");
			break;
		case '\'':
			energy_text_printf(t, "&#39;");
			break;
		default:
			reserve(t, 1);
			t->buf[t->len++] = *s;
			t->buf[t->len] = '\0';
		}
	}
}

char *energy_text_take(energy_text_t *t)
{
	char *b = t->buf;
	if (!b) {
		b = malloc(1);
		if (!b)
			abort();
		b[0] = '\0';
	}
	*t = (energy_text_t){ 0 };
	return b;
}

void energy_text_free(energy_text_t *t)
{
	free(t->buf);
	*t = (energy_text_t){ 0 };
}
