#!/bin/sh
# A corrupted checkpoint is refused: the primary's failure-injection hook
# (VMM_TEST_CORRUPT_CHECKPOINT=N flips one byte in the middle of checkpoint
# N after it was captured) sends a damaged stream; the standby's SHA-256
# check refuses it, keeps checkpoint N-1, and can still be activated from it.
. "$(dirname "$0")/../vmm/lib.sh"
. "$top_srcdir/tests/migration/mlib.sh"
. "$top_srcdir/tests/checkpoint/cklib.sh"
need_kvm

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
