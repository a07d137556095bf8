#!/bin/sh
# A hasvcd stopped cleanly (SIGTERM: systemctl stop or restart, an upgrade)
# is a restart, not a node loss.  It tells the cluster before it leaves the
# group; the VMs it holds a copy of are frozen for restart_grace_ms: on the
# primary's node, nothing fails over, the generation stays, the client keeps
# getting answers (the vmm processes run on and checkpoint to the standby),
# and the restarted hasvcd adopts its vmm and ends the freeze.  The same on
# the standby's node: its vmm keeps acknowledging the primary's checkpoints
# (the client's answers, released only then, go on), and the restarted
# hasvcd adopts it.  A hasvcd
# stopped for longer than the grace is a node loss when the grace ends:
# fenced, then the standby is promoted, and the old primary never runs
# beside it.  (kill -9 of hasvcd is a loss at once: restart.sh.)  The
# client loses no acknowledged update; replicas agree at the end.
. "$(dirname "$0")/cluster_nodes.sh"
. "$(dirname "$0")/hasvc_cluster.sh"
need_hasvc

# events_of NODE: "EVENT NODE VM" lines of hactl --json events on NODE.
events_of() {
	hactl_on "$1" --json events 2>/dev/null | python3 -c '
import json, sys
for e in json.load(sys.stdin)["events"]:
    print(e["event"], e.get("node") or "-", e.get("vm") or "-")'
}

# count_event NODE "EVENT NODE VM": how many NODE holds.
count_event() { events_of "$1" | grep -cx -- "$2" || true; }

# wait_event_count NODE "EVENT NODE VM" COUNT SECS: until NODE holds COUNT.
wait_event_count() {
	_end=$(deadline "$4")
	until [ "$(count_event "$1" "$2")" -ge "$3" ]; do
		[ "$(date +%s)" -le "$_end" ] || fail "$1: no event '$2' (#$3) within $4 s: $(events_of "$1")"
		sleep 0.1
	done
}

# a_is VAR: the value of node a's VAR in b's status (Python, over n).
a_is() { vm_get b web1 '[n.get("'"$1"'", False) for n in s["nodes"] if n["name"] == "a"][0]'; }

cluster_setup 3
HLIB_FENCE="true"
HLIB_CLUSTER_EXTRA="restart_grace_ms = $(( $(secs 30) * 1000 ))"
start_cluster web1:a,b
wait_placed web1 90; set -- $PLACED; [ "$1 $2" = "a b" ] || fail "web1 placed on $1/$2, not a/b"
gen=$(vm_get b web1 'v["generation"]')
start_client web1
wait_acks web1 30 20

# connections: how often the client (re)connected to web1's primary.
connections() { awk '$3 == "connected"' "$T/web1.acks" | wc -l; }

# 1. SIGTERM to the primary's hasvcd, started again within the grace.
conn0=$(connections)
t_stop=$(now_ms)
kill -TERM "$a_hasvcd_pid"
wait "$a_hasvcd_pid" || fail "a's hasvcd did not stop cleanly: $(tail -3 "$T/a/hasvcd.log")"
grep -q "the cluster froze this node's VMs: leaving" "$T/a/hasvcd.log" ||
	fail "a's hasvcd left without its restart notice: $(grep -v debug "$T/a/hasvcd.log" | tail -5)"
wait_event_count b "node_restarting a -" 1 10
wait_vm b web1 '[n.get("member", False) for n in s["nodes"] if n["name"] == "a"] == [False]' 20
wait_acks web1 20 20
[ "$(vm_get b web1 'v["primary"] + v["standby"] + str(v["generation"])')" = "ab$gen" ] ||
	fail "web1 failed over when a's hasvcd stopped cleanly: $(hactl_on b status)"
[ "$(vm_get b web1 'v.get("frozen_by", "")')" = a ] ||
	fail "web1 is not frozen by a: $(hactl_on b status)"
hactl_on b status >"$T/status.frozen"
grep -q "^a  *restarting " "$T/status.frozen" && grep -q "frozen: a restarts" "$T/status.frozen" &&
	grep -q "note: a restarts its hasvcd: its VMs stay frozen for up to [0-9]* s more" \
		"$T/status.frozen" || fail "hactl status does not show the freeze: $(cat "$T/status.frozen")"
for e in "node_lost a -" "fence_started a -" "vm_promoted b web1"; do
	[ "$(count_event b "$e")" = 0 ] || fail "event '$e' while a restarts: $(events_of b)"
done
if hactl_on b failover web1 >"$T/fo.out" 2>&1; then
	fail "hactl failover of a frozen VM was accepted"
fi
grep -q "vm web1 is frozen while a restarts its hasvcd" "$T/fo.out" ||
	fail "hactl failover web1: $(cat "$T/fo.out")"
echo "a's hasvcd stopped (SIGTERM): web1 frozen on a/b, generation $gen, the client gets answers"

