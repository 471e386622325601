#!/usr/bin/env bash
# Builds the tiny VM guest the VM tests and benchmarks boot: a Debian kernel
# (downloaded as a package and unpacked, never installed into /boot) and a
# busybox-static initramfs whose init prints a boot id once, then a counter
# forever, on the serial console. With a disk (/dev/vda) it prints the first
# line of that disk once, and writes "count N" at byte 4096 of it each time it
# counts (then syncs), so that tests can check a disk copied during a migration.
#
# Usage: scripts/build-guest.sh [DIR]   (default: /var/cache/flyt/guest)
# Writes DIR/vmlinuz and DIR/initrd.img; does nothing when both exist and were
# built by this version of the script.
set -euo pipefail

version=4
dir=${1:-/var/cache/flyt/guest}
if [ -s "$dir/vmlinuz" ] && [ -s "$dir/initrd.img" ] && [ "$(cat "$dir/version" 2>/dev/null)" = "$version" ]; then
	exit 0
fi
mkdir -p "$dir"
work=$(mktemp -d "$dir/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT

busybox=/bin/busybox
if [[ "$(LC_ALL=C ldd "$busybox" 2>&1 || true)" != *"not a dynamic"* ]]; then
	echo "build-guest: $busybox is not static: install busybox-static" >&2
	exit 1
fi

# the newest versioned generic kernel package the archive offers
pkg=$(apt-cache search --names-only '^linux-image-[0-9.]+-[0-9]+-amd64$' | awk '{print $1}' | sort -V | tail -1)
if [ -z "$pkg" ]; then
	echo "build-guest: no linux-image-*-amd64 package found (run apt-get update)" >&2
	exit 1
fi
(cd "$work" && apt-get download -qq "$pkg" >/dev/null)
dpkg -x "$work"/linux-image-*.deb "$work/kernel"
cp "$(find "$work/kernel/boot" -name "vmlinuz-*" | head -1)" "$work/vmlinuz"

root="$work/root"
mkdir -p "$root/bin" "$root/proc" "$root/dev" "$root/sys" "$root/tmp" "$root/modules"
# virtio block devices are modules in Debian's kernel: the init loads them
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk; do
	ko=$(find "$work/kernel/lib/modules" -name "$m.ko" | head -1)
	if [ -z "$ko" ]; then
		echo "build-guest: module $m not found in $pkg" >&2
		exit 1
	fi
	cp "$ko" "$root/modules/"
done
cp "$busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
cat >"$root/init" <<'INIT'
#!/bin/sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t devtmpfs dev /dev 2>/dev/null
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk; do
	insmod /modules/$m.ko 2>/dev/null
done
n=0
while [ ! -b /dev/vda ] && [ $n -lt 5 ]; do
	sleep 0.1
	n=$((n + 1))
done
echo "FLYT-BOOT $(cat /proc/sys/kernel/random/uuid)"
if [ -b /dev/vda ]; then
	echo "FLYT-DISK $(head -c 64 /dev/vda | head -n 1)"
fi
n=0
while true; do
	n=$((n + 1))
	echo "FLYT-COUNT $n"
	if [ -b /dev/vda ]; then
		printf 'count %d\n' "$n" | dd of=/dev/vda bs=512 seek=8 conv=notrunc 2>/dev/null
		sync
	fi
	sleep 0.2
done
INIT
chmod 755 "$root/init"
(cd "$root" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1 >"$work/initrd.img")
mv "$work/vmlinuz" "$dir/vmlinuz.tmp" && mv "$work/initrd.img" "$dir/initrd.img"
mv "$dir/vmlinuz.tmp" "$dir/vmlinuz"
echo "$version" >"$dir/version"
echo "build-guest: $pkg kernel and busybox initramfs in $dir"
