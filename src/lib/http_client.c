/* The JSON HTTP client: one libcurl easy handle per call, bounded responses;
 * for GETs of clients with keep_alive, an easy handle from a small pool, which
 * keeps its connections open. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "http.h"
#include "json.h"
#include "util.h"

typedef struct {
	char *buf;
	size_t len, cap, max;
	bool too_large;
} sink_t;

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	sink_t *s = userdata;
	size_t n = size * nmemb;
	if (s->len + n > s->max) {
		s->too_large = true;
		return 0; /* aborts the transfer */
	}
	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		while (cap < s->len + n + 1)
			cap *= 2;
		char *nb = realloc(s->buf, cap);
		if (!nb)
			return 0;
		s->buf = nb;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, ptr, n);
	s->len += n;
	s->buf[s->len] = '\0';
	return n;
}

void flyt_http_global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

char *flyt_url_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t len = strlen(s);
	char *out = flyt_malloc0(len * 3 + 1);
	char *o = out;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		    *p == '_' || *p == '.' || *p == '~') {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = '\0';
	return out;
}

static void curl_slist_freep(struct curl_slist **l)
{
	if (*l)
		curl_slist_free_all(*l);
}

static void curl_easy_cleanupp(CURL **c)
{
	if (*c)
		curl_easy_cleanup(*c);
}

/* Easy handles kept between keep_alive GETs (the controller's calls to its
 * agents: a workload's live status on every GET of it, probes). Each keeps its
 * connections open, so a repeated call reuses one instead of a new TCP
 * connection (and a new thread in the agent's server) per call; under many
 * concurrent clients the new connections were the bottleneck, and their
 * TIME_WAIT sockets piled up. Bounded: at most POOL_MAX idle handles, each with
 * at most POOL_CONNS connections, none reused after POOL_MAX_AGE_S idle (flyt's
 * servers close idle connections after 120 s). Only GET: curl resends a request
 * that failed on a reused connection before any answer, which is harmless only
 * for a request that changes nothing. */
#define POOL_MAX 16
#define POOL_CONNS 4L
#define POOL_MAX_AGE_S 30L

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static CURL *pool[POOL_MAX];
static size_t pool_n;

typedef struct {
	CURL *h;
	bool pooled;
} handle_t;

static handle_t handle_get(bool pooled)
{
	handle_t x = { NULL, pooled };
	if (pooled) {
		pthread_mutex_lock(&pool_lock);
		if (pool_n > 0)
			x.h = pool[--pool_n];
		pthread_mutex_unlock(&pool_lock);
	}
	if (!x.h)
		x.h = curl_easy_init();
	return x;
}

static void handle_release(handle_t *x)
{
	if (!x->h)
		return;
	if (x->pooled) {
		/* no option may point at this call's buffers while it waits */
		curl_easy_reset(x->h);
		pthread_mutex_lock(&pool_lock);
		if (pool_n < POOL_MAX) {
			pool[pool_n++] = x->h;
			x->h = NULL;
		}
		pthread_mutex_unlock(&pool_lock);
	}
	if (x->h)
		curl_easy_cleanup(x->h);
	x->h = NULL;
}

/* A response body going to a file (downloads): 2xx bodies are written to fd,
 * anything else is kept in memory for the error message. */
typedef struct {
	CURL *h;
	int fd;
	sink_t err_sink;
	uint64_t written;
	bool write_failed;
} file_sink_t;

static size_t file_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	file_sink_t *f = userdata;
	long status = 0;
	curl_easy_getinfo(f->h, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status >= 300)
		return write_cb(ptr, size, nmemb, &f->err_sink);
	size_t n = size * nmemb, off = 0;
	while (off < n) {
		ssize_t w = write(f->fd, ptr + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			f->write_failed = true;
			return 0;
		}
		off += (size_t)w;
	}
	f->written += n;
	return n;
}

static void fclosep_(FILE **f)
{
	if (*f)
		fclose(*f);
}

