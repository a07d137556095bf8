#!/bin/sh
# virtio-blk: the block guest writes numbered records across a disk image,
# flushes, reads them back; the host then finds every record in the file; a
# fresh guest verifies them; a read-only disk refuses writes; malformed
# requests and rings are refused and the vmm survives them; disk options
# are checked.
. "$(dirname "$0")/../common.sh"
need_kvm
CHECK="python3 $top_srcdir/tests/virtio/check_image.py"

truncate -s 8M "$T/disk.img"
run_vmm 60 run --kernel "$GUESTS/block.elf" --memory 64M --disk "$T/disk.img" \
	--serial "file:$T/w.ser" --cmdline "mode=write"
[ "$rc" -eq 0 ] && grep -qx "block ok 16384" "$T/w.ser" ||
	fail "write and verify: rc $rc, $(grep block "$T/w.ser")"
$CHECK "$T/disk.img" 16384 >"$T/chk" || fail "the image lacks the records: $(cat "$T/chk")"
pass "16384 records written, flushed and read back; the image holds them"

run_vmm 60 run --kernel "$GUESTS/block.elf" --memory 64M --disk "$T/disk.img,readonly" \
	--serial "file:$T/v.ser" --cmdline "mode=verify"
[ "$rc" -eq 0 ] && grep -qx "block ok 16384" "$T/v.ser" ||
	fail "verify in a fresh vmm: rc $rc, $(grep block "$T/v.ser")"
pass "a fresh vmm with the image read-only verifies every record"

# A record damaged on the host is found by the guest (the test can fail).
printf 'X' | dd of="$T/disk.img" bs=1 seek=$((512 * 1000 + 8)) conv=notrunc 2>/dev/null
run_vmm 60 run --kernel "$GUESTS/block.elf" --memory 64M --disk "$T/disk.img" \
	--serial "file:$T/d.ser" --cmdline "mode=verify"
[ "$rc" -eq 1 ] && grep -q "block BAD sector 1000 " "$T/d.ser" ||
	fail "a damaged sector was not noticed: rc $rc, $(grep block "$T/d.ser")"
$CHECK "$T/disk.img" 16384 >/dev/null && fail "check_image.py missed the damaged sector"
pass "a sector damaged on the host is reported by the guest and by check_image.py"

cp "$T/disk.img" "$T/before.img"
run_vmm 60 run --kernel "$GUESTS/block.elf" --memory 64M --disk "$T/disk.img,readonly" \
	--serial "file:$T/ro.ser" --cmdline "mode=write sectors=64"
[ "$rc" -eq 1 ] && grep -q "block BAD write of sector 0: status 1" "$T/ro.ser" ||
	fail "a write to a read-only disk was not refused: rc $rc, $(grep block "$T/ro.ser")"
cmp -s "$T/disk.img" "$T/before.img" || fail "the read-only image changed"
pass "a read-only disk refuses writes (VIRTIO_BLK_S_IOERR) and stays unchanged"

run_vmm 60 run --kernel "$GUESTS/block.elf" --memory 64M --disk "$T/disk.img" \
	--serial "file:$T/bad.ser" --cmdline "mode=bad"
[ "$rc" -eq 0 ] && grep -qx "block ok bad 16" "$T/bad.ser" ||
	fail "malformed requests: rc $rc, $(grep block "$T/bad.ser")"
n=$(grep -c "needs a reset" "$T/err")
[ "$n" -eq 11 ] || fail "want 11 needs-reset warnings, got $n"
pass "16 malformed requests and rings refused (IOERR or NEEDS_RESET), device recovered each time"

run_vmm 30 run --kernel "$GUESTS/block.elf" --memory 64M --serial "file:$T/none.ser"
[ "$rc" -eq 1 ] && grep -q "block BAD no virtio-blk device (magic 0xffffffff)" "$T/none.ser" ||
	fail "without --disk: rc $rc, $(cat "$T/none.ser")"
run_vmm 30 run --kernel "$GUESTS/block.elf" --disk "$T/missing.img"
[ "$rc" -eq 1 ] && grep -q "cannot open the disk image" "$T/err" || fail "missing image: rc $rc"
: >"$T/empty.img"
run_vmm 30 run --kernel "$GUESTS/block.elf" --disk "$T/empty.img"
[ "$rc" -eq 1 ] && grep -q "smaller than one" "$T/err" || fail "empty image: rc $rc"
run_vmm 30 run --kernel "$GUESTS/block.elf" --disk ",readonly"
[ "$rc" -eq 2 ] || fail "an empty --disk path: rc $rc"
pass "no device without --disk; a missing or empty image and a bad --disk refused"
