#!/bin/sh
# Cluster failover and evacuation benchmark (hasvcd, three corosync nodes in
# network namespaces, tests/cluster/cluster_nodes.sh and hasvc_cluster.sh; counter guests of
# 32 MiB checkpointed every 25 ms, with a client, tests/cluster/hclient.py,
# doing `inc 1` continuously and following the VM to its new primary).
#
#   tests/bench/bench_failover.sh [--runs N] [--record]
#
# - failover: every process of the primary's node is SIGKILLed (kill_node);
#   detection = the kill to the new membership on the standby's node (its
#   corosync log line "[TOTEM ] A new membership (...) was formed. Members
#   left"), promotion = that membership to the client's first answer from
#   the new primary, total = kill to that answer; the client's gap and
#   whether an acknowledged update was lost.  N runs with token 300 ms, then
#   (N+1)/2 runs with token 1000 ms; a fresh cluster for every run.
# - baseline, interleaved with the failover runs (bare, failover, bare, ...):
#   the same kill of a node that runs corosync only; total/bare is what
#   hasvcd adds to corosync's own detection.
# - evacuation: 1, 2 and 3 protected VMs with their primaries on node a,
#   `hactl evacuate a --wait`; the command's time, the time until every VM
#   is protected again elsewhere, the longest client gap.  min(N, 3) runs
#   of each size, interleaved (1, 2, 3, 1, 2, 3, ...).
#
# About 6 to 8 minutes with the default 5 runs.  Needs root (namespaces),
# /dev/kvm, corosync, python3 and openssl; exits 77 naming what is missing.
# Builds what it needs (make in $BUILDDIR, default the source tree), prints
# a markdown report; --record replaces the section "Cluster failover and
# evacuation" of docs/performance.md (appended when missing), leaving the
# rest of the file alone.  A benchmark never fails because a number moved:
# the exit status is non-zero only when it could not build or run at all.
# BENCH_KEEP=1 keeps every run's files (the logs) and says where.
set -u

self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
builddir=${BUILDDIR:-$srcdir}
top_srcdir=$srcdir top_builddir=$(cd "$builddir" && pwd)
VMM=$top_builddir/vmm/vmm GUESTS=$top_builddir/tests/guests
export top_srcdir top_builddir VMM GUESTS

# --- One run (a child process of the benchmark: its own $$, $T, cluster) ---

# acks_after VM N SECS: waits until the client has N more acknowledged
# updates; returns 1 after SECS seconds or when the client has ended (no
# failure: a client that stopped is reported, not fatal).
acks_after() {
	_g=$(( $(acks "$1") + $2 )) _e=$(( $(date +%s) + $3 ))
	_cp=$(eval "echo \$client_$1_pid")
	until [ "$(acks "$1")" -ge "$_g" ]; do
		[ "$(date +%s)" -le "$_e" ] || return 1
		kill -0 "$_cp" 2>/dev/null || return 1
		sleep 0.05
	done
}

# client_first VM: acks file of VM prints "LAST FIRST PATH": the first
# "connected" line after $K (FIRST, the client's first answer from the new
# primary, and the socket PATH) and the last answer before it (LAST).
client_first() {
	awk -v k="$K" '$2 == "-" { next }
		$3 == "connected" && $1 > k { print last, $1, $4; found = 1; exit }
		{ last = $1 }
		END { if (!found) print "- - -" }' "$T/$1.acks" 2>/dev/null
}

# finish_client VM: stops VM's client (in this shell: it is its child);
# sets FC to ok, lost, bad or exitN (what it said is in $T/client_VM.out).
finish_client() {
	touch "$T/$1.stop"
	_p=$(eval "echo \$client_$1_pid")
	wait "$_p"
	_r=$?
	if [ "$_r" = 0 ]; then FC=ok
	elif grep -q '^LOST' "$T/client_$1.out"; then FC=lost
	elif grep -q '^BAD' "$T/client_$1.out"; then FC=bad
	else FC=exit$_r
	fi
}

