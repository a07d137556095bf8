# Helpers for tests of hasvcd and hactl on a cluster made by cluster_nodes.sh
# (sourced after it).  The VMs are counter guests (tests/guests/counter.c):
# small, and a client can check that no acknowledged update was lost.
HASVCD="$top_builddir/hasvc/hasvcd"
HACTL="$top_builddir/hasvc/hactl"
HCLIENT="$top_srcdir/tests/cluster/hclient.py"
HLIB_PORT=7400

need_hasvc() {
	need_kvm
	[ -x "$HASVCD" ] && [ -x "$HACTL" ] || fail "hasvcd or hactl not built"
	[ -f "$GUESTS/counter.elf" ] || fail "the counter guest is not built"
	command -v openssl >/dev/null 2>&1 || skip "no openssl command (certificates)"
	command -v python3 >/dev/null 2>&1 || skip "no python3 (the client)"
}

# need_prom_parser: PY, a python3 with prometheus_client's exposition-format
# parser (Debian python3-prometheus-client), and SCRAPE, the script that uses
# it (tests/cluster/scrape.py); skips without one.
need_prom_parser() {
	SCRAPE="$top_srcdir/tests/cluster/scrape.py"
	for PY in python3 /usr/bin/python3; do
		"$PY" -c 'import prometheus_client.parser' 2>/dev/null && return 0
	done
	skip "no prometheus_client for python3 (Debian python3-prometheus-client)"
}

# write_hasvc_conf VM...: $T/hasvc.conf with every node of the cluster, TLS
# certificates from conf/make-certs.sh, and a protected counter guest per VM
# argument ("web1" or "web1:a,b" for preferred nodes).  Per VM (its name a
# shell word): HLIB_KERNEL_<vm> another guest, HLIB_MEMORY_<vm> other than 32M,
# HLIB_PROTECT_<vm> yes or no; HLIB_EXTRA_<vm> more lines
# of its section (cmdline, disk, bridge ...).  HLIB_FENCE: every node's
# fence_command; HLIB_NODE_EXTRA: more lines of every [node] section (@NODE@
# stands for its name); HLIB_NODE_EXTRA_<node>: more lines of that node's
# section (memory, cpus); HLIB_CLUSTER_EXTRA: more lines of [cluster]
# (metrics_port, alert_command ...).
write_hasvc_conf() {
	# shellcheck disable=SC2086
	[ -f "$T/pki/ca.pem" ] || sh "$top_srcdir/conf/make-certs.sh" "$T/pki" $CL_NODES \
		>/dev/null 2>&1 || fail "make-certs.sh"
	{
		printf '[cluster]\nname = t%s\n' "$$"
		[ -z "${HLIB_CLUSTER_EXTRA:-}" ] || printf '%s\n' "$HLIB_CLUSTER_EXTRA"
		for _n in $CL_NODES; do
			printf '[node %s]\nreplication = %s:%s\n' "$_n" "$(_cl_get CL_ADDR "$_n")" \
				"$HLIB_PORT"
			printf 'tls_ca = %s\ntls_cert = %s\ntls_key = %s\n' "$T/pki/ca.pem" \
				"$T/pki/$_n.pem" "$T/pki/$_n.key"
			[ -z "${HLIB_FENCE:-}" ] || printf 'fence_command = %s\n' "$HLIB_FENCE"
			# More lines of every [node]; @NODE@ becomes the node's name.
			[ -z "${HLIB_NODE_EXTRA:-}" ] ||
				printf '%s\n' "$HLIB_NODE_EXTRA" | sed "s/@NODE@/$_n/g"
			_hl_vm_get HLIB_NODE_EXTRA "$_n" ""
		done
		for _v in "$@"; do
			_vn=${_v%%:*}
			printf '[vm %s]\nmemory = %s\nvcpus = 1\nkernel = %s\n' "$_vn" \
				"$(_hl_vm_get HLIB_MEMORY "$_vn" 32M)" \
				"$(_hl_vm_get HLIB_KERNEL "$_vn" "$GUESTS/counter.elf")"
			printf 'checkpoint_interval_ms = %s\nprotected = %s\n' "${HLIB_INTERVAL:-25}" \
				"$(_hl_vm_get HLIB_PROTECT "$_vn" "${HLIB_PROTECT:-yes}")"
			case $_v in *:*) printf 'preferred_nodes = %s\n' "${_v#*:}" ;; esac
			_hl_vm_get HLIB_EXTRA "$_vn" ""
		done
	} >"$T/hasvc.conf" || fail "cannot write $T/hasvc.conf"
}

