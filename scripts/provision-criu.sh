#!/usr/bin/env bash
# Provisions CRIU >= 4.2 on Debian 12 without touching the system's libc.
#
# Why: bookworm's criu 3.17 fails "criu check" on current kernels (vDSO bounds) and
# CRIU 4.1 cannot dump INET sockets on kernels >= 6.16. Debian's next release ships
# criu 4.2.x. We fetch that package and the three libraries it needs newer versions
# of (libc6, libnet9, libnl-3-200) with apt, from the machine's own configured
# mirror, unpack them into a private prefix, and run criu through that prefix's
# dynamic loader. Nothing is installed into the system's package database.
#
# Result: PREFIX (default /usr/local/lib/flyt/criu) and a wrapper WRAPPER (default
# /usr/local/sbin/criu), which comes before /usr/sbin on root's PATH so that runc,
# docker and podman find it too.
#
# Environment: FLYT_CRIU_PREFIX, FLYT_CRIU_WRAPPER, FLYT_CRIU_SUITE (default forky).
set -euo pipefail

prefix=${FLYT_CRIU_PREFIX:-/usr/local/lib/flyt/criu}
wrapper=${FLYT_CRIU_WRAPPER:-/usr/local/sbin/criu}
suite=${FLYT_CRIU_SUITE:-forky}
min_major=4
min_minor=2

say() { printf 'provision-criu: %s\n' "$*"; }

criu_ok() {
	local v
	v=$("$1" --version 2>/dev/null | sed -n 's/^Version: *//p') || return 1
	[ -n "$v" ] || return 1
	local major=${v%%.*} rest=${v#*.}
	local minor=${rest%%.*}
	[ "$major" -gt "$min_major" ] ||
		{ [ "$major" -eq "$min_major" ] && [ "$minor" -ge "$min_minor" ]; }
}

if [ -x "$wrapper" ] && criu_ok "$wrapper"; then
	say "CRIU $("$wrapper" --version | sed -n 's/^Version: *//p') already provisioned at $wrapper"
	exit 0
fi

work=$(mktemp -d /var/tmp/flyt-criu.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs"

# Derive a sources file for $suite from the machine's own Debian mirror
# configuration: same URIs and keyring, other suite, no security entry.
src="$work/$suite.sources"
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
	awk -v suite="$suite" '
		BEGIN { RS = ""; ORS = "\n\n" }
		/debian-security/ { next }
		/Types:/ {
			n = split($0, lines, "\n"); out = ""
			for (i = 1; i <= n; i++) {
				if (lines[i] ~ /^Suites:/) lines[i] = "Suites: " suite
				if (lines[i] ~ /^#/) continue
				out = out lines[i] "\n"
			}
			printf "%s\n", out
			exit
		}' /etc/apt/sources.list.d/debian.sources >"$src"
elif [ -f /etc/apt/sources.list ]; then
	awk -v suite="$suite" '$1 == "deb" && $0 !~ /security/ { $3 = suite; print; exit }' \
		/etc/apt/sources.list >"$work/$suite.list"
	src="$work/$suite.list"
else
	say "cannot find the machine's Debian apt sources" >&2
	exit 1
fi
[ -s "$src" ] || {
	say "could not derive a $suite source from the apt configuration" >&2
	exit 1
}

apt_opts=(
	-o "Dir::State::Lists=$work/lists"
	-o "Dir::Cache=$work/cache"
	-o "Dir::Etc::SourceParts=$work/none"
	-o "APT::Sandbox::User=root"
	-o "Debug::NoLocking=1"
)
if [[ "$src" == *.sources ]]; then
	mkdir -p "$work/parts"
	cp "$src" "$work/parts/"
	apt_opts+=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$work/parts")
else
	apt_opts+=(-o "Dir::Etc::SourceList=$src")
fi

say "fetching criu from Debian $suite"
apt-get "${apt_opts[@]}" -qq update
(cd "$work/debs" && apt-get "${apt_opts[@]}" -qq download criu libc6 libnet9 libnl-3-200)

rm -rf "$prefix.new"
mkdir -p "$prefix.new"
for deb in "$work"/debs/*.deb; do
	dpkg-deb -x "$deb" "$prefix.new"
done
rm -rf "$prefix"
mv "$prefix.new" "$prefix"

mkdir -p "$(dirname "$wrapper")"
cat >"$wrapper.new" <<EOF
#!/bin/sh
# CRIU from Debian $suite, run with its own libc (installed by flyt's scripts/provision-criu.sh)
exec $prefix/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 --library-path $prefix/usr/lib/x86_64-linux-gnu $prefix/usr/sbin/criu "\$@"
EOF
chmod 755 "$wrapper.new"
mv "$wrapper.new" "$wrapper"

if ! criu_ok "$wrapper"; then
	say "provisioned criu does not report version >= $min_major.$min_minor:" >&2
	"$wrapper" --version >&2 || true
	exit 1
fi
say "CRIU $("$wrapper" --version | sed -n 's/^Version: *//p') installed at $wrapper"
if ! "$wrapper" check >/dev/null 2>&1; then
	say "warning: 'criu check' reports problems on this kernel:" >&2
	"$wrapper" check 2>&1 | tail -5 >&2 || true
fi
