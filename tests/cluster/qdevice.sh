#!/bin/sh
# Two nodes and a quorum device: hasvc.conf says quorum_device = yes, a and
# b run corosync-qdevice (model net, ffsplit, TLS off) voting through
# corosync-qnetd in a third namespace c.  Protected counter guests: web1 on
# b, web2 on a, each with its standby on the other node.
# 1. a and b lose each other but both reach c: the device votes for a (the
#    tie-breaker), a's hasvcd multicasts its quorate verdict and the view of
#    one node out of two decides: web1 is promoted on a after b was fenced,
#    web2 runs on.  b, without the vote, pauses its copy of web1 and
#    promotes nothing.
# 2. The split heals: b's stale copy is stopped, both VMs get standbys on b.
# 3. a dies: the vote goes to b, which takes both VMs.
# The clients lose no acknowledged update.
. "$(dirname "$0")/cluster_nodes.sh"
. "$(dirname "$0")/hasvc_cluster.sh"
need_hasvc
command -v corosync-qnetd >/dev/null 2>&1 && command -v corosync-qdevice >/dev/null 2>&1 ||
	skip "no corosync-qnetd / corosync-qdevice (Debian packages of those names)"

cluster_setup 3
QNETD_ADDR=$(node_addr c)
# The device: its vote goes to one partition; heartbeats short for a test.
CL_QUORUM_EXTRA="	device {
		votes: 1
		model: net
		timeout: $((2000 * TIME_SCALE))
		sync_timeout: $((4000 * TIME_SCALE))
		net {
			tls: off
			host: $QNETD_ADDR
			algorithm: ffsplit
		}
	}"
# a and b are the cluster; c only hosts qnetd.
CL_NODES="a b"
write_corosync_conf a
write_corosync_conf b
HLIB_FENCE="echo \$HASVC_FENCE_NODE \$(date +%s%N) >>$T/fenced"
HLIB_CLUSTER_EXTRA="quorum_device = yes"
write_hasvc_conf web1:b,a web2:a,b
CL_NODES="a b c"

node_exec c mkdir -p /run/corosync-qnetd
node_bg c qnetd corosync-qnetd -f -s off -l "$QNETD_ADDR"
for n in a b; do
	start_corosync $n
	node_exec $n mkdir -p /run/corosync-qdevice
	node_bg $n qdevice corosync-qdevice -f
done
wait_members "a b" 2 20
# Quorate with the device's vote counted (3 expected votes).
end=$(deadline 20)
until node_exec a corosync-quorumtool -s 2>/dev/null | grep -q '^Total votes: *3'; do
	[ "$(date +%s)" -le "$end" ] ||
		fail "the quorum device never voted: $(node_exec a corosync-quorumtool -s 2>&1 | tail -8)"
	nap
done
echo "corosync-qdevice on a and b votes through qnetd on c:"
node_exec a corosync-quorumtool -s | sed -n '/^Votequorum/,$p'
for n in a b; do start_hasvcd $n; done
wait_placed web1 60; set -- $PLACED; [ "$1 $2" = "b a" ] || fail "web1 placed on $1/$2, not b/a"
wait_placed web2 60; set -- $PLACED; [ "$1 $2" = "a b" ] || fail "web2 placed on $1/$2, not a/b"
echo "web1 on b (standby a), web2 on a (standby b): protected"
start_client web1
start_client web2
wait_acks web1 50 20
wait_acks web2 50 20

# 1. a and b lose each other, both still reach qnetd: two halves of one
# node each, one device vote (ffsplit's tie-breaker: the lowest node id, a).
gen=$(vm_get a web1 'v["generation"]')
promoted_b=$(grep -c "promoting the standby on b" "$T/b/hasvcd.log")
ip -n "$(node_ns a)" route add blackhole "$(node_addr b)/32" &&
	ip -n "$(node_ns b)" route add blackhole "$(node_addr a)/32" || fail "cannot split a from b"
