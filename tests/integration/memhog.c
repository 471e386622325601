/* memhog: a test and benchmark workload whose state can be checked from outside.
 *
 *   memhog --mib N [--port P] [--dirty-mib M] [--heartbeat ADDR:PORT] [--seed S]
 *
 * - Holds N MiB filled with a deterministic pseudo-random pattern and answers, on
 *   TCP port P, "STATUS\n" with one line
 *     counter=C checksum=X expected=Y pid=P mib=N uptime_ms=U
 *   where X is recomputed over the memory at that moment and Y is what the pattern
 *   must give: equal means not a byte of it was lost or changed.
 * - Counts ticks (every 10 ms) and appends "tick C" to ./ticks.log every 100 ms
 *   through a descriptor it keeps open, so a test can check that an open file
 *   carried on where it was.
 * - With --dirty-mib M, rewrites M MiB of a separate scratch area every tick (a
 *   workload that keeps writing memory, for benchmarks).
 * - With --heartbeat, sends a UDP datagram "C NS" (counter, CLOCK_REALTIME ns)
 *   every millisecond to ADDR:PORT: the gaps an observer sees are the downtime
 *   as seen from outside.
 * Single-threaded, poll-driven; exits on SIGTERM. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* FNV-1a over 64-bit words: cheap, and any changed byte changes it. */
static uint64_t checksum(const uint64_t *p, size_t words)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < words; i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return h;
}

static void fill(uint64_t *p, size_t words, uint64_t seed)
{
	uint64_t s = seed ? seed : 88172645463325252ull;
	for (size_t i = 0; i < words; i++)
		p[i] = xorshift(&s);
}

static void *map(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("memhog: mmap");
		exit(1);
	}
	return p;
}

int main(int argc, char **argv)
{
	unsigned long mib = 64, dirty_mib = 0, port = 0;
	uint64_t seed = 0;
	const char *hb = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--mib") == 0 && i + 1 < argc)
			mib = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--dirty-mib") == 0 && i + 1 < argc)
			dirty_mib = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
			port = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--heartbeat") == 0 && i + 1 < argc)
			hb = argv[++i];
		else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 10);
		else {
			fprintf(
			    stderr,
			    "usage: memhog --mib N [--port P] [--dirty-mib M] [--heartbeat ADDR:PORT] [--seed S]\n");
			return 2;
		}
	}
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	signal(SIGPIPE, SIG_IGN);

	size_t bytes = mib * 1024 * 1024, words = bytes / 8;
	uint64_t *mem = map(bytes);
	fill(mem, words, seed);
	uint64_t expected = checksum(mem, words);
	size_t dirty_bytes = dirty_mib * 1024 * 1024;
	unsigned char *scratch = dirty_bytes ? map(dirty_bytes) : NULL;

	int lfd = -1;
	if (port) {
		lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int one = 1;
		setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
		if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 16) < 0) {
			perror("memhog: listen");
			return 1;
		}
	}
	int ufd = -1;
	struct sockaddr_in hb_addr = { .sin_family = AF_INET };
	if (hb) {
		char host[64];
		const char *colon = strrchr(hb, ':');
		if (!colon || (size_t)(colon - hb) >= sizeof(host)) {
			fprintf(stderr, "memhog: --heartbeat wants ADDR:PORT\n");
			return 2;
		}
		memcpy(host, hb, (size_t)(colon - hb));
		host[colon - hb] = '\0';
		inet_pton(AF_INET, host, &hb_addr.sin_addr);
		hb_addr.sin_port = htons((uint16_t)strtoul(colon + 1, NULL, 10));
		ufd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	}
	int logfd = open("ticks.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (logfd < 0) {
		perror("memhog: ticks.log");
		return 1;
	}
	printf("memhog: pid %d, %lu MiB, checksum %016llx, port %lu\n", (int)getpid(), mib,
	       (unsigned long long)expected, port);
	fflush(stdout);

	uint64_t counter = 0, started = now_ns(CLOCK_MONOTONIC);
	uint64_t next_tick = started, next_hb = started, dirty_off = 0;
	while (!stop) {
		uint64_t now = now_ns(CLOCK_MONOTONIC);
		if (now >= next_tick) {
			counter++;
			next_tick += 10000000u;
			if (next_tick < now)
				next_tick = now + 10000000u; /* frozen meanwhile: no catching up */
			if (counter % 10 == 0) {
				char line[64];
				int n = snprintf(line, sizeof(line), "tick %llu\n", (unsigned long long)counter);
				if (write(logfd, line, (size_t)n) < 0)
					perror("memhog: ticks.log");
			}
			for (size_t k = 0; scratch && k < dirty_bytes / 100 + 1; k += 4096) {
				scratch[dirty_off] = (unsigned char)counter;
				dirty_off = (dirty_off + 4096) % dirty_bytes;
			}
		}
		if (ufd >= 0 && now >= next_hb) {
			char msg[64];
			int n = snprintf(msg, sizeof(msg), "%llu %llu", (unsigned long long)counter,
					 (unsigned long long)now_ns(CLOCK_REALTIME));
			sendto(ufd, msg, (size_t)n, MSG_DONTWAIT, (struct sockaddr *)&hb_addr, sizeof(hb_addr));
			next_hb = now + 1000000u;
		}
		int timeout_ms = 1;
		if (ufd < 0)
			timeout_ms = (int)((next_tick > now ? next_tick - now : 0) / 1000000u) + 1;
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		if (poll(&p, lfd >= 0 ? 1 : 0, timeout_ms) > 0) {
			int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			if (c < 0)
				continue;
			struct timeval tv = { .tv_sec = 5 };
			setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
			char req[64] = "";
			ssize_t n = read(c, req, sizeof(req) - 1);
			if (n > 0 && strncmp(req, "STATUS", 6) == 0) {
				char ans[256];
				int len = snprintf(
				    ans, sizeof(ans),
				    "counter=%llu checksum=%016llx expected=%016llx pid=%d mib=%lu uptime_ms=%llu\n",
				    (unsigned long long)counter, (unsigned long long)checksum(mem, words),
				    (unsigned long long)expected, (int)getpid(), mib,
				    (unsigned long long)((now_ns(CLOCK_MONOTONIC) - started) / 1000000u));
				if (write(c, ans, (size_t)len) < 0) {
					/* the client went away */
				}
			}
			close(c);
		}
	}
	return 0;
}
