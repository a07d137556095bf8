#!/bin/sh
# A promotion the standby's node could not carry out at once: the standby's
# vmm is stopped (SIGSTOP) when its primary's node dies, so hasvcd's
# activate request times out.  The cluster still waits for that copy; once
# the vmm runs again, hasvcd takes it on as the primary (the vmm carried
# out the late request) or asks again, the client loses no acknowledged
# update, and a new standby is synced.  (Before, the promotion was an
# action carried out once: the VM waited for its new primary for ever.)
# Totem: token 300 ms, token_coefficient 0 (cluster_nodes.sh's defaults).
. "$(dirname "$0")/cluster_nodes.sh"
. "$(dirname "$0")/hasvc_cluster.sh"
need_hasvc

cluster_setup 3
HLIB_FENCE="echo \$HASVC_FENCE_NODE >>$T/fenced"
start_cluster web1:a,b
wait_placed web1 90; set -- $PLACED; [ "$1 $2" = "a b" ] || fail "web1 placed on $1/$2, not a/b"
start_client web1
wait_acks web1 50 20

rec=$(ls "$T/b/run/"hasvc.web1.*.rec)
[ "$(echo "$rec" | wc -l)" = 1 ] || fail "b holds more than one copy of web1: $rec"
sgen=$(awk '{ print $2 }' "$rec") pid=$(awk '{ print $5 }' "$rec")
node_exec b kill -STOP "$pid"
kill_node a
echo "stopped web1's standby vmm on b (generation $sgen), killed every process of node a"
wait_for_line "$T/b/hasvcd.log" "hasvc.web1.$sgen: activate: " "$(secs 30)" ||
	{ node_exec b kill -CONT "$pid"; fail "the activate of a stopped vmm did not fail: $(grep web1 "$T/b/hasvcd.log" | tail -3)"; }
node_exec b kill -CONT "$pid"
echo "the promotion's activate failed ($(grep "hasvc.web1.$sgen: activate: " "$T/b/hasvcd.log" | head -1 | sed 's/.*activate: //'))"

wait_vm b web1 'v["primary"] == "b" and v["state"] in ("running", "syncing", "protected")' "$(secs 60)"
grep -q "hasvc.web1.$sgen: the cluster waits for its promotion to generation [0-9]*: trying again" \
	"$T/b/hasvcd.log" || fail "web1 runs on b, but not by a second try: $(grep web1 "$T/b/hasvcd.log" | tail -5)"
wait_acks web1 20 20
wait_placed web1 90; set -- $PLACED
[ "$1 $2" = "b c" ] || fail "web1 after the promotion: $1/$2, expected b/c"
echo "web1 promoted once its vmm ran again: primary $1, standby $2"
grep -qx a "$T/fenced" || fail "a was not fenced"
stop_client web1
replicas_agree 2 30
echo "replicas agree; ok"