t0=$(now_ms)
echo "split a from b; both reach qnetd on c"
wait_vm a web1 'v["primary"] == "a" and v["state"] in ("running", "syncing", "protected")' 30
wait_acks web1 20 20
t1=$(awk '$1 > '"$t0"' && $3 == "connected" { print $1; exit }' "$T/web1.acks")
[ -n "$t1" ] || fail "web1: the client never reconnected: $(tail -5 "$T/web1.acks")"
echo "web1 answered from a $(( t1 - t0 )) ms after the split"
grep -q "quorum verdict of a: votequorum quorate" "$T/a/hasvcd.log" ||
	fail "a's hasvcd never applied its own verdict"
hactl_on a status | head -n 1 | grep -q "quorate (half the nodes and the quorum device)" ||
	fail "hactl status on a does not say that it decides through the device: $(hactl_on a status | head -n 1)"
read -r fenced fenced_ns <"$T/fenced" || fail "nobody ran the fence command"
[ "$fenced" = b ] || fail "fenced $fenced, not b"
[ $(( fenced_ns / 1000000 )) -le "$t1" ] || fail "web1 answered from a before b was fenced"
# b's half has no device vote: its hasvcd decided nothing.  Its copy of
# web1 is paused and web2's standby there was not promoted.
node_exec b corosync-quorumtool -s | grep -q '^Quorate: *No' || fail "b's votequorum is quorate"
[ "$(node_exec b "$VMM" ctl "hasvc.web1.$gen" status 2>/dev/null | awk '/^state/ { print $2 }')" = paused ] ||
	fail "b's copy of web1 runs while b has no quorum"
[ "$(grep -c "promoting the standby on b" "$T/b/hasvcd.log")" = "$promoted_b" ] ||
	fail "b promoted a standby without the device's vote: $(grep "promoting" "$T/b/hasvcd.log")"
[ "$(vm_get b web2 'v["primary"]')" = a ] || fail "b's replica moved web2 without quorum"
[ "$(vm_get b web2 's["fsm_quorate"] or s.get("quorum_device", False)')" = False ] ||
	fail "b's state machine calls its view quorate"
# web2 ran on a all along: paused while the half view waited for a's
# verdict, resumed in place once it came.
wait_vm a web2 'v["primary"] == "a" and v["state"] in ("running", "protected")' 20
wait_acks web2 20 20
echo "b (no device vote) paused its copy of web1 and promoted nothing"

# 2. The split heals: b's stale copy goes, both VMs get standbys on b.
ip -n "$(node_ns a)" route del blackhole "$(node_addr b)/32" &&
	ip -n "$(node_ns b)" route del blackhole "$(node_addr a)/32" || fail "cannot heal the split"
wait_members "a b" 2 20
wait_vmm_gone b "hasvc.web1.$gen" 20
wait_placed web1 60; set -- $PLACED; [ "$1 $2" = "a b" ] || fail "web1 after the heal: $1/$2, not a/b"
wait_placed web2 60; set -- $PLACED; [ "$1 $2" = "a b" ] || fail "web2 after the heal: $1/$2, not a/b"
[ "$(vm_get a web1 's.get("quorum_device", False)')" = False ] ||
	fail "a still says it needs the device with both nodes in the view"
replicas_agree 2 30
echo "healed: web1 and web2 on a, standbys on b; the replicas agree"

# 3. a dies: the device's vote goes to b, which takes both VMs.
kill_node a
echo "killed every process of node a"
for vm in web1 web2; do
	wait_vm b $vm 'v["primary"] == "b" and v["state"] in ("running", "syncing", "protected")' 30
	wait_acks $vm 20 20
done
[ "$(tail -n 1 "$T/fenced" | cut -d' ' -f1)" = a ] || fail "a was not fenced: $(cat "$T/fenced")"
echo "b took web1 and web2 over with the device's vote"
stop_client web1
stop_client web2
echo "ok"
