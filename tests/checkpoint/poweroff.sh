#!/bin/sh
# A protected guest that stops itself (docs/checkpointing.md, "When the
# guest stops"): its last epoch goes to the standby as a final checkpoint,
# the output it held is released once that is acknowledged, and the
# standby ends with the guest's own status instead of being activated
# (both standbys here have --activate-on-loss, which must not fire).
#  - the counter guest, epochs of 10 s: "inc 5", "inc 7" and "quit 3" are
#    all in the epoch that ends with the power-off; the client still gets
#    both answers, and both vmms exit with status 3;
#  - the block guest on a disk, epochs of 10 s: every write after the sync
#    is in the final checkpoint; its "block ok" reaches the primary's
#    serial file and the two images are identical when both have exited.
# Epochs end by time only here (--output-epochs off): held output would
# end them early, and the test is about the one epoch the stop ends.
. "$(dirname "$0")/../common.sh"
. "$top_srcdir/tests/migration/migration_helpers.sh"
. "$top_srcdir/tests/checkpoint/checkpoint_helpers.sh"
need_kvm

# ended ID STATUS: ID's vmm exits with STATUS.
ended() {
	eval "_pid=\$${1}_pid"
	LOG=$T/$1.err
	wait_exit "$_pid" 30 || fail "$1 did not exit"
	[ "$rc" -eq "$2" ] || fail "$1 exited with $rc, want $2"
}

# standby_ended ID: the standby applied the final checkpoint and never ran.
standby_ended() {
	grep -q "this standby ends with it" "$T/$1.err" && ! grep -q "standby activated" "$T/$1.err" ||
		{ LOG=$T/$1.err; fail "$1 did not end with the primary's guest"; }
}

# --- the counter guest: held answers released, the status carried over ----
start_standby sb1 --activate-on-loss
start_primary pr1
# One epoch holds the whole exchange (scaled: in the nested VM the client's
# three requests took longer than 10 s, and the final checkpoint was 2).
protect pr1 "$PORT" --interval $((10000 * TIME_SCALE)) --output-epochs off
python3 "$CKCLIENT" last "$T/pr1.sock" "inc 5" "inc 7" "quit 3" >"$T/last1" 2>&1 ||
	{ LOG=$T/pr1.err; fail "the client: $(cat "$T/last1")"; }
grep -qx "val 5" "$T/last1" && grep -qx "val 12" "$T/last1" ||
	{ LOG=$T/pr1.err; fail "the last epoch's answers were lost: $(cat "$T/last1")"; }
ended pr1 3
ended sb1 3
grep -q "final checkpoint 1 acknowledged" "$T/pr1.err" || { LOG=$T/pr1.err; fail "no final checkpoint"; }
standby_ended sb1
pass "counter: the answers of the power-off's epoch were released, primary and standby exited 3"

# --- the block guest: its last writes reach the standby's image -----------
img=$T/pr.img sbimg=$T/sb.img
truncate -s 4M "$img"
head -c 4M /dev/urandom >"$sbimg"
bg_vmm sb2 run --standby "tcp:127.0.0.1:0" --tls-none --memory 64M --disk "$sbimg" \
	--serial "file:$T/sb2.ser" --control "sb2-$$" --activate-on-loss
listening "sb2" "sb2: the standby did not listen"
bg_vmm pr2 run --kernel "$GUESTS/block.elf" --memory 64M --disk "$img" \
	--cmdline "mode=write sectors=4096 pace_us=3000" --serial "file:$T/pr2.ser" \
	--control "pr2-$$"
LOG=$T/pr2.err
wait_for_line "$T/pr2.ser" '^hb 1 ' 30 || fail "the block guest did not start"
protect pr2 "$PORT" --interval $((10000 * TIME_SCALE)) --output-epochs off
ended pr2 0
ended sb2 0
grep -q "^block ok 4096" "$T/pr2.ser" || fail "the final epoch's output was lost: $(tail -n 3 "$T/pr2.ser")"
grep -q "final checkpoint 1 acknowledged" "$T/pr2.err" ||
	fail "the guest ended outside the first epoch: the test proves nothing"
standby_ended sb2
[ ! -s "$T/sb2.ser" ] || fail "the standby emitted output: $(cat "$T/sb2.ser")"
cmp -s "$img" "$sbimg" || fail "the standby's image differs from the primary's"
pass "block: the last epoch's writes and 'block ok' survived the power-off; images identical"
