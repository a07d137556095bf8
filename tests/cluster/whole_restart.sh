#!/bin/sh
# Every node's hasvcd and every vmm gone at once (a power loss of the whole
# cluster, seen by the daemons): what operators asked survives, because each
# hasvcd keeps the replica in its --state-dir (hasvc/persist.c).  web1 runs
# protected, web2 is stopped (hactl stop), web3 disabled, node c in
# maintenance.  Then every hasvcd and every vmm is killed (-9) and the
# daemons start again: web2 stays stopped, web3 disabled, c in maintenance
# (nothing placed there), and web1 comes back, protected.  A node started
# alone later into the running cluster brings nothing old back with its own
# file (the running cluster's state wins: test_hasvc_sync).  Then every
# hasvcd is killed while the vmm processes run on, and web1's primary node
# comes back last: web1 stays frozen there, and is adopted.  Replicas agree.
. "$(dirname "$0")/cluster_nodes.sh"
. "$(dirname "$0")/hasvc_cluster.sh"
need_hasvc

# saved_after MS: until every node's state file was written after MS
# (ms since 1970): the last change is on every node's disk then.
saved_after() {
	for _n in $CL_NODES; do
		_end=$(deadline 10)
		until [ -f "$T/$_n/state/replica" ] &&
			[ "$(stat -c %.3Y "$T/$_n/state/replica" | tr -d .)" -ge "$1" ]; do
			[ "$(date +%s)" -le "$_end" ] || fail "$_n: no state saved since $1"
			sleep 0.1
		done
	done
}

cluster_setup 3
HLIB_FENCE="true"
HLIB_PROTECT_web2=no
HLIB_PROTECT_web3=no
# Their guests power off on the power button (a clean stop, no kill).
HLIB_EXTRA_web2="cmdline = acpi=1"
HLIB_EXTRA_web3="cmdline = acpi=1"
start_cluster web1:a,b web2:b web3:b
wait_placed web1 90; set -- $PLACED; [ "$1 $2" = "a b" ] || fail "web1 placed on $1/$2, not a/b"
wait_vm a web2 'v["state"] == "unprotected"' 60
wait_vm a web3 'v["state"] == "unprotected"' 60
hactl_on a stop web2 --wait --timeout "$(secs 20)" >"$T/out" 2>&1 || fail "hactl stop web2: $(cat "$T/out")"
hactl_on a disable web3 >"$T/out" 2>&1 || fail "hactl disable web3: $(cat "$T/out")"
hactl_on a maintenance c on >"$T/out" 2>&1 || fail "hactl maintenance c on: $(cat "$T/out")"
wait_vm a web3 'v["state"] == "disabled" and v["requested"] == "disabled"' 30
wait_vm a web2 '(v["state"] == "stopped" and v["requested"] == "stopped" and
	next(n for n in s["nodes"] if n["name"] == "c").get("maintenance"))' 30
t_asked=$(now_ms)
saved_after "$t_asked"
echo "web2 stopped, web3 disabled, c in maintenance; saved on every node"

# The whole cluster's daemons and guests die at once.
for n in $CL_NODES; do kill -9 "$(eval "echo \$${n}_hasvcd_pid")"; done
for n in $CL_NODES; do wait "$(eval "echo \$${n}_hasvcd_pid")" 2>/dev/null || true; done
pids=$(pgrep -f "vmm run .*$T/" || true)
[ -n "$pids" ] || fail "no vmm of this test found"
# shellcheck disable=SC2086
kill -9 $pids
for p in $pids; do
	while kill -0 "$p" 2>/dev/null; do sleep 0.05; done
done
echo "every hasvcd and vmm killed ($(echo $pids | wc -w) vmm processes)"

for n in $CL_NODES; do start_hasvcd "$n"; done
for n in $CL_NODES; do
	wait_for_line "$T/$n/hasvcd.log" "read the cluster state saved in $T/$n/state/replica" 20 ||
		fail "$n did not read its saved state: $(grep -v debug "$T/$n/hasvcd.log" | tail -5)"
done
wait_placed web1 120; set -- $PLACED
case "$1 $2" in "a b"|"b a") ;; *) fail "web1 not protected on a and b (c is in maintenance): $*" ;; esac
[ "$(vm_get b web2 'v["state"] + " " + v["requested"]')" = "stopped stopped" ] ||
	fail "web2 after the whole cluster restarted: $(hactl_on b status)"
[ "$(vm_get b web3 'v["state"] + " " + v["requested"]')" = "disabled disabled" ] ||
	fail "web3 after the whole cluster restarted: $(hactl_on b status)"
[ "$(vm_get b web1 'next(n for n in s["nodes"] if n["name"] == "c").get("maintenance")')" = True ] ||
	fail "c is no longer in maintenance: $(hactl_on b status)"
[ -z "$(pgrep -f "vmm run .*$T/c/" || true)" ] || fail "a vmm runs on c, which is in maintenance"
echo "after the restart: web1 protected on $1/$2, web2 stopped, web3 disabled, c in maintenance"

# Every hasvcd killed again, the vmm processes running on (all daemons
# upgraded at once), web1's primary node back last: meanwhile its VMs are
# frozen (its node is taken as restarting for restart_grace_ms), nothing
# boots a second primary, and its hasvcd adopts the one that runs.
prim=$1
gen=$(vm_get b web1 'v["generation"]')
saved_after "$(now_ms)"
for n in $CL_NODES; do kill -9 "$(eval "echo \$${n}_hasvcd_pid")"; done
for n in $CL_NODES; do wait "$(eval "echo \$${n}_hasvcd_pid")" 2>/dev/null || true; done
rest=""
for n in $CL_NODES; do [ "$n" = "$prim" ] || rest="$rest $n"; done
for n in $rest; do start_hasvcd "$n"; done
set -- $rest
wait_vm "$1" web1 '(v.get("frozen_by", "") == "'"$prim"'" and s.get("quorate") and
	v["primary"] + str(v["generation"]) == "'"$prim$gen"'")' 30
echo "every hasvcd restarted but $prim's: web1 frozen on $prim, generation $gen"
start_hasvcd "$prim"
wait_for_line "$T/$prim/hasvcd.log" "hasvc.web1.$gen \\(pid [0-9]*\\) left by an earlier hasvcd: adopted" 20 ||
	fail "$prim's hasvcd did not adopt web1's vmm: $(grep -v debug "$T/$prim/hasvcd.log" | tail -5)"
wait_vm "$1" web1 '(not v.get("frozen_by") and v["state"] == "protected" and
	v["primary"] + str(v["generation"]) == "'"$prim$gen"'")' 60
echo "$prim's hasvcd back last: it adopted web1 (generation $gen), protected again"
replicas_agree 3 30
echo "replicas agree; ok"
