/* TLS for flyt over GnuTLS: the cluster CA, certificates, identities and
 * sessions. GnuTLS rather than OpenSSL because libmicrohttpd speaks TLS through
 * it: one TLS library in the process, one set of certificate types. */
#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "tls.h"
#include "util.h"

#define PEM_MAX (64 * 1024)
#define CA_DAYS 3650
#define CA_CN "flyt cluster CA"

static int gnutls_fail(flyt_error_t *err, int code, const char *what, int r)
{
	return flyt_error_set(err, code, 0, "%s: %s", what, gnutls_strerror(r));
}

static char *dup_n(const void *p, size_t n)
{
	char *s = flyt_malloc0(n + 1);
	memcpy(s, p, n);
	return s;
}

/* A DNS name for a certificate: letters, digits, dots and dashes. */
static bool dns_name_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 253 || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '.' || s[i] == '-'))
			return false;
	return true;
}

static char *path_join(const char *dir, const char *name)
{
	return flyt_asprintf("%s/%s", dir, name);
}

static int read_datum(const char *path, gnutls_datum_t *d, char **ret_text, flyt_error_t *err)
{
	char *text = NULL;
	size_t len = 0;
	if (flyt_read_file(path, PEM_MAX, &text, &len, err) < 0)
		return -1;
	d->data = (unsigned char *)text;
	d->size = (unsigned)len;
	*ret_text = text;
	return 0;
}

/* A serial number: 16 random bytes, positive. */
static int set_serial(gnutls_x509_crt_t crt, flyt_error_t *err)
{
	unsigned char serial[16];
	int r = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial));
	if (r < 0)
		return gnutls_fail(err, FLYT_E_INTERNAL, "random serial", r);
	serial[0] &= 0x7f;
	serial[0] |= 0x01;
	r = gnutls_x509_crt_set_serial(crt, serial, sizeof(serial));
	return r < 0 ? gnutls_fail(err, FLYT_E_INTERNAL, "serial", r) : 0;
}

static int export_crt(gnutls_x509_crt_t crt, char **ret, flyt_error_t *err)
{
	gnutls_datum_t out = { 0 };
	int r = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &out);
	if (r < 0)
		return gnutls_fail(err, FLYT_E_INTERNAL, "export certificate", r);
	*ret = dup_n((const char *)out.data, out.size);
	gnutls_free(out.data);
	return 0;
}

static int new_key(gnutls_x509_privkey_t *ret, flyt_error_t *err)
{
	gnutls_x509_privkey_t key;
	int r = gnutls_x509_privkey_init(&key);
	if (r >= 0)
		r = gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1),
						 0);
	if (r < 0) {
		gnutls_x509_privkey_deinit(key);
		return gnutls_fail(err, FLYT_E_INTERNAL, "generate key", r);
	}
	*ret = key;
	return 0;
}

static int write_key(gnutls_x509_privkey_t key, const char *path, flyt_error_t *err)
{
	gnutls_datum_t out = { 0 };
	int r = gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &out);
	if (r < 0)
		return gnutls_fail(err, FLYT_E_INTERNAL, "export key", r);
	r = flyt_write_file_atomic(path, out.data, out.size, 0600, err);
	gnutls_memset(out.data, 0, out.size);
	gnutls_free(out.data);
	return r;
}

static int set_validity(gnutls_x509_crt_t crt, unsigned days)
{
	time_t now = time(NULL);
	int r = gnutls_x509_crt_set_activation_time(crt, now - 300); /* clocks a little apart */
	if (r >= 0)
		r = gnutls_x509_crt_set_expiration_time(crt, now + (time_t)days * 86400);
	return r;
}

