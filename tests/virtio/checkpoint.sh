#!/bin/sh
# virtio-blk under checkpointing (local; the standby has its own image,
# filled with garbage, which the initial sync overwrites): the block guest
# is protected with 10 ms epochs while it writes, the primary is killed
# with SIGKILL, the standby is activated and its guest carries on from the
# last checkpoint, device state and disk included, and verifies every
# record.  A standby without a disk refuses the initial sync.
# (tests/virtio/replicate.sh checks the standby's image byte for byte.)
. "$(dirname "$0")/../common.sh"
. "$top_srcdir/tests/migration/migration_helpers.sh"
. "$top_srcdir/tests/checkpoint/checkpoint_helpers.sh"
. "$top_srcdir/tests/virtio/block_checks.sh"
need_kvm

img=$T/disk.img
sbimg=$T/sb.img
truncate -s 8M "$img"
head -c 8M /dev/urandom >"$sbimg"
bg_vmm sb run --standby "tcp:127.0.0.1:0" --tls-none --memory 64M --disk "$sbimg" \
	--serial "file:$T/sb.ser" --control "sb-$$"
listening "sb" "the standby did not listen"
bg_vmm pr run --kernel "$GUESTS/block.elf" --memory 64M --disk "$img" \
	--cmdline "mode=write pace_us=1000" --serial "file:$T/pr.ser" --control "pr-$$"
LOG=$T/pr.err
wait_for_line "$T/pr.ser" '^hb 1 ' 30 || fail "the block guest did not start"
protect pr "$PORT" --interval 10
wait_for_line "$T/pr.ser" '^hb 4 ' 30 || fail "the protected guest does not go on"
failover_verify "$sbimg"
pass "protected mid-write, primary killed, the activated standby verified 16384 records in its own image"

# A standby without a disk refuses the initial sync; the primary goes on.
bg_vmm nd run --standby "tcp:127.0.0.1:0" --tls-none --memory 64M \
	--serial "file:$T/nd.ser" --control "nd-$$"
listening "nd" "the diskless standby did not listen"
bg_vmm p2 run --kernel "$GUESTS/block.elf" --memory 64M --disk "$sbimg" \
	--cmdline "mode=verify pace_us=1000" --serial "file:$T/p2.ser" --control "p2-$$"
LOG=$T/p2.err
wait_for_line "$T/p2.ser" '^vb 1 ' 30 || fail "the second guest did not start"
wait_ctl p2
"$VMM" ctl "p2-$$" protect "tcp:127.0.0.1:$PORT" --tls-none --interval 10 >"$T/ctl.out" 2>&1
wait "$nd_pid"; ndrc=$?
[ "$ndrc" -ne 0 ] && grep -q "this destination has no disk" "$T/nd.err" ||
	fail "a standby without a disk took the sync: rc $ndrc, $(cat "$T/nd.err")"
wait "$p2_pid"; rc=$?
[ "$rc" -eq 0 ] && grep -qx "block ok 16384" "$T/p2.ser" ||
	fail "the primary did not carry on: rc $rc, $(grep -a block "$T/p2.ser")"
pass "a standby without a disk refused the initial sync; the primary carried on"
