/* Scope-bound cleanup for heap objects, descriptors and library handles.
 *
 *   _cleanup_free_ char *s = strdup(x);      freed when s goes out of scope
 *   _cleanup_close_ int fd = open(...);      closed unless negative
 *   return TAKE_PTR(s);                      hands ownership to the caller
 *
 * One trivial cleanup function per type; define more with FLYT_DEFINE_CLEANUP. */
#pragma once

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <jansson.h>

#define FLYT_DEFINE_CLEANUP(type, func)     \
	static inline void func##p(type *p) \
	{                                   \
		if (*p)                     \
			func(*p);           \
	}

static inline void flyt_freep(void *p)
{
	free(*(void **)p);
}

static inline void flyt_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

static inline void flyt_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

static inline void flyt_closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

static inline void flyt_json_decrefp(json_t **j)
{
	if (*j)
		json_decref(*j);
}

/* Frees a NULL-terminated array of strings and the array. */
static inline void flyt_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}
FLYT_DEFINE_CLEANUP(char **, flyt_strv_free)

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(flyt_freep)
#define _cleanup_close_ _cleanup_(flyt_closep)
#define _cleanup_fclose_ _cleanup_(flyt_fclosep)
#define _cleanup_closedir_ _cleanup_(flyt_closedirp)
#define _cleanup_json_ _cleanup_(flyt_json_decrefp)
#define _cleanup_strv_ _cleanup_(flyt_strv_freep)

/* Returns the pointer and leaves NULL behind, so the cleanup does nothing. */
#define TAKE_PTR(p)                       \
	({                                \
		__typeof__(p) _tp_ = (p); \
		(p) = NULL;               \
		_tp_;                     \
	})

#define TAKE_FD(fd)              \
	({                       \
		int _tf_ = (fd); \
		(fd) = -1;       \
		_tf_;            \
	})

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
