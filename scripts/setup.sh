#!/usr/bin/env bash
# Installs everything flyt needs on a Debian 12 (bookworm) machine, idempotently:
# the build toolchain and libraries, the programs the tests drive, CRIU >= 4.2,
# which bookworm does not ship (see docs/install.md for why and how), and the web
# UI's npm packages (web/node_modules, from web/package-lock.json).
#
# Usage: scripts/setup.sh [--no-test-deps] [--bench]
#   --bench also installs what bench/bench_migrate.py and bench/bench_containers.py
#   compare flyt with (Podman, runc, netcat).
# Safe to run again: it installs only what is missing and exits quickly otherwise.
set -euo pipefail

want_test_deps=1
want_bench_deps=0
for arg in "$@"; do
	case "$arg" in
	--no-test-deps) want_test_deps=0 ;;
	--bench) want_bench_deps=1 ;;
	-h | --help)
		sed -n '2,8p' "$0"
		exit 0
		;;
	*)
		echo "setup: unknown argument: $arg" >&2
		exit 2
		;;
	esac
done

if [ "$(id -u)" -ne 0 ]; then
	echo "setup: must run as root (CRIU, namespaces and package installation need it)" >&2
	exit 1
fi

say() { printf 'setup: %s\n' "$*"; }

# Packages flyt builds against and runs with.
build_pkgs=(
	build-essential meson ninja-build pkg-config
	libjansson-dev libmicrohttpd-dev libcurl4-openssl-dev libgnutls28-dev libsqlite3-dev zlib1g-dev
	iproute2 iptables nftables procps
	# run-time libraries of CRIU 4.2 that bookworm has in compatible versions
	libnftables1 libprotobuf-c1 libbsd0 libgnutls30 libuuid1
	# flytd's libvirt driver (optional at build time; built in when both are present)
	libvirt-dev libxml2-dev
)
# Packages the tests, benchmarks and checks use.
test_pkgs=(
	python3 python3-pytest python3-yaml redis-server redis-tools
	clang-format shellcheck
	# the web UI's browser tests drive Debian's Chromium (tests/e2e)
	chromium
	# shrinks the browser tests' screenshots for the docs (scripts/doc-images.sh)
	pngquant
	# libFuzzer targets (tests/fuzz) build with clang; the controller runs under valgrind
	clang valgrind
	# the container drivers' tests: real runc, dockerd and Podman, busybox images
	docker.io containerd runc podman conmon busybox-static
	# VM workloads (qemu driver) and the tiny guest the VM tests boot; qemu-img
	# creates the qcow2 copies of local disks a migration copies
	qemu-system-x86 qemu-utils
	# libvirt workloads: the tests run two libvirtd of their own (never the system's)
	libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients
)
# Packages only the benchmark against the alternatives needs (--bench): Podman
# with runc (crun here cannot checkpoint) and conmon, and OpenBSD's netcat to
# copy checkpoint images between hosts by hand; wrk for the API load benchmark.
bench_pkgs=(
	podman runc conmon netcat-openbsd python3 wrk
)

# The web UI is built with Node.js (>= 18): Debian's when the machine has none.
command -v node >/dev/null 2>&1 || build_pkgs+=(nodejs npm)

pkgs=("${build_pkgs[@]}")
[ "$want_test_deps" = 1 ] && pkgs+=("${test_pkgs[@]}")
[ "$want_bench_deps" = 1 ] && pkgs+=("${bench_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
	case "$p" in \#*) continue ;; esac
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
if [ "${#missing[@]}" -gt 0 ]; then
	say "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# policy-rc.d keeps the packages' init scripts (redis-server) from starting
	# services we did not ask for; it is removed again right after.
	policy_created=0
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod +x /usr/sbin/policy-rc.d
		policy_created=1
	fi
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	[ "$policy_created" = 1 ] && rm -f /usr/sbin/policy-rc.d
else
	say "Debian packages: all present"
fi

"$(dirname "$0")/provision-criu.sh"

# The web UI's packages, exactly as web/package-lock.json says (the only step that
# needs the npm registry; builds are offline afterwards). Done again only when
# the lock file changed.
web_dir="$(cd "$(dirname "$0")/.." && pwd)/web"
lock_sum=$(sha256sum "$web_dir/package-lock.json" | cut -d' ' -f1)
stamp="$web_dir/node_modules/.flyt-lock-sha256"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sum" ]; then
	say "installing the web UI's npm packages (npm ci in web/)"
	(cd "$web_dir" && npm ci --no-audit --no-fund --loglevel=error)
	echo "$lock_sum" >"$stamp"
else
	say "web UI npm packages: up to date"
fi

# Lazy (post-copy) migration moves pages through pipes of up to 4 MiB; with the
# default limit of 1 MiB CRIU's lazy-pages daemon fails with "splice: Bad file
# descriptor".
want_pipe=4194304
cur_pipe=$(cat /proc/sys/fs/pipe-max-size)
if [ "$cur_pipe" -lt "$want_pipe" ]; then
	sysctl -q -w fs.pipe-max-size="$want_pipe"
	say "fs.pipe-max-size raised to $want_pipe (was $cur_pipe)"
fi
if [ -d /etc/sysctl.d ] && [ ! -f /etc/sysctl.d/60-flyt.conf ]; then
	printf '# flyt: lazy migration needs pipes of 4 MiB (CRIU lazy-pages)\nfs.pipe-max-size = %s\n' \
		"$want_pipe" >/etc/sysctl.d/60-flyt.conf
fi
# The VM tests' guest: a Debian kernel (downloaded, never installed into /boot)
# and a busybox initramfs, built once into a cache directory.
if [ "$want_test_deps" = 1 ]; then
	"$(dirname "$0")/build-guest.sh" "${FLYT_GUEST_DIR:-/var/cache/flyt/guest}"
fi
say "ready"
