#!/bin/sh
# The demo: a three-node cluster on this machine (network namespaces, one
# corosync, hasvcd and set of vmm processes per node), a protected VM (the
# counter guest) with a client incrementing it, the node running its
# primary killed with SIGKILL, and the VM carrying on from its standby with
# every acknowledged update, protected again on the third node.
# Needs root and /dev/kvm; everything it starts is stopped on exit.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
top_srcdir=$top top_builddir=$top VMM=$top/vmm/vmm GUESTS=$top/tests/guests
export top_srcdir top_builddir VMM GUESTS
. "$top/tests/cluster/clib.sh"
. "$top/tests/cluster/hlib.sh"
need_hasvc

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
status() { hactl_on "$1" status | sed 's/^/   /'; }

say "three nodes a, b, c in network namespaces, corosync 3 (knet) on each"
cluster_setup 3
say "hasvcd on every node; hasvc.conf declares one protected VM, web1 (preferred nodes a, b)"
start_cluster web1:a,b
set -- $(wait_protected web1 90)
say "web1 runs on $1, its hot standby on $2 receives a checkpoint every 25 ms"
status b
say "a client increments web1's counter; output is held until each checkpoint is committed"
start_client web1
wait_acks web1 100 30
echo "   the client has $(acks web1) acknowledged updates"

say "kill -9 every process of node $1 (corosync, hasvcd, the vmm of web1)"
victim=$1
t0=$(now_ms)
kill_node "$victim"
wait_vm "$2" web1 'v["primary"] == "'"$2"'" and v["state"] in ("running", "syncing", "protected")' 30
wait_acks web1 20 30
t1=$(awk '$1 > '"$t0"' && $3 == "connected" { print $1; exit }' "$T/web1.acks")
echo "   web1 answered from $2 $(( ${t1:-$t0} - t0 )) ms after the kill"
set -- $(wait_protected web1 90)
say "web1 runs on $1 and is protected again, standby on $2"
status "$1"
wait_acks web1 50 30
say "the client checks that no acknowledged update was lost"
stop_client web1 >"$T/client.summary"
sed 's/^/   /' "$T/client.summary"
say "done: everything started is stopped"
