#!/bin/sh
# A Debian Linux server saved and restored again and again under load: the
# guest (tests/linux/linux_guest.sh) on an ext4 image, its client sending 100
# counter updates a second.  Twenty times, at a random moment: `save FILE
# --quit`, then a new vmm restores FILE on the same image and tap and the
# guest answers again, without a reboot.  At the end no answer broke
# value - seq, counterd reads back from its disk every update the client
# got an answer for, the kernel logged no warning (no soft lockup or
# clocksource complaint after the gaps), and e2fsck finds the image clean.
. "$(dirname "$0")/../common.sh"
. "$top_srcdir/tests/migration/migration_helpers.sh"
. "$top_srcdir/tests/checkpoint/checkpoint_helpers.sh"
. "$top_srcdir/tests/virtio/net_topology.sh"
. "$top_srcdir/tests/linux/linux_guest.sh"
need_kvm
need_net
need_linux

N=${LINUX_SNAPSHOTS:-20}
img=$T/g.img

linux_root "$img"
linux_up s0 "$img" ntap0
linux_load s0

i=1
while [ "$i" -le "$N" ]; do
	cur=s$((i - 1)) new=s$i
	# A random moment of the guest's work (not a synchronisation).
	sleep "0.$(printf %03d "$(rand_ms 1000)")"
	nctl "$cur-$$" save "$T/snap" --quit >"$T/ctl.out" 2>&1 ||
		{ LOG=$T/$cur.err; fail "save $i: $(cat "$T/ctl.out")"; }
	eval "wait \$${cur}_pid" || { LOG=$T/$cur.err; fail "save $i: the vmm did not end well"; }
	bg_nvmm "$new" run --restore "$T/snap" --memory "$LINUX_MEM" --disk "$img" \
		--net "tap=ntap0,bridge=nbr0" --serial "file:$T/$new.ser" --control "$new-$$"
	answering "$new" 10 "restore $i: the guest answers nothing"
	clock_right "restore $i"
	LOG=$T/$new.ser
	# counterd's start line is printed once a boot: a restored guest goes on.
	grep -q "^counterd ready" "$T/$new.ser" && fail "restore $i: the guest booted afresh"
	i=$((i + 1))
done
linux_verdict s "s$N" "$img"
pass "$N saves and restores of a Debian guest under 100 Hz, every acknowledged update on its disk, e2fsck clean: $(tail -n 1 "$T/c.log")"
