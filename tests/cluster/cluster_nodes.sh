# Helpers for tests that run an N-node cluster on this one machine (sourced;
# POSIX sh: runs under dash and under bash, make check's SH_LOG_COMPILER).  Each node is a network namespace with a veth into a bridge of
# its own test run, plus a long-lived "holder" process whose mount and UTS
# namespaces give the node a private /run, a private /dev/shm and the node's
# name as hostname.  corosync 3 (knet) runs one instance per node; later
# hasvcd, vmm and hactl run there too (libqb IPC uses abstract sockets, which
# are per network namespace, and ring buffers in /dev/shm).
#
# Usage:
#	. "$(dirname "$0")/cluster_nodes.sh"
#	cluster_setup 3			# nodes a b c, or exit 77
#	start_corosync a; ...
#	wait_members "a b c" 3; wait_quorate "a b c" yes
#
# Names are unique per test run (they hold $$), so tests can run at the same
# time: bridge hcb$$, namespaces hasvc-$$-NODE, root-side veths hc$$NODE.
# Every process started in a node is killed by PID on exit (also on failure
# or signal), then the veths, the bridge and the namespaces are deleted.
# A test killed with SIGKILL cannot clean up: the next cluster_setup removes
# what such a run left behind (see cluster_sweep_stale).
#
# Settings read by cluster_setup / write_corosync_conf (set them before):
#	CL_TOKEN		totem token, ms (300 x HASVC_TIME_SCALE)
#	CL_TOKEN_COEFFICIENT	totem token_coefficient, ms (0)
#	CL_PING_INTERVAL	knet_ping_interval, ms (200 x HASVC_TIME_SCALE)
#	CL_PING_TIMEOUT		knet_ping_timeout, ms (500 x HASVC_TIME_SCALE)
#	CL_CRYPTO		"no" (default): crypto_cipher/crypto_hash none;
#				"yes": aes256/sha256 with a key made for this run
#	CL_TOTEM_EXTRA		more lines for the totem section
#	CL_QUORUM_EXTRA		more lines for the quorum section (two_node: 1 ...)
#	CL_POLL			seconds between status polls (0.02)
#	CL_EXEC_TIMEOUT		time limit of a node_exec command, s (60)

# The cluster tests are in tests/cluster; demo.sh and the benchmarks set top_srcdir.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/common.sh"

PATH=$PATH:/usr/sbin:/sbin
# Slower machines (HASVC_TIME_SCALE) get a proportionally slower corosync,
# so that a scheduling hiccup is not taken for a node's death.
CL_TOKEN=${CL_TOKEN:-$((300 * TIME_SCALE))}
CL_TOKEN_COEFFICIENT=${CL_TOKEN_COEFFICIENT:-0}
CL_PING_INTERVAL=${CL_PING_INTERVAL:-$((200 * TIME_SCALE))}
CL_PING_TIMEOUT=${CL_PING_TIMEOUT:-$((500 * TIME_SCALE))}
CL_CRYPTO=${CL_CRYPTO:-no}
CL_POLL=${CL_POLL:-0.02}
CL_EXEC_TIMEOUT=${CL_EXEC_TIMEOUT:-$((60 * TIME_SCALE))}

CL_NODES=""		# the node names, "a b c"
CL_BRIDGE=""		# set once the bridge exists
CL_MADE_NS=""		# namespaces this run created
CL_MADE_LINKS=""	# root-side veths this run created
CL_PIDS=""		# every process started (holders, node_bg), by PID

# Teardown first, then common.sh's cleanup (its PIDS, then $T unless KEEP_T=1).
trap 'cluster_teardown; cleanup' EXIT
trap 'exit 1' HUP INT TERM

# now_ms: prints the wall-clock time in milliseconds since the epoch.
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# _cl_get VAR NODE: prints the per-node variable VAR_NODE (CL_NS_a ...).
_cl_get() { eval "echo \"\${${1}_$2:-}\""; }

# _cl_node NODE: fails unless NODE is a node of this cluster.
_cl_node() {
	case " $CL_NODES " in
	*" $1 "*) ;;
	*) fail "no node '$1' in this cluster (nodes: $CL_NODES)" ;;
	esac
}

