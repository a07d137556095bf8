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
