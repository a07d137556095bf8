#!/bin/sh
# Disk replication under checkpointing (docs/checkpointing.md, "The disk"):
# primary and standby on their own image files (the standby's starts as
# garbage: the initial sync overwrites it).  The block guest writes,
# protected with 25 ms epochs and --verify-disk: many epochs commit, none
# is refused.  The operator pauses the primary's guest; once a further
# checkpoint committed, both images hash alike and as the standby's
# disk_digest.  Resumed, then the primary killed mid-write: the activated
# standby carries on, verifies every record, and its image passes
# check_image.py.  Then a checkpoint corrupted on the way
# (VMM_TEST_CORRUPT_CHECKPOINT) is refused and nothing of it reaches the
# standby's image: its hash is still its last committed disk_digest.
. "$(dirname "$0")/../common.sh"
. "$top_srcdir/tests/migration/migration_helpers.sh"
. "$top_srcdir/tests/checkpoint/checkpoint_helpers.sh"
. "$top_srcdir/tests/virtio/block_checks.sh"
need_kvm

# standby_at ID FILE IMG: a standby on its own image, serial to FILE.
standby_at() {
	bg_vmm "$1" run --standby "tcp:127.0.0.1:0" --tls-none --memory 64M --disk "$3" \
		--serial "file:$2" --control "$1-$$"
	listening "$1" "$1: the standby did not listen"
}

img=$T/pr.img
sbimg=$T/sb.img
truncate -s 8M "$img"
head -c 8M /dev/urandom >"$sbimg"
standby_at sb "$T/sb.ser" "$sbimg"
bg_vmm pr run --kernel "$GUESTS/block.elf" --memory 64M --disk "$img" \
	--cmdline "mode=write pace_us=$((2000 * TIME_SCALE * TIME_SCALE))" --serial "file:$T/pr.ser" --control "pr-$$"
LOG=$T/pr.err
wait_for_line "$T/pr.ser" '^hb 1 ' 30 || fail "the block guest did not start"
protect pr "$PORT" --interval 25 --verify-disk
# The guest must still be writing when the checks below end (the pause,
# the images' hashes, the kill mid-write).  Where time is scaled, both the
# epochs (every --verify-disk pause hashes the image on an emulated CPU)
# and each of the test's own polls (a vmm ctl and a python3) are slower, so
# the guest's pace scales twice: in the nested VM (scale 4) a guest paced
# once had written its 8 MiB and powered off after 81 epochs, before the
# first check.
wait_epochs pr 40 30 || fail "few epochs: $(ck_status pr)"
[ "$(ck_field sb refused)" = 0 ] && ck_status pr | grep -q '"state":"protected"' ||
	fail "refusals: standby $(ck_status sb), primary $(ck_status pr)"
[ "$(ck_field sb disk_blocks_last)" -ge 0 ] 2>/dev/null || fail "no disk figures: $(ck_status sb)"
pass "40 epochs with --verify-disk, none refused: $(ck_status pr | grep -o '"disk_bytes_per_epoch":[0-9.]*')"

# The operator's pause holds across epochs: a further committed epoch then
# holds every write the guest made.
"$VMM" ctl "pr-$$" pause >"$T/p.out" 2>&1 || fail "pause: $(cat "$T/p.out")"
e=$(ck_field sb committed_epoch)
wait_field_ge sb committed_epoch $((e + 2)) 20 ||
	fail "no further epoch committed while paused (from $e): standby $(ck_status sb), primary $(ck_status pr)"
a=$(sha "$img") b=$(sha "$sbimg") d=$(ck_digest sb) dp=$(ck_digest pr)
[ "$a" = "$b" ] && [ "$b" = "$d" ] && [ "$dp" = "$d" ] ||
	fail "images differ while paused: primary $a, standby $b, standby digest $d, primary digest $dp"
grep -q "block ok" "$T/pr.ser" && fail "the guest finished before the checks"
pass "paused: both images and both disk_digests are $a"

"$VMM" ctl "pr-$$" resume >"$T/r.out" 2>&1 || fail "resume: $(cat "$T/r.out")"
hb=$(last_hb "$T/pr.ser")
wait_for_line "$T/pr.ser" "^hb $((hb + 2)) " 30 || fail "the guest did not go on after resume"
failover_verify "$sbimg"
pass "primary killed mid-write; the activated standby verified 16384 records in its own image"

# Checkpoint 12 arrives damaged: refused, none of it written.
img2=$T/pr2.img
sb2=$T/sb2.img
truncate -s 8M "$img2"
head -c 8M /dev/urandom >"$sb2"
standby_at s2 "$T/s2.ser" "$sb2"
VMM_TEST_CORRUPT_CHECKPOINT=12
export VMM_TEST_CORRUPT_CHECKPOINT
bg_vmm p2 run --kernel "$GUESTS/block.elf" --memory 64M --disk "$img2" \
	--cmdline "mode=write pace_us=1000" --serial "file:$T/p2.ser" --control "p2-$$"
unset VMM_TEST_CORRUPT_CHECKPOINT
LOG=$T/p2.err
wait_for_line "$T/p2.ser" '^hb 1 ' 30 || fail "the second guest did not start"
protect p2 "$PORT" --interval 25 --verify-disk
wait_status s2 '"state":"lost"' 30 || fail "the standby did not refuse: $(ck_status s2)"
LOG=$T/s2.err
ck_status s2 | grep -q '"refused":1,' && ck_status s2 | grep -q '"committed_epoch":11,' ||
	fail "the standby: $(ck_status s2)"
b=$(sha "$sb2") d=$(ck_digest s2)
[ "$b" = "$d" ] || fail "the refused checkpoint changed the standby's image: $b, digest $d"
grep -q "checkpoint 12 refused" "$T/s2.err" || fail "no refusal logged"
[ "$(sha "$img2")" != "$b" ] || fail "the primary's image equals the standby's: the check proves nothing"
pass "checkpoint 12 refused: the standby's image is still checkpoint 11's ($d)"
