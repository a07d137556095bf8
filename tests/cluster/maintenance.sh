#!/bin/sh
# hactl maintenance NODE on|off and hactl evacuate --cancel, under client
# traffic:
#  - maintenance a on --wait: a's primaries are handed over to their
#    standbys, no client loses an acknowledged update, a holds nothing
#  - a's hasvcd restarts (a leaves and rejoins): a is still in maintenance;
#    then c is lost: its copies have nowhere to go but a, and a stays empty
#    (the VMs run unprotected, "no node for a standby")
#  - evacuate --cancel a is refused while a is in maintenance
#  - maintenance a off: the standbys go to a
#  - evacuate a, then evacuate --cancel a: a takes the standbys again
# Totem: token 300 ms, token_coefficient 0 (cluster_nodes.sh's defaults).
. "$(dirname "$0")/cluster_nodes.sh"
. "$(dirname "$0")/hasvc_cluster.sh"
need_hasvc

# copies_on NODE: primaries + standbys the cluster places on NODE (seen from b).
copies_on() {
	vm_get b web1 'sum(n.get("primaries", 0) + n.get("standbys", 0) for n in s["nodes"] if n["name"] == "'"$1"'")'
}

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
hactl_on b maintenance a on --wait --timeout "$(secs 120)" >"$T/mon.out" 2>&1 ||
	fail "hactl maintenance a on: $(cat "$T/mon.out")"
echo "maintenance a on: a emptied in $(( $(now_ms) - t0 )) ms"
for vm in web1 web2; do
	wait_placed $vm 90; set -- $PLACED
	case "$1 $2" in *a*) fail "$vm still has a copy on a: $1/$2" ;; esac
	echo "$vm: primary $1, standby $2"
	wait_acks $vm 20 20
done
[ "$(copies_on a)" = 0 ] || fail "a holds copies: $(hactl_on b status)"
hactl_on b status | grep -q "^a .*maintenance" || fail "status does not show a in maintenance: $(hactl_on b status)"

# a leaves and rejoins: still in maintenance.
kill "$a_hasvcd_pid"
wait "$a_hasvcd_pid" 2>/dev/null
wait_vm b web1 '[n["member"] for n in s["nodes"] if n["name"] == "a"] == [False]' 20
start_hasvcd a
wait_vm b web1 'all(n.get("ready") for n in s["nodes"])' 30
[ "$(vm_get b web1 '[n.get("maintenance") for n in s["nodes"] if n["name"] == "a"]')" = "[True]" ] ||
	fail "a's maintenance did not survive its rejoining: $(hactl_on b status)"
echo "a's hasvcd restarted: a is still in maintenance"

if hactl_on b evacuate --cancel a >"$T/cancel.out" 2>&1; then
	fail "evacuate --cancel of a node in maintenance was accepted"
fi
grep -q "node a is in maintenance: end it with hactl maintenance a off" "$T/cancel.out" ||
	fail "evacuate --cancel a: $(cat "$T/cancel.out")"

kill_node c
echo "killed node c"
for vm in web1 web2; do
	wait_vm b $vm 'v["primary"] == "b" and v["waiting"] == "no node for a standby"' 30
done
wait_acks web1 20 20
wait_acks web2 20 20
[ "$(copies_on a)" = 0 ] || fail "a took copies while in maintenance: $(hactl_on b status)"
echo "c lost: web1 and web2 run on b without a standby; a stays empty"

hactl_on b maintenance a off >"$T/moff.out" 2>&1 || fail "maintenance a off: $(cat "$T/moff.out")"
for vm in web1 web2; do
	wait_vm b $vm 'v["primary"] == "b" and v["standby"] == "a" and v["state"] == "protected"' 90
done
echo "maintenance a off: web1 and web2 protected again, standbys on a"

if hactl_on b evacuate --cancel c >"$T/cancel.out" 2>&1; then
	fail "evacuate --cancel of a node not being evacuated was accepted"
fi
grep -q "node c is not being evacuated" "$T/cancel.out" || fail "evacuate --cancel c: $(cat "$T/cancel.out")"
hactl_on b evacuate a >"$T/evac.out" 2>&1 || fail "evacuate a: $(cat "$T/evac.out")"
wait_vm b web1 'v["standby"] == "" and v["waiting"] == "no node for a standby"' 30
hactl_on b evacuate --cancel a >"$T/cancel.out" 2>&1 || fail "evacuate --cancel a: $(cat "$T/cancel.out")"
for vm in web1 web2; do
	wait_vm b $vm 'v["standby"] == "a" and v["state"] == "protected"' 90
done
echo "evacuate a, then evacuate --cancel a: the standbys came back to a"
stop_client web1
stop_client web2
replicas_agree 2 30
echo "replicas agree; ok"
