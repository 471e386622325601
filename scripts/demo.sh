#!/usr/bin/env bash
# Installs what is missing, builds flyt and runs it on this machine: a controller
# (with its SQLite database) and two agents, "a" and "b", each in a network
# namespace of its own joined by a bridge (198.18.0.0/24, addresses used only
# inside this machine), plus a sample workload: a Redis server holding data in
# memory, on host a. Prints what to try next, then runs until Ctrl-C, when it stops
# everything it started and removes the namespaces (workload state is kept in
# the state directory for the next run).
#
# Usage: scripts/demo.sh [--state-dir DIR] [--no-build]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

state=/var/lib/flyt-demo
build=1
while [ $# -gt 0 ]; do
	case "$1" in
	--state-dir)
		state=$2
		shift 2
		;;
	--no-build)
		build=0
		shift
		;;
	-h | --help)
		sed -n '2,11p' "$0"
		exit 0
		;;
	*)
		echo "demo: unknown argument $1" >&2
		exit 2
		;;
	esac
done

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: must run as root (CRIU and network namespaces need it); try: sudo $0" >&2
	exit 1
fi

say() { printf 'demo: %s\n' "$*"; }

scripts/setup.sh
if [ "$build" = 1 ]; then
	if [ ! -f build/build.ninja ]; then
		meson setup build >/dev/null
	fi
	ninja -C build >/dev/null
	say "built flyt in $root/build"
fi
bin=$root/build/src
flyt=$bin/cli/flyt

net=198.18.0
bridge=flytdemo0
controller_url=https://$net.254:7700
mkdir -p "$state"
chmod 700 "$state"
token=$state/token
ca=$state/tls/ca.pem
join=$state/join-token
pids=()

cleanup() {
	trap - EXIT INT TERM
	say "stopping"
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	done
	# the workloads outlive their agents by design; the demo stops them too
	for h in a b; do
		for f in "$state/$h"/workloads/*/workload.json; do
			[ -f "$f" ] || continue
			pid=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' "$f")
			if [ -n "$pid" ] && [ "$pid" -gt 1 ]; then
				kill -KILL "$pid" 2>/dev/null || true
			fi
		done
	done
	for h in a b; do
		ip netns del "flytdemo-$h" 2>/dev/null || true
		ip link del "flytdemo-$h" 2>/dev/null || true
	done
	ip link del "$bridge" 2>/dev/null || true
	say "stopped; state kept in $state"
}
trap cleanup EXIT INT TERM

# two hosts on one machine: network namespaces joined by a bridge
ip link add "$bridge" type bridge 2>/dev/null || true
ip addr replace "$net.254/24" dev "$bridge"
ip link set "$bridge" up
i=1
for h in a b; do
	ns=flytdemo-$h
	ip netns add "$ns" 2>/dev/null || true
	if ! ip link show "flytdemo-$h" >/dev/null 2>&1; then
		ip link add "flytdemo-$h" type veth peer name eth0 netns "$ns"
	fi
	ip link set "flytdemo-$h" master "$bridge" up
	ip -n "$ns" addr replace "$net.$i/24" dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" link set lo up
	i=$((i + 1))
done

# TLS everywhere: the controller creates the cluster CA in $state/tls and a join
# token the agents enrol with (their certificates stay in their state directories)
"$bin/controller/flyt-controller" --listen "$net.254:7700" --db "$state/controller.db" --token-file "$token" \
	--tls-dir "$state/tls" --join-token-out "$join" >>"$state/controller.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
	[ -s "$token" ] && [ -s "$ca" ] && curl -sf --cacert "$ca" "$controller_url/api/v1/health" >/dev/null 2>&1 && break
	sleep 0.1
done
curl -sf --cacert "$ca" "$controller_url/api/v1/health" >/dev/null || {
	say "the controller did not start; see $state/controller.log"
	exit 1
}

i=1
for h in a b; do
	mkdir -p "$state/$h"
	nsenter --net="/run/netns/flytdemo-$h" "$bin/flytd" --name "$h" --listen "$net.$i:7800" \
		--state-dir "$state/$h" --join-token-file "$join" --controller "$controller_url" \
		>>"$state/agent-$h.log" 2>&1 &
	pids+=($!)
	i=$((i + 1))
done

export FLYT_CONTROLLER=$controller_url FLYT_TOKEN_FILE=$token FLYT_CA_FILE=$ca
for _ in $(seq 100); do
	online=$("$flyt" --json host ls 2>/dev/null | grep -c '"online"' || true)
	[ "$online" -ge 2 ] && break
	sleep 0.1
done
"$flyt" host ls

if ! "$flyt" workload show db >/dev/null 2>&1; then
	"$flyt" workload create --kind process --host a --name db -- \
		redis-server --port 6379 --save "" --appendonly no --protected-mode no
	for _ in $(seq 100); do
		nsenter --net=/run/netns/flytdemo-a redis-cli -h "$net.1" ping >/dev/null 2>&1 && break
		sleep 0.1
	done
	nsenter --net=/run/netns/flytdemo-a redis-cli -h "$net.1" mset greeting "hello from flyt" \
		answer 42 >/dev/null
fi
"$flyt" workload ls

cat <<EOF

flyt is running: controller on $controller_url (web page, REST API under /api/v1/),
agents "a" ($net.1) and "b" ($net.2), and a Redis server "db" holding two keys.
Everything speaks TLS with the cluster CA in $ca: a browser warns about
the page until you import that file as an authority (or accept the warning once);
sign in with the token in $token.
In another terminal, as root:

  export FLYT_CONTROLLER=$controller_url FLYT_TOKEN_FILE=$token FLYT_CA_FILE=$ca
  alias flyt=$flyt
  flyt host ls                              # the two hosts and what they can do
  flyt workload show db                     # where db runs, its pid and memory
  flyt migrate db --to b --wait             # live-migrate it; prints downtime, time, bytes
  nsenter --net=/run/netns/flytdemo-a redis-cli -h $net.2 get greeting
  flyt migrate db --to a --mode stop-copy --wait
  flyt migration ls                         # history with downtime and bytes
  flyt events                               # what happened

Logs: $state/*.log. Press Ctrl-C here to stop everything.
EOF
wait
