#!/bin/sh
# A Debian Linux server live-migrated back and forth under load: the guest
# (tests/linux/linux_guest.sh) on an ext4 image both hosts see (shared storage),
# its client sending 100 counter updates a second.  Nine pre-copy
# migrations, each to a new vmm on the other tap, then one post-copy
# (switched by command at once, the pages following on demand).  After
# each the guest answers from its new place; at the end no answer broke
# value - seq, counterd reads back from its disk every update the client
# got an answer for, the kernel logged no warning, and e2fsck finds the
# image clean once the guest is stopped.
. "$(dirname "$0")/../common.sh"
. "$top_srcdir/tests/migration/migration_helpers.sh"
. "$top_srcdir/tests/checkpoint/checkpoint_helpers.sh"
. "$top_srcdir/tests/virtio/net_topology.sh"
. "$top_srcdir/tests/linux/linux_guest.sh"
need_kvm
need_net
need_linux
need_userfaultfd

N=${LINUX_MIGRATIONS:-10}
img=$T/g.img

linux_root "$img"
linux_up m0 "$img" ntap0
linux_load m0

i=1
while [ "$i" -le "$N" ]; do
	cur=m$((i - 1)) dst=m$i
	bg_nvmm "$dst" run --incoming "tcp:127.0.0.1:0" --tls-none --memory "$LINUX_MEM" \
		--disk "$img" --net "tap=ntap$((i % 2)),bridge=nbr0" --serial "file:$T/$dst.ser" \
		--control "$dst-$$"
	listening "$dst" "the destination did not listen"
	# A random moment of the guest's work (not a synchronisation).
	sleep "0.$(printf %03d "$(rand_ms 1000)")"
	if [ "$i" -lt "$N" ]; then
		nctl "$cur-$$" migrate "tcp:127.0.0.1:$PORT" --tls-none --wait \
			>"$T/ctl.out" 2>"$T/ctl.err" || { LOG=$T/$cur.err; fail "migration $i: $(cat "$T/ctl.err")"; }
		how=pre-copy
	else
		nctl "$cur-$$" migrate "tcp:127.0.0.1:$PORT" --tls-none --postcopy \
			>"$T/ctl.out" 2>"$T/ctl.err" || fail "migrate --postcopy: $(cat "$T/ctl.err")"
		nctl "$cur-$$" migrate-postcopy >"$T/pc.out" 2>&1 ||
			fail "migrate-postcopy: $(cat "$T/pc.out")"
		LOG=$T/$cur.err
		wait_for_line "$T/$cur.err" "migration to .* completed" 60 || fail "post-copy did not complete"
		grep -q "switching to post-copy" "$T/$cur.err" || fail "no switch to post-copy"
		how=post-copy
	fi
	eval "wait \$${cur}_pid" || { LOG=$T/$cur.err; fail "migration $i: the source did not end well"; }
	answering "$dst" 10 "migration $i: $dst answers nothing"
	clock_right "migration $i"
	echo "migration $i ($how): answering on ntap$((i % 2)): $(tail -n 1 "$T/ctl.out")"
	i=$((i + 1))
done
LOG=$T/m$N.err
wait_for_line "$T/m$N.err" "post-copy: every page is here" 60 || fail "post-copy did not finish"
linux_verdict m "m$N" "$img"
pass "$((N - 1)) pre-copy and 1 post-copy migrations of a Debian guest under 100 Hz, every acknowledged update on its disk, e2fsck clean: $(tail -n 1 "$T/c.log")"