# cluster_setup N: checks the prerequisites (exit 77 naming what is missing),
# then makes nodes a, b, c, ... (N of them, 1 <= N <= 16):
#  - bridge $CL_BRIDGE (hcb$$) in the root namespace, no address on it;
#  - per node namespace CL_NS_<node> (hasvc-$$-<node>), loopback up, eth0
#    with address CL_ADDR_<node> in the /24 $CL_NET.0/24, its peer
#    CL_VETH_<node> (hc$$<node>) a port of the bridge;
#  - directory CL_DIR_<node> = $T/<node> (configs, logs; corosync's
#    state_dir) with run/ in it for daemons' runtime files;
#  - nodeid CL_ID_<node> (a=1, b=2, ...);
#  - the holder process CL_HOLDER_<node> (see _cl_start_holder);
#  - $T/<node>/corosync.conf (write_corosync_conf).
# Sets and exports CL_NODES ("a b c"), CL_NET, CL_BRIDGE and the variables
# above.  The bridge is an L2 segment of its own with no address in the root
# namespace and the nodes have no route but their /24, so their traffic
# stays between them; the /24 (10.200-249.x.0/24, from $$) need not differ
# between concurrent runs, only the names must, and they hold $$.
# Fails (exit 1) on anything else going wrong.
cluster_setup() {
	_n=${1:-3}
	case $_n in ''|*[!0-9]*) fail "cluster_setup: bad node count '$_n'" ;; esac
	[ "$_n" -ge 1 ] && [ "$_n" -le 16 ] || fail "cluster_setup: 1 to 16 nodes, not $_n"
	[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, a bridge, tmpfs mounts)"
	_miss=""
	for _c in ip unshare nsenter mount hostname timeout corosync corosync-quorumtool \
		corosync-cfgtool corosync-cmapctl; do
		command -v "$_c" >/dev/null 2>&1 || _miss="$_miss $_c"
	done
	[ "$CL_CRYPTO" = yes ] && ! command -v corosync-keygen >/dev/null 2>&1 &&
		_miss="$_miss corosync-keygen"
	[ -z "$_miss" ] || skip "missing:$_miss (apt-get install corosync iproute2 util-linux)"
	case $CL_CRYPTO in yes|no) ;; *) fail "CL_CRYPTO is yes or no, not '$CL_CRYPTO'" ;; esac
	[ -z "$CL_NODES" ] || fail "cluster_setup: one cluster per test"

	cluster_sweep_stale
	CL_NET=10.$((200 + $$ % 50)).$(( ($$ / 50) % 256 ))
	_br=hcb$$
	# nf_call_*tables 0: the host's firewall (if br_netfilter is loaded)
	# does not see the bridged test traffic.
	ip link add "$_br" type bridge nf_call_iptables 0 nf_call_ip6tables 0 \
		nf_call_arptables 0 >"$T/ip.err" 2>&1 ||
		skip "cannot make a bridge: $(cat "$T/ip.err")"
	CL_BRIDGE=$_br
	_cl_no_ipv6 "$_br"
	ip link set "$_br" up || fail "cannot set $_br up"
	if [ "$CL_CRYPTO" = yes ]; then
		corosync-keygen -k "$T/authkey" >"$T/keygen.out" 2>&1 ||
			fail "corosync-keygen: $(cat "$T/keygen.out")"
	fi

	_names="a b c d e f g h i j k l m n o p"
	_i=0
	for _nd in $_names; do
		[ "$_i" -lt "$_n" ] || break
		_i=$((_i + 1))
		_ns=hasvc-$$-$_nd
		_veth=hc$$$_nd
		ip netns add "$_ns" >"$T/ip.err" 2>&1 ||
			skip "cannot make a network namespace: $(cat "$T/ip.err")"
		CL_MADE_NS="$CL_MADE_NS $_ns"
		ip link add "$_veth" type veth peer name eth0 netns "$_ns" >"$T/ip.err" 2>&1 ||
			skip "cannot make a veth pair: $(cat "$T/ip.err")"
		CL_MADE_LINKS="$CL_MADE_LINKS $_veth"
		_cl_no_ipv6 "$_veth"
		ip link set "$_veth" master "$_br" up &&
			ip -n "$_ns" link set lo up &&
			ip -n "$_ns" addr add "$CL_NET.$((10 + _i))/24" dev eth0 &&
			ip -n "$_ns" link set eth0 up ||
			fail "cannot configure node $_nd's network"
		mkdir -p "$T/$_nd/run" || fail "mkdir $T/$_nd/run"
		eval "CL_NS_$_nd=\$_ns CL_VETH_$_nd=\$_veth CL_DIR_$_nd=\$T/\$_nd \
			CL_ADDR_$_nd=\$CL_NET.$((10 + _i)) CL_ID_$_nd=\$_i"
		export "CL_NS_$_nd" "CL_VETH_$_nd" "CL_DIR_$_nd" "CL_ADDR_$_nd" "CL_ID_$_nd"
		CL_NODES="${CL_NODES:+$CL_NODES }$_nd"
	done
	export CL_NODES CL_NET CL_BRIDGE
	for _nd in $CL_NODES; do
		_cl_start_holder "$_nd"
		write_corosync_conf "$_nd"
	done
}

