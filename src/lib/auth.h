/* Cluster tokens: creation, loading from files, and checking of bearer credentials.
 *
 * A token is 64 hex digits (256 bits from the kernel's random source). Token files
 * hold one token on their first line and must not be readable by group or others. */
#pragma once

#include <stdbool.h>

#include "error.h"

#define FLYT_TOKEN_MAX 256

/* Reads the token from path into out (FLYT_TOKEN_MAX bytes). Refuses files that
 * group or others can read, and empty or over-long tokens. */
int flyt_token_load(const char *path, char out[FLYT_TOKEN_MAX], flyt_error_t *err);

/* Loads the token from path, or creates path (mode 0600) with a new token when it
 * does not exist. *ret_created tells which happened (may be NULL). */
int flyt_token_load_or_create(const char *path, char out[FLYT_TOKEN_MAX], bool *ret_created, flyt_error_t *err);

/* Compares in time independent of where the strings differ. */
bool flyt_token_equal(const char *a, const char *b);

/* Extracts the token of an "Authorization: Bearer TOKEN" header value, or NULL. */
const char *flyt_bearer_token(const char *authorization);
