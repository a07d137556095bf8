# Helpers for the tests that boot Debian's own Linux kernel (sourced after
# tests/vmm/lib.sh).  Everything is made at test time from Debian packages:
# the kernel and modules from linux-image-amd64, the userland from
# busybox-static, the disk with mkfs.ext4 -d.

LINUX_DIR=${LINUX_DIR:-$top_srcdir/tests/linux}

# linux_kernel [cloud]: sets KVER and KERNEL (linux-image-amd64's kernel,
# else the newest installed; with "cloud", linux-image-cloud-amd64's), or
# fails.
linux_kernel() {
	_pkg=linux-image-${1:+$1-}amd64
	KVER=$(dpkg-query -W -f='${Depends}' "$_pkg" 2>/dev/null |
		sed -n 's/.*linux-image-\([0-9][^ ,]*\).*/\1/p')
	[ -n "$KVER" ] || [ -n "${1:-}" ] || KVER=$(ls /lib/modules 2>/dev/null | grep -v cloud | sort -V | tail -n 1)
	KERNEL=/boot/vmlinuz-$KVER
	[ -n "$KVER" ] && [ -r "$KERNEL" ] && [ -d "/lib/modules/$KVER" ] ||
		fail "no Debian kernel with its modules (apt-get install $_pkg)"
}

# The modules the init loads, in load order; LINUX_EXTRA_MODULES, more of
# them (tests/bench/bench_linux.sh: virtio-pci for its QEMU q35 peer).
LINUX_MODULES="virtio_ring virtio virtio_mmio virtio_blk failover net_failover virtio_net
	crc16 mbcache jbd2 crc32c_generic ext4 button evdev ${LINUX_EXTRA_MODULES:-}"

# module_ko NAME OUT: kernel $KVER's module NAME, uncompressed, at OUT;
# returns 1 when it is built in; fails the test when it is missing.
module_ko() {
	_f=$(modinfo -k "$KVER" -n "$1" 2>/dev/null) || fail "module $1 is not in kernel $KVER"
	case $_f in
	*.ko) cp "$_f" "$2" ;;
	*.ko.xz) xz -dc "$_f" >"$2" ;;
	*.ko.zst) zstd -qdc "$_f" >"$2" ;;
	"(builtin)") return 1 ;;
	*) fail "module $1: unexpected file $_f" ;;
	esac || fail "cannot copy module $1"
}

# make_initramfs FILE: busybox, the modules and tests/linux/init.
make_initramfs() {
	_d=$T/initrd.d
	mkdir -p "$_d/bin" "$_d/modules" || fail "cannot make $_d"
	[ -x /bin/busybox ] || fail "/bin/busybox is missing (apt-get install busybox-static)"
	cp /bin/busybox "$_d/bin/busybox" && cp "$LINUX_DIR/init" "$_d/init" || fail "cannot copy busybox or init"
	: >"$_d/modules.list"
	for _m in $LINUX_MODULES; do
		module_ko "$_m" "$_d/modules/$_m.ko" || continue
		echo "$_m" >>"$_d/modules.list"
	done
	(cd "$_d" && find . | /bin/busybox cpio -o -H newc 2>/dev/null) >"$1" ||
		fail "cannot make the initramfs"
}

# make_disk FILE ACTION: a 16 MiB ext4 image holding /hello and /action.
make_disk() {
	_s=$T/disk.d
	rm -rf "$_s" && mkdir -p "$_s" || fail "cannot make $_s"
	echo "hello from ext4" >"$_s/hello"
	echo "$2" >"$_s/action"
	rm -f "$1"
	mkfs.ext4 -q -F -d "$_s" "$1" 16M >/dev/null 2>&1 || fail "mkfs.ext4 -d failed"
}

# linux_complaints FILE: prints the kernel's warnings, oopses, lockups,
# clocksource and ACPI complaints on the console FILE; true if there are
# some.  In the nested VM only (HASVC_NESTED=1) three are left out, each by
# its signature, all the emulator's (docs/testing.md, "The emulator's own
# limits"):
# - the emulated SVM does not intercept the guest's XSETBV, so KVM's CPUID
#   0xD.0 EBX still gives the x87+SSE size 0x240 while the guest enabled
#   0x207, and fpu__init_system_xstate warns;
# - the clocksource watchdog finds the TSC off from kvm-clock by about 1%
#   and drops the TSC, kvm-clock staying the clocksource: the nested KVM
#   scales kvm-clock by its own TSC calibration, made on the emulator.
#   What the check is there for (the guest's time right after a stop) is
#   checked by the wall clock instead (linux_guest.sh: clock_right);
# - the clocksource watchdog gives the TSC up because its own two reads of
#   kvm-clock, taken with interrupts off around one TSC read, came more
#   than its limit (about 100 us) apart three times in a row: the vCPU
#   thread was descheduled in between, which on the nested VM's one
#   emulated CPU (shared by the vCPU and both vmms' migration threads)
#   happens under post-copy (seen once in CI: 203 us).
# Any other complaint, or these with another signature, still counts.
linux_complaints() {
	_skip='^$'
	if [ "${HASVC_NESTED:-0}" = 1 ]; then
		grep -aq 'CPUID\[0d, 00\]: eax=00000207 ebx=00000240' "$1" &&
			_skip="$_skip|at arch/x86/kernel/fpu/xstate.c:[0-9]* fpu__init_system_xstate"
		grep -aq "clocksource: *'kvm-clock' (not 'tsc') is current clocksource" "$1" &&
			_skip="$_skip|clocksource: timekeeping watchdog on CPU[0-9]*: Marking clocksource 'tsc' as unstable"
		_skip="$_skip|clocksource: timekeeping watchdog on CPU[0-9]*: kvm-clock read-back delay of [0-9]*ns, attempt [0-9]*, marking unstable"
	fi
	grep -a -E "WARNING:|BUG:|Oops|soft lockup|clocksource.*unstable|ACPI BIOS Error|ACPI Error" "$1" |
		grep -v -E "$_skip"
}
