#!/bin/sh
# vmm ctl NAME shutdown: the power button is pressed, and a guest that does
# not power off (the counter test guest has no ACPI) is quit after the
# timeout, with exit status 0 and the reason in the log; bad --timeout
# values are usage errors.
. "$(dirname "$0")/../common.sh"
need_kvm

name=shutdown-test-$$
for bad in 0 -3 abc 86401; do
	"$VMM" ctl "$name" shutdown --timeout "$bad" >"$T/out" 2>&1; rc=$?
	[ "$rc" -eq 2 ] && grep -q "timeout" "$T/out" || fail "--timeout $bad: rc $rc, $(cat "$T/out")"
done
"$VMM" ctl "$name" status --timeout 3 >"$T/out" 2>&1; rc=$?
[ "$rc" -eq 2 ] || fail "--timeout with status: rc $rc"
pass "bad --timeout values refused"

bg_vmm vm run --memory 64M --kernel "$GUESTS/counter.elf" --serial "unix:$T/s" --control "$name"
LOG=$T/vm.err
python3 "$top_srcdir/tests/vmm/serial_client.py" "$T/s" --expect "counter ready" >/dev/null ||
	fail "the counter guest did not start"
start=$(date +%s)
"$VMM" ctl "$name" shutdown --timeout 2 || fail "shutdown refused"
wait_exit "$vm_pid" 20 || fail "the vmm still runs 20 s after shutdown --timeout 2"
end=$(date +%s)
[ "$rc" -eq 0 ] || fail "exit status $rc after the shutdown timeout"
grep -q "power button pressed" "$LOG" || fail "no power button press in the log"
grep -q "did not power off after the power button" "$LOG" || fail "the timeout is not in the log"
[ $((end - start)) -ge 1 ] || fail "quit after $((end - start)) s, before the 2 s timeout"
pass "a guest that ignores the power button is quit after the timeout ($((end - start)) s)"