# _hl_vm_get VAR VM DEFAULT: prints VAR_VM (a newline after a non-empty
# value), or DEFAULT.
_hl_vm_get() {
	_hv=$(eval "echo \"\${${1}_$2:-}\"")
	if [ -n "$_hv" ]; then printf '%s\n' "$_hv"; else printf '%s' "$3"; fi
}

# start_hasvcd NODE: hasvcd in NODE (NODE_hasvcd_pid), log $T/NODE/hasvcd.log,
# its cluster state kept in $T/NODE/state (as the unit keeps it in
# /var/lib/hasvc).
start_hasvcd() {
	node_bg "$1" hasvcd "$HASVCD" -c "$T/hasvc.conf" -r "$T/$1/run" -S "$T/$1/state" \
		--vmm "$VMM" -l "$T/$1/hasvcd.log" -v
}

# restart_hasvcd NODE: kill -9 NODE's hasvcd (its vmm processes run on) and
# start it again.
restart_hasvcd() {
	_pid=$(eval "echo \$${1}_hasvcd_pid")
	kill -9 "$_pid"
	wait "$_pid" 2>/dev/null
	start_hasvcd "$1"
}

# start_cluster VM...: nodes with corosync and hasvcd, the configuration for
# the VMs; returns when every node is in the group and quorate.
start_cluster() {
	write_hasvc_conf "$@"
	for _n in $CL_NODES; do start_corosync "$_n"; done
	# shellcheck disable=SC2086
	wait_members "$CL_NODES" "$(echo $CL_NODES | wc -w)" 20
	for _n in $CL_NODES; do start_hasvcd "$_n"; done
}

# hactl_on NODE ARGS...: hactl in NODE.  A --timeout S in ARGS longer than
# node_exec's limit raises the limit to S and a margin: hactl's own limit
# is the one the test asked for (a --wait would otherwise be killed first,
# silently, with status 124).
hactl_on() {
	_hn=$1; shift
	_hl=$CL_EXEC_TIMEOUT _hp=
	for _ha in "$@"; do
		[ "$_hp" = --timeout ] && [ "${_ha%.*}" -ge "$_hl" ] 2>/dev/null && _hl=$(( ${_ha%.*} + 30 ))
		_hp=$_ha
	done
	_cl_node "$_hn"
	_cl_exec "$_hn" "$_hl" "$HACTL" "$@"
}

# vm_get NODE VM EXPR: EXPR (Python, over the VM's dict `v` from hactl status
# --json and the whole status `s`) evaluated on NODE; prints the value.
vm_get() {
	hactl_on "$1" --json status 2>/dev/null | python3 -c '
import json, sys
s = json.load(sys.stdin).get("status", {})
v = next((x for x in s.get("vms", []) if x.get("name") == sys.argv[1]), {})
print(eval(sys.argv[2]))' "$2" "$3"
}

# wait_vm NODE VM EXPR TIMEOUT: until vm_get prints True; fails with the
# status after TIMEOUT seconds.  Polled: the status is all there is to watch.
wait_vm() {
	_end=$(deadline "$4")
	until [ "$(vm_get "$1" "$2" "$3" 2>/dev/null)" = True ]; do
		if [ "$(date +%s)" -gt "$_end" ]; then
			hactl_on "$1" status >&2 || true
			fail "vm $2: not '$3' on $1 within $4 s"
		fi
		nap
	done
}

# wait_placed VM [TIMEOUT]: until some node reports VM protected with a
# standby; "PRIMARY STANDBY" in $PLACED.  In this shell: `set -- $(...)`
# of a function that fails would end only the command substitution (and
# hide the message in it).
wait_placed() {
	_end=$(deadline "${2:-60}")
	while :; do
		for _n in $CL_NODES; do
			PLACED=$(vm_get "$_n" "$1" 'v.get("state") == "protected" and v.get("standby") and \
				v["primary"] + " " + v["standby"]' 2>/dev/null) || continue
			case $PLACED in ''|False|None) ;; *) return 0 ;; esac
			break	# one live node's view a round: the state is the cluster's
		done
		[ "$(date +%s)" -le "$_end" ] || fail "vm $1: not protected within ${2:-60} s"
		nap
	done
}