# post_check VM SOCKET: for a client that ended early: reads and throws
# away what VM's primary has waiting on SOCKET, asks `get` and `check`, and
# sets PC to "ok" when the value is at least the highest one the client saw
# acknowledged and the guest's log is intact, else to "lost" (PC_WHY says
# what was seen).
post_check() {
	bf_hi=$(awk '$2 ~ /^[0-9]+$/ && $2 > m { m = $2 } END { print m + 0 }' "$T/$1.acks")
	PC_WHY=$(python3 - "$2" <<'EOF2'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.settimeout(0.3)
try:
    while s.recv(4096):
        pass
except socket.timeout:
    pass
s.settimeout(5)
buf = b""
def answer(prefix):
    global buf
    while True:
        while b"\n" not in buf:
            d = s.recv(4096)
            if not d:
                raise EOFError("the vmm closed the socket")
            buf += d
        line, buf = buf.split(b"\n", 1)
        line = line.decode(errors="replace").strip()
        if line.startswith(prefix):
            return line
s.sendall(b"get\n")
v = answer("val ").split()[1]
s.sendall(b"check\n")
print(v, answer("check ").replace(" ", "_"))
EOF2
) || PC_WHY="no answer"
	# shellcheck disable=SC2086  # split into the value and the check's answer
	set -- $PC_WHY
	PC=lost
	case ${2:-} in
	check_ok_*) [ "${1:-x}" -ge "$bf_hi" ] 2>/dev/null && PC=ok ;;
	esac
	PC_WHY="get answered ${1:-?} (highest acknowledged $bf_hi), ${2:-?}"
}

# start_poller NODE: follows `hactl --json status` on NODE about every 50 ms
# and appends "MS VM PRIMARY STANDBY STATE" to $T/status.log whenever a
# VM's line changes (MS: just after the answer).
start_poller() {
	cat >"$T/poll.py" <<'EOF'
import json, os, subprocess, sys, time
out, stop, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
seen = {}
with open(out, "a") as f:
    while not os.path.exists(stop):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=5)
            s = json.loads(r.stdout).get("status", {})
        except (OSError, ValueError, subprocess.SubprocessError):
            s = {}
        t = int(time.time() * 1000)
        for v in s.get("vms", []):
            k = tuple(v.get(x) or "-" for x in ("primary", "standby", "state"))
            if seen.get(v.get("name")) != k:
                seen[v.get("name")] = k
                f.write("%d %s %s %s %s\n" % ((t, v.get("name")) + k))
                f.flush()
        time.sleep(0.05)
EOF
	_h=$(_cl_get CL_HOLDER "$1")
	python3 "$T/poll.py" "$T/status.log" "$T/poll.stop" \
		nsenter -t "$_h" -m -n -u --wd="$T/$1" -- "$HACTL" --json status &
	PIDS="$PIDS $!"
}

# protected_at VM NOTNODE: the first time in $T/status.log at or after $K
# when VM was protected with neither copy on NOTNODE ("-" if never).
protected_at() {
	awk -v k="$K" -v vm="$1" -v no="$2" '$1 >= k && $2 == vm && $5 == "protected" &&
		$3 != no && $4 != no && $4 != "-" { print $1; found = 1; exit }
		END { if (!found) print "-" }' "$T/status.log" 2>/dev/null
}

# link_ms NODE VM: when NODE's hasvcd linked RUN/VM.serial to the primary
# it runs (the symlink's mtime, ms), "-" without one.
link_ms() {
	_s=$(stat -c %.3Y "$T/$1/run/$2.serial" 2>/dev/null) || { echo -; return; }
	echo "${_s%.*}${_s#*.}"
}

# d A B: B - A, or "-" when either is unknown.
d() { case "$1$2" in *-*|'') echo - ;; *) echo $(( $2 - $1 )) ;; esac; }

trial_bare() {
	cluster_setup 3
	for bf_n in $CL_NODES; do start_corosync "$bf_n"; done
	wait_members "$CL_NODES" 3 20
	sleep 1	# let the links and the first memberships settle
	corosync_timing b >"$RES.timing.$CL_TOKEN"
	read -r load _ </proc/loadavg
	kill_node a
	K=$EVENT_MS
	wait_members "b c" 2 20
	bf_m=$(log_ms b 'TOTEM.*A new membership.*Members left' "$K")
	bf_q=$(log_ms b 'QUORUM.*Members\[2\]' "$K")
	bf_mc=$(log_ms c 'TOTEM.*A new membership.*Members left' "$K")
	echo "kind=bare token=$CL_TOKEN det=$(d "$K" "$bf_m") deliver=$(d "$bf_m" "$bf_q")" \
		"det_c=$(d "$K" "$bf_mc") load=$load" >>"$RES"
}

