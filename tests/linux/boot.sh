#!/bin/sh
# Debian's own kernel (linux-image-amd64) boots in the vmm with the stock
# drivers and only console=ttyS0 on its command line: the ACPI tables name
# the virtio-mmio disk (an ext4 image made here with mkfs.ext4 -d, found as
# /dev/vda), the CMOS RTC probes, no kernel warning and no ACPI error.
# Boot 1: the init powers off from inside: the vmm exits 0.  Boot 2, with
# Debian's kernel for cloud VMs (linux-image-cloud-amd64: the same virtio,
# ACPI and RTC drivers, no hardware ones): vmm ctl shutdown presses the
# power button: the init shuts down cleanly.
# Reports the time to the init's ready line and the idle CPU of the booted
# guest (figures, not checks: in a nested VM they mean little).
. "$(dirname "$0")/../common.sh"
. "$(dirname "$0")/linux_kernel.sh"
need_kvm
linux_kernel cloud
CLOUD_KERNEL=$KERNEL CLOUD_KVER=$KVER
make_initramfs "$T/initrd-cloud"
linux_kernel
make_initramfs "$T/initrd"

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# check_log FILE: what every boot's console must (not) show.
check_log() {
	! linux_complaints "$1" || fail "the kernel complained at boot"
	grep -aq "ACPI: DSDT" "$1" || fail "the kernel found no DSDT"
	grep -aq "rtc_cmos.*registered as rtc0" "$1" || fail "rtc_cmos did not register"
	! grep -aq "rtc_cmos.*broken or not accessible" "$1" || fail "rtc_cmos: broken"
	grep -aq "virtio_blk virtio0: \[vda\]" "$1" || fail "no virtio disk vda"
	grep -aq "hasvc-linux: disk hello from ext4" "$1" || fail "the ext4 disk was not read"
	! grep -aq "hasvc-linux: FAILED" "$1" || fail "the guest's init failed"
}

# boot ID ACTION [vmm options]: start the guest; waits for the ready line.
boot() {
	_id=$1 _action=$2; shift 2
	make_disk "$T/$_id.img" "$_action"
	_t0=$(now_ms)
	bg_vmm "$_id" run --kernel "$KERNEL" --initrd "$INITRD" --memory 512M \
		--disk "$T/$_id.img" --cmdline "console=ttyS0" "$@"
	LOG=$T/$_id.out
	wait_for_line "$T/$_id.out" "hasvc-linux: ready" 300 ||
		fail "$_id: no ready line in $(secs 300) s (vmm: $(cat "$T/$_id.err"))"
	ready_ms=$(( $(now_ms) - _t0 ))
}

# Boot 1: poweroff from inside.
INITRD=$T/initrd
boot vm1 poweroff
pass "Debian $KVER reached the init's ready line in $ready_ms ms"
wait_exit "$vm1_pid" 120 || fail "vm1 still runs $(secs 120) s after the ready line"
[ "$rc" -eq 0 ] || fail "vm1: exit status $rc after poweroff"
grep -aq "hasvc-linux: clean shutdown: poweroff from inside" "$T/vm1.out" ||
	fail "vm1: no clean shutdown line"
grep -q "ACPI S5" "$T/vm1.err" || fail "vm1: the vmm did not see S5"
check_log "$T/vm1.out"
pass "poweroff inside the guest: ACPI S5, vmm exit status 0, no warning, rtc_cmos, vda"

# Boot 2: the cloud kernel; vmm ctl shutdown, after measuring the idle guest.
KERNEL=$CLOUD_KERNEL KVER=$CLOUD_KVER INITRD=$T/initrd-cloud
name=linux-boot-$$
boot vm2 wait --control "$name"
pass "Debian $KVER reached the init's ready line in $ready_ms ms"
wait_for_line "$T/vm2.out" "hasvc-linux: waiting for the power button" 60 ||
	fail "vm2: the init does not wait for the power button"
tck=$(getconf CLK_TCK)
cpu() { awk '{ print $14 + $15 }' "/proc/$vm2_pid/stat"; }
c0=$(cpu) w0=$(now_ms)
sleep 10 # the measurement window, not a synchronisation
c1=$(cpu) w1=$(now_ms)
idle=$(awk -v c=$((c1 - c0)) -v t="$tck" -v w=$((w1 - w0)) 'BEGIN { printf "%.1f", 100 * c / t / (w / 1000) }')
pass "idle guest: $idle% of a host core over $(( (w1 - w0) / 1000 )) s"
"$VMM" ctl "$name" shutdown --timeout "$(secs 120)" || fail "vmm ctl shutdown failed"
wait_exit "$vm2_pid" 150 || fail "vm2 still runs after the shutdown timeout"
[ "$rc" -eq 0 ] || fail "vm2: exit status $rc after shutdown"
grep -aq "hasvc-linux: power button pressed" "$T/vm2.out" || fail "vm2: the guest saw no power button"
grep -aq "hasvc-linux: clean shutdown: power button" "$T/vm2.out" || fail "vm2: no clean shutdown"
grep -aq "reboot: Power down" "$T/vm2.out" || fail "vm2: the kernel did not power down"
! grep -q "did not power off" "$T/vm2.err" || fail "vm2: quit by the timeout, not by the guest"
check_log "$T/vm2.out"
pass "vmm ctl shutdown: power button, clean shutdown in the guest, vmm exit status 0"