/* HTTPS: the CA to verify the server with and the client certificate. */
static void set_tls(CURL *h, const flyt_http_client_t *c)
{
	if (c->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
	if (c->cert_file && c->key_file) {
		curl_easy_setopt(h, CURLOPT_SSLCERT, c->cert_file);
		curl_easy_setopt(h, CURLOPT_SSLKEY, c->key_file);
	}
	if (c->insecure_bootstrap) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
}

int flyt_http_call_file(const flyt_http_client_t *c, const char *method, const char *path, json_t *body,
			const char *upload_path, const char *download_path, char **ret_body, size_t *ret_len,
			long *ret_status, flyt_error_t *err)
{
	if (ret_status)
		*ret_status = 0;
	bool pooled =
	    c->keep_alive && !c->unix_socket && !body && !upload_path && !download_path && strcmp(method, "GET") == 0;
	_cleanup_(handle_release) handle_t handle = handle_get(pooled);
	CURL *h = handle.h;
	if (!h)
		return flyt_error_set(err, FLYT_E_INTERNAL, 0, "curl_easy_init failed");
	_cleanup_free_ char *url = flyt_asprintf("%s%s", c->base_url, path);
	_cleanup_free_ char *payload = body ? flyt_json_dumps(body) : NULL;
	_cleanup_free_ char *auth = c->token ? flyt_asprintf("Authorization: Bearer %s", c->token) : NULL;
	_cleanup_(curl_slist_freep) struct curl_slist *hdrs = NULL;
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	if (payload)
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	if (upload_path)
		hdrs = curl_slist_append(hdrs, "Content-Type: application/x-tar");
	if (auth)
		hdrs = curl_slist_append(hdrs, auth);
	hdrs = curl_slist_append(hdrs, "Expect:");

	_cleanup_(fclosep_) FILE *in = NULL;
	_cleanup_close_ int out_fd = -1;
	if (upload_path) {
		in = fopen(upload_path, "rbe");
		if (!in)
			return flyt_error_set(err, FLYT_E_IO, errno, "open %s", upload_path);
	}
	if (download_path) {
		out_fd = open(download_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (out_fd < 0)
			return flyt_error_set(err, FLYT_E_IO, errno, "create %s", download_path);
	}

	sink_t sink = { .max = c->max_response ? c->max_response : 16u * 1024 * 1024 };
	file_sink_t fsink = { .h = h, .fd = out_fd, .err_sink = { .max = 1024 * 1024 } };
	char curl_err[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	if (download_path) {
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, file_write_cb);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, &fsink);
	} else {
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
	}
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_err);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms ? c->timeout_ms : 30000L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms ? c->connect_timeout_ms : 5000L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	if (c->unix_socket)
		curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->unix_socket);
	set_tls(h, c);
	if (pooled) {
		curl_easy_setopt(h, CURLOPT_MAXCONNECTS, POOL_CONNS);
		curl_easy_setopt(h, CURLOPT_MAXAGE_CONN, POOL_MAX_AGE_S);
	}
	if (in) {
		struct stat st;
		if (fstat(fileno(in), &st) < 0)
			return flyt_error_set(err, FLYT_E_IO, errno, "stat %s", upload_path);
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READDATA, in);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)st.st_size);
	} else if (payload) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(payload));
	} else if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	} else if (c->unix_socket && (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0)) {
		/* an empty body, announced as such, for the container engines */
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
	}

	CURLcode rc = curl_easy_perform(h);
	_cleanup_free_ char *errbody = fsink.err_sink.buf;
	if (rc != CURLE_OK) {
		free(sink.buf);
		if (sink.too_large)
			return flyt_error_set(err, FLYT_E_TOO_LARGE, 0, "%s %s: response exceeds %zu bytes", method,
					      url, sink.max);
		if (fsink.write_failed)
			return flyt_error_set(err, FLYT_E_IO, errno, "%s %s: writing %s", method, url, download_path);
		flyt_code_t code = rc == CURLE_OPERATION_TIMEDOUT ? FLYT_E_TIMEOUT : FLYT_E_UNAVAILABLE;
		return flyt_error_set(err, code, 0, "%s %s: %s", method, url,
				      curl_err[0] ? curl_err : curl_easy_strerror(rc));
	}
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (ret_status)
		*ret_status = status;
	if (status < 200 || status >= 300) {
		_cleanup_free_ char *b = download_path ? NULL : sink.buf;
		const char *text = download_path ? errbody : b;
		size_t len = download_path ? fsink.err_sink.len : sink.len;
		_cleanup_json_ json_t *j = text ? json_loadb(text, len, 0, NULL) : NULL;
		/* Docker and Podman answer {"message": "..."} (flyt answers {"error": ...}) */
		if (j && json_is_string(json_object_get(j, "message")) && !json_object_get(j, "error"))
			return flyt_error_set(err, flyt_code_from_http_status((int)status), 0, "%s",
					      json_string_value(json_object_get(j, "message")));
		return flyt_json_error_parse(j, (int)status, err);
	}
	if (download_path && close(TAKE_FD(out_fd)) < 0)
		return flyt_error_set(err, FLYT_E_IO, errno, "close %s", download_path);
	if (ret_body)
		*ret_body = sink.buf;
	else
		free(sink.buf);
	if (ret_len)
		*ret_len = download_path ? (size_t)fsink.written : sink.len;
	return 0;
}

