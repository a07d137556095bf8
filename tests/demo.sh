#!/bin/sh
# The demo: a three-node cluster on this machine (network namespaces, one
# corosync, hasvcd and set of vmm processes per node) with two protected
# VMs whose primaries run on the same node:
#  - web1, the network guest: a UDP counter service on a virtio-net NIC
#    bridged to a guest LAN, and a client in its own namespace sending 100
#    updates a second (answers leave the host only once the checkpoint that
#    produced them is committed on the standby);
#  - db1, the block guest on a replicated virtio-blk disk: it writes
#    numbered records and, when done, reads every one back and checks it.
# The node running both primaries is killed with SIGKILL; both VMs carry on
# from their standbys (web1's MAC announced on the new node, db1 on the
# standby's own copy of its disk), lose nothing, and are protected again
# on the third node.
# Needs root and /dev/kvm; everything it starts is stopped on exit.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
top_srcdir=$top top_builddir=$top VMM=$top/vmm/vmm GUESTS=$top/tests/guests
export top_srcdir top_builddir VMM GUESTS
. "$top/tests/cluster/cluster_nodes.sh"
. "$top/tests/cluster/hasvc_cluster.sh"
need_hasvc
[ -c /dev/net/tun ] || skip "no /dev/net/tun (the VM's network interface needs a tap)"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# metrics NODE: what curl 127.0.0.1:9465/metrics in NODE shows of epochs and failovers.
metrics() {
	node_exec "$1" python3 -c 'import sys, urllib.request
sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())' \
		http://127.0.0.1:9465/metrics | grep -E '^hasvc_(vm_checkpoint_epochs_total|cluster_failovers_total)' |
		sed 's/^/   /'
}
status() { hactl_on "$1" status | sed 's/^/   /'; }
say "three nodes a, b, c in network namespaces, corosync 3 (knet) on each, and a guest LAN"
cluster_setup 3
guest_lan_setup
say "hasvc.conf: web1 (network guest on bridge gbr) and db1 (block guest on a 16 MiB disk), both protected, preferred nodes a then b"
HLIB_KERNEL_web1=$GUESTS/net.elf
HLIB_EXTRA_web1="cmdline = ip=$GL_NET.10 port=7777
bridge = gbr
mac = 52:54:00:00:00:01"
HLIB_KERNEL_db1=$GUESTS/block.elf
HLIB_MEMORY_db1=64M
HLIB_EXTRA_db1="cmdline = mode=write sectors=32768 rq_sectors=8 pace_us=1500
disk = /run/db1.img
disk_size = 16M"
HLIB_CLUSTER_EXTRA="metrics_port = 9465"
start_cluster web1:a,b db1:a,b
wait_placed web1 90; set -- $PLACED
wait_protected db1 90 >/dev/null
say "both run on $1; their hot standbys on $2 receive a checkpoint every 25 ms (with db1's disk writes)"
status b
say "GET /metrics on $1 (Prometheus text format), twice a second apart: the epochs grow"
metrics "$1"
sleep 1
metrics "$1"

say "a client in another namespace increments web1's counter over UDP, 100 times a second"
ip netns exec "$GL_NS" python3 "$top/tests/virtio/udpclient.py" "$GL_NET.10" 7777 \
	--rate 100 --duration 3600 --log "$T/web1.acks" >"$T/udp.out" 2>&1 &
udp_pid=$!
PIDS="$PIDS $udp_pid"
python3 "$top/tests/cluster/serial_follow.py" "$T/*/run/db1.serial" "$T/db1.out" \
	"$T/db1.stop" >/dev/null 2>&1 &
PIDS="$PIDS $!"
wait_acked web1 100 30
echo "   the client has $(acked web1) acknowledged updates; db1 says: $(tail -1 "$T/db1.out" | cut -d' ' -f2-)"

say "kill -9 every process of node $1 (corosync, hasvcd, both vmm)"
t0=$(now_ms)
kill_node "$1"
wait_acked web1 1 30
echo "   web1 answered again $(( $(now_ms) - t0 )) ms after the kill (from $2: its RARP moved the MAC)"
wait_for_line "$T/db1.out" 'block (ok|BAD)' 90 || fail "db1 did not finish: $(tail -3 "$T/db1.out")"
echo "   db1 carried on from $2's copy of its disk: $(grep -E 'block (ok|BAD)' "$T/db1.out" | head -1 | cut -d' ' -f2-)"
grep -q 'block BAD' "$T/db1.out" && fail "db1 found a bad record"
wait_placed web1 90; set -- $PLACED
say "web1 runs on $1 and is protected again, standby on $2"
status "$1"
say "GET /metrics on $1: a failover per VM counted, the epochs come from $1 now"
metrics "$1"
wait_acked web1 50 30
say "the client checks that no acknowledged update was lost or applied twice"
kill -TERM "$udp_pid"
wait "$udp_pid" || fail "the client found a lost or doubled update: $(tail -3 "$T/udp.out")"
tail -1 "$T/udp.out" | sed 's/^/   /'
touch "$T/db1.stop"
say "done: everything started is stopped"
