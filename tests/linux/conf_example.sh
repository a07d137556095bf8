#!/bin/sh
# conf/hasvc.conf's example VM web1 boots as written there, only its site's
# paths replaced: its memory, vCPUs, MAC and kernel command line (read from
# the file), Debian's kernel for VMs (linux-image-cloud-amd64) with Debian's
# own initramfs (initramfs-tools' /boot/initrd.img-VERSION, not the tests'
# busybox one) and an ext4 root on its virtio disk.  That initramfs finds
# the disk only through the vmm's ACPI tables (udev loads virtio_mmio for
# the DSDT's LNRO0005 devices, then virtio_blk), mounts root= and runs the
# root's init.  Checks: the service answers over the NIC with web1's MAC,
# the kernel logged no complaint (web1's "quiet" hides its warnings, level
# 4, from the console: boot.sh checks those, with the whole log), the power
# button (vmm ctl shutdown) powers it off cleanly (vmm exit status 0), and
# e2fsck finds the root clean.
. "$(dirname "$0")/../common.sh"
. "$top_srcdir/tests/migration/migration_helpers.sh"
. "$top_srcdir/tests/checkpoint/checkpoint_helpers.sh"
. "$top_srcdir/tests/virtio/net_topology.sh"
. "$top_srcdir/tests/linux/linux_guest.sh"
need_kvm
need_net
need_linux

conf=$top_srcdir/conf/hasvc.conf
# web1 KEY: the value of KEY in conf/hasvc.conf's [vm web1] section.
web1() {
	awk -v k="$1" '/^\[/ { s = ($0 == "[vm web1]") }
		s && $1 == k && $2 == "=" { sub(/^[^=]*= */, ""); print; exit }' "$conf"
}
cmdline=$(web1 cmdline) mem=$(web1 memory) cpus=$(web1 vcpus) mac=$(web1 mac)
[ -n "$cmdline" ] && [ -n "$mem" ] && [ -n "$cpus" ] && [ -n "$mac" ] ||
	fail "conf/hasvc.conf: web1 lacks cmdline, memory, vcpus or mac"
case $(web1 kernel) in */vmlinuz) ;; *) fail "web1's kernel is not a Debian vmlinuz: $(web1 kernel)" ;; esac
case $(web1 initrd) in */initrd.img) ;; *) fail "web1's initrd is not an initramfs-tools image: $(web1 initrd)" ;; esac

linux_kernel cloud
initrd=/boot/initrd.img-$KVER
[ -r "$initrd" ] || fail "$initrd is missing: Debian's initramfs-tools makes it with the kernel package"
# Debian's initramfs loads only what it needs to mount the root; on a Debian
# server the root's udev loads the rest.  This root is busybox's: it loads
# the power button's modules itself.
mods=""
for m in button evdev; do
	f=$(modinfo -k "$KVER" -n "$m") || fail "module $m is not in kernel $KVER"
	case $f in
	*.ko) mods="$mods $f" ;;
	*.ko.xz) xz -dc "$f" >"$T/$m.ko" && mods="$mods $T/$m.ko" ;;
	*.ko.zst) zstd -qdc "$f" >"$T/$m.ko" && mods="$mods $T/$m.ko" ;;
	*) fail "module $m: unexpected file $f" ;;
	esac
done
MKROOT_MODULES=$mods
export MKROOT_MODULES
linux_root "$T/web1.img"
bg_nvmm web1 run --kernel "$KERNEL" --initrd "$initrd" --cmdline "$cmdline" \
	--memory "$mem" --cpus "$cpus" --disk "$T/web1.img" \
	--net "tap=ntap0,bridge=nbr0,mac=$mac" --serial "file:$T/web1.ser" --control "web1-$$"
linux_ready web1
udp --count 5 --timeout 1000 --duration "$(secs 20)" >"$T/warm" ||
	fail "web1: no answer: $(cat "$T/warm")"
inc ip neigh show "$GUEST_IP" | grep -q "lladdr $mac" ||
	fail "the guest does not answer with web1's MAC $mac: $(inc ip neigh show)"
pass "web1 ($mem, $cpus vCPUs, \"$cmdline\", Debian $KVER with its initrd.img) answers as $mac"
linux_shutdown web1
linux_clean web1
fsck_clean "$T/web1.img"
pass "web1 shut down by its power button (vmm exit status 0), no kernel complaint, its root clean"
