/* flytd: the flyt agent of one host. Parses its options, starts the agent and
 * waits for SIGINT or SIGTERM. */
#include <stdio.h>
#include <stdlib.h>

#include "agent/agent.h"
#include "lib/daemon.h"
#include "lib/log.h"
#include "lib/util.h"

int main(int argc, char **argv)
{
	agent_t a = { 0 };
	a.listen = flyt_strdup("0.0.0.0:7800");
	a.state_dir = flyt_strdup("/var/lib/flyt/agent");
	a.criu = flyt_strdup("criu");
	a.qemu = flyt_strdup("qemu-system-x86_64");
	a.token_file = flyt_strdup(getenv("FLYT_TOKEN_FILE") ? getenv("FLYT_TOKEN_FILE") : "/etc/flyt/token");
	a.heartbeat_ms = 2000;
	a.io_timeout_ms = 15000;

	const flyt_opt_t opts[] = {
		{ "name", 'n', FLYT_OPT_STRING, &a.name, "NAME", "this host's name in the cluster (required)" },
		{ "listen", 'l', FLYT_OPT_STRING, &a.listen, "ADDR:PORT", "API address (default 0.0.0.0:7800)" },
		{ "data-listen", 0, FLYT_OPT_STRING, &a.data_listen, "ADDR:PORT",
		  "migration data address (default: API address, port + 1)" },
		{ "advertise-url", 0, FLYT_OPT_STRING, &a.advertise_url, "URL",
		  "URL others reach the API at (default from --listen)" },
		{ "controller", 'c', FLYT_OPT_STRING, &a.controller_url, "URL", "controller to register with" },
		{ "state-dir", 's', FLYT_OPT_STRING, &a.state_dir, "DIR",
		  "state directory (default /var/lib/flyt/agent)" },
		{ "join-token-file", 'j', FLYT_OPT_STRING, &a.join_token_file, "FILE",
		  "a join token from the controller, for the first start (enrolment; then STATE/tls holds the "
		  "certificate)" },
		{ "plain-http", 0, FLYT_OPT_FLAG, &a.plain_http, NULL,
		  "no TLS: plain HTTP and an unencrypted data channel, the cluster token as credential (unsafe; "
		  "logged loudly)" },
		{ "token-file", 't', FLYT_OPT_STRING, &a.token_file, "FILE",
		  "cluster token, with --plain-http (default $FLYT_TOKEN_FILE or /etc/flyt/token)" },
		{ "criu", 0, FLYT_OPT_STRING, &a.criu, "PATH", "criu binary (default: criu on PATH)" },
		{ "qemu", 0, FLYT_OPT_STRING, &a.qemu, "PATH",
		  "QEMU binary for qemu workloads (default: qemu-system-x86_64 on PATH)" },
		{ "libvirt-uri", 0, FLYT_OPT_STRING, &a.libvirt_uri, "URI",
		  "libvirt connection for libvirt workloads (e.g. qemu:///system; none: driver off)" },
		{ "libvirt-migrate-uri", 0, FLYT_OPT_STRING, &a.libvirt_migrate_uri, "URI",
		  "the URI other hosts' libvirtd reach this host's at (default: --libvirt-uri)" },
		{ "libvirt-tls-dir", 0, FLYT_OPT_STRING, &a.libvirt_tls_dir, "DIR",
		  "libvirtd's migrate_tls_x509_cert_dir: flytd keeps this host's certificate there and libvirt "
		  "migrations go over TLS" },
		{ "shared-dir", 0, FLYT_OPT_LIST, &a.shared_dirs, "DIR",
		  "a directory every host mounts, for --mode shared (repeatable)" },
		{ "driver", 0, FLYT_OPT_LIST, &a.drivers_enabled, "KIND", "enable only these drivers (repeatable)" },
		{ "area", 0, FLYT_OPT_STRING, &a.area, "AREA", "electricity area of this host (e.g. DK1)" },
		{ "docker-socket", 0, FLYT_OPT_STRING, &a.docker_socket, "PATH",
		  "the Docker Engine API of this host (default /var/run/docker.sock)" },
		{ "podman-socket", 0, FLYT_OPT_STRING, &a.podman_socket, "PATH",
		  "the libpod API of `podman system service` (default /run/podman/podman.sock)" },
		{ "runc", 0, FLYT_OPT_STRING, &a.runc, "PATH", "the runc binary (default: runc on PATH)" },
		{ "heartbeat-interval", 0, FLYT_OPT_INT, &a.heartbeat_ms, "MS", "heartbeat period (default 2000)", 100,
		  600000 },
		{ "io-timeout", 0, FLYT_OPT_INT, &a.io_timeout_ms, "MS",
		  "migration socket timeout: a silent peer fails the migration after this (default 15000)", 1000,
		  3600000 },
		{ "libexec-dir", 0, FLYT_OPT_STRING, &a.libexec_dir, "DIR",
		  "where flyt-launch and flyt-criu-hook are" },
		{ NULL },
	};
	flyt_daemon_t d = {
		.program = "flytd",
		.usage = "flytd --name NAME [options]",
		.description = "The flyt agent: runs, checkpoints, restores and migrates the workloads of this host.",
		.routes = agent_routes,
		.nroutes = agent_nroutes,
	};
	int r = flyt_daemon_init(&d, opts, argc, argv);
	if (r <= 0) {
		flyt_daemon_fini(&d);
		return r < 0 ? 2 : 0;
	}
	if (!a.name) {
		fprintf(stderr, "flytd: --name is required\n");
		flyt_daemon_fini(&d);
		return 2;
	}
	flyt_error_t err = FLYT_ERROR_INIT;
	if (agent_start(&a, &err) < 0) {
		log_error("cannot start: %s", err.msg);
		return 1;
	}
	int sig = flyt_daemon_wait(&d);
	log_info("signal %d: stopping (workloads keep running)", sig);
	agent_stop(&a);
	agent_free(&a);
	flyt_daemon_fini(&d);
	return 0;
}
