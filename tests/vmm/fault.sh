#!/bin/sh
# Guests that fail: a clear message and the documented exit status, no crash.
. "$(dirname "$0")/lib.sh"
need_kvm

check() { # MODE WANT_RC REGEX
	run_vmm 30 run --memory 64M --kernel "$GUESTS/fault.elf" --cmdline "$1"
	[ "$rc" -eq "$2" ] || fail "$1: exit status $rc, want $2"
	grep -Eq "$3" "$T/err" || fail "$1: no message matching '$3'"
	pass "$1 -> exit $2"
}
check "mode=assert" 3 "guest assertion failed.*fault.c"
check "mode=exception" 3 "guest assertion failed"
check "mode=triplefault" 4 "triple-faulted"
check "mode=poweroff status=7" 7 "powered off with status 7"

# An instruction the host KVM cannot emulate (lock cmpxchg16b in ring 0 on
# these nested machines): exit 4 with the reason. Hardware runs it natively.
run_vmm 30 run --memory 64M --kernel "$GUESTS/fault.elf" --cmdline "mode=emulfail"
if [ "$rc" -eq 2 ] && grep -q "no fault" "$T/out"; then
	echo "note: this host runs cmpxchg16b in ring 0 natively: no emulation failure to see"
else
	[ "$rc" -eq 4 ] || fail "emulfail: exit status $rc, want 4"
	grep -q "could not emulate" "$T/err" || fail "emulfail: no emulation-failure message"
	pass "emulation failure -> exit 4"
fi
