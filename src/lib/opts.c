/* Table-driven flags and key = value configuration files. */
#include "opts.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "util.h"

static const flyt_opt_t *find_long(const flyt_opt_t *opts, const char *name, size_t len)
{
	for (const flyt_opt_t *o = opts; o->name; o++)
		if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
			return o;
	return NULL;
}

static const flyt_opt_t *find_short(const flyt_opt_t *opts, char c)
{
	for (const flyt_opt_t *o = opts; o->name; o++)
		if (o->short_name && o->short_name == c)
			return o;
	return NULL;
}

static int apply(const flyt_opt_t *o, const char *value, const char *where, flyt_error_t *err)
{
	switch (o->type) {
	case FLYT_OPT_STRING: {
		char **d = o->dest;
		free(*d);
		*d = flyt_strdup(value);
		return 0;
	}
	case FLYT_OPT_INT: {
		char *end;
		errno = 0;
		long long v = strtoll(value, &end, 10);
		if (errno || end == value || *end || v < o->min || v > o->max)
			return flyt_error_set(err, FLYT_E_INVALID, 0,
					      "%s--%s: \"%s\" is not an integer from %lld to %lld", where, o->name,
					      value, (long long)o->min, (long long)o->max);
		*(int64_t *)o->dest = v;
		return 0;
	}
	case FLYT_OPT_FLAG: {
		bool *d = o->dest;
		if (!value || strcmp(value, "true") == 0 || strcmp(value, "yes") == 0 || strcmp(value, "1") == 0)
			*d = true;
		else if (strcmp(value, "false") == 0 || strcmp(value, "no") == 0 || strcmp(value, "0") == 0)
			*d = false;
		else
			return flyt_error_set(err, FLYT_E_INVALID, 0, "%s--%s: expected true or false, not \"%s\"",
					      where, o->name, value);
		return 0;
	}
	case FLYT_OPT_LIST:
		flyt_strv_push((char ***)o->dest, value);
		return 0;
	}
	return flyt_error_set(err, FLYT_E_INTERNAL, 0, "bad option type");
}

static int load_config(const flyt_opt_t *opts, const char *path, flyt_error_t *err)
{
	_cleanup_free_ char *text = NULL;
	if (flyt_read_file(path, 1024 * 1024, &text, NULL, err) < 0)
		return flyt_error_prefix(err, "config");
	int lineno = 0;
	char *next;
	for (char *line = text; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char *eq = strchr(line, '=');
		char *k = line;
		while (isspace((unsigned char)*k))
			k++;
		if (!*k)
			continue;
		if (!eq)
			return flyt_error_set(err, FLYT_E_INVALID, 0, "%s:%d: expected \"name = value\"", path, lineno);
		*eq = '\0';
		char *kend = eq;
		while (kend > k && isspace((unsigned char)kend[-1]))
			*--kend = '\0';
		char *v = eq + 1;
		while (isspace((unsigned char)*v))
			v++;
		char *vend = v + strlen(v);
		while (vend > v && isspace((unsigned char)vend[-1]))
			*--vend = '\0';
		const flyt_opt_t *o = find_long(opts, k, strlen(k));
		if (!o)
			return flyt_error_set(err, FLYT_E_INVALID, 0, "%s:%d: unknown setting \"%s\"", path, lineno, k);
		char where[64];
		snprintf(where, sizeof(where), "%.40s:%d: ", path, lineno);
		if (apply(o, v, where, err) < 0)
			return -1;
	}
	return 0;
}

int flyt_opts_parse(const flyt_opt_t *opts, int argc, char **argv, int first, bool allow_config, int *ret_next,
		    bool *ret_help, flyt_error_t *err)
{
	if (ret_help)
		*ret_help = false;
	/* The config file first, so that flags override it. */
	if (allow_config) {
		for (int i = first; i < argc; i++) {
			const char *a = argv[i];
			if (strcmp(a, "--") == 0 || a[0] != '-' || a[1] == '\0')
				break;
			const char *path = NULL;
			if (strcmp(a, "--config") == 0) {
				if (i + 1 >= argc)
					return flyt_error_set(err, FLYT_E_INVALID, 0, "--config needs a FILE");
				path = argv[++i];
			} else if (strncmp(a, "--config=", 9) == 0) {
				path = a + 9;
			} else {
				/* skip the separate value of an option that takes one */
				const flyt_opt_t *o = NULL;
				if (a[1] == '-' && !strchr(a, '='))
					o = find_long(opts, a + 2, strlen(a + 2));
				else if (a[1] != '-' && a[2] == '\0')
					o = find_short(opts, a[1]);
				if (o && o->type != FLYT_OPT_FLAG)
					i++;
			}
			if (path && load_config(opts, path, err) < 0)
				return -1;
		}
	}

	int i = first;
	while (i < argc) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (a[0] != '-' || a[1] == '\0')
			break;
		if (ret_help && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
			*ret_help = true;
			i++;
			continue;
		}
		if (allow_config && strcmp(a, "--config") == 0) {
			i += 2;
			continue;
		}
		if (allow_config && strncmp(a, "--config=", 9) == 0) {
			i++;
			continue;
		}
		const flyt_opt_t *o;
		const char *value = NULL;
		if (a[1] == '-') {
			const char *name = a + 2;
			const char *eq = strchr(name, '=');
			o = find_long(opts, name, eq ? (size_t)(eq - name) : strlen(name));
			if (!o)
				return flyt_error_set(err, FLYT_E_INVALID, 0, "unknown option %s", a);
			if (eq)
				value = eq + 1;
		} else {
			if (a[2] != '\0')
				return flyt_error_set(err, FLYT_E_INVALID, 0, "unknown option %s", a);
			o = find_short(opts, a[1]);
			if (!o)
				return flyt_error_set(err, FLYT_E_INVALID, 0, "unknown option %s", a);
		}
		i++;
		if (o->type == FLYT_OPT_FLAG) {
			if (value)
				return flyt_error_set(err, FLYT_E_INVALID, 0, "--%s takes no value", o->name);
		} else if (!value) {
			if (i >= argc)
				return flyt_error_set(err, FLYT_E_INVALID, 0, "--%s needs a value (%s)", o->name,
						      o->arg_name ? o->arg_name : "VALUE");
			value = argv[i++];
		}
		if (apply(o, value, "", err) < 0)
			return -1;
	}
	*ret_next = i;
	return 0;
}

void flyt_opts_usage(FILE *f, const flyt_opt_t *opts)
{
	for (const flyt_opt_t *o = opts; o->name; o++) {
		char left[64];
		if (o->type == FLYT_OPT_FLAG)
			snprintf(left, sizeof(left), "--%s", o->name);
		else
			snprintf(left, sizeof(left), "--%s %s", o->name, o->arg_name ? o->arg_name : "VALUE");
		if (o->short_name)
			fprintf(f, "  -%c, %-28s %s\n", o->short_name, left, o->help ? o->help : "");
		else
			fprintf(f, "      %-28s %s\n", left, o->help ? o->help : "");
	}
}

void flyt_opts_free(const flyt_opt_t *opts)
{
	for (const flyt_opt_t *o = opts; o->name; o++) {
		if (o->type == FLYT_OPT_STRING) {
			char **d = o->dest;
			free(*d);
			*d = NULL;
		} else if (o->type == FLYT_OPT_LIST) {
			char ***d = o->dest;
			flyt_strv_free(*d);
			*d = NULL;
		}
	}
}
