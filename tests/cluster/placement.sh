#!/bin/sh
# Placement that counts what a VM needs: nodes a (memory 80M), b (60M) and
# c (1 cpu; its memory is what its hasvcd reads: MemTotal less the default
# host_reserve_memory of 1G); counter guests of 32 MiB and 1 vCPU: db1
# restricted to a and b (nodes = a, b), web1 protected (preferred a, b), web2
# preferring a but kept apart from web1 (avoid = web1), big (128 MiB, kept
# to a and b: c has room for it) and huge (1T, more than this host has)
# that fit nowhere.  Placement: db1 and web1 on a, web1's standby on b, web2
# on c; big and huge wait, with the reason in every node's log; status
# shows c's reported memory.  Each refusal is tested through hactl, with its
# reason: migrate over a node's memory, over its cpus, outside the VM's
# nodes, next to a VM it avoids; start of a VM no node has room for (db1 is
# stopped for that, and its guest, which ignores the power button, is quit
# at the 2 s timeout), start of huge over c's reported memory.  A vmm that
# hangs (SIGSTOP) after the power button is killed 3 s after the timeout.  Then a dies:
# web1's standby on b is promoted, but db1 may not boot on b (no room) nor
# on c (not in its nodes): it waits, and says why.  Replicas agree at the end.
. "$(dirname "$0")/cluster_nodes.sh"
. "$(dirname "$0")/hasvc_cluster.sh"
need_hasvc

# refused NODE WHY ARGS...: hactl ARGS on NODE is refused, saying WHY.
refused() {
	_rn=$1 _rw=$2; shift 2
	hactl_on "$_rn" "$@" >"$T/refused" 2>&1 && fail "hactl $* accepted"
	grep -qF "$_rw" "$T/refused" || fail "hactl $*: not refused with '$_rw': $(cat "$T/refused")"
	echo "hactl $*: $(cat "$T/refused")"
}

cluster_setup 3
HLIB_NODE_EXTRA_a="memory = 80M"
HLIB_NODE_EXTRA_b="memory = 60M"
HLIB_NODE_EXTRA_c="cpus = 1"
HLIB_PROTECT_db1=no
HLIB_EXTRA_db1="nodes = a, b"
HLIB_PROTECT_web2=no
HLIB_EXTRA_web2="avoid = web1"
HLIB_PROTECT_big=no
HLIB_MEMORY_big=128M
HLIB_EXTRA_big="nodes = a, b"
HLIB_PROTECT_huge=no
HLIB_MEMORY_huge=1T
# What c's hasvcd reports (hasvc/local.c), from the same /proc/meminfo.
c_mib=$(( $(awk '/^MemTotal:/ { print $2 }' /proc/meminfo) / 1024 - 1024 ))
start_cluster db1 web1:a,b web2:a big huge
wait_placed web1 90; set -- $PLACED; [ "$1 $2" = "a b" ] || fail "web1 placed on $1/$2, not a/b"
wait_vm a db1 'v["primary"] == "a" and v["state"] == "unprotected"' 60
wait_vm a web2 'v["primary"] == "c" and v["state"] == "unprotected"' 60
[ "$(vm_get a big 'v["primary"] + "/" + v["waiting"]')" = "/no node can take it" ] ||
	fail "big: $(hactl_on a status)"
for n in a b c; do
	grep -q "vm big: no node can run it: a has .* of 80 MiB of declared memory free, vm big needs 128;" \
		"$T/$n/hasvcd.log" || fail "$n did not log why big waits"
done
[ "$(vm_get a huge 'v["primary"] + "/" + v["waiting"]')" = "/no node can take it" ] ||
	fail "huge: $(hactl_on a status)"
echo "db1 and web1 on a (web1's standby on b), web2 on c (it avoids web1); big and huge wait"
[ "$(hactl_on b --json status | python3 -c '
import json, sys
n = next(x for x in json.load(sys.stdin)["status"]["nodes"] if x["name"] == "c")
print(n["mem_mib"], n["mem_source"], n["cpus"], n["cpus_source"], n["used_mem_mib"])')" = \
	"$c_mib reported 1 declared 32" ] || fail "c's capacity: $(hactl_on b status)"

refused b "b has 28 of 60 MiB of declared memory free, vm web2 needs 32" migrate web2 b
refused b "c has 0 of 1 declared cpus free, vm web1 needs 1" migrate web1 c
refused b "c is not in the nodes of vm db1" migrate db1 c
hactl_on b stop db1 --wait --timeout 2 >/dev/null || fail "hactl stop db1"
# The counter guest without acpi=1 ignores the power button: quit at the timeout.
grep -q "the guest did not power off after the power button: quit" "$T"/a/run/hasvc.db1.*.log ||
	fail "db1 was not quit at the shutdown timeout: $(tail -3 "$T"/a/run/hasvc.db1.*.log)"
refused b "a runs vm web1, which vm web2 avoids" migrate web2 a
hactl_on b stop big >/dev/null || fail "hactl stop big"
refused b "no node can run vm big: a has 48 of 80 MiB of declared memory free, vm big needs 128" start big
hactl_on b stop huge >/dev/null || fail "hactl stop huge"
refused b "c has $((c_mib - 32)) of $c_mib MiB of reported memory free, vm huge needs 1048576" start huge
hactl_on b start db1 --wait --timeout "$(secs 60)" >/dev/null || fail "hactl start db1"
[ "$(vm_get b db1 'v["primary"]')" = a ] || fail "db1 started on $(vm_get b db1 'v["primary"]'), not a"

# A vmm that hangs after the power button cannot quit at the timeout:
# hasvcd kills it 3 s (STOP_GRACE_MS) after the timeout.
gen=$(vm_get b db1 'v["generation"]')
pid=$(awk '{ print $5 }' "$T/a/run/hasvc.db1.$gen.rec")
t0=$(now_ms)
hactl_on b stop db1 --timeout 1 >/dev/null || fail "hactl stop db1 --timeout 1"
wait_for_line "$T/a/hasvcd.log" "hasvc.db1.$gen: power button pressed" 10 ||
	fail "no power button for db1: $(grep 'db1' "$T/a/hasvcd.log" | tail -3)"
node_exec a kill -STOP "$pid"
wait_vm b db1 'v["state"] == "stopped"' 30
took=$(( $(now_ms) - t0 ))
grep -q "hasvc.db1.$gen: vmm killed by signal 9 (stopped)" "$T/a/hasvcd.log" ||
	fail "db1's hung vmm was not killed: $(grep 'db1' "$T/a/hasvcd.log" | tail -3)"
[ "$took" -ge 4000 ] || fail "db1's hung vmm was killed $took ms after the stop, before 1 s + 3 s"
echo "a hung vmm (SIGSTOP after the power button, --timeout 1): killed, db1 stopped after $took ms"
hactl_on b start db1 --wait --timeout "$(secs 60)" >/dev/null || fail "hactl start db1 again"

kill_node a
echo "killed every process of node a"
wait_vm b web1 'v["primary"] == "b" and v["state"] in ("running", "syncing", "protected", "unprotected", "degraded")' 30
wait_vm b db1 'v["waiting"] == "no node can take it"' 30
grep -q "vm db1: no node can run it: a cannot take VMs now; b has 28 of 60 MiB of declared memory free, vm db1 needs 32; c is not in the nodes of vm db1" \
	"$T/b/hasvcd.log" || fail "b did not log why db1 cannot move: $(grep 'vm db1' "$T/b/hasvcd.log" | tail -3)"
echo "a lost: web1 runs on b; db1 waits (no room on b, c not in its nodes)"
replicas_agree 2 30
echo "replicas agree; ok"
