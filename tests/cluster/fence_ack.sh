#!/bin/sh
# A lost node whose fence command keeps failing: its VMs stay where they
# are until the operator confirms the node is off (hactl fence-ack).
#  - the fence command starts a child that would outlive it and then hangs:
#    at its time limit (fence_timeout_ms = 1000) the whole process group is
#    killed, the child with it, and the attempt counts as failed
#  - while the command keeps failing, the standby is not promoted
#  - hactl fence-ack of a member is refused (non-zero exit, the reason)
#  - hactl fence-ack of the lost node promotes the standby; a client
#    following the VM loses no acknowledged update
# Totem: token 300 ms, token_coefficient 0 (cluster_nodes.sh's defaults).
. "$(dirname "$0")/cluster_nodes.sh"
. "$(dirname "$0")/hasvc_cluster.sh"
need_hasvc

cluster_setup 3
HLIB_FENCE="sleep 1000 & echo \$! >>$T/fence_children; wait; exit 1"
HLIB_NODE_EXTRA="fence_timeout_ms = 1000"
start_cluster web1:a,b
wait_placed web1 90; set -- $PLACED; [ "$1 $2" = "a b" ] || fail "web1 placed on $1/$2, not a/b"
start_client web1
wait_acks web1 50 20

kill_node a
t0=$EVENT_MS
echo "killed every process of node a"
# b, the smallest member, is the fencer.
wait_for_line "$T/b/hasvcd.log" "fencing a: the command did not finish in 1000 ms: killed" 20 ||
	fail "the fence command was not killed at its limit: $(grep fenc "$T/b/hasvcd.log")"
read -r child <"$T/fence_children" || fail "the fence command left no child pid"
end=$(deadline 5)
while alive "$child"; do
	[ "$(date +%s)" -le "$end" ] ||
		fail "the fence command's child $child outlived the time limit: $(tr '\0' ' ' <"/proc/$child/cmdline")"
	sleep 0.05
done
echo "the fence command's time limit killed its child ($child) too"

# It keeps failing: the retry comes 5 s later; still no promotion.
end=$(deadline 20)
until [ "$(grep -c 'fencing a: the command did not finish' "$T/b/hasvcd.log")" -ge 2 ]; do
	[ "$(date +%s)" -le "$end" ] || fail "no second failed fence attempt: $(grep fenc "$T/b/hasvcd.log")"
	sleep 0.1
done
[ "$(vm_get b web1 'v["primary"]')" = a ] ||
	fail "web1 moved while a was not fenced: $(hactl_on b status)"
[ "$(vm_get b web1 'v["waiting"]')" = "fencing of its node" ] ||
	fail "web1 does not say it waits for fencing: $(hactl_on b status)"
echo "after $(( $(now_ms) - t0 )) ms and 2 failed attempts, web1 still waits for a to be fenced"

# A member cannot be acknowledged as off.
if hactl_on c fence-ack b >"$T/ack_b.out" 2>"$T/ack_b.err"; then
	fail "fence-ack of member b was accepted: $(cat "$T/ack_b.out")"
fi
grep -q "node b is a member of the cluster" "$T/ack_b.err" ||
	fail "fence-ack b: no clear reason: $(cat "$T/ack_b.err")"
echo "hactl fence-ack b (a member) refused: $(cat "$T/ack_b.err")"
[ "$(vm_get b web1 'v["primary"]')" = a ] || fail "web1 moved after a refused fence-ack"

t_ack=$(now_ms)
hactl_on c fence-ack a >"$T/ack_a.out" 2>&1 || fail "fence-ack a: $(cat "$T/ack_a.out")"
cat "$T/ack_a.out"
wait_vm b web1 'v["primary"] == "b" and v["state"] in ("running", "syncing", "protected")' 20
wait_acks web1 20 20
first_answer web1 "$t0"
first_b=$FIRST_MS
[ "$first_b" -ge "$t_ack" ] ||
	fail "web1 answered from b (${first_b:-never}) before the acknowledgement ($t_ack)"
echo "web1 answered from b $(( first_b - t_ack )) ms after the acknowledgement"
grep -q "node a: the operator on c confirmed it is off" "$T/b/hasvcd.log" ||
	fail "the acknowledgement is not logged"
wait_placed web1 90; set -- $PLACED
[ "$1 $2" = "b c" ] || fail "web1 after the failover: $1/$2, expected b/c"
stop_client web1
replicas_agree 2 30
echo "replicas agree; ok"
