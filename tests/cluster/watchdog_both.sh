#!/bin/sh
# fencing = both, with a fence command that always fails: the node that
# runs the primary dies (every process killed), the command fails again and
# again, and the standby is promoted when the watchdog's timeout (3 s) and
# the margin (2 s) have passed since the loss, not before; a client
# following the VM loses no acknowledged update.  (The stand-in watchdog is
# a plain file, as in watchdog.sh.)
# Totem: token 300 ms, token_coefficient 0 (cluster_nodes.sh's defaults).
. "$(dirname "$0")/cluster_nodes.sh"
. "$(dirname "$0")/hasvc_cluster.sh"
need_hasvc

cluster_setup 3
for n in a b c; do : >"$T/$n.wd"; done
HLIB_FENCE="echo \$HASVC_FENCE_NODE >>$T/fence_attempts; exit 1"
HLIB_NODE_EXTRA="fencing = both
watchdog_device = $T/@NODE@.wd
watchdog_timeout = 3"
HLIB_CLUSTER_EXTRA="watchdog_margin_ms = 2000"
start_cluster web1:a,b
wait_placed web1 90; set -- $PLACED; [ "$1 $2" = "a b" ] || fail "web1 placed on $1/$2, not a/b"
end=$(deadline 5)
until [ "$(stat -c %s "$T/a.wd")" -gt 1 ]; do
	[ "$(date +%s)" -le "$end" ] || fail "a does not feed its watchdog: $(grep watchdog "$T/a/hasvcd.log")"
	sleep 0.05
done
start_client web1
wait_acks web1 50 20

kill_node a
t_kill=$EVENT_MS
last_feed=$(stat -c %.3Y "$T/a.wd" | tr -d .)
echo "killed every process of node a ($(( t_kill - last_feed )) ms after its last keepalive)"
wait_vm b web1 'v["primary"] == "b" and v["state"] in ("running", "syncing", "protected")' 30
wait_acks web1 20 20
first_answer web1 "$t_kill"
first_b=$FIRST_MS
attempts=$(grep -c '^a$' "$T/fence_attempts" 2>/dev/null || echo 0)
[ "$attempts" -ge 1 ] || fail "the fence command never ran"
grep -q "fencing a: the fence command failed" "$T/b/hasvcd.log" || fail "no failed attempt logged"
grep -q "fencing a: its watchdog's timeout and the margin (5000 ms) have passed" "$T/b/hasvcd.log" ||
	fail "b did not end the watchdog wait: $(grep fenc "$T/b/hasvcd.log")"
echo "the fence command failed $attempts times; web1 answered from b $(( first_b - t_kill )) ms after the kill, $(( first_b - last_feed )) ms after a's last keepalive"
[ $(( first_b - last_feed )) -ge 5000 ] ||
	fail "b took over $(( first_b - last_feed )) ms after a's last keepalive: before the watchdog timeout and the margin"
stop_client web1
replicas_agree 2 30
echo "replicas agree; ok"
