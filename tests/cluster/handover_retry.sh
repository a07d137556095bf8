#!/bin/sh
# A handover the primary's node could not start: hactl migrate web1 to its
# standby's node while the primary's vmm is stopped (SIGSTOP), so hasvcd's
# pause request times out.  The cluster still waits for the handover; once
# the vmm runs again and its standby is protected, hasvcd starts the
# handover again by itself, the standby takes over, and no client loses an
# acknowledged update.  (Before, the handover was an action carried out
# once: the cluster waited for ever, as maintenance.sh did once in CI.)
. "$(dirname "$0")/cluster_nodes.sh"
. "$(dirname "$0")/hasvc_cluster.sh"
need_hasvc

cluster_setup 3
# hasvc.conf's ack timeout and minimum epoch (below a millisecond) reach
# the primary's vmm (its protect-status).
ack_ms=$((20000 * TIME_SCALE))
HLIB_EXTRA_web1="checkpoint_ack_timeout_ms = $ack_ms
checkpoint_min_interval_ms = 0.5"
start_cluster web1:a,b
wait_protected web1 90 >/dev/null
[ "$(vm_get b web1 'v["primary"] + v["standby"]')" = ab ] || fail "web1 not on a/b"
start_client web1
wait_acks web1 50 20

gen=$(vm_get b web1 'v["generation"]')
node_exec a "$VMM" ctl "hasvc.web1.$gen" protect-status --json >"$T/ps.json"
got=$(json_field ack_timeout_ms <"$T/ps.json")
[ "$got" = "$ack_ms" ] || fail "the primary's ack timeout is '$got' ms, hasvc.conf says $ack_ms"
got=$(json_field min_interval_us <"$T/ps.json")
[ "$got" = 500 ] || fail "the primary's minimum epoch is '$got' us, hasvc.conf says 0.5 ms"
pid=$(awk '{ print $5 }' "$T/a/run/hasvc.web1.$gen.rec")
node_exec a kill -STOP "$pid"
hactl_on b migrate web1 b >"$T/mig.out" 2>&1 || { node_exec a kill -CONT "$pid"; fail "hactl migrate web1 b: $(cat "$T/mig.out")"; }
wait_for_line "$T/a/hasvcd.log" "hasvc.web1.$gen: pause: " "$(secs 30)" ||
	{ node_exec a kill -CONT "$pid"; fail "the pause of a stopped vmm did not fail: $(grep web1 "$T/a/hasvcd.log" | tail -3)"; }
node_exec a kill -CONT "$pid"
echo "the handover's pause failed ($(grep "hasvc.web1.$gen: pause: " "$T/a/hasvcd.log" | head -1 | sed 's/.*pause: //'))"

wait_vm b web1 'v["primary"] == "b"' "$(secs 60)"
grep -q "hasvc.web1.$gen: the cluster still waits for its handover: starting it again" "$T/a/hasvcd.log" ||
	fail "web1 moved, but not by a second handover: $(grep web1 "$T/a/hasvcd.log" | tail -5)"
wait_placed web1 90; set -- $PLACED
echo "web1 handed over once its vmm ran again: primary $1, standby $2"
wait_acks web1 20 20
stop_client web1
replicas_agree 3 30
echo "replicas agree; ok"