int flyt_pki_ca_ensure(const char *dir, bool *ret_created, flyt_error_t *err)
{
	_cleanup_free_ char *ca = path_join(dir, "ca.pem");
	_cleanup_free_ char *ca_key = path_join(dir, "ca-key.pem");
	if (ret_created)
		*ret_created = false;
	if (access(ca, F_OK) == 0) {
		if (access(ca_key, R_OK) < 0)
			return flyt_error_set(err, FLYT_E_INVALID, errno, "%s exists without its key %s", ca, ca_key);
		return 0;
	}
	if (flyt_mkdir_p(dir, 0700, err) < 0)
		return -1;
	gnutls_x509_privkey_t key;
	if (new_key(&key, err) < 0)
		return -1;
	gnutls_x509_crt_t crt;
	gnutls_x509_crt_init(&crt);
	int r = gnutls_x509_crt_set_version(crt, 3);
	if (r >= 0)
		r = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, CA_CN, strlen(CA_CN));
	if (r >= 0)
		r = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, 0, "flyt", 4);
	if (r >= 0)
		r = gnutls_x509_crt_set_key(crt, key);
	if (r >= 0)
		r = set_validity(crt, CA_DAYS);
	if (r >= 0)
		r = gnutls_x509_crt_set_basic_constraints(crt, 1, 0);
	if (r >= 0)
		r = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN);
	unsigned char id[64];
	size_t idlen = sizeof(id);
	if (r >= 0)
		r = gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA1, id, &idlen);
	if (r >= 0)
		r = gnutls_x509_crt_set_subject_key_id(crt, id, idlen);
	int ret = -1;
	char *pem = NULL;
	if (r < 0) {
		gnutls_fail(err, FLYT_E_INTERNAL, "CA certificate", r);
		goto out;
	}
	if (set_serial(crt, err) < 0)
		goto out;
	r = gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0);
	if (r < 0) {
		gnutls_fail(err, FLYT_E_INTERNAL, "sign CA certificate", r);
		goto out;
	}
	if (export_crt(crt, &pem, err) < 0 || write_key(key, ca_key, err) < 0 ||
	    flyt_write_file_atomic(ca, pem, strlen(pem), 0644, err) < 0)
		goto out;
	if (ret_created)
		*ret_created = true;
	ret = 0;
out:
	free(pem);
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(key);
	return ret;
}

char *flyt_pki_new_key_and_csr(const char *key_path, const char *cn, flyt_error_t *err)
{
	gnutls_x509_privkey_t key;
	if (new_key(&key, err) < 0)
		return NULL;
	gnutls_x509_crq_t crq;
	gnutls_x509_crq_init(&crq);
	char *pem = NULL;
	int r = gnutls_x509_crq_set_version(crq, 1);
	if (r >= 0)
		r = gnutls_x509_crq_set_dn_by_oid(crq, GNUTLS_OID_X520_COMMON_NAME, 0, cn, strlen(cn));
	if (r >= 0)
		r = gnutls_x509_crq_set_key(crq, key);
	if (r >= 0)
		r = gnutls_x509_crq_sign2(crq, key, GNUTLS_DIG_SHA256, 0);
	gnutls_datum_t out = { 0 };
	if (r >= 0)
		r = gnutls_x509_crq_export2(crq, GNUTLS_X509_FMT_PEM, &out);
	if (r < 0) {
		gnutls_fail(err, FLYT_E_INTERNAL, "certificate request", r);
	} else if (write_key(key, key_path, err) == 0) {
		pem = dup_n((const char *)out.data, out.size);
	}
	gnutls_free(out.data);
	gnutls_x509_crq_deinit(crq);
	gnutls_x509_privkey_deinit(key);
	return pem;
}

static int add_san(gnutls_x509_crt_t crt, const char *san, flyt_error_t *err)
{
	unsigned char ip[16];
	int r;
	if (inet_pton(AF_INET, san, ip) == 1)
		r = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip, 4, GNUTLS_FSAN_APPEND);
	else if (inet_pton(AF_INET6, san, ip) == 1)
		r = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip, 16, GNUTLS_FSAN_APPEND);
	else if (dns_name_valid(san))
		r = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, san, (unsigned)strlen(san),
							 GNUTLS_FSAN_APPEND);
	else
		return flyt_error_set(err, FLYT_E_INVALID, 0, "\"%.100s\" is neither an IP address nor a host name",
				      san);
	return r < 0 ? gnutls_fail(err, FLYT_E_INTERNAL, "subject alternative name", r) : 0;
}