# wait_protected VM [TIMEOUT]: wait_placed, printing "PRIMARY STANDBY".
wait_protected() {
	wait_placed "$@"
	echo "$PLACED"
}

# wait_vmm_gone NODE CONTROL TIMEOUT: until no vmm answers on CONTROL in
# NODE (polled: its control socket is all there is to watch).
wait_vmm_gone() {
	_end=$(deadline "$3")
	while node_exec "$1" "$VMM" ctl "$2" status >/dev/null 2>&1; do
		[ "$(date +%s)" -le "$_end" ] || fail "$2 still runs on $1 after $3 s"
		sleep 0.1
	done
}

# start_client VM: hclient.py following VM through the serial socket links
# hasvcd keeps on the primary's node (ID client_VM, log $T/VM.acks).
start_client() {
	python3 "$HCLIENT" "$T/*/run/$1.serial" "$T/$1.acks" "$T/$1.stop" \
		>"$T/client_$1.out" 2>&1 &
	eval "client_$1_pid=$!"
	PIDS="$PIDS $!"
}

# acks VM: acknowledged updates so far.
acks() {
	_a=$(grep -c '^[0-9]* [0-9]*$' "$T/$1.acks" 2>/dev/null) || true
	echo "${_a:-0}"
}

# wait_acks VM N TIMEOUT: until the client has N more acknowledged updates.
wait_acks() {
	_goal=$(( $(acks "$1") + $2 )); _end=$(deadline "$3")
	until [ "$(acks "$1")" -ge "$_goal" ]; do
		[ "$(date +%s)" -le "$_end" ] || fail "vm $1: the client got no $2 answers in $3 s: $(tail -3 "$T/client_$1.out" "$T/$1.acks" 2>/dev/null)"
		sleep 0.05
	done
}

# stop_client VM: ask the client to stop, wait for it, fail on a loss.
stop_client() {
	touch "$T/$1.stop"
	_p=$(eval "echo \$client_$1_pid")
	wait "$_p" || fail "vm $1: the client failed: $(cat "$T/client_$1.out")"
	cat "$T/client_$1.out"
}

