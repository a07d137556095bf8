#!/bin/sh
# While a node restarts its hasvcd (a clean stop: its VMs are frozen, see
# graceful_restart.sh), a protected counter guest web1 on a (standby b),
# with a client:
#  1. the cluster loses quorum: c dies while a's hasvcd is away, so b is
#     alone in the group (votequorum still quorate with a's corosync, the
#     cluster view not).  b decides nothing: a's restart grace ends without
#     a fence or a promotion (a counts as lost from then on, node_lost, but
#     nothing acts on it without quorum), and web1 answers on (its primary runs on a,
#     b's standby vmm takes its checkpoints).  a's hasvcd comes back: a and
#     b are quorate, a adopts web1 (same generation, no failover) and c is
#     taken as lost.
#  2. hactl stop of web1 while a restarts again: taken, and the answer says
#     it waits for a; failover is still refused; nothing stops meanwhile.
#     a's new hasvcd adopts web1 and the stop is carried out then: the power
#     button, a clean power-off (S5), the standby ends too.  hactl start:
#     the disk holds every update acknowledged before the stop.
#  3. a's hasvcd stops cleanly, then the node dies (corosync gone too): not
#     a restart any more, its grace ends at once (not after
#     restart_grace_ms), a is fenced, web1's standby is promoted.
# Replicas agree at the end.
# Totem: token 300 ms, token_coefficient 0 (cluster_nodes.sh's defaults).
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

# none_of NODE EVENT...: NODE holds none of these "EVENT NODE VM" lines.
none_of() {
	_n=$1; shift
	_ev=$(events_of "$_n")
	for _e in "$@"; do
		! printf '%s\n' "$_ev" | grep -qx -- "$_e" || fail "event '$_e' on $_n: $_ev"
	done
}

# stop_hasvcd NODE: SIGTERM, as systemctl stop; the cluster freezes its VMs.
stop_hasvcd() {
	_pid=$(eval "echo \$${1}_hasvcd_pid")
	kill -TERM "$_pid"
	wait "$_pid" || fail "$1's hasvcd did not stop cleanly: $(tail -3 "$T/$1/hasvcd.log")"
	grep -q "the cluster froze this node's VMs: leaving" "$T/$1/hasvcd.log" ||
		fail "$1's hasvcd left without its restart notice"
}

grace_s=$(secs 8)
cluster_setup 3
HLIB_FENCE="true"
HLIB_CLUSTER_EXTRA="restart_grace_ms = $(( grace_s * 1000 ))"
HLIB_EXTRA_web1="cmdline = disk=1 acpi=1
disk = /run/hasvc-test-web1.img
disk_size = 1M"
start_cluster web1:a,b
wait_placed web1 90; set -- $PLACED; [ "$1 $2" = "a b" ] || fail "web1 placed on $1/$2, not a/b"
gen=$(vm_get b web1 'v["generation"]')
start_client web1
wait_acks web1 30 20

# 1. Quorum lost while a restarts.
stop_hasvcd a
t_stop=$(now_ms)
wait_vm b web1 'v.get("frozen_by") == "a"' 10
kill_node c
wait_for_line "$T/b/hasvcd.log" "membership: 1 daemons, NOT quorate" 20 ||
	fail "b did not lose the cluster view's quorum: $(grep -i quorate "$T/b/hasvcd.log")"
echo "a's hasvcd stopped (web1 frozen), then c died: b alone, not quorate"
wait_for_line "$T/b/hasvcd.log" "node a: its restart grace is over" $(( grace_s + 10 )) ||
	fail "b did not end a's grace: $(grep -v debug "$T/b/hasvcd.log" | tail -5)"
# The grace ended on b's clock; more checkpoints and answers meanwhile.
wait_acks web1 20 20
# a counts as lost from the end of its grace (node_lost), but b alone may
# act on it: no fencing, no promotion.
none_of b "fence_started a -" "vm_promoted b web1"
[ "$(vm_get b web1 'v["primary"] + v["standby"] + str(v["generation"])')" = "ab$gen" ] ||
	fail "web1 moved without quorum: $(hactl_on b status)"
grep -q "fencing a" "$T/b/hasvcd.log" && fail "b fenced without quorum: $(grep -i fenc "$T/b/hasvcd.log")"
echo "a's grace ended $(( $(now_ms) - t_stop )) ms after its stop, without quorum: nothing fenced or promoted, web1 answers on"

start_hasvcd a
wait_for_line "$T/a/hasvcd.log" "hasvc.web1.$gen \\(pid [0-9]*\\) left by an earlier hasvcd: adopted" 20 ||
	fail "a's new hasvcd did not adopt web1: $(grep -v debug "$T/a/hasvcd.log" | tail -5)"
wait_vm b web1 '(v["primary"] + v["standby"] + str(v["generation"]) + v["state"] == "ab'"$gen"'protected"
	and s["quorate"] and [n.get("member") for n in s["nodes"] if n["name"] == "c"] == [False])' 30
wait_acks web1 20 20
none_of b "fence_started a -" "vm_promoted b web1"
echo "a's hasvcd back: a and b quorate, web1 adopted on a (generation $gen), c lost"

start_corosync c
start_hasvcd c
wait_vm b web1 'all(n.get("member") and n.get("ready") for n in s["nodes"])' 30
replicas_agree 3 30

