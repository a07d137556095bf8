#!/bin/sh
# The requested state (hactl stop/start/disable/enable): a protected counter
# guest that keeps its counter on its disk (counter.c disk=1, written and
# flushed before each answer) and powers off on the ACPI power button
# (acpi=1).  It is migrated from a to c (its disk goes with it), then
# stopped under a running client: the power button ends the guest (a clean
# shutdown: S5, not the timeout), its standby is stopped too, and nothing
# restarts it, neither a restart of two hasvcd one after the other nor a
# lost node.  hactl start brings it back on c, where it stopped (the other
# nodes' disks are older): the client's "get" must not be below the last
# value it saw acknowledged before the stop, so the disk held every one.
# Then disable refuses start until enable.  Replicas agree at the end.
. "$(dirname "$0")/cluster_nodes.sh"
. "$(dirname "$0")/hasvc_cluster.sh"
need_hasvc

# copies VM: the vmm records of VM in every node's run directory (one per
# running copy; hasvcd removes it when its vmm has ended).
copies() {
	ls "$T"/*/run/hasvc."$1".*.rec 2>/dev/null | wc -l
}

cluster_setup 3
HLIB_EXTRA_web1="cmdline = disk=1 acpi=1
disk = /run/hasvc-test-web1.img
disk_size = 1M"
start_cluster web1
wait_placed web1 90; set -- $PLACED; [ "$1" = a ] || fail "web1 placed on $1, not a"
hactl_on a migrate web1 c --wait --timeout "$(secs 60)" >/dev/null || fail "hactl migrate web1 c"
wait_vm a web1 'v["primary"] == "c" and v["state"] == "protected"' 60
echo "web1 migrated from a to c with its disk"

start_client web1
wait_acks web1 50 20
gen=$(vm_get c web1 'v["generation"]')
t0=$(now_ms)
hactl_on a stop web1 --timeout "$(secs 20)" --wait >"$T/stop.out" 2>&1 ||
	fail "hactl stop web1: $(cat "$T/stop.out")"
t_stop=$(( $(now_ms) - t0 ))
last=$(awk 'NF == 2 { v = $2 } END { print v + 0 }' "$T/web1.acks")
grep -q "power button pressed" "$T/c/run/hasvc.web1.$gen.log" ||
	fail "no power button press in web1's vmm log"
grep -q "the guest powered off (ACPI S5)" "$T/c/run/hasvc.web1.$gen.log" ||
	fail "web1 did not power off by itself: $(tail -3 "$T/c/run/hasvc.web1.$gen.log")"
[ "$(vm_get b web1 'v["state"] + " " + v["requested"] + " " + v["primary"] + v["standby"]')" = \
	"stopped stopped " ] || fail "after stop: $(hactl_on b status)"
_end=$(deadline 20)
until [ "$(copies web1)" = 0 ]; do
	[ "$(date +%s)" -le "$_end" ] || fail "web1's copies still run: $(ls "$T"/*/run/*.rec)"
	sleep 0.1
done
echo "web1 stopped cleanly (power button, S5) after $last acknowledged updates; no copy runs; hactl stop --wait took $t_stop ms"

# Nothing brings it back: daemons restarted one at a time, a node lost.
for n in a b; do
	restart_hasvcd $n
	wait_vm c web1 'all(x.get("ready") for x in s["nodes"])' 30
done
kill_node a
wait_vm c web1 'not next(x for x in s["nodes"] if x["name"] == "a")["member"]' 30
replicas_agree 2 30
[ "$(copies web1)" = 0 ] || fail "web1 started again: $(ls "$T"/*/run/*.rec)"
[ "$(vm_get b web1 'v["state"] + " " + v["requested"]')" = "stopped stopped" ] ||
	fail "web1 after the restarts and the loss of a: $(hactl_on b status)"
echo "still stopped after two hasvcd restarts and the loss of node a"

t0=$(now_ms)
hactl_on b start web1 --wait --timeout "$(secs 60)" >/dev/null || fail "hactl start web1"
[ "$(vm_get b web1 'v["primary"]')" = c ] || fail "web1 started on $(vm_get b web1 'v["primary"]'), not c"
wait_acks web1 20 30
first=$(awk '$3 == "connected" { v = $2 } END { print v + 0 }' "$T/web1.acks")
[ "$first" -ge "$last" ] || fail "web1 came back with $first, below the acknowledged $last"
t1=$(awk '$1 > '"$t0"' && $3 == "connected" { print $1; exit }' "$T/web1.acks")
echo "web1 started on c with $first on its disk (last acknowledged before the stop: $last); the client had its first answer $(( t1 - t0 )) ms after hactl start"

hactl_on b disable web1 --wait >/dev/null || fail "hactl disable web1"
hactl_on b start web1 >"$T/start.out" 2>&1 && fail "start of a disabled VM accepted"
grep -q "disabled: enable it" "$T/start.out" || fail "start refused without the reason: $(cat "$T/start.out")"
hactl_on b --json status | grep -q '"requested":"disabled"' || fail "the JSON status lacks the requested state"
hactl_on b enable web1 --wait --timeout "$(secs 60)" >/dev/null || fail "hactl enable web1"
wait_acks web1 20 30
echo "disable: start refused; enable: running again"
stop_client web1
replicas_agree 2 30
echo "replicas agree; ok"
