#!/bin/sh
# A corrupted checkpoint is refused: the primary's failure-injection hook
# (test builds only: configure --enable-fault-injection;
# VMM_TEST_CORRUPT_CHECKPOINT=N flips one byte in the middle of checkpoint
# N after it was captured) sends a damaged stream; the standby's SHA-256
# check refuses it, keeps checkpoint N-1, and can still be activated from it.
. "$(dirname "$0")/../common.sh"
. "$top_srcdir/tests/migration/migration_helpers.sh"
. "$top_srcdir/tests/checkpoint/checkpoint_helpers.sh"
need_kvm
# The hook exists only in a build configured with --enable-fault-injection
# (setup.sh and so CI build that way; a default build leaves it out).  Without
# it nothing would be damaged and the test would prove nothing: it fails,
# saying so, rather than skip, so a suite run on the wrong build cannot pass.
[ "${FAULT_INJECTION:-}" = yes ] ||
	fail "this build has no fault injection (configure --enable-fault-injection, as setup.sh does): VMM_TEST_CORRUPT_CHECKPOINT would do nothing"
"$VMM" --version | grep -q "fault injection compiled in" ||
	fail "configure says fault injection but the vmm lacks it: $("$VMM" --version)"

start_standby sb
VMM_TEST_CORRUPT_CHECKPOINT=20
export VMM_TEST_CORRUPT_CHECKPOINT
start_primary pr
unset VMM_TEST_CORRUPT_CHECKPOINT
protect pr "$PORT" --interval 10
wait_for_line "$T/sb.err" "checkpoint 20 refused" 20 ||
	fail "the damaged checkpoint was not refused: $(cat "$T/sb.err")"
grep -q "checkpoint 20 refused: .*keeping checkpoint 19" "$T/sb.err" ||
	fail "refused for the wrong reason: $(grep refused "$T/sb.err")"
wait_for_line "$T/pr.err" "refused checkpoint 20" 20 || fail "primary: $(cat "$T/pr.err")"
ck_status sb | grep -q '"committed_epoch":19,"refused":1' || fail "standby: $(ck_status sb)"
ck_status pr | grep -q '"state":"degraded"' || fail "primary: $(ck_status pr)"
pass "checkpoint 20 (one byte flipped) refused; the standby keeps 19"
kill_vmm "$pr_pid"
"$VMM" ctl "sb-$$" activate >"$T/act" 2>&1 || fail "activate: $(cat "$T/act")"
python3 "$CKCLIENT" verify "$T/sb.sock" 0 >"$T/verify" 2>&1 || fail "$(cat "$T/verify")"
pass "activated from the last good checkpoint: $(cat "$T/verify")"
