#!/bin/sh
# Two nodes and a quorum device: hasvc.conf says quorum_device = yes, a and
# b run corosync-qdevice (model net, ffsplit, TLS off) voting through
# corosync-qnetd in a third namespace c.  A protected counter guest runs on
# b with its standby on a; b dies (every process SIGKILLed): a keeps
# votequorum's quorum with the device's vote, its hasvcd multicasts that
# verdict, and the view of one node out of two decides: web1 is promoted on
# a after b was fenced, web2 (primary on a) runs on, and the clients lose no
# acknowledged update.
# Without quorum_device (two_node = yes) a would stay paused.
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
set -- $(wait_protected web1 60); [ "$1 $2" = "b a" ] || fail "web1 placed on $1/$2, not b/a"
set -- $(wait_protected web2 60); [ "$1 $2" = "a b" ] || fail "web2 placed on $1/$2, not a/b"
echo "web1 on b (standby a), web2 on a (standby b): protected"
start_client web1
start_client web2
wait_acks web1 50 20
wait_acks web2 50 20

t0=$(now_ms)
kill_node b
echo "killed every process of node b"
wait_vm a web1 'v["primary"] == "a" and v["state"] in ("running", "syncing", "protected")' 30
wait_acks web1 20 20
t1=$(awk '$1 > '"$t0"' && $3 == "connected" { print $1; exit }' "$T/web1.acks")
[ -n "$t1" ] || fail "web1: the client never reconnected: $(tail -5 "$T/web1.acks")"
echo "web1 answered from a $(( t1 - t0 )) ms after the kill"
node_exec a corosync-quorumtool -s | grep -q '^Quorate: *Yes' || fail "a's votequorum is not quorate"
grep -q "quorum verdict of a: votequorum quorate" "$T/a/hasvcd.log" ||
	fail "a's hasvcd never applied its own verdict"
read -r fenced fenced_ns <"$T/fenced" || fail "nobody ran the fence command"
[ "$fenced" = b ] || fail "fenced $fenced, not b"
[ $(( fenced_ns / 1000000 )) -le "$t1" ] || fail "web1 answered from a before b was fenced"
# web2 ran on a all along: paused while the half view waited for a's
# verdict, resumed in place once it came.
wait_vm a web2 'v["primary"] == "a" and v["state"] == "running"' 20
wait_acks web2 20 20
stop_client web1
stop_client web2
echo "ok"
