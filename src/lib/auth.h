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

/* Join tokens (agent enrolment, see docs/security.md): "flyt1.ID.SECRET.CA", the
 * id of the stored token, its secret and the SHA-256 of the cluster CA, all
 * lower-case hex. */
#define FLYT_JOIN_ID_HEX 32
#define FLYT_JOIN_SECRET_HEX 64
#define FLYT_JOIN_CA_HEX 64

typedef struct {
	char id[FLYT_JOIN_ID_HEX + 1];
	char secret[FLYT_JOIN_SECRET_HEX + 1];
	char ca_sha256[FLYT_JOIN_CA_HEX + 1];
} flyt_join_token_t;

/* Splits and checks a join token (UNAUTHORIZED when it is not one). */
int flyt_join_token_parse(const char *text, flyt_join_token_t *ret, flyt_error_t *err);
