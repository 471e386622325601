/* Fuzz target: what reaches the cluster CA from outside. Agents send join
 * tokens and certificate requests (PEM) with the names to put in their
 * certificates; certificates come back to be read. Each input is split at its
 * first two newlines into a join token, a comma-separated list of names and a
 * certificate request; the request is signed by a CA made once in a temporary
 * directory, and the input is also read as a certificate. Sanitizers catch any
 * memory error in flyt's code around GnuTLS. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/auth.h"
#include "lib/tls.h"
#include "lib/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *ca_dir;

static void cleanup(void)
{
	flyt_rm_rf(ca_dir, NULL);
}

static void setup(void)
{
	char tmpl[] = "/tmp/flyt-fuzz-pki-XXXXXX";
	if (!mkdtemp(tmpl))
		abort();
	ca_dir = flyt_strdup(tmpl);
	atexit(cleanup);
	flyt_error_t err = FLYT_ERROR_INIT;
	if (flyt_pki_ca_ensure(ca_dir, NULL, &err) < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ca_dir)
		setup();
	char *text = flyt_malloc0(size + 1);
	memcpy(text, data, size);
	flyt_cert_info_t info;
	flyt_error_t err = FLYT_ERROR_INIT;
	flyt_pki_cert_info(text, size, &info, &err);

	char *nl1 = strchr(text, '\n');
	char *nl2 = nl1 ? strchr(nl1 + 1, '\n') : NULL;
	if (nl1 && nl2) {
		*nl1 = *nl2 = '\0';
		flyt_join_token_t tok;
		flyt_join_token_parse(text, &tok, &err);
		const char *sans[9] = { NULL };
		size_t n = 0;
		char *save = NULL;
		for (char *s = strtok_r(nl1 + 1, ",", &save); s && n < 8; s = strtok_r(NULL, ",", &save))
			sans[n++] = s;
		char *pem = flyt_pki_sign(ca_dir, nl2 + 1, "fuzz", "agent", sans, 1, &err);
		if (pem && flyt_pki_cert_info(pem, strlen(pem), &info, &err) < 0)
			abort(); /* what we signed must read back */
		free(pem);
	}
	free(text);
	return 0;
}