# replicas_agree COUNT [TIMEOUT]: until COUNT nodes' hasvcd answer and all
# show the same state digest (the same replica of the state machine: the
# digest is over its encoding, docs/hasvc-daemon.md).  COUNT is how many
# hasvcd the test expects to run, so that a daemon that does not answer (or
# a test that lost one) is not taken for agreement.  Reports flow all the
# time, so equal digests are waited for, not expected at once; a replica
# that diverged never matches again.
replicas_agree() {
	_want=$1
	_end=$(deadline "${2:-20}")
	while :; do
		# All nodes at once, so that no report slips in between.
		_qp=""
		for _n in $CL_NODES; do
			hactl_on "$_n" --json status >"$T/digest.$_n" 2>/dev/null &
			_qp="$_qp $!"
		done
		for _p in $_qp; do wait "$_p"; done
		_all=$(for _n in $CL_NODES; do python3 -c '
import json, sys
print(json.load(open(sys.argv[1])).get("status", {}).get("state_digest", ""))' \
			"$T/digest.$_n" 2>/dev/null; done | grep -v '^$')
		_got=$(echo "$_all" | grep -c .)
		_d=$(echo "$_all" | sort -u)
		[ "$_got" = "$_want" ] && [ "$(echo "$_d" | grep -c .)" = 1 ] && return 0
		if [ "$(date +%s)" -gt "$_end" ]; then
			_cl_status_diff >"$T/agree.diff" 2>&1
			LOG=$T/agree.diff fail "the replicas do not agree: $_got of $_want hasvcd answered, digests: $(echo $_d)"
		fi
		sleep 0.2
	done
}

# _cl_status_diff: where the nodes' last hactl --json status ($T/digest.NODE)
# differ from the first node's, field by field.
_cl_status_diff() {
	python3 - $(for _n in $CL_NODES; do echo "$_n=$T/digest.$_n"; done) <<'PY'
import json, sys
def flat(x, p=""):
    if isinstance(x, dict):
        for k, v in x.items():
            yield from flat(v, p + "." + k)
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from flat(v, "%s[%s]" % (p, v.get("name", i) if isinstance(v, dict) else i))
    else:
        yield p, x
views = []
for a in sys.argv[1:]:
    n, f = a.split("=", 1)
    try:
        views.append((n, dict(flat(json.load(open(f)).get("status", {})))))
    except (OSError, ValueError) as e:
        print("%s: no status (%s)" % (n, e))
if views:
    n0, v0 = views[0]
    for n, v in views[1:]:
        for k in sorted(set(v0) | set(v)):
            if v0.get(k) != v.get(k) and not k.endswith(("local", "ckpt_age_ms")):
                print("%s %s: %s=%r %s=%r" % ("differs", k, n0, v0.get(k), n, v.get(k)))
PY
}

# first_answer VM AFTER_MS: FIRST_MS is the time (ms) of the client's first
# answer after a reconnection later than AFTER_MS (from the new primary);
# fails if there is none.
first_answer() {
	FIRST_MS=$(awk '$1 > '"$2"' && $3 == "connected" { print $1; exit }' "$T/$1.acks")
	[ -n "$FIRST_MS" ] || fail "vm $1: the client never reconnected after $2: $(tail -5 "$T/$1.acks")"
}

# acked VM: how many answers the client of VM got ($T/VM.acks, one "ack"
# line each, tests/virtio/udpclient.py --log).
acked() { _a=$(grep -c '^ack ' "$T/$1.acks" 2>/dev/null) || true; echo "${_a:-0}"; }

# cluster_diag FILE: what a failed wait shows, into FILE (a CI report keeps
# a failed test's last lines): every node's hasvcd log tail, its vmm logs'
# tails, and each running vmm's protect-status.
cluster_diag() {
	for _n in $CL_NODES; do
		echo "-- node $_n: hasvcd.log"
		tail -n 8 "$T/$_n/hasvcd.log" 2>/dev/null
		# hasvcd names each vmm's log after its control name.
		for _l in "$T/$_n"/run/*.log; do
			[ -f "$_l" ] || continue
			_c=${_l##*/}
			echo "-- node $_n: $_c"
			tail -n 4 "$_l"
			echo "-- node $_n: vmm ctl ${_c%.log} protect-status"
			node_exec "$_n" "$VMM" ctl "${_c%.log}" protect-status 2>&1 | tail -n 12
		done
	done >"$1" 2>&1
}

# wait_acked VM N SECS: until the client of VM has N more answers; fails
# with the client's last lines ($T/udp.out) and cluster_diag's report.
# Polled: the log is the event.
wait_acked() {
	_goal=$(( $(acked "$1") + $2 )) _end=$(deadline "$3")
	until [ "$(acked "$1")" -ge "$_goal" ]; do
		if [ "$(date +%s)" -gt "$_end" ]; then
			cluster_diag "$T/diag"
			LOG=$T/diag fail "$1: $(acked "$1") answers, not $_goal, in $3 s: $(tail -3 "$T/udp.out")"
		fi
		nap
	done
}

# expect CODE TEXT CMD...: CMD exits CODE and says TEXT (stdout and
# stderr in $T/out).
expect() {
	_code=$1 _text=$2; shift 2
	"$@" >"$T/out" 2>&1 && _rc=0 || _rc=$?
	[ "$_rc" = "$_code" ] || fail "'$*' exited $_rc, not $_code: $(cat "$T/out")"
	grep -q -- "$_text" "$T/out" || fail "'$*' did not say '$_text': $(cat "$T/out")"
	echo "$* -> $_rc: $(head -1 "$T/out")"
}

# A cluster test that fails: every hasvcd's last lines, before the
# teardown removes them (a CI, and the nested VM, keep only the test's log).
hasvc_exit() {
	_xrc=$1
	if [ "$_xrc" != 0 ] && [ "$_xrc" != 77 ] && [ -n "${CL_NODES:-}" ]; then
		for _n in $CL_NODES; do
			[ -f "$T/$_n/hasvcd.log" ] || continue
			# Without the lines of the tests' own hactl polls, which hide the rest.
			echo "-- the test failed: node $_n's hasvcd.log, last 40 lines but hactl's requests"
			grep -v ': info: hactl hasvcd: ' "$T/$_n/hasvcd.log" | tail -n 40
		done
	fi
	cluster_teardown
	cleanup
}
trap 'hasvc_exit $?' EXIT