char *flyt_pki_sign(const char *ca_dir, const char *csr_pem, const char *cn, const char *role, const char *const *sans,
		    unsigned days, flyt_error_t *err)
{
	_cleanup_free_ char *ca_path = path_join(ca_dir, "ca.pem");
	_cleanup_free_ char *ca_key_path = path_join(ca_dir, "ca-key.pem");
	_cleanup_free_ char *ca_text = NULL, *key_text = NULL;
	gnutls_datum_t ca_d, key_d;
	if (read_datum(ca_path, &ca_d, &ca_text, err) < 0 || read_datum(ca_key_path, &key_d, &key_text, err) < 0)
		return NULL;
	gnutls_x509_crt_t ca = NULL, crt = NULL;
	gnutls_x509_privkey_t ca_key = NULL;
	gnutls_x509_crq_t crq = NULL;
	gnutls_pubkey_t pub = NULL;
	char *pem = NULL;
	gnutls_x509_crt_init(&ca);
	gnutls_x509_crt_init(&crt);
	gnutls_x509_privkey_init(&ca_key);
	gnutls_x509_crq_init(&crq);
	gnutls_pubkey_init(&pub);
	int r = gnutls_x509_crt_import(ca, &ca_d, GNUTLS_X509_FMT_PEM);
	if (r >= 0)
		r = gnutls_x509_privkey_import(ca_key, &key_d, GNUTLS_X509_FMT_PEM);
	gnutls_memset(key_text, 0, key_d.size);
	if (r < 0) {
		gnutls_fail(err, FLYT_E_INTERNAL, "the cluster CA", r);
		goto out;
	}
	gnutls_datum_t csr_d = { (unsigned char *)csr_pem, (unsigned)strlen(csr_pem) };
	r = gnutls_x509_crq_import(crq, &csr_d, GNUTLS_X509_FMT_PEM);
	if (r >= 0)
		r = gnutls_x509_crq_verify(crq, 0);
	if (r >= 0)
		r = gnutls_pubkey_import_x509_crq(pub, crq, 0);
	if (r < 0) {
		gnutls_fail(err, FLYT_E_INVALID, "certificate request", r);
		goto out;
	}
	r = gnutls_x509_crt_set_version(crt, 3);
	if (r >= 0)
		r = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn, strlen(cn));
	if (r >= 0)
		r = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, 0, "flyt", 4);
	if (r >= 0)
		r = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATIONAL_UNIT_NAME, 0, role, strlen(role));
	if (r >= 0)
		r = gnutls_x509_crt_set_pubkey(crt, pub);
	if (r >= 0)
		r = set_validity(crt, days);
	if (r >= 0)
		r = gnutls_x509_crt_set_basic_constraints(crt, 0, -1);
	/* QEMU's TLS credentials insist on key encipherment for server certificates */
	if (r >= 0)
		r = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE | GNUTLS_KEY_KEY_ENCIPHERMENT);
	if (r >= 0)
		r = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0);
	if (r >= 0)
		r = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_CLIENT, 0);
	unsigned char id[64];
	size_t idlen = sizeof(id);
	if (r >= 0)
		r = gnutls_x509_crt_get_subject_key_id(ca, id, &idlen, NULL);
	if (r >= 0)
		r = gnutls_x509_crt_set_authority_key_id(crt, id, idlen);
	idlen = sizeof(id);
	if (r >= 0)
		r = gnutls_pubkey_get_key_id(pub, GNUTLS_KEYID_USE_SHA1, id, &idlen);
	if (r >= 0)
		r = gnutls_x509_crt_set_subject_key_id(crt, id, idlen);
	if (r < 0) {
		gnutls_fail(err, FLYT_E_INTERNAL, "certificate", r);
		goto out;
	}
	for (size_t i = 0; sans && sans[i]; i++)
		if (add_san(crt, sans[i], err) < 0)
			goto out;
	if (set_serial(crt, err) < 0)
		goto out;
	r = gnutls_x509_crt_sign2(crt, ca, ca_key, GNUTLS_DIG_SHA256, 0);
	if (r < 0) {
		gnutls_fail(err, FLYT_E_INTERNAL, "sign certificate", r);
		goto out;
	}
	export_crt(crt, &pem, err);
out:
	gnutls_pubkey_deinit(pub);
	gnutls_x509_crq_deinit(crq);
	gnutls_x509_privkey_deinit(ca_key);
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_crt_deinit(ca);
	return pem;
}

