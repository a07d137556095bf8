#!/bin/sh
# Guests that fail: a clear message and the documented exit status, no crash.
# Their test calls (assertions) go through the test-call port: --test-port.
. "$(dirname "$0")/../common.sh"
need_kvm

check() { # MODE WANT_RC REGEX
	run_vmm 30 run --test-port --memory 64M --kernel "$GUESTS/fault.elf" --cmdline "$1"
	[ "$rc" -eq "$2" ] || fail "$1: exit status $rc, want $2"
	grep -Eq "$3" "$T/err" || fail "$1: no message matching '$3'"
	pass "$1 -> exit $2"
}
check "mode=assert" 3 "guest assertion failed.*fault.c"
check "mode=exception" 3 "guest assertion failed"
check "mode=triplefault" 4 "triple-faulted"
check "mode=poweroff status=7" 7 "powered off with status 7"

# Without --test-port the port does not exist: the assertion's test call
# does nothing, and the guest's own power-off (status 3) ends the run.
run_vmm 30 run --memory 64M --kernel "$GUESTS/fault.elf" --cmdline "mode=assert"
[ "$rc" -eq 3 ] || fail "assert without the test port: exit status $rc, want 3"
grep -q "guest assertion failed" "$T/err" && fail "the test port answered without --test-port: $(cat "$T/err")"
grep -q "powered off with status 3" "$T/err" || fail "no power-off after the ignored test call: $(cat "$T/err")"
pass "no --test-port: the test call does nothing"

# An instruction the host KVM cannot emulate (lock cmpxchg16b in ring 0 on
# these nested machines): exit 4 with the reason. Hardware runs it natively.
run_vmm 30 run --test-port --memory 64M --kernel "$GUESTS/fault.elf" --cmdline "mode=emulfail"
if [ "$rc" -eq 2 ] && grep -q "no fault" "$T/out"; then
	echo "note: this host runs cmpxchg16b in ring 0 natively: no emulation failure to see"
else
	[ "$rc" -eq 4 ] || fail "emulfail: exit status $rc, want 4"
	grep -q "could not emulate" "$T/err" || fail "emulfail: no emulation-failure message"
	pass "emulation failure -> exit 4"
fi