# _cl_no_ipv6 IF: no IPv6 on root-namespace interface IF (the bridge and
# its ports carry the nodes' traffic; the host itself has nothing to say).
_cl_no_ipv6() {
	[ -w "/proc/sys/net/ipv6/conf/$1/disable_ipv6" ] &&
		echo 1 >"/proc/sys/net/ipv6/conf/$1/disable_ipv6"
	return 0
}

# node_addr NODE / node_dir NODE / node_ns NODE: print CL_ADDR_<node>,
# CL_DIR_<node>, CL_NS_<node>.
node_addr() { _cl_node "$1"; _cl_get CL_ADDR "$1"; }
node_dir() { _cl_node "$1"; _cl_get CL_DIR "$1"; }
node_ns() { _cl_node "$1"; _cl_get CL_NS "$1"; }

# _cl_start_holder NODE: starts the node's holder and waits until it is
# ready: `ip netns exec` into the node's network namespace, `unshare -m -u`
# for a mount and UTS namespace of its own (propagation private), tmpfs on
# /run (corosync's lock file, daemons' pid files) and on /dev/shm (libqb's
# ring buffers), hostname NODE (corosync finds its own nodelist entry by
# name), then `exec sleep infinity`.  CL_HOLDER_<node> is its PID:
# node_exec and node_bg enter its namespaces.  The holder is not itself
# killed by anything but kill_node (which starts a new one) and teardown.
_cl_start_holder() {
	_hn=$1
	_hns=$(_cl_get CL_NS "$_hn") _hdir=$(_cl_get CL_DIR "$_hn")
	rm -f "$_hdir/.holder"
	ip netns exec "$_hns" unshare -m -u --propagation private sh -c '
		mount -t tmpfs -o mode=0755 tmpfs /run &&
		mount -t tmpfs -o mode=1777 tmpfs /dev/shm &&
		hostname "$1" && echo ready >"$2" && exec sleep infinity' \
		holder "$_hn" "$_hdir/.holder" </dev/null >"$_hdir/holder.err" 2>&1 &
	_hpid=$!
	CL_PIDS="$CL_PIDS $_hpid"
	eval "CL_HOLDER_$_hn=\$_hpid"
	export "CL_HOLDER_$_hn"
	wait_for_line "$_hdir/.holder" '^ready$' 10 ||
		fail "node $_hn: the holder did not start: $(cat "$_hdir/holder.err")"
}