static void dn_field(gnutls_x509_crt_t crt, const char *oid, char *out, size_t size)
{
	size_t n = size;
	if (gnutls_x509_crt_get_dn_by_oid(crt, oid, 0, 0, out, &n) < 0)
		out[0] = '\0';
}

static void fill_info(gnutls_x509_crt_t crt, flyt_cert_info_t *ret)
{
	memset(ret, 0, sizeof(*ret));
	dn_field(crt, GNUTLS_OID_X520_COMMON_NAME, ret->cn, sizeof(ret->cn));
	dn_field(crt, GNUTLS_OID_X520_ORGANIZATIONAL_UNIT_NAME, ret->role, sizeof(ret->role));
	unsigned char buf[32];
	size_t n = sizeof(buf);
	if (gnutls_x509_crt_get_serial(crt, buf, &n) >= 0)
		for (size_t i = 0; i < n && i < 20; i++)
			snprintf(ret->serial + 2 * i, 3, "%02x", buf[i]);
	n = sizeof(buf);
	if (gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, buf, &n) >= 0)
		for (size_t i = 0; i < n && i < 32; i++)
			snprintf(ret->fingerprint + 2 * i, 3, "%02x", buf[i]);
	ret->not_before = (int64_t)gnutls_x509_crt_get_activation_time(crt);
	ret->not_after = (int64_t)gnutls_x509_crt_get_expiration_time(crt);
}

int flyt_pki_cert_info(const char *pem, size_t len, flyt_cert_info_t *ret, flyt_error_t *err)
{
	gnutls_x509_crt_t crt;
	gnutls_x509_crt_init(&crt);
	gnutls_datum_t d = { (unsigned char *)pem, (unsigned)len };
	int r = gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM);
	if (r < 0) {
		gnutls_x509_crt_deinit(crt);
		return gnutls_fail(err, FLYT_E_INVALID, "certificate", r);
	}
	fill_info(crt, ret);
	gnutls_x509_crt_deinit(crt);
	return 0;
}

int flyt_pki_cert_file_info(const char *path, flyt_cert_info_t *ret, flyt_error_t *err)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	if (flyt_read_file(path, PEM_MAX, &text, &len, err) < 0)
		return -1;
	if (flyt_pki_cert_info(text, len, ret, err) < 0)
		return flyt_error_prefix(err, "%s", path);
	return 0;
}

int flyt_pki_check_pair(const char *ca_file, const char *cert_file, const char *key_file, flyt_error_t *err)
{
	_cleanup_free_ char *ca_text = NULL, *cert_text = NULL, *key_text = NULL;
	gnutls_datum_t ca_d, cert_d, key_d;
	if (read_datum(ca_file, &ca_d, &ca_text, err) < 0 || read_datum(cert_file, &cert_d, &cert_text, err) < 0 ||
	    read_datum(key_file, &key_d, &key_text, err) < 0)
		return -1;
	gnutls_x509_crt_t ca, crt;
	gnutls_x509_privkey_t key;
	gnutls_x509_crt_init(&ca);
	gnutls_x509_crt_init(&crt);
	gnutls_x509_privkey_init(&key);
	int ret = -1;
	unsigned status = 0;
	unsigned char id1[64], id2[64];
	size_t n1 = sizeof(id1), n2 = sizeof(id2);
	int r = gnutls_x509_crt_import(ca, &ca_d, GNUTLS_X509_FMT_PEM);
	if (r >= 0)
		r = gnutls_x509_crt_import(crt, &cert_d, GNUTLS_X509_FMT_PEM);
	if (r >= 0)
		r = gnutls_x509_privkey_import(key, &key_d, GNUTLS_X509_FMT_PEM);
	gnutls_memset(key_text, 0, key_d.size);
	if (r < 0) {
		gnutls_fail(err, FLYT_E_INVALID, cert_file, r);
		goto out;
	}
	r = gnutls_x509_crt_verify(crt, &ca, 1, 0, &status);
	if (r < 0 || status) {
		flyt_error_set(err, FLYT_E_INVALID, 0, "%s was not issued by the CA in %s (or has expired)", cert_file,
			       ca_file);
		goto out;
	}
	if (gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, id1, &n1) < 0 ||
	    gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA256, id2, &n2) < 0 || n1 != n2 ||
	    memcmp(id1, id2, n1) != 0) {
		flyt_error_set(err, FLYT_E_INVALID, 0, "%s does not hold the key of %s", key_file, cert_file);
		goto out;
	}
	ret = 0;
