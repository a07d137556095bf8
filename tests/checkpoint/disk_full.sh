#!/bin/sh
# A checkpoint that fails halfway on the standby is undone, and a standby
# that holds no whole state is never activated (docs/checkpointing.md,
# "A checkpoint is applied whole or not at all").
#  - The standby's image lives on a 3 MiB tmpfs; the block guest writes
#    8 MiB, protected with --verify-disk.  The checkpoint that fills the
#    file system fails while its blocks are written (ENOSPC): it is undone,
#    refused, and the standby's image then hashes as its last committed
#    disk_digest (the primary's image at that epoch).  Given room, the
#    standby is activated: its guest carries on from that epoch and every
#    record verifies.
#  - A standby (--activate-on-loss) whose image is changed behind its back:
#    the next checkpoint's disk check fails, and neither --activate-on-loss
#    nor `vmm ctl NAME activate` runs its guest; both say why.
# The test runs in a mount namespace of its own, so the tmpfs goes with it.
if [ -z "${DISK_FULL_NS:-}" ]; then
	[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (a tmpfs mount)"; exit 77; }
	command -v unshare >/dev/null || { echo "SKIP: needs unshare"; exit 77; }
	DISK_FULL_NS=1 exec unshare -m --propagation private "$0" "$@"
fi
. "$(dirname "$0")/../common.sh"
. "$top_srcdir/tests/migration/migration_helpers.sh"
. "$top_srcdir/tests/checkpoint/checkpoint_helpers.sh"
. "$top_srcdir/tests/virtio/block_checks.sh"
need_kvm

MNT=$T/small
mkdir "$MNT"
mount -t tmpfs -o size=3M tmpfs "$MNT" || fail "cannot mount a tmpfs"
# The vmm processes first (their files keep the mount busy), then the mount.
trap 'for p in $PIDS; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	umount "$MNT"; cleanup' EXIT

# --- the standby's file system fills mid-checkpoint --------------------------
img=$T/pr.img
sbimg=$MNT/sb.img
truncate -s 8M "$img" "$sbimg"
bg_vmm sb run --standby "tcp:127.0.0.1:0" --tls-none --memory 64M --disk "$sbimg" \
	--serial "file:$T/sb.ser" --control "sb-$$"
listening sb "the standby did not listen"
# The disk must fill during a checkpoint, after the initial sync: where
# time is scaled the sync (memory and disk on an emulated CPU) is slower as
# well as the epochs, so the guest's pace scales twice (in the nested VM a
# guest paced once filled the tmpfs during the sync: "sending round 3
# failed").
bg_vmm pr run --kernel "$GUESTS/block.elf" --memory 64M --disk "$img" \
	--cmdline "mode=write rq_sectors=16 pace_us=$((2000 * TIME_SCALE * TIME_SCALE))" \
	--serial "file:$T/pr.ser" --control "pr-$$"
LOG=$T/pr.err
wait_for_line "$T/pr.ser" '^hb 1 ' 30 || fail "the block guest did not start"
protect pr "$PORT" --interval 25 --verify-disk
LOG=$T/sb.err
wait_status sb '"state":"lost"' 60 || fail "the standby's file system did not fill: $(ck_status sb)"
kill_vmm "$pr_pid"
grep -q "block ok" "$T/pr.ser" && fail "the guest finished before the disk filled"
e=$(ck_field sb committed_epoch)
b=$(sha "$sbimg") d=$(ck_digest sb)
[ -n "$d" ] && [ "$b" = "$d" ] ||
	fail "the standby's image is not checkpoint $e's: $b, its committed digest $d"
[ "$(sha "$img")" != "$b" ] || fail "the primary's image equals the standby's: the check proves nothing"
[ "$(ck_field sb refused)" = 1 ] && [ "$e" -ge 1 ] || fail "the standby: $(ck_status sb)"
grep -Eq "checkpoint [0-9]+ not applied \(.*No space left on device\); undone, keeping checkpoint" \
	"$T/sb.err" || fail "no undone checkpoint logged"
pass "the file system filled mid-checkpoint: undone, the image is checkpoint $e's ($d)"

mount -o remount,size=16M "$MNT" || fail "cannot grow the tmpfs"
"$VMM" ctl "sb-$$" activate >"$T/act" 2>&1 || fail "activate: $(cat "$T/act")"
finished_verified sb "$sbimg" "the standby activated after the undone checkpoint"
grep -q "block start" "$T/sb.ser" && fail "the activated guest started over"
pass "activated from checkpoint $e: the guest carried on and verified 16384 records"

# --- a standby whose disk is no longer the primary's --------------------------
img2=$T/p2.img
sb2=$T/s2.img
truncate -s 8M "$img2" "$sb2"
bg_vmm s2 run --standby "tcp:127.0.0.1:0" --tls-none --memory 64M --disk "$sb2" \
	--serial "file:$T/s2.ser" --control "s2-$$" --activate-on-loss
listening s2 "the second standby did not listen"
bg_vmm p2 run --kernel "$GUESTS/block.elf" --memory 64M --disk "$img2" \
	--cmdline "mode=write pace_us=$((2000 * TIME_SCALE))" --serial "file:$T/p2.ser" \
	--control "p2-$$"
LOG=$T/p2.err
wait_for_line "$T/p2.ser" '^hb 1 ' 30 || fail "the second guest did not start"
protect p2 "$PORT" --interval 25 --verify-disk
wait_epochs s2 5 30 || fail "few epochs: $(ck_status s2)"
LOG=$T/s2.err
# Near the image's end, which the guest writes only much later.
printf 'bit rot' | dd of="$sb2" bs=1 seek=$((8 * 1024 * 1024 - 4096)) conv=notrunc 2>/dev/null
wait_status s2 '"state":"lost"' 30 || fail "the changed image was not noticed: $(ck_status s2)"
kill_vmm "$p2_pid"
why="refused: this standby holds no whole state to run: checkpoint [0-9]* refused: the disk image differs"
wait_for_line "$T/s2.err" "activation on stream loss failed: $why" 10 ||
	fail "--activate-on-loss did not refuse"
[ "$(vm_state s2)" = paused ] || fail "the standby's guest runs: $(vm_state s2)"
if "$VMM" ctl "s2-$$" activate >"$T/act" 2>&1; then
	fail "activate was accepted"
fi
grep -q "$why" "$T/act" ||
	fail "activate's refusal: $(cat "$T/act")"
ck_status s2 | grep -q '"error":"not activatable: checkpoint [0-9]* refused: the disk image differs' ||
	fail "status: $(ck_status s2)"
[ "$(vm_state s2)" = paused ] && [ ! -s "$T/s2.ser" ] || fail "the standby's guest ran"
pass "a standby whose disk differs from the primary's: --activate-on-loss and activate refused"
