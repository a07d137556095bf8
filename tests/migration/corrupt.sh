#!/bin/sh
# A byte of the final state flipped in flight (VMM_TEST_CORRUPT_MIGRATION,
# a test-build hook): the destination hashes the state as it arrives,
# refuses it at its end frame and never runs it; the source guest carries
# on.  The byte is one of the last page's data: framing and records stay
# valid, so only the digest can catch it.
. "$(dirname "$0")/../common.sh"
. "$(dirname "$0")/migration_helpers.sh"
need_kvm
# As tests/checkpoint/corrupt.sh: without the hook nothing is damaged and
# the test would prove nothing, so it fails on such a build rather than skip.
[ "${FAULT_INJECTION:-}" = yes ] ||
	fail "this build has no fault injection (configure --enable-fault-injection, as setup.sh does): VMM_TEST_CORRUPT_MIGRATION would do nothing"
"$VMM" --version | grep -q "fault injection compiled in" ||
	fail "configure says fault injection but the vmm lacks it: $("$VMM" --version)"

cmd="mem_mib=32 rate_mib=1 hb_us=20000 verify_every=2"
start_dst d1 128M 1 --tls-none
export VMM_TEST_CORRUPT_MIGRATION=1
start_src s 128M 1 "$cmd"
unset VMM_TEST_CORRUPT_MIGRATION
LOG=$T/s.err
migrate s "$PORT" --tls-none
[ "$rc" -ne 0 ] || fail "a corrupted final state was accepted: $(cat "$T/ctl.out")"
grep -q "corrupting a byte of the final state" "$T/s.err" || fail "the hook did not run: $(cat "$T/s.err")"
grep -q "SHA-256 mismatch" "$T/ctl.err" ||
	fail "refused, but not for the digest: $(cat "$T/ctl.err")"
wait "$d1_pid"; drc=$?
[ "$drc" -ne 0 ] && [ ! -s "$T/d1.ser" ] ||
	fail "the destination ran the corrupted state (rc $drc): $(cat "$T/d1.err")"
grep -q "guest is not started" "$T/d1.err" || fail "destination: $(cat "$T/d1.err")"
"$VMM" ctl "s-$$" status | grep -q "state: running" || fail "the source is not running"
hb_continues "$T/s.ser" "$T/s.ser"
pass "corrupted final state refused: $(grep "failed" "$T/ctl.err" | tail -n 1)"
