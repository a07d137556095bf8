# Helpers for the virtio-net tests (sourced after tests/common.sh).
#
# Topology, made fresh by every test and removed on exit (also on failure):
# namespace $HNS holds bridge nbr0 and the persistent taps ntap0 (the
# primary or migration source) and ntap1 (the standby or destination); the
# vmm processes run there, and their control services (abstract sockets)
# live there too.  Namespace $CNS holds the client, 10.77.0.2/24 on a veth
# whose peer is in the bridge.  The guest is 10.77.0.10.  The /24 is used
# only inside these namespaces.
UDPCLIENT="$top_srcdir/tests/virtio/udpclient.py"
HNS=vnh$$
CNS=vnc$$
GUEST_IP=10.77.0.10
CLIENT_IP=10.77.0.2
GPORT=7777
GMAC=52:54:00:12:34:56

need_net() {
	[ -c /dev/net/tun ] || skip "/dev/net/tun is missing: no tun/tap driver"
	ip netns list >/dev/null 2>&1 || skip "ip netns is not available"
	command -v bridge >/dev/null || skip "the bridge command (iproute2) is missing"
	ip netns add "$HNS" 2>/dev/null || skip "cannot create a network namespace"
	trap 'cleanup; net_cleanup' EXIT
	ip netns add "$CNS" || fail "cannot create the client namespace"
	hip link set lo up
	hip link add nbr0 type bridge || fail "cannot create a bridge"
	# Learn at once, forward at once: no STP delays in a test.
	hip link set nbr0 type bridge stp_state 0 forward_delay 0
	hip link set nbr0 up
	for t in ntap0 ntap1; do
		hip tuntap add dev $t mode tap || fail "cannot create tap $t"
	done
	ip link add "vn$$a" type veth peer name "vn$$b" || fail "cannot create a veth pair"
	ip link set "vn$$a" netns "$HNS"
	ip link set "vn$$b" netns "$CNS"
	hip link set "vn$$a" master nbr0
	hip link set "vn$$a" up
	cip link set lo up
	cip link set "vn$$b" name veth0
	cip addr add "$CLIENT_IP/24" dev veth0
	cip link set veth0 up
}

net_cleanup() {
	ip netns del "$CNS" 2>/dev/null
	ip netns del "$HNS" 2>/dev/null
	return 0
}

hip() { ip -n "$HNS" "$@"; }
cip() { ip -n "$CNS" "$@"; }
# Run in the host namespace (the vmm, its ctl) or the client's.
inh() { ip netns exec "$HNS" "$@"; }
inc() { ip netns exec "$CNS" "$@"; }

# bg_nvmm ID ARGS...: like bg_vmm, in the host namespace.
bg_nvmm() {
	_bg=$1; shift
	ip netns exec "$HNS" "$VMM" "$@" >"$T/$_bg.out" 2>"$T/$_bg.err" &
	eval "${_bg}_pid=$!"
	PIDS="$PIDS $!"
}

nctl() { ip netns exec "$HNS" "$VMM" ctl "$@"; }

# net_field ID FIELD: a number from ID's net-status --json.
net_field() {
	nctl "$1-$$" net-status --json | json_field "$2"
}

# udp ARGS...: the client in its namespace, against the guest.
udp() { inc python3 "$UDPCLIENT" "$GUEST_IP" "$GPORT" "$@"; }

# bg_udp LOG ARGS...: the client in the background; its PID in $ucl.
bg_udp() {
	_log=$1; shift
	# Not through inc: $! must be the client itself (ip netns exec execs it).
	ip netns exec "$CNS" python3 "$UDPCLIENT" "$GUEST_IP" "$GPORT" "$@" >"$_log" 2>&1 &
	ucl=$!
	PIDS="$PIDS $ucl"
}

# The guest's MAC in the bridge's fdb: the port it was learnt on (or nothing).
fdb_port() {
	inh bridge fdb show br nbr0 | awk -v m="$GMAC" '$1 == m && $0 !~ /permanent/ { print $3; exit }'
}

# nprotect ID [SECS]: protect ID (its disk too, if it has one) to the
# standby on $PORT at 25 ms epochs; until this protect's initial sync is
# done (at most SECS, 20 by default; needs tests/checkpoint/checkpoint_helpers.sh).
# $NPROTECT_OPTS, when set, adds protect options (a word list).
nprotect() {
	_syncs=$(grep -c "initial sync to .* done" "$T/$1.err")
	# shellcheck disable=SC2086  # $NPROTECT_OPTS: more protect options, a word list
	nctl "$1-$$" protect "tcp:127.0.0.1:$PORT" --tls-none --interval 25 ${NPROTECT_OPTS:-} \
		>"$T/ctl.out" 2>&1 ||
		fail "protect $1: $(cat "$T/ctl.out")"
	wait_for_count "$T/$1.err" "initial sync to .* done" $((_syncs + 1)) "${2:-20}" ||
		fail "$1: not protected: $(cat "$T/$1.err")"
}