out:
	gnutls_x509_privkey_deinit(key);
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_crt_deinit(ca);
	return ret;
}

/* ---- identities ---- */

/* One certificate and key as GnuTLS wants them for each use. Generations that a
 * reload replaced stay allocated until the identity is freed: a handshake in
 * another thread may still hold them (renewals are rare: a few per month). */
typedef struct generation {
	struct generation *older;
	gnutls_certificate_credentials_t cred; /* for stream sessions */
	gnutls_pcert_st pcert;		       /* for the HTTPS servers' callback */
	gnutls_privkey_t pkey;
	flyt_cert_info_t info;
} generation_t;

struct flyt_tls {
	char *dir, *ca_file, *cert_file, *key_file;
	char *ca_pem;
	gnutls_x509_crt_t ca;
	pthread_mutex_t lock;
	generation_t *cur;
};

static void generation_free(generation_t *g)
{
	while (g) {
		generation_t *older = g->older;
		if (g->cred)
			gnutls_certificate_free_credentials(g->cred);
		gnutls_pcert_deinit(&g->pcert);
		if (g->pkey)
			gnutls_privkey_deinit(g->pkey);
		free(g);
		g = older;
	}
}

static int generation_load(flyt_tls_t *t, generation_t **ret, flyt_error_t *err)
{
	if (flyt_pki_check_pair(t->ca_file, t->cert_file, t->key_file, err) < 0)
		return -1;
	_cleanup_free_ char *cert_text = NULL, *key_text = NULL;
	gnutls_datum_t cert_d, key_d;
	if (read_datum(t->cert_file, &cert_d, &cert_text, err) < 0 ||
	    read_datum(t->key_file, &key_d, &key_text, err) < 0)
		return -1;
	generation_t *g = flyt_malloc0(sizeof(*g));
	int r = gnutls_certificate_allocate_credentials(&g->cred);
	if (r >= 0)
		r = gnutls_certificate_set_x509_trust_mem(
		    g->cred, &(gnutls_datum_t){ (unsigned char *)t->ca_pem, (unsigned)strlen(t->ca_pem) },
		    GNUTLS_X509_FMT_PEM);
	if (r >= 0)
		r = gnutls_certificate_set_x509_key_mem(g->cred, &cert_d, &key_d, GNUTLS_X509_FMT_PEM);
	bool pcert_done = false;
	if (r >= 0) {
		r = gnutls_pcert_import_x509_raw(&g->pcert, &cert_d, GNUTLS_X509_FMT_PEM, 0);
		pcert_done = r >= 0;
	}
	if (r >= 0)
		r = gnutls_privkey_init(&g->pkey);
	if (r >= 0)
		r = gnutls_privkey_import_x509_raw(g->pkey, &key_d, GNUTLS_X509_FMT_PEM, NULL, 0);
	gnutls_memset(key_text, 0, key_d.size);
	if (r < 0) {
		if (!pcert_done)
			memset(&g->pcert, 0, sizeof(g->pcert));
		generation_free(g);
		return gnutls_fail(err, FLYT_E_INVALID, t->cert_file, r);
	}
	if (flyt_pki_cert_info(cert_text, cert_d.size, &g->info, err) < 0) {
		generation_free(g);
		return -1;
	}
	*ret = g;
	return 0;
}

int flyt_tls_load(const char *dir, flyt_tls_t **ret, flyt_error_t *err)
{
	flyt_tls_t *t = flyt_malloc0(sizeof(*t));
	t->dir = flyt_strdup(dir);
	t->ca_file = path_join(dir, "ca.pem");
	t->cert_file = path_join(dir, "cert.pem");
	t->key_file = path_join(dir, "key.pem");
	pthread_mutex_init(&t->lock, NULL);
	size_t len = 0;
	gnutls_x509_crt_init(&t->ca);
	int r;
	if (flyt_read_file(t->ca_file, PEM_MAX, &t->ca_pem, &len, err) < 0)
		goto fail;
	r = gnutls_x509_crt_import(t->ca, &(gnutls_datum_t){ (unsigned char *)t->ca_pem, (unsigned)len },
				   GNUTLS_X509_FMT_PEM);
	if (r < 0) {
		gnutls_fail(err, FLYT_E_INVALID, t->ca_file, r);
		goto fail;
	}
	if (generation_load(t, &t->cur, err) < 0)
		goto fail;
	*ret = t;
	return 0;
fail:
	flyt_tls_free(t);
	return -1;
}

