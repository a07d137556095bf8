#!/bin/sh
# virtio-blk across save and restore: the block guest is saved in the middle
# of writing and again in the middle of reading back; each restored guest
# (a new vmm on the same image) carries on where it was, without a reboot,
# and ends with every record verified; the image holds them.  A snapshot
# whose disk configuration differs from the VM's is refused.
. "$(dirname "$0")/../common.sh"
need_kvm
CHECK="python3 $top_srcdir/tests/virtio/check_image.py"

name=vsnap-$$
img=$T/disk.img
truncate -s 8M "$img"
args="--memory 64M --control $name --disk $img"
# 2048 requests of 4 KiB, 1 ms apart: about 2 s of writing, 2 s of reading.
bg_vmm vm run $args --kernel "$GUESTS/block.elf" --serial "file:$T/s0" \
	--cmdline "mode=write pace_us=1000"
LOG=$T/vm.err
wait_for_line "$T/s0" '^hb 2 ' 30 || fail "the block guest did not start writing"
"$VMM" ctl "$name" save "$T/snap1" --quit >"$T/ctl" 2>&1 || fail "save 1: $(cat "$T/ctl")"
wait "$vm_pid" || fail "the first vmm failed"
grep -q "block written" "$T/s0" && fail "the first save came after the writes (too late to test)"

bg_vmm vm run $args --restore "$T/snap1" --serial "file:$T/s1"
LOG=$T/vm.err
wait_for_line "$T/s1" '^vb 2 ' 30 || fail "the restored guest did not write on and read back"
grep -q "block start" "$T/s1" && fail "the restored guest started over"
grep -q "block written" "$T/s1" || fail "the restored guest did not finish writing"
"$VMM" ctl "$name" save "$T/snap2" --quit >"$T/ctl" 2>&1 || fail "save 2: $(cat "$T/ctl")"
wait "$vm_pid" || fail "the second vmm failed"
grep -q "block ok" "$T/s1" && fail "the second save came after the verification (too late)"

bg_vmm vm run $args --restore "$T/snap2" --serial "file:$T/s2"
wait "$vm_pid"; rc=$?
LOG=$T/vm.err
[ "$rc" -eq 0 ] && grep -qx "block ok 16384" "$T/s2" ||
	fail "after the second restore: rc $rc, $(grep -a block "$T/s2")"
grep -q "block BAD" "$T/s0" "$T/s1" "$T/s2" && fail "$(grep 'block BAD' "$T"/s*)"
$CHECK "$img" 16384 >"$T/chk" || fail "the image: $(cat "$T/chk")"
pass "saved mid-write and mid-read, restored twice: the guest carried on, 16384 records verified, image ok"

# Disk configuration mismatches are refused before anything runs.
LOG=$T/err
run_vmm 30 run --memory 64M --restore "$T/snap1" --serial "file:$T/none"
[ "$rc" -eq 1 ] && grep -q "with a disk: give --disk" "$T/err" && [ ! -s "$T/none" ] ||
	fail "a disk snapshot restored without --disk: rc $rc"
truncate -s 4M "$T/small.img"
run_vmm 30 run --memory 64M --restore "$T/snap1" --disk "$T/small.img" --serial "file:$T/none"
[ "$rc" -eq 1 ] && grep -q "disk of another size" "$T/err" && [ ! -s "$T/none" ] ||
	fail "a disk of another size: rc $rc"
run_vmm 30 run --memory 64M --restore "$T/snap1" --disk "$img,readonly" --serial "file:$T/none"
[ "$rc" -eq 1 ] && grep -q "read-only" "$T/err" && [ ! -s "$T/none" ] ||
	fail "a read-only disk for a read-write snapshot: rc $rc"
bg_vmm nd run --memory 64M --control "$name-nd" --kernel "$GUESTS/counter.elf" \
	--serial "unix:$T/nd.sock"
python3 "$top_srcdir/tests/vmm/serial_client.py" "$T/nd.sock" --expect "counter ready" \
	>/dev/null || fail "the counter guest did not start"
"$VMM" ctl "$name-nd" save "$T/nodisk" --quit >"$T/ctl" 2>&1 || fail "save: $(cat "$T/ctl")"
wait "$nd_pid"
run_vmm 30 run --memory 64M --restore "$T/nodisk" --disk "$img" --serial "file:$T/none"
[ "$rc" -eq 1 ] && grep -q "without a disk" "$T/err" && [ ! -s "$T/none" ] ||
	fail "a snapshot without a disk restored with --disk: rc $rc"
pass "restore refuses: no --disk for a disk, another size, read-only, a disk for none"
