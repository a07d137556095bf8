#!/bin/sh
# virtio-blk across live migration (local, both vmm on the same image path:
# shared storage): the block guest migrates in the middle of writing and,
# in another run, in the middle of reading back (the device's writes into
# guest RAM must reach the destination: dirty__mark); each destination
# finishes with every record verified.  A destination whose disk
# configuration differs refuses the final state and the source carries on.
. "$(dirname "$0")/../common.sh"
. "$(dirname "$0")/../migration/migration_helpers.sh"
. "$top_srcdir/tests/virtio/block_checks.sh"
need_kvm

img=$T/disk.img
truncate -s 8M "$img"

# one NAME MODE WAIT-REGEX: migrate the guest once WAIT-REGEX is seen.  At
# 8 MiB/s the migration takes several rounds while the guest goes on, so
# pages the device writes after the first round must be sent again.
one() {
	_n=$1 _mode=$2 _re=$3
	start_dst "d$_n" 64M 1 --tls-none --disk "$img"
	bg_vmm "s$_n" run --kernel "$GUESTS/block.elf" --memory 64M --disk "$img" \
		--cmdline "mode=$_mode pace_us=1000" --serial "file:$T/s$_n.ser" --control "s$_n-$$"
	LOG=$T/s$_n.err
	wait_for_line "$T/s$_n.ser" "$_re" 30 || fail "$_n: the guest did not get to '$_re'"
	migrate "s$_n" "$PORT" --tls-none --bandwidth 8
	[ "$rc" -eq 0 ] || fail "$_n: migrate failed: $(cat "$T/ctl.err")"
	eval "wait \$s${_n}_pid" || fail "$_n: the source failed"
	grep -q "block ok" "$T/s$_n.ser" && fail "$_n: the guest finished before it migrated"
	finished_verified "d$_n" "$img" "$_n: the destination"
	pass "$_n: migrated in mode=$_mode after '$_re', the destination verified 16384 records: $(tail -n 1 "$T/ctl.out")"
}

one write write '^hb 2 '
one read verify '^vb 2 '

# The destination has no disk: it refuses the final state, the source goes on.
start_dst dn 64M 1 --tls-none
bg_vmm sn run --kernel "$GUESTS/block.elf" --memory 64M --disk "$img" \
	--cmdline "mode=verify pace_us=1000" --serial "file:$T/sn.ser" --control "sn-$$"
LOG=$T/sn.err
wait_for_line "$T/sn.ser" '^vb 1 ' 30 || fail "mismatch: the guest did not start"
migrate sn "$PORT" --tls-none
refused_carried_on dn sn "with a disk: give --disk" 16384 "a destination without a disk"
pass "a destination without a disk refused the final state; the source carried on and verified"
