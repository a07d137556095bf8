#!/bin/sh
# Bad command lines and bad images: a message naming the problem, a non-zero
# exit, never a crash (a signal death would give a status above 128).
. "$(dirname "$0")/../common.sh"

expect() { # WANT_RC REGEX ARGS...
	want=$1 re=$2; shift 2
	timeout -k 2 "$(secs 30)" "$VMM" "$@" >"$T/out" 2>"$T/err"
	rc=$?
	LOG=$T/err
	[ "$rc" -eq "$want" ] || fail "vmm $*: exit status $rc, want $want"
	grep -Eq "$re" "$T/err" || fail "vmm $*: message does not match '$re'"
	pass "vmm $* -> $want"
}

expect 2 "no command" 
expect 2 "unknown command" frobnicate
expect 2 "unknown option '--bogus'" run --kernel x --bogus
expect 2 "no --kernel" run
expect 2 "bad --memory" run --kernel x --memory 12Q
expect 2 "bad --memory" run --kernel x --memory 2T
expect 2 "bad --memory" run --kernel x --memory -5
expect 2 "bad --cpus" run --kernel x --cpus 0
expect 2 "bad --cpus" run --kernel x --cpus 65
expect 2 "bad --serial" run --kernel x --serial tcp:1
expect 2 "needs an argument" run --kernel

need_kvm
expect 1 "cannot open the file $T/none" run --kernel "$T/none"
: >"$T/empty"
expect 1 "not a regular, non-empty file" run --kernel "$T/empty"
head -c 4096 /dev/urandom >"$T/random"
expect 1 "not an ELF" run --kernel "$T/random"
expect 1 "no Xen PVH entry note" run --kernel /bin/sh
head -c 100 "$GUESTS/hello.elf" >"$T/trunc.elf"
expect 1 "ELF" run --kernel "$T/trunc.elf"
# A bzImage whose header claims a boot protocol too old for the 64-bit entry.
python3 - "$T/old.bzimage" <<'PY'
import struct, sys
img = bytearray(8192)
img[0x1f1] = 4                                   # setup_sects
struct.pack_into("<H", img, 0x1fe, 0xaa55)       # boot_flag
img[0x202:0x206] = b"HdrS"
struct.pack_into("<H", img, 0x206, 0x0200)       # protocol 2.00
open(sys.argv[1], "wb").write(img)
PY
expect 1 "bzImage" run --kernel "$T/old.bzimage"
expect 1 "does not fit|too small" run --kernel "$GUESTS/hello.elf" --memory 2M
# Memory that cannot be had: an address-space limit below the guest's size.
( ulimit -v 2000000 && exec "$VMM" run --memory 4G --kernel "$GUESTS/hello.elf" ) >"$T/out" 2>"$T/err"
rc=$?
LOG=$T/err
[ "$rc" -eq 1 ] && grep -q "cannot allocate guest memory" "$T/err" || fail "4G under a 2 GB limit: rc $rc"
pass "guest memory that cannot be had -> 1"
