#!/bin/sh
# Guest I/O through the cluster (hasvc.conf disk and bridge): two protected
# VMs with their primaries on a and standbys on b, the block guest on a
# replicated disk (each node's copy in its private /run) and the network
# guest on a NIC bridged to the guest LAN, where a client in its own
# namespace sends counter updates over UDP.  Node a is killed:
#  - the network guest answers from b with no acknowledged update lost or
#    applied twice, and the LAN's bridge learned its MAC on b's port, which
#    only b's announcement can have done (a's port is still up);
#  - the block guest carries on from b's copy of the disk and verifies
#    every record it wrote (so b's disk held every write of every committed
#    checkpoint), and both VMs are protected again on c.
# Then an unprotected block guest on a local disk is live-migrated from c
# to b through hactl: its image goes with it (migrate --copy-disk).
. "$(dirname "$0")/cluster_nodes.sh"
. "$(dirname "$0")/hasvc_cluster.sh"
need_hasvc
[ -f "$GUESTS/block.elf" ] && [ -f "$GUESTS/net.elf" ] || fail "the block or net guest is not built"
[ -c /dev/net/tun ] || skip "no /dev/net/tun (taps)"
command -v bridge >/dev/null 2>&1 || skip "no bridge command (iproute2)"
UDPCLIENT="$top_srcdir/tests/virtio/udpclient.py"
MAC=52:54:00:77:00:01

# The UDP client in the client namespace, 100 requests a second, every
# acknowledged update logged to $T/net.acks.
start_udp_client() {
	ip netns exec "$GL_NS" python3 "$UDPCLIENT" "$GL_NET.10" 7777 --rate 100 \
		--duration 3600 --timeout 100 --log "$T/net.acks" >"$T/udp.out" 2>&1 &
	udp_pid=$!
	PIDS="$PIDS $udp_pid"
}
udp_acks() { _u=$(grep -c "^ack " "$T/net.acks" 2>/dev/null) || true; echo "${_u:-0}"; }
wait_udp_acks() {
	_goal=$(( $(udp_acks) + $1 )); _end=$(deadline "$2")
	until [ "$(udp_acks)" -ge "$_goal" ]; do
		[ "$(date +%s)" -le "$_end" ] ||
			fail "net: the client got no $1 answers in $2 s: $(tail -3 "$T/udp.out")"
		sleep 0.05
	done
}
# Ends the client (SIGTERM: it prints its summary); fails on a lost or
# doubled update.
stop_udp_client() {
	kill -TERM "$udp_pid"
	wait "$udp_pid" || fail "net: the client failed: $(tail -5 "$T/udp.out")"
	tail -1 "$T/udp.out"
}

cluster_setup 3
guest_lan_setup
HLIB_KERNEL_blk=$GUESTS/block.elf
HLIB_MEMORY_blk=64M
HLIB_EXTRA_blk="cmdline = mode=write sectors=16384 rq_sectors=8 pace_us=3000
disk = /run/hasvc-test-blk.img
disk_size = 16M"
HLIB_KERNEL_net=$GUESTS/net.elf
HLIB_EXTRA_net="cmdline = ip=$GL_NET.10 port=7777
bridge = gbr
mac = $MAC"
start_cluster blk:a,b net:a,b
wait_placed blk 90; set -- $PLACED; [ "$1 $2" = "a b" ] || fail "blk placed on $1/$2, not a/b"
wait_placed net 90; set -- $PLACED; [ "$1 $2" = "a b" ] || fail "net placed on $1/$2, not a/b"
echo "blk and net protected: primaries on a, standbys on b"

python3 "$top_srcdir/tests/cluster/serial_follow.py" "$T/*/run/blk.serial" "$T/blk.out" \
	"$T/blk.stop" >"$T/follow.err" 2>&1 &
PIDS="$PIDS $!"
start_udp_client
wait_udp_acks 100 20
wait_for_line "$T/blk.out" ' hb [0-9]' 30 || fail "the block guest prints nothing: $(tail -3 "$T/blk.out")"
grep -q 'block ok' "$T/blk.out" && fail "the block guest finished before the kill: make it slower"

kill_node a
t0=$EVENT_MS
echo "killed every process of node a"
wait_udp_acks 1 30
t1=$(now_ms)
# The LAN's bridge sends the guest's MAC to a's port (still up) until it
# sees a frame from b: without b's announcement the requests would not reach
# b before the client's ARP entry expired (30 s and more).
[ $(( t1 - t0 )) -le $(( 10000 * TIME_SCALE )) ] ||
	fail "net answered $(( t1 - t0 )) ms after the kill, over $(secs 10) s"