# 2. hactl stop while a restarts: carried out once a is back.
stop_hasvcd a
wait_vm b web1 'v.get("frozen_by") == "a"' 10
hactl_on b failover web1 >"$T/fo.out" 2>&1 && fail "failover of a frozen VM accepted"
grep -q "frozen while a restarts" "$T/fo.out" || fail "failover refused without the reason: $(cat "$T/fo.out")"
hactl_on b stop web1 --timeout "$(secs 20)" >"$T/stop.out" 2>&1 ||
	fail "hactl stop of a frozen VM refused: $(cat "$T/stop.out")"
grep -q "this takes effect when a is back" "$T/stop.out" ||
	fail "hactl stop did not say it waits for a: $(cat "$T/stop.out")"
echo "hactl stop web1 while frozen: $(tr '\n' ' ' <"$T/stop.out")"
[ "$(vm_get b web1 'v["requested"] + " " + v["primary"] + v["standby"]')" = "stopped ab" ] ||
	fail "after the stop: $(hactl_on b status)"
wait_acks web1 20 20
grep -q "power button pressed" "$T/a/run/hasvc.web1.$gen.log" &&
	fail "web1 was shut down while a restarted"
last_before=$(awk 'NF == 2 { v = $2 } END { print v + 0 }' "$T/web1.acks")
start_hasvcd a
wait_vm b web1 'v["state"] + " " + v["requested"] + " " + v["primary"] + v["standby"] == "stopped stopped "' \
	$(( $(secs 20) + 20 ))
grep -q "power button pressed" "$T/a/run/hasvc.web1.$gen.log" ||
	fail "no power button press in web1's vmm log"
grep -q "the guest powered off (ACPI S5)" "$T/a/run/hasvc.web1.$gen.log" ||
	fail "web1 did not power off by itself: $(tail -3 "$T/a/run/hasvc.web1.$gen.log")"
wait_vmm_gone a "hasvc.web1.$gen" 20
none_of b "vm_promoted b web1"
last=$(awk 'NF == 2 { v = $2 } END { print v + 0 }' "$T/web1.acks")
[ "$last" -ge "$last_before" ] || fail "the client's last value went back"
echo "a back: web1 shut down cleanly (power button, S5) after $last acknowledged updates"

hactl_on b start web1 --wait --timeout "$(secs 60)" >"$T/start.out" 2>&1 ||
	fail "hactl start web1: $(cat "$T/start.out")"
[ "$(head -1 "$T/start.out")" = "start web1: accepted" ] && ! grep -qx accepted "$T/start.out" ||
	fail "hactl start web1 said: $(cat "$T/start.out")"
[ "$(vm_get b web1 'v["primary"]')" = a ] || fail "web1 started on $(vm_get b web1 'v["primary"]'), not a"
wait_acks web1 20 30
first=$(awk -v t="$t_stop" '$3 == "connected" { v = $2 } END { print v + 0 }' "$T/web1.acks")
[ "$first" -ge "$last" ] || fail "web1 came back with $first, below the acknowledged $last"
echo "web1 started on a with $first on its disk (last acknowledged before the stop: $last)"

# 3. a's hasvcd stops cleanly, then the machine dies (its corosync leaves
# the ring): no restart any more, so the grace ends at once rather than
# after restart_grace_ms; a is fenced and web1's standby promoted.
wait_placed web1 60; set -- $PLACED; [ "$1" = a ] || fail "web1 on $1/$2, not on a"
sb=$2
# A grace long enough that a promotion before its end can only be the
# ring change's doing, even on a slow host.
grace_s=$(secs 30)
sed -i "s/^restart_grace_ms = .*/restart_grace_ms = $(( grace_s * 1000 ))/" "$T/hasvc.conf"
hactl_on b reload >"$T/reload.out" 2>&1 || fail "hactl reload: $(cat "$T/reload.out")"
stop_hasvcd a
wait_vm b web1 'v.get("frozen_by") == "a"' 10
kill_node a
t_kill=$EVENT_MS
wait_vm b web1 'v["primary"] == "'"$sb"'" and v["state"] in ("running", "syncing", "protected", "unprotected", "degraded")' \
	"$grace_s"
took=$(( $(now_ms) - t_kill ))
[ "$took" -lt $(( grace_s * 1000 / 2 )) ] ||
	fail "web1 promoted $took ms after a died, not well before its grace ($grace_s s)"
grep -q "node a: its corosync left the ring while its hasvcd restarted: its restart grace ends now" \
	"$T/b/hasvcd.log" "$T/c/hasvcd.log" ||
	fail "no member ended a's grace when its corosync left: $(grep 'node a' "$T/b/hasvcd.log" | tail -3)"
grep -q "fencing a" "$T/b/hasvcd.log" || fail "a was not fenced before the promotion"
wait_acks web1 20 20
echo "a died while its hasvcd restarted: grace ended by the ring change, fenced, web1 promoted on $sb $took ms after the death (grace $grace_s s)"
start_corosync a
start_hasvcd a
wait_vm b web1 'all(n.get("member") and n.get("ready") for n in s["nodes"])' 30
stop_client web1
replicas_agree 3 30
echo "replicas agree; ok"
