/* A small QMP (QEMU Machine Protocol) client: one connection to a QEMU monitor
 * socket, synchronous commands, asynchronous events skipped (but for the error
 * of a block job, kept in job_error). */
#pragma once

#include <stddef.h>

#include <jansson.h>

#include "lib/error.h"

typedef struct {
	int fd;
	char *buf; /* bytes received and not yet returned */
	size_t len, cap;
	char job_error[256]; /* the last block job that ended in error: "JOB: why" */
} qmp_t;

#define QMP_INIT         \
	{                \
		.fd = -1 \
	}

/* Connects to the monitor socket `name` inside directory `dir` (reached through
 * /proc/self/fd, so the length of dir does not matter), reads the greeting and
 * negotiates capabilities. Every read and write is bounded by timeout_ms. */
int qmp_open(qmp_t *q, const char *dir, const char *name, unsigned timeout_ms, flyt_error_t *err);

/* Runs one command. args (may be NULL) is stolen. On success *ret (may be NULL)
 * gets the "return" member (a new reference). A QMP error becomes FLYT_E_IO with
 * QEMU's description. */
int qmp_call(qmp_t *q, const char *command, json_t *args, json_t **ret, flyt_error_t *err);

void qmp_close(qmp_t *q);

static inline void qmp_closep(qmp_t *q)
{
	qmp_close(q);
}
#define _cleanup_qmp_ __attribute__((cleanup(qmp_closep)))