echo "net answers again $(( t1 - t0 )) ms after the kill"
wait_udp_acks 50 30
port=$(bridge fdb show br "$CL_BRIDGE" 2>/dev/null | awk -v m="$MAC" 'tolower($1) == m { print $3; exit }')
[ "$port" = "hc$$bg" ] || fail "the LAN's bridge has $MAC on '$port', not on b's port hc$$bg"
echo "the LAN learned $MAC on b's port"
wait_for_line "$T/blk.out" 'block ok' 180 ||
	fail "the block guest did not verify its disk after the failover: $(tail -5 "$T/blk.out")"
grep -q 'block BAD' "$T/blk.out" && fail "the block guest found a bad record: $(grep 'block BAD' "$T/blk.out")"
echo "blk carried on from b's disk and verified every record ($(( $(now_ms) - t0 )) ms after the kill)"
# Then it powers off: b's hasvcd says why its vmm ended; if the final
# checkpoint reached the standby on c, that one ended with the guest.
wait_for_line "$T/b/hasvcd.log" \
	'hasvc\.blk\.[0-9]*: vmm exited with status 0 \(stopped\): .*the guest powered off with status 0' 60 ||
	fail "b's hasvcd did not log blk's power-off: $(grep 'hasvc.blk' "$T/b/hasvcd.log" | tail -3)"
if grep -q "final checkpoint [0-9]* acknowledged" "$T"/b/run/hasvc.blk.*.log; then
	wait_for_line "$T/c/hasvcd.log" \
		'hasvc\.blk\.[0-9]*: vmm exited with status 0 \(stopped\): .*the guest stopped on the primary' 60 ||
		fail "blk's standby on c did not end with its guest: $(grep 'hasvc.blk' "$T/c/hasvcd.log" | tail -3)"
	echo "blk powered off on b; its final checkpoint ended the standby on c too"
fi
# Nothing to promote then: the VM boots afresh, as a reboot would.
wait_for_line "$T/b/hasvcd.log" 'cluster: vm blk: its guest powered off: booting it afresh on' 30 ||
	fail "blk's power-off was not taken as one: $(grep 'vm blk' "$T/b/hasvcd.log" | tail -3)"
wait_placed net 90; set -- $PLACED; [ "$1 $2" = "b c" ] || fail "net after the failover: $1/$2, not b/c"
# An unprotected VM on a local disk, added by a reload, mid-write,
# live-migrated from c to b: its disk goes with it (each node's /run is its
# own), and it verifies every record.
HLIB_KERNEL_loc=$GUESTS/block.elf
HLIB_MEMORY_loc=64M
HLIB_EXTRA_loc="cmdline = mode=write sectors=16384 rq_sectors=8 pace_us=8000
disk = /run/hasvc-test-loc.img
disk_size = 8M"
HLIB_PROTECT_loc=no
write_hasvc_conf blk:a,b net:a,b loc:c
hactl_on b reload || fail "hactl reload (adding loc) failed"
python3 "$top_srcdir/tests/cluster/serial_follow.py" "$T/*/run/loc.serial" "$T/loc.out" \
	"$T/loc.stop" >"$T/follow_loc.err" 2>&1 &
PIDS="$PIDS $!"
wait_vm c loc 'v["primary"] == "c" and v["state"] == "unprotected"' 60
wait_for_line "$T/loc.out" ' hb [0-9]' 30 || fail "loc prints nothing: $(tail -3 "$T/loc.out")"
hactl_on c migrate loc b --wait --timeout "$(secs 60)" || fail "hactl migrate loc b failed"
grep -q 'block ok' "$T/loc.out" && fail "loc finished before its migration ended: make it slower"
grep -q "[1-9][0-9]* disk bytes" "$T/b/run/hasvc.loc."*.log || fail "loc's destination logged no disk copy"
wait_for_line "$T/loc.out" 'block ok' 180 ||
	fail "loc did not verify its disk after the migration: $(tail -5 "$T/loc.out")"
echo "loc live-migrated c -> b mid-write with its disk; every record verified on b"

wait_udp_acks 50 30
stop_udp_client
touch "$T/blk.stop" "$T/loc.stop"
replicas_agree 2 30
echo "ok"