# cluster_sweep_stale: removes what an earlier run of this harness left
# behind when it could not clean up (killed with SIGKILL): namespaces
# hasvc-PID-[a-p], veths hcPID[a-p] and bridges hcbPID whose PID is no
# longer a running process.  The processes still inside such a namespace
# are killed by PID first.  Runs that are still alive are not touched (nor
# is a stale run's $T: its name does not say whose it is).
cluster_sweep_stale() {
	for _sns in $(ip netns list 2>/dev/null | sed -n 's/^\(hasvc-[0-9][0-9]*-[a-pz]\)\( .*\)\{0,1\}$/\1/p'); do
		_spid=${_sns#hasvc-}
		_spid=${_spid%-*}
		kill -0 "$_spid" 2>/dev/null && continue
		{ _cl_kill_ns "$_sns"; } 2>/dev/null
		ip netns del "$_sns" 2>/dev/null
	done
	for _sl in $(ip -o link show type bridge 2>/dev/null | sed -n 's/^[0-9]*: \(hcb[0-9][0-9]*\)[@:].*/\1/p') \
		$(ip -o link show type veth 2>/dev/null | sed -n 's/^[0-9]*: \(hc[0-9][0-9]*[a-pz]g\{0,1\}\)[@:].*/\1/p'); do
		_spid=${_sl#hc}
		_spid=${_spid#b}
		_spid=${_spid%g}
		_spid=${_spid%[a-pz]}
		kill -0 "$_spid" 2>/dev/null && continue
		ip link del "$_sl" 2>/dev/null
	done
}

# _cl_kill_ns NS: SIGKILLs every process in network namespace NS, by PID,
# until none is left (a process may fork while it is being killed); at most
# about 2 s.  Returns 1 if some are still there.  CL_KILL_MS: the time just
# before the first SIGKILL (empty if there was nothing to kill).
_cl_kill_ns() {
	_k=0
	CL_KILL_MS=""
	while [ "$_k" -lt 100 ]; do
		_kp=$(ip netns pids "$1" 2>/dev/null)
		[ -z "$_kp" ] && return 0
		[ "$_k" -eq 0 ] && CL_KILL_MS=$(now_ms)
		kill -9 $_kp 2>/dev/null
		_k=$((_k + 1))
		sleep 0.02
	done
	return 1
}

# _cl_reap: collects the exit status of the processes started by this shell
# that have died (killed ones would otherwise stay zombies until exit).
_cl_reap() {
	_left=""
	for _rp in $CL_PIDS; do
		if alive "$_rp"; then
			_left="$_left $_rp"
		else
			wait "$_rp" 2>/dev/null
		fi
	done
	CL_PIDS=$_left
}

# cluster_teardown: kills every process in every node (by PID, all that
# `ip netns pids` lists, holders included), reaps them, deletes the veths,
# the bridge and the namespaces.  Called on EXIT; safe after a partial
# cluster_setup and safe to call twice.  Reports anything it could not remove.
cluster_teardown() {
	{ _cl_teardown; } 2>/dev/null	# no "Killed" reports from bash (kill_node)
}
_cl_teardown() {
	for _tns in $CL_MADE_NS; do
		_cl_kill_ns "$_tns" || echo "cleanup: processes left in $_tns: $(ip netns pids "$_tns")"
	done
	for _tp in $CL_PIDS; do
		kill -9 "$_tp" 2>/dev/null
		wait "$_tp" 2>/dev/null
	done
	CL_PIDS=""
	for _tl in $CL_MADE_LINKS; do
		ip link del "$_tl" 2>/dev/null
	done
	[ -n "$CL_BRIDGE" ] && ip link del "$CL_BRIDGE" 2>/dev/null
	for _tns in $CL_MADE_NS; do
		ip netns del "$_tns" 2>/dev/null
	done
	_tleft=$(ip netns list 2>/dev/null | grep "^hasvc-$$-")
	[ -n "$_tleft" ] && echo "cleanup: namespaces left: $_tleft"
	_tleft=$(ip -o link show 2>/dev/null | grep -E "^[0-9]+: hcb?$$([a-pz]g?)?[@:]")
	[ -n "$_tleft" ] && echo "cleanup: links left: $_tleft"
	CL_MADE_NS="" CL_MADE_LINKS="" CL_BRIDGE=""
}

# node_exec NODE CMD...: runs CMD in the foreground inside NODE (its network,
# mount and UTS namespaces; working directory $T/NODE); returns CMD's status,
# 124 if it ran longer than CL_EXEC_TIMEOUT seconds (then it is killed: a
# shell does not act on SIGTERM while a foreground command runs, so a hung
# command would otherwise hold up the test and its cleanup).
node_exec() {
	_cl_node "$1"
	_ex=$1
	shift
	_cl_exec "$_ex" "$CL_EXEC_TIMEOUT" "$@"
}

# _cl_exec NODE SECS CMD...: node_exec with a time limit of SECS.
_cl_exec() {
	_ep=$(_cl_get CL_HOLDER "$1") _ed=$(_cl_get CL_DIR "$1") _es=$2
	shift 2
	nsenter -t "$_ep" -m -n -u --wd="$_ed" -- timeout -k 2 "$_es" "$@"
}

# node_bg NODE NAME CMD...: starts CMD in the background inside NODE, stdout
# to $T/NODE/NAME.out, stderr to $T/NODE/NAME.err (both truncated), stdin
# /dev/null.  Its PID goes to NODE_NAME_pid (a_corosync_pid) and $BG_PID and
# is recorded for cleanup.  NAME: letters, digits, _.  nsenter execs CMD
# (no fork: no PID namespace), so the PID is CMD's own.
node_bg() {
	_cl_node "$1"
	case $2 in ''|*[!A-Za-z0-9_]*) fail "node_bg: bad name '$2'" ;; esac
	_bn=$1 _bname=$2
	_bp=$(_cl_get CL_HOLDER "$_bn") _bd=$(_cl_get CL_DIR "$_bn")
	shift 2
	nsenter -t "$_bp" -m -n -u --wd="$_bd" -- "$@" \
		</dev/null >"$_bd/$_bname.out" 2>"$_bd/$_bname.err" &
	BG_PID=$!
	CL_PIDS="$CL_PIDS $BG_PID"
	eval "${_bn}_${_bname}_pid=\$BG_PID"
}

# write_corosync_conf NODE: writes $T/NODE/corosync.conf from the CL_*
# settings: knet, every node in the nodelist (nodeid, name, ring0_addr),
# cluster_name hasvc-test-$$, token/token_coefficient/knet ping timing as
# set, crypto per CL_CRYPTO, votequorum, system { sched_rr: no; priority:
# max; state_dir: $T/NODE } (three real-time corosyncs on 2 cores starve
# each other), logging to $T/NODE/corosync.log only (not to syslog).
# cluster_setup calls it for every node; call it again after changing the
# settings (before start_corosync).
write_corosync_conf() {
	_cl_node "$1"
	_wd=$(_cl_get CL_DIR "$1")
	if [ "$CL_CRYPTO" = yes ]; then
		_crypto="crypto_cipher: aes256
	crypto_hash: sha256
	keyfile: $T/authkey"
	else
		_crypto="crypto_cipher: none
	crypto_hash: none"
	fi
	{
		cat <<EOF
# Generated by tests/cluster/cluster_nodes.sh for node $1 (test run $$).
totem {
	version: 2
	cluster_name: hasvc-test-$$
	transport: knet
	token: $CL_TOKEN
	token_coefficient: $CL_TOKEN_COEFFICIENT
	$_crypto
	interface {
		linknumber: 0
		knet_ping_interval: $CL_PING_INTERVAL
		knet_ping_timeout: $CL_PING_TIMEOUT
	}
${CL_TOTEM_EXTRA:-}
}
nodelist {
EOF
		for _wn in $CL_NODES; do
			cat <<EOF
	node {
		nodeid: $(_cl_get CL_ID "$_wn")
		name: $_wn
		ring0_addr: $(_cl_get CL_ADDR "$_wn")
	}
EOF
		done
		cat <<EOF
}
quorum {
	provider: corosync_votequorum
${CL_QUORUM_EXTRA:-}
}
system {
	sched_rr: no
	priority: max
	state_dir: $_wd
}
logging {
	to_logfile: yes
	logfile: $_wd/corosync.log
	to_stderr: no
	to_syslog: no
	timestamp: hires
}
EOF
	} >"$_wd/corosync.conf" || fail "cannot write $_wd/corosync.conf"
}

# start_corosync NODE: starts `corosync -f -c $T/NODE/corosync.conf` in
# NODE (node_bg name "corosync": NODE_corosync_pid, $T/NODE/corosync.out/.err)
# and returns once it answers on its IPC (corosync-quorumtool works); fails
# with its stderr and log tail if it exits or is not ready within 10 s.
start_corosync() {
	_cl_node "$1"
	node_bg "$1" corosync corosync -f -c "$(_cl_get CL_DIR "$1")/corosync.conf"
	_sp=$BG_PID
	_send=$(( $(now_ms) + 10000 * TIME_SCALE ))
	while :; do
		node_status "$1" && return 0
		alive "$_sp" || { _cl_reap; _cl_fail "$1" "corosync exited at start"; }
		[ "$(now_ms)" -lt "$_send" ] || _cl_fail "$1" "corosync not answering on its IPC after 10 s"
		sleep "$CL_POLL"
	done
}

# stop_corosync NODE: SIGTERM to NODE's corosync (it leaves the membership
# at once, no token timeout), waits until it exited (10 s, then SIGKILL).
stop_corosync() {
	_cl_node "$1"
	eval "_cp=\${${1}_corosync_pid:-}"
	[ -n "$_cp" ] || fail "stop_corosync $1: corosync was not started there"
	kill -TERM "$_cp" 2>/dev/null
	_cend=$(( $(now_ms) + 10000 * TIME_SCALE ))
	while alive "$_cp"; do
		if [ "$(now_ms)" -ge "$_cend" ]; then
			echo "node $1: corosync ignored SIGTERM for 10 s: SIGKILL"
			kill -9 "$_cp" 2>/dev/null
		fi
		sleep "$CL_POLL"
	done
	wait "$_cp" 2>/dev/null
	_cl_reap
}

# restart_corosync NODE: stop_corosync then start_corosync.
restart_corosync() {
	stop_corosync "$1"
	start_corosync "$1"
}

# kill_node NODE: a node crash.  SIGKILLs every process in NODE's network
# namespace by PID (corosync, hasvcd, vmm, ... and the holder), repeating
# until none is left; EVENT_MS is the time just before the first SIGKILL.
# Then starts a new holder (CL_HOLDER_<node> changes): the node is back as
# after a reboot with nothing started, an empty /run and /dev/shm, its files
# in $T/NODE kept (its disk).  Its network link is untouched.  Fails if
# processes survive 2 s of kills.
kill_node() {
	_cl_node "$1"
	# bash (make check's SH_LOG_COMPILER) reports every background job
	# killed by a signal ("Killed ..." on stderr): expected here, silenced.
	_k0=$(now_ms)
	{ _cl_kill_ns "$(_cl_get CL_NS "$1")"; _kr=$?; _cl_reap; } 2>/dev/null
	EVENT_MS=${CL_KILL_MS:-$_k0}
	[ "$_kr" = 0 ] ||
		fail "node $1: processes survive SIGKILL: $(ip netns pids "$(_cl_get CL_NS "$1")")"
	_cl_start_holder "$1"
}

# guest_lan_setup: a network for the guests' NICs, after cluster_setup.  In
# every node a bridge gbr (the `bridge` of hasvc.conf) with a veth whose
# other end (hc$$<node>g) is a port of the cluster's bridge, and a client
# namespace GL_NS (hasvc-$$-z) with eth0 at GL_CLIENT_ADDR on that bridge
# too.  The guests' addresses are in GL_NET.0/24 (GL_NET.10 and up).  As
# on a real switch, the root bridge keeps sending a MAC to the port where
# it last saw it, also after a node was killed: only the new copy's
# announcement moves it.  Removed by cluster_teardown.
guest_lan_setup() {
	[ -n "$CL_NODES" ] || fail "guest_lan_setup: call cluster_setup first"
	GL_NET=10.$((150 + $$ % 50)).$(( ($$ / 50) % 256 ))
	for _gn in $CL_NODES; do
		_gns=$(_cl_get CL_NS "$_gn")
		_gv=hc$$${_gn}g
		ip link add "$_gv" type veth peer name lan0 netns "$_gns" >"$T/ip.err" 2>&1 ||
			fail "cannot make a veth pair for $_gn's guests: $(cat "$T/ip.err")"
		CL_MADE_LINKS="$CL_MADE_LINKS $_gv"
		_cl_no_ipv6 "$_gv"
		ip link set "$_gv" master "$CL_BRIDGE" up &&
			ip -n "$_gns" link add gbr type bridge &&
			ip -n "$_gns" link set lan0 master gbr up &&
			ip -n "$_gns" link set gbr up ||
			fail "cannot make node $_gn's guest bridge"
	done
	GL_NS=hasvc-$$-z
	ip netns add "$GL_NS" >"$T/ip.err" 2>&1 || fail "cannot make $GL_NS: $(cat "$T/ip.err")"
	CL_MADE_NS="$CL_MADE_NS $GL_NS"
	ip link add hc$$z type veth peer name eth0 netns "$GL_NS" >"$T/ip.err" 2>&1 ||
		fail "cannot make the client's veth: $(cat "$T/ip.err")"
	CL_MADE_LINKS="$CL_MADE_LINKS hc$$z"
	_cl_no_ipv6 hc$$z
	GL_CLIENT_ADDR=$GL_NET.2
	ip link set hc$$z master "$CL_BRIDGE" up &&
		ip -n "$GL_NS" link set lo up &&
		ip -n "$GL_NS" addr add "$GL_CLIENT_ADDR/24" dev eth0 &&
		ip -n "$GL_NS" link set eth0 up || fail "cannot configure the client's network"
	export GL_NET GL_NS GL_CLIENT_ADDR
}

# cut_link NODE / heal_link NODE: sets NODE's veth down / up on the bridge
# side (the cable pulled at the switch: the node's eth0 loses carrier, its
# address and routes stay).  EVENT_MS is the time just before the change.
cut_link() {
	_cl_node "$1"
	EVENT_MS=$(now_ms)
	ip link set "$(_cl_get CL_VETH "$1")" down || fail "cut_link $1 failed"
}
heal_link() {
	_cl_node "$1"
	EVENT_MS=$(now_ms)
	ip link set "$(_cl_get CL_VETH "$1")" up || fail "heal_link $1 failed"
}

# node_status NODE: asks NODE's corosync (corosync-quorumtool -s) and sets
# ST_NODES (members in its membership) and ST_QUORATE (yes/no); both empty
# if corosync does not answer (5 s at most).  Returns 0 if it answered.
node_status() {
	_cl_node "$1"
	_st=$(_cl_exec "$1" 5 corosync-quorumtool -s 2>&1)
	ST_NODES=$(printf '%s\n' "$_st" | sed -n 's/^Nodes:[[:space:]]*\([0-9]*\).*/\1/p')
	ST_QUORATE=$(printf '%s\n' "$_st" | sed -n 's/^Quorate:[[:space:]]*\([A-Za-z]*\).*/\1/p' |
		tr 'A-Z' 'a-z')
	[ -n "$ST_NODES" ]
}

# _cl_fail NODE MESSAGE: fails with MESSAGE, NODE's last status and the tail
# of its corosync log and stderr.
_cl_fail() {
	_fd=$(_cl_get CL_DIR "$1")
	{
		if node_status "$1"; then
			echo "node $1's corosync now: $ST_NODES members, quorate $ST_QUORATE"
		else
			echo "node $1's corosync does not answer"
		fi
		for _ff in corosync.err corosync.log; do
			[ -s "$_fd/$_ff" ] || continue
			echo "  last lines of $_fd/$_ff:"
			tail -n 15 "$_fd/$_ff" | sed 's/^/  | /'
		done
	} >"$T/fail.msg"
	LOG=$T/fail.msg
	fail "$2 (details below)"
}

# _cl_wait WHAT NODES WANT SECS: polls node_status of each node in NODES in
# turn every CL_POLL s until ST_<WHAT> = WANT on all of them; records for
# each node SEEN_MS_<node>, the time just after the first status showing
# it (an upper bound: the change happened after the previous poll of that
# node, one poll period + one query earlier at most), and SEEN_MS, the
# latest of them.  Fails after SECS (whole) seconds naming the node(s) not
# there.
_cl_wait() {
	_what=$1 _wnodes=$2 _want=$3 _secs=${4:-10}
	case $_secs in ''|*[!0-9]*) fail "wait: whole seconds, not '$_secs'" ;; esac
	for _x in $_wnodes; do _cl_node "$_x"; done
	_end=$(( $(now_ms) + _secs * 1000 * TIME_SCALE ))
	_pending=$_wnodes
	SEEN_MS=0
	while :; do
		_still=""
		for _x in $_pending; do
			node_status "$_x"
			if [ "$(eval "echo \"\$ST_$_what\"")" = "$_want" ]; then
				_t=$(now_ms)
				eval "SEEN_MS_$_x=\$_t"
				[ "$_t" -gt "$SEEN_MS" ] && SEEN_MS=$_t
			else
				_still="$_still $_x"
			fi
		done
		_pending=$_still
		[ -z "$_pending" ] && return 0
		if [ "$(now_ms)" -ge "$_end" ]; then
			set -- $_pending
			case $_what in
			NODES) _cl_fail "$1" "waited $_secs s for $_want members on node(s)$_pending" ;;
			*) _cl_fail "$1" "waited $_secs s for quorate=$_want on node(s)$_pending" ;;
			esac
		fi
		sleep "$CL_POLL"
	done
}

