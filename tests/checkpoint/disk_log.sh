#!/bin/sh
# Disk capture at write time (docs/checkpointing.md): the disk keeps each
# epoch's written blocks as it writes them, and the pause reads nothing
# back from the image.
#
# 1. The block guest writes records while protected with --verify-disk
#    (the standby refuses a checkpoint after which its image hashes other
#    than the primary's, so every logged block must be exact): 40 epochs
#    with disk blocks, none refused, and disk_read_blocks stays 0.
# 2. The log bounded to 1 MiB (256 blocks), epochs by time only every
#    second, the guest writing as fast as it can: the full log ends the
#    epochs early (10 epochs well within 10 s), those epochs read their
#    blocks back (disk_read_blocks > 0).
# 3. The same with --verify-disk: a full log's epoch carries the logged
#    blocks and, read back in the pause, only those it lacks, merged in
#    order; the standby's image hashes as the primary's after each (none
#    refused), and fewer blocks were read back than the checkpoints held.
# 4. The primary's own image is fdatasynced after each pause, before the
#    epoch's ack is read and its output leaves: when that fails (injected,
#    VMM_TEST_FAIL_DISK_SYNC=N), checkpoint N is never committed, the
#    error names it, and the policy pause holds the guest (and whatever
#    output the epoch had).
# 5. The initial sync reads the whole image once and drops what it read
#    from the host's page cache behind it: the image, cached in full first
#    (cat), is almost all out of the cache once the sync is done (fincore).
#    A sync that kept it leaves all 64 MiB there.
. "$(dirname "$0")/../common.sh"
. "$top_srcdir/tests/migration/migration_helpers.sh"
. "$top_srcdir/tests/checkpoint/checkpoint_helpers.sh"
need_kvm

# pair ID PACE_US [LINGER_MS [GUEST_ARGS]]: a standby and a primary with a 64 MiB image each.
pair() {
	truncate -s 64M "$T/$1.img" "$T/$1sb.img"
	bg_vmm "$1sb" run --standby "tcp:127.0.0.1:0" --tls-none --memory 64M --disk "$T/$1sb.img" \
		--serial "file:$T/$1sb.ser" --control "$1sb-$$"
	listening "$1sb" "the standby did not listen"
	bg_vmm "$1" run --kernel "$GUESTS/block.elf" --memory 64M --disk "$T/$1.img" \
		--cmdline "mode=write pace_us=$2 linger_ms=${3:-0} ${4:-}" --serial "file:$T/$1.ser" --control "$1-$$"
	wait_for_line "$T/$1.ser" '^hb 1 ' 30 || fail "$1: the block guest did not start"
}

# --- 1: the log, exact ------------------------------------------------------
# The guest must still write after 40 epochs: where time is scaled the
# epochs (--verify-disk hashes the image in each pause) and the test's polls
# are both slower, so its pace scales twice (in the nested VM a guest at
# 200 us had written its 64 MiB and powered off first).
pair p1 $((200 * TIME_SCALE * TIME_SCALE))
protect p1 "$PORT" --interval 25 --verify-disk
wait_status p1 '"epochs":([4-9][0-9]|[0-9]{3,})[,]' 60 || fail "no 40 epochs: $(ck_status p1)"
st=$(ck_status p1)
echo "$st" | grep -q '"state":"protected"' || fail "not protected: $st"
[ "$(echo "$st" | json_field disk_read_blocks)" = 0 ] || fail "blocks were read back in a pause: $st"
echo "$st" | grep -Eq '"disk_bytes_per_epoch":[1-9]' || fail "no disk blocks in the epochs: $st"
pass "40 epochs with --verify-disk, none refused, none read back: $(echo "$st" | grep -Eo '"(disk_bytes_per_epoch|pause_us_mean)":[0-9.]*' | tr '\n' ' ')"
kill_vmm "$p1_pid"
kill_vmm "$p1sb_pid"

