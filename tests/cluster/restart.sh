#!/bin/sh
# hasvcd dies (SIGKILL) while its vmm processes run on.  The group sees the
# daemon leave: on a node with nothing, nothing moves; on the primary's
# node, the standby is promoted (the orphaned primary pauses itself when its
# standby goes: nothing it emits leaves unconfirmed), the client loses no
# acknowledged update, and the restarted hasvcd finds its old vmm from the
# record in its run directory and reports it, so the cluster stops it as a
# stale copy: web1 never runs twice.  Replicas agree at the end.
# Totem: token 300 ms, token_coefficient 0 (cluster_nodes.sh's defaults).
. "$(dirname "$0")/cluster_nodes.sh"
. "$(dirname "$0")/hasvc_cluster.sh"
need_hasvc

cluster_setup 3
start_cluster web1:a,b
wait_placed web1 90; set -- $PLACED; [ "$1 $2" = "a b" ] || fail "web1 placed on $1/$2, not a/b"
gen=$(vm_get b web1 'v["generation"]')
start_client web1
wait_acks web1 30 20

restart_hasvcd c
wait_vm b web1 'all(n.get("ready") for n in s["nodes"])' 30
[ "$(vm_get b web1 'v["primary"] + v["standby"] + str(v["generation"])')" = "ab$gen" ] ||
	fail "web1 changed when c's hasvcd restarted: $(hactl_on b status)"
wait_acks web1 20 20
echo "c's hasvcd restarted: web1 untouched (a/b, generation $gen)"

old="hasvc.web1.$gen"
restart_hasvcd a
wait_vm b web1 'v["primary"] == "b" and v["state"] in ("running", "syncing", "protected")' 30
wait_acks web1 20 20
echo "a's hasvcd restarted: the standby on b took over"
wait_for_line "$T/a/hasvcd.log" "$old \\(pid [0-9]*\\) left by an earlier hasvcd: adopted" 10 ||
	fail "a's new hasvcd did not find $old: $(grep -v debug "$T/a/hasvcd.log" | tail -5)"
wait_vmm_gone a "$old" 20
echo "a's new hasvcd adopted $old and the cluster stopped it as stale"
wait_placed web1 90; set -- $PLACED
[ "$1" = b ] || fail "web1 on $1, expected b"
wait_acks web1 20 20
stop_client web1
replicas_agree 3 30
echo "replicas agree; ok"