trial_failover() {
	need_hasvc
	cluster_setup 3
	start_cluster web1:a,b
	bf_w=$(wait_protected web1 90) || fail "setup: ${bf_w#FAIL: }"
	# shellcheck disable=SC2086  # "PRIMARY STANDBY"
	set -- $bf_w
	[ "$1 $2" = "a b" ] || fail "web1 placed on $1/$2, not a/b"
	start_poller b
	start_client web1
	acks_after web1 100 30 || fail "web1: the client got no 100 answers in 30 s"
	corosync_timing b >"$RES.timing.$CL_TOKEN"
	read -r load _ </proc/loadavg
	kill_node a
	K=$EVENT_MS
	bf_e=$(( $(date +%s) + 30 ))
	while [ "$(client_first web1)" = "- - -" ] && [ "$(date +%s)" -le "$bf_e" ]; do
		sleep 0.05
	done
	bf_e=$(( $(date +%s) + 60 ))
	while [ "$(protected_at web1 a)" = - ] && [ "$(date +%s)" -le "$bf_e" ]; do
		sleep 0.1
	done
	acks_after web1 20 20
	touch "$T/poll.stop"
	finish_client web1
	bf_c=$FC
	set -- $(client_first web1)
	bf_last=$1 bf_first=$2
	if [ "$bf_c" != ok ] && [ "$3" != - ]; then
		post_check web1 "$3"
		echo "failover token $CL_TOKEN: web1's client: $(cat "$T/client_web1.out");" \
			"afterwards $PC_WHY" >>"$RES.notes"
		[ "$PC" = ok ] || bf_c=lost
	fi
	bf_m=$(log_ms b 'TOTEM.*A new membership.*Members left' "$K")
	bf_q=$(log_ms b 'QUORUM.*Members\[2\]' "$K")
	bf_l=$(link_ms b web1)
	bf_p=$(protected_at web1 a)
	if [ "$bf_first" = - ]; then
		echo "failover token $CL_TOKEN: web1 never answered from a new primary (30 s)" \
			"and was not protected again (60 s); status: $(tail -n 1 "$T/status.log")" \
			>>"$RES.notes"
		bf_fail=" failed=1"
	fi
	echo "kind=failover${bf_fail:-} token=$CL_TOKEN det=$(d "$K" "$bf_m") deliver=$(d "$bf_m" "$bf_q")" \
		"link=$(d "$bf_m" "$bf_l") answer=$(d "$bf_l" "$bf_first") promo=$(d "$bf_m" "$bf_first")" \
		"total=$(d "$K" "$bf_first") gap=$(d "$bf_last" "$bf_first") reprot=$(d "$K" "$bf_p")" \
		"client=$bf_c acks=$(acks web1) load=$load" >>"$RES"
}