int flyt_http_call_raw(const flyt_http_client_t *c, const char *method, const char *path, json_t *body, char **ret_body,
		       size_t *ret_len, long *ret_status, flyt_error_t *err)
{
	return flyt_http_call_file(c, method, path, body, NULL, NULL, ret_body, ret_len, ret_status, err);
}

int flyt_http_call(const flyt_http_client_t *c, const char *method, const char *path, json_t *body, json_t **ret,
		   long *ret_status, flyt_error_t *err)
{
	_cleanup_free_ char *raw = NULL;
	size_t len = 0;
	if (flyt_http_call_raw(c, method, path, body, &raw, &len, ret_status, err) < 0)
		return -1;
	if (ret) {
		*ret = NULL;
		if (raw && len > 0) {
			json_error_t jerr;
			*ret = json_loadb(raw, len, 0, &jerr);
			if (!*ret)
				return flyt_error_set(err, FLYT_E_CORRUPT, 0, "%s %s%s: answer is not JSON: %s", method,
						      c->base_url, path, jerr.text);
		}
	}
	return 0;
}

int flyt_http_get_answer(const flyt_http_client_t *c, const char *path, flyt_http_answer_t *ret, flyt_error_t *err)
{
	*ret = (flyt_http_answer_t){ .retry_after_ms = -1 };
	_cleanup_(curl_easy_cleanupp) CURL *h = curl_easy_init();
	if (!h)
		return flyt_error_set(err, FLYT_E_INTERNAL, 0, "curl_easy_init failed");
	_cleanup_free_ char *url = flyt_asprintf("%s%s", c->base_url, path);
	_cleanup_(curl_slist_freep) struct curl_slist *hdrs = NULL;
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	sink_t sink = { .max = c->max_response ? c->max_response : 16u * 1024 * 1024 };
	char curl_err[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_err);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms ? c->timeout_ms : 30000L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms ? c->connect_timeout_ms : 5000L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	set_tls(h, c);
	CURLcode rc = curl_easy_perform(h);
	if (rc != CURLE_OK) {
		free(sink.buf);
		if (sink.too_large)
			return flyt_error_set(err, FLYT_E_TOO_LARGE, 0, "GET %s: response exceeds %zu bytes", url,
					      sink.max);
		flyt_code_t code = rc == CURLE_OPERATION_TIMEDOUT ? FLYT_E_TIMEOUT : FLYT_E_UNAVAILABLE;
		return flyt_error_set(err, code, 0, "GET %s: %s", url, curl_err[0] ? curl_err : curl_easy_strerror(rc));
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &ret->status);
	curl_off_t retry = -1;
	if (curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &retry) == CURLE_OK && retry > 0)
		ret->retry_after_ms = (long long)retry * 1000;
	ret->body = sink.buf ? sink.buf : flyt_strdup("");
	ret->len = sink.len;
	return 0;
}

void flyt_http_answer_free(flyt_http_answer_t *a)
{
	free(a->body);
	*a = (flyt_http_answer_t){ .retry_after_ms = -1 };
}