int flyt_tls_reload(flyt_tls_t *t, flyt_error_t *err)
{
	generation_t *g;
	if (generation_load(t, &g, err) < 0)
		return -1;
	pthread_mutex_lock(&t->lock);
	g->older = t->cur;
	t->cur = g;
	pthread_mutex_unlock(&t->lock);
	return 0;
}

static flyt_tls_t *server_identity;

void flyt_tls_free(flyt_tls_t *t)
{
	if (!t)
		return;
	if (server_identity == t)
		server_identity = NULL;
	generation_free(t->cur);
	if (t->ca)
		gnutls_x509_crt_deinit(t->ca);
	pthread_mutex_destroy(&t->lock);
	free(t->ca_pem);
	free(t->dir);
	free(t->ca_file);
	free(t->cert_file);
	free(t->key_file);
	free(t);
}

const char *flyt_tls_dir(const flyt_tls_t *t)
{
	return t->dir;
}

const char *flyt_tls_ca_file(const flyt_tls_t *t)
{
	return t->ca_file;
}

const char *flyt_tls_cert_file(const flyt_tls_t *t)
{
	return t->cert_file;
}

const char *flyt_tls_key_file(const flyt_tls_t *t)
{
	return t->key_file;
}

const char *flyt_tls_ca_pem(const flyt_tls_t *t)
{
	return t->ca_pem;
}

static generation_t *current(flyt_tls_t *t)
{
	pthread_mutex_lock(&t->lock);
	generation_t *g = t->cur;
	pthread_mutex_unlock(&t->lock);
	return g;
}

void flyt_tls_info(flyt_tls_t *t, flyt_cert_info_t *ret)
{
	*ret = current(t)->info;
}

void flyt_tls_set_server_identity(flyt_tls_t *t)
{
	server_identity = t;
}

static int retrieve_cert(gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int nreqs,
			 const gnutls_pk_algorithm_t *algos, int nalgos, gnutls_pcert_st **pcert,
			 unsigned int *pcert_length, gnutls_privkey_t *pkey)
{
	(void)session, (void)req_ca_dn, (void)nreqs, (void)algos, (void)nalgos;
	flyt_tls_t *t = server_identity;
	if (!t)
		return -1;
	generation_t *g = current(t);
	*pcert = &g->pcert;
	*pcert_length = 1;
	*pkey = g->pkey;
	return 0;
}

void *flyt_tls_server_cert_callback(void)
{
	return (void *)retrieve_cert;
}

int flyt_tls_verify_peer(void *session, flyt_cert_info_t *ret, flyt_error_t *err)
{
	gnutls_session_t s = session;
	unsigned n = 0;
	const gnutls_datum_t *certs = gnutls_certificate_get_peers(s, &n);
	if (!certs || n == 0)
		return flyt_error_set(err, FLYT_E_UNAUTHORIZED, 0, "no client certificate");
	unsigned status = 0;
	int r = gnutls_certificate_verify_peers2(s, &status);
	if (r < 0)
		return gnutls_fail(err, FLYT_E_UNAUTHORIZED, "peer certificate", r);
	if (status) {
		gnutls_datum_t text = { 0 };
		gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0);
		flyt_error_set(err, FLYT_E_UNAUTHORIZED, 0, "peer certificate refused: %s",
			       text.data ? (const char *)text.data : "not trusted");
		gnutls_free(text.data);
		return -1;
	}
	if (ret) {
		gnutls_x509_crt_t crt;
		gnutls_x509_crt_init(&crt);
		r = gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER);
		if (r >= 0)
			fill_info(crt, ret);
		gnutls_x509_crt_deinit(crt);
		if (r < 0)
			return gnutls_fail(err, FLYT_E_UNAUTHORIZED, "peer certificate", r);
	}
	return 0;
}

