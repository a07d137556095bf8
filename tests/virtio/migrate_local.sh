#!/bin/sh
# Local-disk live migration (migrate --copy-disk, docs/migration.md "Local
# disks"): the block guest migrates mid-write from image A to image B (B
# starts as garbage), at 4 MiB/s so that it takes several rounds while the
# guest writes on.  The images are 16 MiB: the guest writes the first 8,
# the other 8 are random data on A, which must arrive on B as they are.
# The destination finishes writing and verifies every record, B passes
# check_image.py, and A holds only what the source wrote (a prefix of
# records, the rest of the first half still zero, the second half as it
# was; unchanged while the destination runs).  Refused, with the source running on: a destination
# disk of another size (left untouched), a read-only one, no disk, and
# --copy-disk with --postcopy.
. "$(dirname "$0")/../common.sh"
. "$(dirname "$0")/../migration/migration_helpers.sh"
. "$top_srcdir/tests/virtio/block_checks.sh"
need_kvm
CHECK="python3 $top_srcdir/tests/virtio/check_image.py"
PREFIX="python3 $top_srcdir/tests/virtio/check_prefix.py"

sha() {
	sha256sum "$1" | cut -d' ' -f1
}

a=$T/a.img b=$T/b.img
head -c 8M /dev/urandom >"$T/tail"
{ head -c 8M /dev/zero; cat "$T/tail"; } >"$a"
head -c 16M /dev/urandom >"$b"
start_dst d1 64M 1 --tls-none --disk "$b"
bg_vmm s1 run --kernel "$GUESTS/block.elf" --memory 64M --disk "$a" \
	--cmdline "mode=write sectors=16384 pace_us=4000" --serial "file:$T/s1.ser" --control "s1-$$"
LOG=$T/s1.err
wait_for_line "$T/s1.ser" '^hb 1 ' 30 || fail "the guest did not start"
migrate s1 "$PORT" --tls-none --bandwidth 4 --copy-disk
[ "$rc" -eq 0 ] || fail "migrate --copy-disk failed: $(cat "$T/ctl.err")"
wait "$s1_pid" || fail "the source failed"
grep -q "block ok" "$T/s1.ser" && fail "the guest finished before it migrated"
wait_for_line "$T/d1.err" "verified and applied" 20 || fail "the destination did not apply the state"
rounds=$(sed -n 's/.* disk bytes in \([0-9]*\) rounds .*/\1/p' "$T/d1.err")
# Round 2 or later: the guest wrote while round 1 copied the image.
[ "${rounds:-0}" -ge 2 ] || fail "one round only ($rounds): the copy did not overlap the guest's writes"
head -c 8M "$a" >"$T/ahead"
n=$($PREFIX "$T/ahead") || fail "the source's image: $n"
tail -c 8M "$a" | cmp -s - "$T/tail" || fail "the source's image changed past the guest's records"
tail -c 8M "$b" | cmp -s - "$T/tail" || fail "the destination's image lacks the source's second half"
asha=$(sha "$a")
finished_verified d1 "$b" "the destination"
[ "$(sha "$a")" = "$asha" ] || fail "the source's image changed after the migration"
[ "$n" -lt 16384 ] || fail "the source wrote everything: the destination did not continue"
pass "migrated mid-write with --copy-disk in $rounds rounds: B verified 16384 records, A holds the source's $n and nothing else"

# refused DISK-ARGS REGEX WHAT: the destination refuses at the hello, the
# source runs on and finishes.
refused() {
	_n=$((_n + 1))
	_img=$T/s$_n.img
	truncate -s 8M "$_img"
	start_dst "dx$_n" 64M 1 --tls-none $1
	bg_vmm "sx$_n" run --kernel "$GUESTS/block.elf" --memory 64M --disk "$_img" \
		--cmdline "mode=write sectors=4096 pace_us=2000" --serial "file:$T/sx$_n.ser" \
		--control "sx$_n-$$"
	LOG=$T/sx$_n.err
	wait_for_line "$T/sx$_n.ser" '^hb 1 ' 30 || fail "$3: the guest did not start"
	migrate "sx$_n" "$PORT" --tls-none --copy-disk
	refused_carried_on "dx$_n" "sx$_n" "$2" 4096 "$3"
	$CHECK "$_img" 4096 >/dev/null || fail "$3: the source's image"
	pass "$3: refused ($(grep -Eo "$2" "$T/ctl.err" | head -n 1)); the source carried on and verified"
}
_n=0

small=$T/small.img
head -c 4M /dev/urandom >"$small"
ssha=$(sha "$small")
refused "--disk $small" "disk image size differs" "a destination disk of 4 MiB"
[ "$(sha "$small")" = "$ssha" ] || fail "the refused destination's image was written"
refused "--disk $b,readonly" "disk is read-only" "a read-only destination disk"
refused "" "has no disk" "a destination without a disk"

# --copy-disk with post-copy: refused at once.
bg_vmm sp run --kernel "$GUESTS/block.elf" --memory 64M --disk "$a" \
	--cmdline "mode=write pace_us=2000" --serial "file:$T/sp.ser" --control "sp-$$"
wait_for_line "$T/sp.ser" '^hb 1 ' 30 || fail "postcopy: the guest did not start"
"$VMM" ctl "sp-$$" migrate tcp:127.0.0.1:1 --tls-none --copy-disk --postcopy >"$T/pc.out" 2>&1 &&
	fail "--copy-disk --postcopy was accepted"
grep -q "does not work with post-copy" "$T/pc.out" || fail "--postcopy: $(cat "$T/pc.out")"
pass "--copy-disk with --postcopy refused: $(cat "$T/pc.out")"
