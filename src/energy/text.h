/* A growing text buffer for what the energy module writes (CSV, SVG): printf
 * appends, the caller takes the result. Aborts on out-of-memory, like the rest
 * of flyt's allocation helpers. */
#pragma once

#include <stddef.h>

typedef struct {
	char *buf; /* NUL-terminated, owned */
	size_t len, cap;
} energy_text_t;

__attribute__((format(printf, 2, 3))) void energy_text_printf(energy_text_t *t, const char *fmt, ...);
/* Appends s with &, <, >, " and ' escaped for XML. */
void energy_text_xml(energy_text_t *t, const char *s);
/* Returns the text (caller frees) and leaves t empty. */
char *energy_text_take(energy_text_t *t);
void energy_text_free(energy_text_t *t);