/* ---- sessions over a socket ---- */

struct flyt_tls_conn {
	gnutls_session_t s;
	int fd;
};

int flyt_tls_conn_start(flyt_tls_t *t, int fd, bool server, int timeout_ms, flyt_tls_conn_t **ret,
			flyt_cert_info_t *ret_peer, flyt_error_t *err)
{
	generation_t *g = current(t);
	flyt_tls_conn_t *c = flyt_malloc0(sizeof(*c));
	c->fd = fd;
	int r = gnutls_init(&c->s, (server ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_NO_SIGNAL);
	if (r >= 0)
		r = gnutls_set_default_priority(c->s);
	if (r >= 0)
		r = gnutls_credentials_set(c->s, GNUTLS_CRD_CERTIFICATE, g->cred);
	if (r < 0) {
		free(c);
		return gnutls_fail(err, FLYT_E_INTERNAL, "TLS session", r);
	}
	if (server)
		gnutls_certificate_server_set_request(c->s, GNUTLS_CERT_REQUIRE);
	gnutls_transport_set_int(c->s, fd);
	gnutls_handshake_set_timeout(c->s, (unsigned)timeout_ms);
	do {
		r = gnutls_handshake(c->s);
	} while (r < 0 && !gnutls_error_is_fatal(r) && r != GNUTLS_E_AGAIN);
	if (r < 0) {
		int code = r == GNUTLS_E_TIMEDOUT || r == GNUTLS_E_AGAIN ? FLYT_E_TIMEOUT : FLYT_E_UNAVAILABLE;
		gnutls_fail(err, code, "TLS handshake", r);
		flyt_tls_conn_free(c);
		return -1;
	}
	if (flyt_tls_verify_peer(c->s, ret_peer, err) < 0) {
		flyt_tls_conn_free(c);
		return -1;
	}
	*ret = c;
	return 0;
}

int flyt_tls_conn_send(flyt_tls_conn_t *c, const void *buf, size_t len, flyt_error_t *err)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = gnutls_record_send(c->s, p, len);
		if (n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n == GNUTLS_E_AGAIN)
			return flyt_error_set(err, FLYT_E_TIMEOUT, 0, "stream: peer stopped reading");
		if (n < 0)
			return gnutls_fail(err, FLYT_E_UNAVAILABLE, "stream: send", (int)n);
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void flyt_tls_conn_cork(flyt_tls_conn_t *c)
{
	gnutls_record_cork(c->s);
}

int flyt_tls_conn_uncork(flyt_tls_conn_t *c, flyt_error_t *err)
{
	for (;;) {
		int r = gnutls_record_uncork(c->s, GNUTLS_RECORD_WAIT);
		if (r >= 0)
			return 0;
		if (r == GNUTLS_E_INTERRUPTED)
			continue;
		if (r == GNUTLS_E_AGAIN)
			return flyt_error_set(err, FLYT_E_TIMEOUT, 0, "stream: peer stopped reading");
		return gnutls_fail(err, FLYT_E_UNAVAILABLE, "stream: send", r);
	}
}

ssize_t flyt_tls_conn_recv(flyt_tls_conn_t *c, void *buf, size_t len, flyt_error_t *err)
{
	for (;;) {
		ssize_t n = gnutls_record_recv(c->s, buf, len);
		if (n >= 0)
			return n;
		if (n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n == GNUTLS_E_AGAIN)
			return flyt_error_set(err, FLYT_E_TIMEOUT, 0, "receive: timed out");
		if (n == GNUTLS_E_PREMATURE_TERMINATION)
			return flyt_error_set(err, FLYT_E_UNAVAILABLE, 0, "receive: connection closed by peer");
		return gnutls_fail(err, FLYT_E_UNAVAILABLE, "receive", (int)n);
	}
}

bool flyt_tls_conn_pending(flyt_tls_conn_t *c)
{
	return gnutls_record_check_pending(c->s) > 0;
}

void flyt_tls_conn_free(flyt_tls_conn_t *c)
{
	if (!c)
		return;
	gnutls_deinit(c->s);
	free(c);
}