# wait_members "NODES" COUNT [SECS]: waits (default 10 s) until every node
# in NODES (one name or a list) reports COUNT members; sets SEEN_MS_<node>
# and SEEN_MS (see _cl_wait).  Fails naming the node(s) and showing status
# and log tail.
wait_members() { _cl_wait NODES "$1" "$2" "${3:-10}"; }

# wait_quorate "NODES" yes|no [SECS]: the same for "Quorate: Yes/No".
wait_quorate() {
	case $2 in yes|no) ;; *) fail "wait_quorate: yes or no, not '$2'" ;; esac
	_cl_wait QUORATE "$1" "$2" "${3:-10}"
}

# log_count NODE REGEX: prints how many lines of NODE's corosync log match
# the extended REGEX (0 if none), to check that something did not happen
# between two moments (e.g. quorum never lost: "non-primary component").
log_count() {
	_cl_node "$1"
	grep -Ec -- "$2" "$(_cl_get CL_DIR "$1")/corosync.log" 2>/dev/null || true
}

# corosync_timing NODE: prints the totem timing NODE's running corosync
# uses (runtime.config.totem.*, after token_coefficient and defaults are
# applied) and the knet ping settings from its configuration.
corosync_timing() {
	_cl_node "$1"
	_ct=$(node_exec "$1" corosync-cmapctl -g runtime.config.totem.token 2>/dev/null | sed 's/.* = //')
	_cc=$(node_exec "$1" corosync-cmapctl -g runtime.config.totem.consensus 2>/dev/null | sed 's/.* = //')
	echo "totem: token $CL_TOKEN ms, token_coefficient $CL_TOKEN_COEFFICIENT ms" \
		"(effective token ${_ct:-?} ms, consensus ${_cc:-?} ms)," \
		"knet_ping_interval $CL_PING_INTERVAL ms, knet_ping_timeout $CL_PING_TIMEOUT ms," \
		"crypto $CL_CRYPTO, sched_rr no, priority max"
}

# log_ms NODE REGEX [AFTER_MS]: prints the time (ms since the epoch) of the
# first line of NODE's corosync log matching the extended REGEX that was
# logged at or after AFTER_MS (default 0); nothing if there is none.  The
# log's own timestamps (timestamp: hires, local time, same clock) date an
# event to the millisecond, where polling is only as fine as its period;
# e.g. log_ms b 'QUORUM.*Members\[2\]' "$EVENT_MS" is when b's corosync
# delivered the 2-member membership to its clients.
log_ms() {
	_cl_node "$1"
	grep -E -- "$2" "$(_cl_get CL_DIR "$1")/corosync.log" 2>/dev/null |
	while read -r _lm _ld _lt _lrest; do
		_lms=$(date -d "$_lm $_ld $_lt" +%s%3N 2>/dev/null) || continue
		[ "$_lms" -ge "${3:-0}" ] && { echo "$_lms"; break; }
	done
}
