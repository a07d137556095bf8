#!/bin/sh
# hactl evacuate NODE under client traffic: every VM leaves NODE (a handover
# to its synced standby), is protected again elsewhere, no client loses an
# acknowledged update, and NODE holds nothing afterwards.
# Totem: token 300 ms, token_coefficient 0 (cluster_nodes.sh's defaults).
. "$(dirname "$0")/cluster_nodes.sh"
. "$(dirname "$0")/hasvc_cluster.sh"
need_hasvc

cluster_setup 3
start_cluster web1:a,b web2:a,c
wait_protected web1 90 >/dev/null
wait_protected web2 90 >/dev/null
[ "$(vm_get b web1 'v["primary"] + v["standby"]')" = ab ] || fail "web1 not on a/b"
[ "$(vm_get b web2 'v["primary"] + v["standby"]')" = ac ] || fail "web2 not on a/c"
start_client web1
start_client web2
wait_acks web1 50 20
wait_acks web2 50 20

t0=$(now_ms)
hactl_on b evacuate a --wait --timeout "$(secs 120)" >"$T/evacuate.out" 2>&1 ||
	fail "hactl evacuate a: $(cat "$T/evacuate.out")"
echo "evacuated a in $(( $(now_ms) - t0 )) ms"
for vm in web1 web2; do
	wait_placed $vm 90; set -- $PLACED
	case "$1 $2" in *a*) fail "$vm still has a copy on a: $1/$2" ;; esac
	echo "$vm: primary $1, standby $2"
	wait_acks $vm 20 20
done
[ "$(vm_get b web1 'sum(n.get("primaries", 0) + n.get("standbys", 0) for n in s["nodes"] if n["name"] == "a")')" = 0 ] ||
	fail "node a still holds copies: $(hactl_on b status)"

# hactl failover: the primary is stopped and its synced standby promoted.
wait_placed web1 30; set -- $PLACED
hactl_on b failover web1 --wait --timeout "$(secs 60)" >"$T/failover.out" 2>&1 ||
	fail "hactl failover web1: $(cat "$T/failover.out")"
wait_placed web1 90; set -- $PLACED
echo "hactl failover web1: now primary $1, standby $2"
wait_acks web1 20 20
stop_client web1
stop_client web2
replicas_agree 3 30
echo "replicas agree; ok"
