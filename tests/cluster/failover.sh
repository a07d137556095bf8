#!/bin/sh
# A node hosting a primary dies (SIGKILL of every process in it: corosync,
# hasvcd, vmm): the quorate rest promotes the standby from its last
# committed checkpoint, a client following the VM loses no acknowledged
# update, and a new standby is synced on the third node.
# Two protected counter guests, one primary on a and one on b; a is killed.
# Every node has a fence command (it records its calls): the standby is
# promoted only after a was fenced.  Then a comes back empty, and c, which
# holds both standbys, is killed: the primaries run on and get new standbys
# on a.
# Totem: token 300 ms, token_coefficient 0 (cluster_nodes.sh's defaults).
. "$(dirname "$0")/cluster_nodes.sh"
. "$(dirname "$0")/hasvc_cluster.sh"
need_hasvc
# The failover's time limit, scaled as every limit (nested VM: 7.2 s once,
# against 5 s); the failover's speed itself is measured by
# tests/bench/bench_failover.sh.
BOUND_MS=${BOUND_MS:-$((5000 * TIME_SCALE))}

cluster_setup 3
HLIB_FENCE="echo \$HASVC_FENCE_NODE \$(date +%s%N) >>$T/fenced"
start_cluster web1:a,b web2:b,c
wait_placed web1 90; set -- $PLACED; [ "$1 $2" = "a b" ] || fail "web1 placed on $1/$2, not a/b"
wait_placed web2 90; set -- $PLACED; [ "$1 $2" = "b c" ] || fail "web2 placed on $1/$2, not b/c"
echo "web1 on a (standby b), web2 on b (standby c): protected"

start_client web1
start_client web2
wait_acks web1 50 20
wait_acks web2 50 20

t0=$(now_ms)
kill_node a
echo "killed every process of node a"
wait_vm b web1 'v["primary"] == "b" and v["state"] in ("running", "syncing", "protected")' 20
wait_acks web1 20 20
# The client's first answer from the new primary ("get" after reconnecting).
t1=$(awk '$1 > '"$t0"' && $3 == "connected" { print $1; exit }' "$T/web1.acks")
[ -n "$t1" ] || fail "web1: the client never reconnected: $(tail -5 "$T/web1.acks")"
echo "web1 answered from b $(( t1 - t0 )) ms after the kill (bound ${BOUND_MS} ms)"
[ $(( t1 - t0 )) -le "$BOUND_MS" ] || fail "failover took $(( t1 - t0 )) ms, over ${BOUND_MS} ms"

wait_placed web1 90; set -- $PLACED
[ "$1 $2" = "b c" ] || fail "web1 after the failover: $1/$2, expected b/c"
echo "web1 protected again: primary b, standby c"
read -r fenced fenced_ns <"$T/fenced" || fail "nobody ran the fence command"
[ "$fenced" = a ] || fail "fenced $fenced, not a"
[ $(( fenced_ns / 1000000 )) -le "$t1" ] || fail "web1 answered from b before a was fenced"
echo "a was fenced $(( fenced_ns / 1000000 - t0 )) ms after the kill, before the promotion"
wait_acks web2 20 20

# a comes back (empty, as after a reboot); then c, with both standbys, dies.
start_corosync a
start_hasvcd a
wait_vm b web1 'all(n.get("ready") for n in s["nodes"])' 30
kill_node c
echo "killed every process of node c (standby of web1 and web2)"
for vm in web1 web2; do
	wait_vm b $vm 'v["primary"] == "b" and v.get("standby") == "a" and v["state"] == "protected"' 90
	wait_acks $vm 20 20
	echo "$vm: primary still on b, new standby on a"
done
stop_client web1
stop_client web2
# The clients check that "get" never went below the last acknowledged value.
[ "$(vm_get b web2 'v["primary"]')" = b ] || fail "web2 moved though its node lived"
replicas_agree 2 30
echo "replicas agree; ok"
