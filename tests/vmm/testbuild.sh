#!/bin/sh
# A build has the fault-injection hooks exactly when configure was asked for
# them (--enable-fault-injection): a default build carries no code that
# damages a replication stream on request, and says it is no test build.
. "$(dirname "$0")/../common.sh"

hooks=$(grep -ac 'VMM_TEST_' "$VMM")
"$VMM" --version >"$T/version" || fail "vmm --version failed"
case ${FAULT_INJECTION:-} in
no)
	[ "$hooks" -eq 0 ] || fail "a default build holds the test hooks (VMM_TEST_* in $VMM)"
	grep -q "fault injection" "$T/version" && fail "a default build says: $(cat "$T/version")"
	pass "default build: no fault-injection hooks" ;;
yes)
	[ "$hooks" -gt 0 ] || fail "--enable-fault-injection, yet no VMM_TEST_* hook in $VMM"
	grep -q "test build: fault injection compiled in" "$T/version" ||
		fail "a test build does not say so: $(cat "$T/version")"
	pass "test build: the hooks are there and vmm --version says so" ;;
*)
	fail "FAULT_INJECTION is '${FAULT_INJECTION:-}', neither yes nor no (make check or the build's Makefile sets it)" ;;
esac
