#!/bin/sh
# A rolling upgrade's middle: one hasvcd sends what the next version will
# send, a state (Replica, hasvc/cluster.proto) with a field this version
# does not know, and the others take it (docs/hasvc-daemon.md, "Versions").
# Node a's hasvcd runs with HASVCD_TEST_STATE_EXTRA_FIELD=99 (test builds
# only: configure --enable-fault-injection): its Replica and each of its VMs
# carry field 99.  b and c log the unknown fields and use a's state anyway:
# c's hasvcd, restarted, adopts a's state (a wins the tie on quorate events
# as the smallest name); then a reload from c and a failover of web1 apply
# on all three, and the three state digests agree after each.  A receiver
# that refused the state, or kept the unknown field in its replica, fails
# the test (the grep of "adopted the state of a", replicas_agree 3).
# Totem: token 300 ms, token_coefficient 0 (cluster_nodes.sh's defaults).
. "$(dirname "$0")/cluster_nodes.sh"
. "$(dirname "$0")/hasvc_cluster.sh"
need_hasvc
# Without the hook node a would send a plain state and the test would prove
# nothing: it fails, saying so, rather than skip (as checkpoint/corrupt.sh).
[ "${FAULT_INJECTION:-}" = yes ] ||
	fail "this build has no fault injection (configure --enable-fault-injection, as setup.sh does): HASVCD_TEST_STATE_EXTRA_FIELD would do nothing"

restart_hasvcd() {
	_pid=$(eval "echo \$${1}_hasvcd_pid")
	kill -9 "$_pid"
	wait "$_pid" 2>/dev/null
	start_hasvcd "$1"
}

# no_refusal NODE: NODE's hasvcd refused no state.
no_refusal() {
	! grep -E "state node [a-z]+ sent is not valid|another state format" \
		"$T/$1/hasvcd.log" || fail "$1 refused a state"
}

cluster_setup 3
write_hasvc_conf web1:a,b
for n in a b c; do start_corosync "$n"; done
wait_members "a b c" 3 20
HASVCD_TEST_STATE_EXTRA_FIELD=99
export HASVCD_TEST_STATE_EXTRA_FIELD
start_hasvcd a
unset HASVCD_TEST_STATE_EXTRA_FIELD
start_hasvcd b
start_hasvcd c
wait_placed web1 90; set -- $PLACED; [ "$1 $2" = "a b" ] || fail "web1 placed on $1/$2, not a/b"
echo "web1 placed and protected on a/b with a's hasvcd sending field 99"
for n in b c; do
	wait_for_line "$T/$n/hasvcd.log" \
		"the state node a sent has [0-9]* fields this hasvcd does not know" 20 ||
		fail "$n did not see a's unknown fields: $(grep -v debug "$T/$n/hasvcd.log" | tail -5)"
	no_refusal "$n"
done
replicas_agree 3 30
echo "b and c skipped a's unknown fields; the three replicas agree"

# c's new hasvcd has no state: it must adopt a's, unknown fields and all.
# Its log goes on in the same file: its lines are those of its pid.  a's
# replica holds web1: field 99 comes twice, in the Replica and in web1.
restart_hasvcd c
wait_for_line "$T/c/hasvcd.log" "hasvcd\\[$c_hasvcd_pid\\]: .*adopted the state of a " 30 ||
	fail "c did not adopt a's state: $(grep -v debug "$T/c/hasvcd.log" | tail -8)"
grep -q "hasvcd\\[$c_hasvcd_pid\\]: .*the state node a sent has 2 fields this hasvcd does not know" \
	"$T/c/hasvcd.log" || fail "c's new hasvcd did not skip a's two unknown fields: $(grep -v debug "$T/c/hasvcd.log" | tail -8)"
no_refusal c
wait_vm c web1 'all(n.get("ready") for n in s["nodes"])' 30
[ "$(vm_get c web1 'v["primary"] + v["standby"]')" = ab ] ||
	fail "c's replica after adopting a's state: $(hactl_on c status)"
replicas_agree 3 30
echo "c's restarted hasvcd adopted a's state; the replicas agree"

cp "$T/hasvc.conf" "$T/next.conf"
printf '[vm web2]\nmemory = 32M\nvcpus = 1\nkernel = %s\nprotected = no\npreferred_nodes = c\n' \
	"$GUESTS/counter.elf" >>"$T/next.conf"
cp "$T/next.conf" "$T/hasvc.conf"
hactl_on c reload >"$T/reload.out" 2>&1 || fail "reload from c: $(cat "$T/reload.out")"
grep -q "added web2" "$T/reload.out" || fail "reload: $(cat "$T/reload.out")"
for n in a b c; do wait_vm "$n" web2 'v["primary"] == "c" and v["state"] == "unprotected"' 60; done
replicas_agree 3 30
echo "a reload from c placed web2 on c, seen alike on a, b and c"

hactl_on b failover web1 --wait --timeout "$(secs 60)" >"$T/failover.out" 2>&1 ||
	fail "failover: $(cat "$T/failover.out")"
for n in a b c; do wait_vm "$n" web1 'v["primary"] == "b"' 30; done
wait_placed web1 90; set -- $PLACED; [ "$1" = b ] || fail "web1 on $1 after the failover, not b"
replicas_agree 3 30
for n in a b c; do no_refusal "$n"; done
echo "web1 failed over to b (standby $2); the replicas agree; ok"
