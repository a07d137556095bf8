#!/bin/sh
# A Debian Linux server protected, its primary killed again and again: the
# guest (tests/linux/linux_guest.sh) on an ext4 root, protected at 25 ms epochs
# with its disk replicated; one client sends 100 counter updates a second,
# each fsync'd by counterd before its answer.  Each trial kills the primary
# with SIGKILL at a random moment, activates the standby (which announces
# the MAC and answers), and protects it again to a new standby on a blank
# image on the dead primary's tap.  At the end: no answer broke value - seq
# (no acknowledged update lost or applied twice), counterd reads back from
# its disk every update the client got an answer for, the kernel logged no
# warning, and e2fsck finds the last primary's image clean.
. "$(dirname "$0")/../common.sh"
. "$top_srcdir/tests/migration/migration_helpers.sh"
. "$top_srcdir/tests/checkpoint/checkpoint_helpers.sh"
. "$top_srcdir/tests/virtio/net_topology.sh"
. "$top_srcdir/tests/linux/linux_guest.sh"
need_kvm
need_net
need_linux

TRIALS=${LINUX_FAILOVER_TRIALS:-30}

# blank ID: a standby's image, the size of the guest's, no file system.
blank() { truncate -s "$(stat -c %s "$T/v1.img")" "$T/$1.img"; }

linux_root "$T/v1.img"
blank v2
bg_linux_standby v2 "$T/v2.img" ntap1
linux_up v1 "$T/v1.img" ntap0
nprotect v1 30
pass "a Debian guest booted, answers, protected with its disk"
linux_load v1
i=1
while [ "$i" -le "$TRIALS" ]; do
	cur=v$i sb=v$((i + 1))
	curtap=ntap$(( (i + 1) % 2 ))
	before=$(net_field "$cur" tx_frames)
	# The random moment of the failure (not a synchronisation).
	sleep "$(( $(rand_ms 1000) / 1000 + 1 )).$(printf %03d "$(rand_ms 1000)")"
	after=$(net_field "$cur" tx_frames)
	[ "$after" -gt "$before" ] || fail "trial $i: $cur answers nothing ($before -> $after)"
	eval "kill_vmm \$${cur}_pid"
	nctl "$sb-$$" activate >"$T/act" 2>&1 || fail "trial $i: activate: $(cat "$T/act")"
	LOG=$T/$sb.err
	wait_for_line "$T/$sb.err" "virtio-net: announcing $GMAC" 10 || fail "trial $i: no announce"
	end=$(deadline 10)
	until [ "$(net_field "$sb" tx_frames)" -ge 20 ]; do
		[ "$(date +%s)" -le "$end" ] || fail "trial $i: the activated $sb answers nothing"
		sleep 0.05
	done
	clock_right "trial $i"
	echo "trial $i: $cur killed after $after frames, $sb activated and answering"
	if [ "$i" -lt "$TRIALS" ]; then
		blank "v$((i + 2))"
		bg_linux_standby "v$((i + 2))" "$T/v$((i + 2)).img" "$curtap"
		nprotect "$sb" 30
	fi
	i=$((i + 1))
done
last=v$i
linux_verdict v "$last" "$T/$last.img"
pass "$TRIALS kill -9 failovers of a Debian guest under 100 Hz, every acknowledged update on its disk, e2fsck clean: $(tail -n 1 "$T/c.log")"
