#!/bin/sh
# mkroot.sh IMAGE IP PORT [SIZE_MIB]: the ext4 root file system of the Linux
# test guest, made from Debian's busybox-static, counterd (built by make) and
# the rootfs/ skeleton: busybox init, the network at IP, counterd on UDP PORT
# keeping its durable log in /var/lib/counterd/log; MKROOT_MODULES (below),
# modules its rc loads.  Nothing is downloaded;
# no image is kept in the repository.
set -eu
[ $# -ge 3 ] || { echo "usage: mkroot.sh IMAGE IP PORT [SIZE_MIB]" >&2; exit 2; }
img=$1 ip=$2 port=$3 size=${4:-64}
here=$(cd "$(dirname "$0")" && pwd)
build=${LINUX_GUEST_BUILD:-tests/guests/linux}
busybox=$(command -v busybox) || { echo "mkroot.sh: busybox (busybox-static) is missing" >&2; exit 1; }
[ -x "$build/counterd" ] || { echo "mkroot.sh: $build/counterd is not built (make)" >&2; exit 1; }
command -v mkfs.ext4 >/dev/null || { echo "mkroot.sh: mkfs.ext4 (e2fsprogs) is missing" >&2; exit 1; }

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# /var/log and /run as on any server: busybox acpid (the power button)
# exits at start when it cannot open /var/log/acpid.log.
mkdir -p "$dir/bin" "$dir/sbin" "$dir/proc" "$dir/sys" "$dir/dev" "$dir/tmp" \
	"$dir/var/lib/counterd" "$dir/var/log" "$dir/run"
cp -a "$here/rootfs/." "$dir/"
cp "$busybox" "$dir/bin/busybox"
for a in $("$busybox" --list); do
	[ -e "$dir/bin/$a" ] || ln -s busybox "$dir/bin/$a"
done
ln -s ../bin/busybox "$dir/sbin/init"
cp "$build/counterd" "$dir/bin/counterd"
# MKROOT_MODULES: kernel modules (.ko files) the root's rc loads at start,
# as a server's udev would: the power button's when the initramfs that
# mounted the root did not load them (Debian's own, initramfs-tools').
if [ -n "${MKROOT_MODULES:-}" ]; then
	mkdir -p "$dir/lib/modules/rc"
	n=0
	for m in $MKROOT_MODULES; do
		case $m in *.ko) ;; *) echo "mkroot.sh: $m is not a .ko file" >&2; exit 1 ;; esac
		n=$((n + 1))
		cp "$m" "$dir/lib/modules/rc/$(printf %02d $n)-${m##*/}"
	done
fi
printf 'IP=%s\nPORT=%s\n' "$ip" "$port" >"$dir/etc/guest.conf"
rm -f "$img"
mkfs.ext4 -q -F -L guestroot -E root_owner=0:0 -d "$dir" "$img" "${size}M"
