/* TLS for flyt (GnuTLS): the cluster's certificate authority, certificates for
 * the controller and the agents, and TLS sessions over the migration stream.
 *
 * The controller creates the cluster CA on its first start (ECDSA P-256, ten
 * years) and signs every certificate of the cluster. A certificate names its
 * holder in the common name and its role in the organisational unit
 * ("controller" or "agent"); it is good for both TLS server and client use, so
 * one certificate serves a daemon's API, its calls to others and the migration
 * data channel. Files, all PEM:
 *
 *   ca.pem        the CA certificate (public; the trust anchor of every daemon)
 *   ca-key.pem    the CA key (controller only, mode 0600)
 *   cert.pem      this daemon's certificate
 *   key.pem       this daemon's key (mode 0600)
 *
 * A daemon's identity (flyt_tls_t) can be replaced at run time after a renewal:
 * servers pick the new certificate for the next handshake. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

#define FLYT_TLS_FINGERPRINT_HEX 64 /* SHA-256 */

typedef struct flyt_cert_info {
	char cn[128];
	char role[32]; /* the organisational unit */
	char serial[41];
	int64_t not_before, not_after; /* unix seconds */
	char fingerprint[FLYT_TLS_FINGERPRINT_HEX + 1];
} flyt_cert_info_t;

/* ---- the certificate authority and certificates ---- */

/* Creates DIR/ca.pem and DIR/ca-key.pem unless ca.pem exists. *ret_created (may be
 * NULL) tells which happened. */
int flyt_pki_ca_ensure(const char *dir, bool *ret_created, flyt_error_t *err);

/* Creates a new private key at key_path (0600, replaced) and returns a
 * certificate request for it naming cn (caller frees). */
char *flyt_pki_new_key_and_csr(const char *key_path, const char *cn, flyt_error_t *err);

/* Signs csr_pem with the CA in ca_dir: the certificate names cn and role
 * (whatever the request says), is valid for days, and covers the SAN entries
 * (IP addresses or DNS names; NULL-terminated, may be NULL). Returns the PEM
 * (caller frees). */
char *flyt_pki_sign(const char *ca_dir, const char *csr_pem, const char *cn, const char *role, const char *const *sans,
		    unsigned days, flyt_error_t *err);

/* Reads the first certificate of a PEM text or file. */
int flyt_pki_cert_info(const char *pem, size_t len, flyt_cert_info_t *ret, flyt_error_t *err);
int flyt_pki_cert_file_info(const char *path, flyt_cert_info_t *ret, flyt_error_t *err);

/* Checks that cert_file was signed by the CA in ca_file and holds the public
 * half of key_file. */
int flyt_pki_check_pair(const char *ca_file, const char *cert_file, const char *key_file, flyt_error_t *err);

/* ---- a daemon's identity ---- */

typedef struct flyt_tls flyt_tls_t;

/* Loads DIR/ca.pem, DIR/cert.pem and DIR/key.pem. */
int flyt_tls_load(const char *dir, flyt_tls_t **ret, flyt_error_t *err);
/* Reads cert.pem and key.pem again (after a renewal); on failure the old pair
 * stays in use. */
int flyt_tls_reload(flyt_tls_t *t, flyt_error_t *err);
void flyt_tls_free(flyt_tls_t *t);

const char *flyt_tls_dir(const flyt_tls_t *t);
const char *flyt_tls_ca_file(const flyt_tls_t *t);
const char *flyt_tls_cert_file(const flyt_tls_t *t);
const char *flyt_tls_key_file(const flyt_tls_t *t);
/* The CA certificate's PEM text (borrowed). */
const char *flyt_tls_ca_pem(const flyt_tls_t *t);
/* The current certificate's details. */
void flyt_tls_info(flyt_tls_t *t, flyt_cert_info_t *ret);

/* Makes t the identity that HTTPS servers of this process present (the
 * certificate callback of libmicrohttpd has no user pointer). */
void flyt_tls_set_server_identity(flyt_tls_t *t);
/* For libmicrohttpd's MHD_OPTION_HTTPS_CERT_CALLBACK (a
 * gnutls_certificate_retrieve_function2). */
void *flyt_tls_server_cert_callback(void);

/* Verifies the peer certificate of a finished handshake against the CA and fills
 * ret (may be NULL). session is a gnutls_session_t. Fails when the peer sent no
 * certificate or one the CA did not sign, or one that expired. */
int flyt_tls_verify_peer(void *session, flyt_cert_info_t *ret, flyt_error_t *err);

/* ---- TLS sessions over a connected socket (the migration stream) ---- */

typedef struct flyt_tls_conn flyt_tls_conn_t;

/* Runs the handshake on fd (blocking; within timeout_ms) as server or client;
 * both sides present their certificate and require the other's, signed by the
 * cluster CA. *ret_peer (may be NULL) gets the peer's certificate. */
int flyt_tls_conn_start(flyt_tls_t *t, int fd, bool server, int timeout_ms, flyt_tls_conn_t **ret,
			flyt_cert_info_t *ret_peer, flyt_error_t *err);
/* Sends all of buf; -1 with err (UNAVAILABLE, TIMEOUT when the socket's send
 * timeout passed). */
int flyt_tls_conn_send(flyt_tls_conn_t *c, const void *buf, size_t len, flyt_error_t *err);
/* Receives up to len bytes (blocking, within the socket's receive timeout): >0
 * bytes read, 0 at a clean end, -1 with err. */
ssize_t flyt_tls_conn_recv(flyt_tls_conn_t *c, void *buf, size_t len, flyt_error_t *err);
/* Whether decrypted bytes are waiting (poll on the socket would not show them). */
bool flyt_tls_conn_pending(flyt_tls_conn_t *c);
/* Buffers sends until uncork (fewer, larger records). */
void flyt_tls_conn_cork(flyt_tls_conn_t *c);
int flyt_tls_conn_uncork(flyt_tls_conn_t *c, flyt_error_t *err);
/* Frees the session; does not close the socket. */
void flyt_tls_conn_free(flyt_tls_conn_t *c);
