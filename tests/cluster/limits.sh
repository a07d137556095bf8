#!/bin/sh
# Restart and relocation limits: a VM whose vmm fails at every start (its
# kernel file is garbage) with max_restart = 1 and max_relocate = 1 (the
# defaults) is booted twice on a, then twice on b (its preferred nodes),
# then left in the error state: no more starts, start and migrate refused
# with the reason.  The operator fixes the kernel and runs hactl clear: it
# boots on a and a client's updates are answered.  A second VM on the same
# cluster, max_restart = 0 and max_relocate = 0, ends in error after its
# first failure.  Replicas agree at the end.
. "$(dirname "$0")/cluster_nodes.sh"
. "$(dirname "$0")/hasvc_cluster.sh"
need_hasvc

# starts NODE VM: how many vmm of VM NODE's hasvcd started.
starts() {
	_s=$(grep -c "hasvc\.$2\.[0-9]*: started a primary" "$T/$1/hasvcd.log" 2>/dev/null) || true
	echo "${_s:-0}"
}

cluster_setup 3
head -c 4096 /dev/urandom >"$T/bad.elf"
HLIB_KERNEL_web1=$T/bad.elf
HLIB_PROTECT_web1=no
HLIB_KERNEL_db1=$T/bad.elf
HLIB_PROTECT_db1=no
HLIB_EXTRA_db1="max_restart = 0
max_relocate = 0"
start_cluster web1:a,b db1:c,b
wait_vm a web1 'v["state"] == "error"' 90
wait_vm a db1 'v["state"] == "error"' 60
set -- "$(starts a web1)" "$(starts b web1)" "$(starts c web1)"
[ "$*" = "2 2 0" ] || fail "web1 was started $1 times on a, $2 on b, $3 on c; want 2, 2, 0"
set -- "$(starts a db1)" "$(starts b db1)" "$(starts c db1)"
[ "$*" = "0 0 1" ] || fail "db1 was started $1 times on a, $2 on b, $3 on c; want 0, 0, 1"
[ "$(vm_get c web1 'v["restarts"], v["relocations"], v["requested"], v["primary"]')" = \
	"(1, 1, 'started', '')" ] || fail "web1 in error: $(hactl_on c --json status)"
grep -q "vm web1: failed again after 1 restarts and 1 relocations: error state" \
	"$T/c/hasvcd.log" || fail "c's hasvcd did not log why web1 is in error"
echo "web1: started twice on a and twice on b, then error; db1: once, then error"

hactl_on b start web1 >"$T/refused" 2>&1 && fail "start of a VM in error accepted"
grep -q "error state.*hactl clear web1" "$T/refused" || fail "start refused without the reason: $(cat "$T/refused")"
hactl_on b migrate web1 c >"$T/refused" 2>&1 && fail "migrate of a VM in error accepted"
# No start behind the operator's back: a node restarts, quorum blinks.
restart_hasvcd a
wait_vm b web1 'all(n.get("ready") for n in s["nodes"])' 30
[ "$(vm_get a web1 'v["state"]')" = error ] || fail "web1 left the error state: $(hactl_on a status)"
[ "$(starts a web1)" = 2 ] || fail "web1 was started again on a"
echo "start and migrate refused; still in error after a's hasvcd restarted"

cp "$GUESTS/counter.elf" "$T/bad.elf"
hactl_on b clear web1 --wait --timeout "$(secs 60)" >/dev/null || fail "hactl clear web1"
[ "$(vm_get b web1 'v["primary"] + " " + str(v["restarts"] + v["relocations"])')" = "a 0" ] ||
	fail "web1 after clear: $(hactl_on b status)"
start_client web1
wait_acks web1 30 30
stop_client web1
hactl_on b clear web1 >"$T/refused" 2>&1 && fail "clear of a VM not in error accepted"
[ "$(vm_get b db1 'v["state"]')" = error ] || fail "db1 left the error state with web1"
replicas_agree 3 30
echo "cleared: web1 runs on a; replicas agree; ok"