# --- 2: the bound ends the epoch --------------------------------------------
# It lingers afterwards: a guest that ended would end the epochs too.
pair p2 0 60000
protect p2 "$PORT" --interval 1000 --output-epochs off --disk-log 1
t0=$(date +%s%N)
wait_status p2 '"epochs":([1-9][0-9]+)[,]' 60 || fail "no 10 epochs: $(ck_status p2)"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
st=$(ck_status p2)
echo "$st" | grep -q '"state":"protected"' || fail "not protected: $st"
[ "$(echo "$st" | json_field disk_read_blocks)" -gt 0 ] || fail "a full log read nothing back: $st"
# By time only, 10 epochs of 1 s take 10 s.
[ "$ms" -lt 5000 ] || fail "10 epochs took $ms ms with a full 1 MiB log and a 1 s interval: the full log did not end the epochs"
pass "1 MiB log: 10 epochs in $ms ms with a 1 s interval, $(ck_field p2 disk_read_blocks) blocks read back"
kill_vmm "$p2_pid"
kill_vmm "$p2sb_pid"

# --- 3: a full log's epoch, exact ------------------------------------------
pair p3 0 60000
protect p3 "$PORT" --interval 25 --disk-log 1 --verify-disk
wait_status p3 '"epochs":([1-9][0-9]+)[,]' 60 || fail "no 10 epochs: $(ck_status p3)"
st=$(ck_status p3)
echo "$st" | grep -q '"state":"protected"' || fail "not protected (a checkpoint refused?): $st"
read=$(ck_field p3 disk_read_blocks)
held=$(ck_status p3 | python3 -c 'import json, sys; s = json.load(sys.stdin); print(int(s["disk_bytes_per_epoch"] * s["epochs"] / 4096))')
[ "${read:-0}" -gt 0 ] || fail "no epoch filled the 1 MiB log: $st"
[ "$read" -lt "$held" ] || fail "$read blocks read back of $held: the full logs' blocks were read back too"
pass "1 MiB log with --verify-disk: none refused, $read of $held blocks read back in pauses"
kill_vmm "$p3_pid"
kill_vmm "$p3sb_pid"

# --- 4: the primary's fdatasync fails ---------------------------------------
[ "${FAULT_INJECTION:-}" = yes ] ||
	fail "this build has no fault injection (configure --enable-fault-injection, as setup.sh does): VMM_TEST_FAIL_DISK_SYNC would do nothing"
VMM_TEST_FAIL_DISK_SYNC=30
export VMM_TEST_FAIL_DISK_SYNC
pair p4 $((200 * TIME_SCALE * TIME_SCALE))
unset VMM_TEST_FAIL_DISK_SYNC
protect p4 "$PORT" --interval 25 --on-standby-loss pause
wait_for_line "$T/p4.err" "pausing the guest" 30 || fail "no policy pause: $(tail -3 "$T/p4.err")"
grep -q "cannot make checkpoint 30's disk writes durable here: fdatasync: Input/output error" \
	"$T/p4.err" || fail "the failure is not named: $(grep 'protect:' "$T/p4.err" | tail -2)"
st=$(ck_status p4)
echo "$st" | grep -q '"state":"paused"' || fail "not paused by policy: $st"
[ "$(echo "$st" | json_field committed_epoch)" = 29 ] || fail "checkpoint 30 counted as committed: $st"
[ "$(vm_state p4)" = paused ] || fail "the guest runs: $(vm_state p4)"
pass "the primary's fdatasync of checkpoint 30 failed: not committed, named, the guest paused by policy ($(echo "$st" | json_field output_held_bytes) bytes of output held)"
kill_vmm "$p4_pid"
kill_vmm "$p4sb_pid"

# --- 5: the initial sync's read leaves the page cache -------------------------
# On tmpfs the page cache is the file itself: nothing there can be dropped.
cached() { fincore --bytes --noheadings --output RES "$1" | tr -d " "; }
pair p5 0 600000 "sectors=16384 rq_sectors=64"
if [ "$(stat -f -c %T "$T")" = tmpfs ]; then
	pass "not checked: $T is on tmpfs, whose files are their page cache"
else
	cat "$T/p5.img" >/dev/null
	before=$(cached "$T/p5.img")
	[ "$before" -ge $((56 << 20)) ] || fail "cat left only $before bytes of the image cached"
	protect p5 "$PORT" --interval 25
	after=$(cached "$T/p5.img")
	[ "$after" -le $((8 << 20)) ] ||
		fail "$after bytes of the 64 MiB image still cached after the initial sync read it"
	pass "the initial sync left $after of $before cached bytes of the image"
fi
kill_vmm "$p5_pid"
kill_vmm "$p5sb_pid"