trial_evac() {
	need_hasvc
	bf_vms="" bf_i=0
	for bf_v in web1:a,b web2:a,c web3:a,b; do
		[ "$bf_i" -lt "$1" ] || break
		bf_i=$((bf_i + 1))
		bf_vms="$bf_vms $bf_v"
	done
	bf_names=$(for bf_v in $bf_vms; do echo "${bf_v%%:*}"; done)
	cluster_setup 3
	# shellcheck disable=SC2086
	start_cluster $bf_vms
	for bf_v in $bf_names; do
		bf_w=$(wait_protected "$bf_v" 90) || fail "setup: ${bf_w#FAIL: }"
		# shellcheck disable=SC2086  # "PRIMARY STANDBY"
	set -- $bf_w
		[ "$1" = a ] || fail "$bf_v: primary on $1, not a"
	done
	start_poller b
	for bf_v in $bf_names; do start_client "$bf_v"; done
	for bf_v in $bf_names; do
		acks_after "$bf_v" 50 30 || fail "$bf_v: the client got no 50 answers in 30 s"
	done
	corosync_timing b >"$RES.timing.$CL_TOKEN"
	read -r load _ </proc/loadavg
	K=$(now_ms)
	hactl_on b evacuate a --wait --timeout 30 >"$T/evacuate.out" 2>&1
	bf_rc=$?
	bf_ret=$(now_ms)
	bf_e=$(( $(date +%s) + 30 ))
	for bf_v in $bf_names; do
		while [ "$(protected_at "$bf_v" a)" = - ] && [ "$(date +%s)" -le "$bf_e" ]; do
			sleep 0.1
		done
	done
	for bf_v in $bf_names; do acks_after "$bf_v" 20 20; done
	touch "$T/poll.stop"
	bf_all=0 bf_gap=0 bf_link=0 bf_ans=0 bf_cl=ok bf_lost=0 bf_miss=""
	for bf_v in $bf_names; do
		bf_p=$(protected_at "$bf_v" a)
		[ "$bf_p" = - ] && bf_miss="$bf_miss $bf_v"
		[ "$bf_p" != - ] && [ $((bf_p - K)) -gt "$bf_all" ] && bf_all=$((bf_p - K))
		set -- $(client_first "$bf_v")
		if [ "$3" != - ]; then
			bf_nn=${3#"$T/"}
			bf_nn=${bf_nn%%/*}
			bf_g=$(( $2 - $1 ))
			[ "$bf_g" -gt "$bf_gap" ] && bf_gap=$bf_g
			bf_a=$(( $2 - K ))
			[ "$bf_a" -gt "$bf_ans" ] && bf_ans=$bf_a
			bf_l=$(link_ms "$bf_nn" "$bf_v")
			[ "$bf_l" != - ] && [ $((bf_l - K)) -gt "$bf_link" ] && bf_link=$((bf_l - K))
		else
			bf_miss="$bf_miss $bf_v(client)"
		fi
		finish_client "$bf_v"
		bf_c=$FC
		if [ "$bf_c" != ok ]; then
			bf_why=""
			if [ "$3" != - ]; then
				post_check "$bf_v" "$3"
				bf_why="; afterwards $PC_WHY"
				[ "$PC" = ok ] || bf_c=lost
			fi
			[ "$bf_cl" = lost ] || bf_cl=$bf_c
			echo "evacuation of $bf_i VM(s): $bf_v's client: $(cat "$T/client_$bf_v.out")$bf_why" \
				>>"$RES.notes"
		fi
	done
	[ "$bf_rc" = 0 ] || echo "evacuation of $bf_i VM(s): hactl evacuate exited $bf_rc:" \
		"$(tr '\n' ' ' <"$T/evacuate.out")" >>"$RES.notes"
	[ -z "$bf_miss" ] || echo "evacuation: not seen protected / reconnected:$bf_miss" >>"$RES.notes"
	bf_left=$(vm_get b x 'sum(n.get("primaries", 0) + n.get("standbys", 0) for n in s["nodes"] if n["name"] == "a")')
	# A VM not seen protected again (or its client not reconnected) makes
	# the run a failed one: its figures would be those of the other VMs.
	echo "kind=evac vms=$bf_i${bf_miss:+ failed=1} cmd=$((bf_ret - K)) rc=$bf_rc protected=$bf_all link=$bf_link" \
		"answer=$bf_ans gap=$bf_gap client=$bf_cl left_on_a=$bf_left load=$load" >>"$RES"
}

if [ "${1:-}" = --trial ]; then
	kind=$2 RES=$3
	shift 3
	set +u	# the harness is written for sh without -u
	. "$top_srcdir/tests/cluster/cluster_nodes.sh"
	. "$top_srcdir/tests/cluster/hasvc_cluster.sh"
	case $kind in
	bare) trial_bare ;;
	failover) trial_failover ;;
	evac) trial_evac "$1" ;;
	esac
	exit 0
fi

# --- The benchmark ---

runs=5 record=no cmd="tests/bench/bench_failover.sh"
while [ $# -gt 0 ]; do
	case $1 in
	--record) record=yes; cmd="$cmd --record" ;;
	--runs)
		case ${2:-} in
		''|*[!0-9]*|0) echo "bench_failover.sh: --runs needs a number above 0" >&2; exit 2 ;;
		esac
		runs=$2; cmd="$cmd --runs $2"; shift ;;
	-h|--help) sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench_failover.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
	esac
	shift
done

skip77() { echo "SKIP: bench_failover.sh: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip77 "needs root (network namespaces, a bridge, tmpfs mounts)"
[ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] || skip77 "/dev/kvm is missing or not usable"
PATH=$PATH:/usr/sbin:/sbin
for c in corosync corosync-quorumtool corosync-cmapctl python3 openssl ip nsenter unshare; do
	command -v "$c" >/dev/null 2>&1 || skip77 "no $c (apt-get install corosync iproute2 python3 openssl)"
done
if [ ! -f "$builddir/Makefile" ]; then
	echo "bench_failover.sh: no Makefile in $builddir: run autoreconf -fi && ./configure first" >&2
	exit 1
fi
# (cheap when up to date; so what is measured is the current source)
make -C "$builddir" -j2 vmm/vmm hasvc/hasvcd hasvc/hactl tests/guests/counter.elf >/dev/null ||
	{ echo "bench_failover.sh: the build failed" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-failover.XXXXXX")
res=$work/results
: >"$res"
if [ -n "${BENCH_KEEP:-}" ]; then
	trap 'echo "kept $work (each run'"'"'s log and directory)" >&2' EXIT
	export KEEP_T=1
else
	trap 'rm -rf "$work"' EXIT
fi
trap 'exit 130' INT TERM
started=$(date +%s)
when=$(date -u '+%Y-%m-%d %H:%M UTC')
n=0

# run KIND TOKEN [ARG]: one run in a child process; its output goes to a log
# in $work, shown when it fails.
run() {
	n=$((n + 1))
	_log=$work/$n-$1-$2${3:+-$3}.log
	# Each run's $T (tests/common.sh's mktemp) goes inside $work.
	TMPDIR=$work CL_TOKEN=$2 sh "$self" --trial "$1" "$res" ${3:+"$3"} >"$_log" 2>&1
	_rc=$?
	if [ "$_rc" = 77 ]; then
		skip77 "$(sed -n 's/^SKIP: //p' "$_log" | head -n 1)"
	elif [ "$_rc" != 0 ]; then
		echo "kind=$1 token=$2 failed=1${3:+ vms=$3}" >>"$res"
		echo "run $n ($1, token $2${3:+, $3 VMs}) failed: $(grep -E '^(FAIL|cleanup)' "$_log" | head -n 3)" \
			>>"$res.notes"
		echo "run $n ($1 token $2 ${3:-}) FAILED; its output:" >&2
		tail -n 25 "$_log" | sed 's/^/  | /' >&2
	else
		echo "run $n: $(tail -n 1 "$res")" >&2
	fi
}

runs_slow=$(( (runs + 1) / 2 ))
runs_evac=$(( runs < 3 ? runs : 3 ))
for i in $(seq "$runs"); do run bare 300; run failover 300; done
for i in $(seq "$runs_slow"); do run bare 1000; run failover 1000; done
for i in $(seq "$runs_evac"); do run evac 300 1; run evac 300 2; run evac 300 3; done
took=$(( $(date +%s) - started ))

python3 - "$res" "$cmd" "$took" "$runs" "$record" "$srcdir/docs/performance.md" "$when" <<'EOF'
import os, statistics, sys, time
resf, cmd, took, runs, record, doc, when = sys.argv[1:]
rows = []
with open(resf) as f:
    for line in f:
        rows.append(dict(kv.split("=", 1) for kv in line.split()))


def num(r, k):
    v = r.get(k, "-")
    try:
        return float(v)
    except ValueError:
        return None


def vals(rs, k):
    return [x for x in (num(r, k) for r in rs) if x is not None]


def med(xs):
    return statistics.median(xs) if xs else None


def mmm(xs):
    if not xs:
        return "–"
    return "%.0f (%.0f–%.0f)" % (statistics.median(xs), min(xs), max(xs))


def pick(kind, **kw):
    return [r for r in rows if r.get("kind") == kind and
            all(r.get(k) == v for k, v in kw.items())]


def losses(rs):
    """'none' or how many runs lost an acknowledged update; and in how many
    runs a client ended early on a stale answer (checked afterwards)."""
    lost = sum(1 for r in rs if r.get("client") == "lost")
    bad = sum(1 for r in rs if r.get("client") == "bad")
    other = sum(1 for r in rs if r.get("client") not in ("ok", "lost", "bad"))
    t = ("lost in %d of %d runs" % (lost, len(rs))) if lost else "none"
    if bad:
        t += "; a client ended on a stale answer in %d of %d runs (nothing lost: see the notes)" % (
            bad, len(rs))
    if other:
        t += "; a client failed otherwise in %d runs" % other
    return t


def timing(tok):
    try:
        with open("%s.timing.%s" % (resf, tok)) as f:
            return f.read().strip()
    except OSError:
        return "totem: token %s ms (runtime values not read)" % tok


loads = vals(rows, "load")
out = []
w = out.append
w("## Cluster failover and evacuation\n")
w("Command: `%s`, started %s, on %s (%d cpus, nested KVM: the guests' ring 3 runs natively, "
  "every exit goes through the outer hypervisor), %s s.  Three nodes on this one host, "
  "each a network namespace with its own corosync 3 (knet), hasvcd and vmm processes "
  "(tests/cluster/cluster_nodes.sh, hasvc_cluster.sh); a fresh cluster for every run.  1-minute load "
  "average at each kill or evacuate command: %s (the machine is shared: other people's tests run beside "
  "these).  Median (min–max), in ms.\n"
  % (cmd, when, os.uname().nodename,
     os.cpu_count(), took,
     ("%.1f–%.1f" % (min(loads), max(loads))) if loads else "?"))
w("Totem settings (as the survivors' corosync reported them, `corosync_timing`):\n")
for tok in ("300", "1000"):
    w("- %s" % timing(tok))
w("")
w("VMs: counter guests (tests/guests/counter.c), 32 MiB, 1 vCPU, checkpointed every "
  "25 ms to the standby over TLS; one client per VM (tests/cluster/hclient.py) sends "
  "`inc 1` after each answer, logs every acknowledged value with a millisecond "
  "timestamp, and when the connection ends finds the VM's primary again "
  "(through RUN/VM.serial, which hasvcd links to the primary's serial socket on the node that runs it, trying each node in turn) and asks `get`, which must not be "
  "below the last value it saw acknowledged.\n")
w("### Failover: SIGKILL of every process on the primary's node\n")
w("| token ms | runs | bare corosync: kill → membership | kill → membership (detection) "
  "| membership → first answer (promotion) | kill → first answer (total) "
  "| total / bare | client gap | kill → protected again | acknowledged updates lost (counted runs) |")
w("|---|---|---|---|---|---|---|---|---|---|")
for tok in ("300", "1000"):
    fo = pick("failover", token=tok)
    ok = [r for r in fo if not r.get("failed") and num(r, "total") is not None]
    bare = [r for r in pick("bare", token=tok) if not r.get("failed")]
    if not fo and not bare:
        continue
    b = med(vals(bare, "det"))
    ratio = [x / b for x in vals(ok, "total")] if b else []
    failed = len(fo) - len(ok)
    w("| %s | %d%s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
        tok, len(ok), (" (+%d failed)" % failed) if failed else "", mmm(vals(bare, "det")),
        mmm(vals(ok, "det")), mmm(vals(ok, "promo")), mmm(vals(ok, "total")),
        ("%.2f (%.2f–%.2f)" % (statistics.median(ratio), min(ratio), max(ratio)))
        if ratio else "–", mmm(vals(ok, "gap")), mmm(vals(ok, "reprot")), losses(ok)))
w("")
w("Promotion split (medians, ms): membership formed → delivered to corosync's clients "
  "(`[QUORUM] Members[2]`) → the survivor's hasvcd links RUN/VM.serial to the promoted "
  "copy (it has promoted the standby, the vmm activated it from its last committed "
  "checkpoint and reported it running; the symlink's mtime) → the client's first answer "
  "(the client's own search of the nodes' links, every 20 ms, connect, `get`).\n")
w("| token ms | delivered | linked | first answer | of which the client's search |")
w("|---|---|---|---|---|")
for tok in ("300", "1000"):
    ok = [r for r in pick("failover", token=tok)
          if not r.get("failed") and num(r, "total") is not None]
    if not ok:
        continue
    dl, lk, an = (med(vals(ok, k)) for k in ("deliver", "link", "answer"))
    f = lambda x: "–" if x is None else "%.0f" % x
    w("| %s | +%s | +%s | +%s | %s |" % (
        tok, f(dl), f(lk), f(lk + an if lk is not None and an is not None else None),
        mmm(vals(ok, "answer"))))
w("")
w("Detection is taken from the standby's node's corosync log (timestamp: hires): the "
  "line `[TOTEM ] A new membership (...) was formed. Members left: 1`, the moment totem "
  "installed the new ring; the kill time is taken just before the first SIGKILL.  The "
  "bare baseline is the same kill of a node of a cluster running corosync only, "
  "interleaved run by run with the failover runs (bare, failover, bare, ...).  The "
  "client gap runs from the last answer of the old primary to the first of the new "
  "one.  \"Protected again\" (a new standby synced on the third node) is polled from "
  "`hactl --json status` about every 50–150 ms, so it is late by up to one poll.  "
  "hasvcd's own log (millisecond timestamps) is not used: the corosync log and the link's mtime bracket it.\n")
w("### Evacuation: `hactl evacuate a --wait`, every primary on a\n")
w("| VMs | runs | command → its return | command → every VM protected elsewhere "
  "| command → last handover (new primary linked) | command → last client answering "
  "from the new primary | longest client gap | acknowledged updates lost (counted runs) |")
w("|---|---|---|---|---|---|---|---|")
for nv in ("1", "2", "3"):
    ev = pick("evac", vms=nv)
    ok = [r for r in ev if not r.get("failed")]
    if not ev:
        continue
    failed = len(ev) - len(ok)
    w("| %s | %d%s | %s | %s | %s | %s | %s | %s |" % (
        nv, len(ok), (" (+%d failed)" % failed) if failed else "", mmm(vals(ok, "cmd")),
        mmm(vals(ok, "protected")), mmm(vals(ok, "link")), mmm(vals(ok, "answer")),
        mmm(vals(ok, "gap")), losses(ok)))
w("")
w("Placement: web1 preferred_nodes a,b; web2 a,c; web3 a,b (so with 2 and 3 VMs the "
  "handovers go to both other nodes).  The command's return is as fine as its own "
  "`--wait` polling (every 200 ms); \"protected elsewhere\" is from the benchmark's "
  "status polling as above; the handover is the symlink's mtime on the new primary's "
  "node.  Each VM's primary spins a core (a ring-3 guest cannot halt), so with 3 VMs "
  "three vCPUs, the standbys, three hasvcd, three corosync and the clients share 2 "
  "cores.\n")
try:
    with open(resf + ".notes") as f:
        notes = [l.strip() for l in f if l.strip()]
except OSError:
    notes = []
if any(r.get("client") == "bad" for r in rows):
    notes.append(
        "A client that ends on a stale answer (hclient.py: `BAD: inc after N answered N`) "
        "lost nothing: its `inc` reached the old primary while the guest was paused for "
        "the handover (or, after a kill, had reached the guest but was not yet answered "
        "at the last committed checkpoint), so the request sat in the guest's UART in the "
        "checkpoint the standby took over; the guest answered it after the activation, "
        "the answer waited in the new primary's UART until the client reconnected, and "
        "the client read it as the answer to its `get` (the numbers agree), then the "
        "real answer to `get` as the answer to its next `inc`.  The benchmark then "
        "reads what is waiting on the VM's socket, asks `get` and `check` itself, and "
        "counts an update lost only if the value is below the highest one the client saw "
        "acknowledged or the guest's log is broken.")
if notes:
    w("Notes from the runs:\n")
    for l in notes:
        w("- " + l)
    w("")
text = "\n".join(out) + "\n"
print(text)

if record == "yes":
    sys.path.insert(0, os.path.join(os.path.dirname(doc), "..", "tests", "bench"))
    import bench  # tests/bench/bench.py: record()
    bench.record(doc, text, "## Cluster failover and evacuation")
    print("recorded in %s" % doc, file=sys.stderr)
EOF
