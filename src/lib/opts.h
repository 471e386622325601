/* Command-line flags and configuration files from one table.
 *
 * Each program declares its options once (name, type, destination, help). The same
 * names work as "--name VALUE", "--name=VALUE" and, in a file given with
 * "--config FILE", as "name = VALUE" lines ('#' starts a comment). Flags given on
 * the command line override the file. Parsing stops at the first argument that is
 * not an option or after "--". */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"

typedef enum {
	FLYT_OPT_STRING, /* char **dest, replaced by a copy of the value */
	FLYT_OPT_INT,	 /* int64_t *dest, checked against [min, max] */
	FLYT_OPT_FLAG,	 /* bool *dest, set true; takes no value ("name = true" in files) */
	FLYT_OPT_LIST,	 /* char ***dest, each use appends (repeatable) */
} flyt_opt_type_t;

typedef struct {
	const char *name;
	char short_name;
	flyt_opt_type_t type;
	void *dest;
	const char *arg_name;
	const char *help;
	int64_t min, max;
} flyt_opt_t;

/* Parses argv[first..] against opts (a table ending with an entry whose name is
 * NULL). *ret_next gets the index of the first unparsed argument. "--config FILE"
 * is accepted when allow_config. "--help"/"-h" sets *ret_help (may be NULL, then it
 * is an unknown option). */
int flyt_opts_parse(const flyt_opt_t *opts, int argc, char **argv, int first, bool allow_config, int *ret_next,
		    bool *ret_help, flyt_error_t *err);

/* Prints the options table as help text. */
void flyt_opts_usage(FILE *f, const flyt_opt_t *opts);

/* Frees what parsing allocated into the destinations of opts. */
void flyt_opts_free(const flyt_opt_t *opts);
