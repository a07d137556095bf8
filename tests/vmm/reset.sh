#!/bin/sh
# A guest reset (0xcf9, as Linux's reboot does) reloads the kernel and boots
# the guest again, in the same vmm process.
. "$(dirname "$0")/../common.sh"
need_kvm

name=reset-test-$$
bg_vmm vm run -v --cpus 2 --memory 64M --kernel "$GUESTS/fault.elf" --cmdline "mode=reset" \
	--serial "file:$T/serial" --control "$name"
LOG=$T/vm.err
wait_for_line "$T/vm.err" "reset 2\)" 30 || fail "the guest did not reset twice"
[ "$(grep -c 'fault: mode=reset' "$T/serial")" -ge 2 ] || fail "the guest did not boot again"
"$VMM" ctl "$name" quit >/dev/null || fail "quit"
wait "$vm_pid"; rc=$?
[ "$rc" -eq 0 ] || fail "exit status $rc after quit"
pass "reset reboots the guest"