start_hasvcd a
wait_for_line "$T/a/hasvcd.log" "hasvc.web1.$gen \\(pid [0-9]*\\) left by an earlier hasvcd: adopted" 20 ||
	fail "a's new hasvcd did not adopt web1's vmm: $(grep -v debug "$T/a/hasvcd.log" | tail -5)"
wait_vm b web1 '(not v.get("frozen_by") and all(n.get("ready") for n in s["nodes"]) and
	v["primary"] + v["standby"] + str(v["generation"]) + v["state"] == "ab'"$gen"'protected")' 30
[ "$(a_is restarting)" = False ] || fail "a still restarting: $(hactl_on b status)"
wait_acks web1 20 20
for e in "node_lost a -" "fence_started a -" "vm_promoted b web1"; do
	[ "$(count_event b "$e")" = 0 ] || fail "event '$e' after a's restart: $(events_of b)"
done
# longest_gap FROM TO: the client's longest time (ms) between two answers in [FROM, TO).
longest_gap() {
	awk -v a="$1" -v b="$2" 'NF == 2 && $1 >= a && $1 < b { if (p && $1 - p > g) g = $1 - p; p = $1 }
		END { print g + 0 }' "$T/web1.acks"
}
echo "the client's longest gap between answers: $(longest_gap "$t_stop" "$(now_ms)") ms while a's hasvcd restarted, $(longest_gap 0 "$t_stop") ms before"
[ "$(connections)" = "$conn0" ] || fail "the client reconnected during a's restart: $(tail -5 "$T/web1.acks")"
echo "a's hasvcd started again: it adopted web1, protected on a/b, generation $gen"

# 1b. The same on the standby's node: b's vmm keeps taking a's checkpoints.
conn0=$(connections)
t_stop=$(now_ms)
kill -TERM "$b_hasvcd_pid"
wait "$b_hasvcd_pid" || fail "b's hasvcd did not stop cleanly: $(tail -3 "$T/b/hasvcd.log")"
wait_event_count c "node_restarting b -" 1 10
[ "$(vm_get c web1 'v.get("frozen_by", "")')" = b ] ||
	fail "web1 is not frozen by b: $(hactl_on c status)"
wait_acks web1 20 20
[ "$(vm_get c web1 'v["primary"] + v["standby"] + str(v["generation"])')" = "ab$gen" ] ||
	fail "web1 moved when b's hasvcd stopped cleanly: $(hactl_on c status)"
start_hasvcd b
wait_for_line "$T/b/hasvcd.log" "hasvc.web1.[0-9]* \\(pid [0-9]*\\) left by an earlier hasvcd: adopted" 20 ||
	fail "b's new hasvcd did not adopt web1's standby vmm: $(grep -v debug "$T/b/hasvcd.log" | tail -5)"
wait_vm c web1 '(not v.get("frozen_by") and all(n.get("ready") for n in s["nodes"]) and
	v["primary"] + v["standby"] + str(v["generation"]) + v["state"] == "ab'"$gen"'protected")' 30
wait_acks web1 20 20
for e in "node_lost b -" "fence_started b -" "vm_promoted b web1"; do
	[ "$(count_event c "$e")" = 0 ] || fail "event '$e' while b restarted: $(events_of c)"
done
[ "$(connections)" = "$conn0" ] || fail "the client reconnected during b's restart: $(tail -5 "$T/web1.acks")"
echo "b's hasvcd (the standby's node) restarted: web1 stayed on a/b, generation $gen, protected again, the client's longest gap $(longest_gap "$t_stop" "$(now_ms)") ms"

# 2. SIGTERM, not started again: a loss when the grace ends.
sed -i "s/^restart_grace_ms = .*/restart_grace_ms = $(( $(secs 3) * 1000 ))/" "$T/hasvc.conf"
hactl_on b reload >"$T/reload.out" 2>&1 || fail "hactl reload: $(cat "$T/reload.out")"
t0=$(now_ms)
kill -TERM "$a_hasvcd_pid"
wait "$a_hasvcd_pid" || fail "a's hasvcd did not stop cleanly: $(tail -3 "$T/a/hasvcd.log")"
wait_event_count b "node_restarting a -" 2 10
wait_vm b web1 'v["primary"] == "b"' 30
took=$(( $(now_ms) - t0 ))
[ "$took" -ge "$(( $(secs 3) * 1000 ))" ] || fail "web1 promoted $took ms after a's SIGTERM, before the grace"
wait_event_count b "node_lost a -" 1 10
wait_event_count b "fence_started a -" 1 10
wait_acks web1 20 20
echo "a's hasvcd stayed away: after its grace, a was lost and fenced, web1 promoted on b ($took ms)"

start_hasvcd a
wait_vmm_gone a "hasvc.web1.$gen" 20
wait_placed web1 90; set -- $PLACED
[ "$1" = b ] || fail "web1 on $1, expected b"
wait_acks web1 20 20
stop_client web1
replicas_agree 3 30
echo "a's hasvcd back: its stale web1 stopped; replicas agree; ok"
