#!/bin/sh
# Control sockets cannot be squatted: a libqb IPC name is an abstract socket
# anyone may bind first.  A vmm run as nobody takes a name; root's `vmm ctl`
# and hactl refuse to talk to it, naming the server's uid, and send it no
# request.  The same server is fine for a client of its own uid.
. "$(dirname "$0")/../common.sh"
need_kvm
command -v setpriv >/dev/null || fail "setpriv (util-linux) is missing"
[ "$(id -u)" -eq 0 ] || skip "needs root (to run a server as nobody)"
kvm_gid=$(stat -c %g /dev/kvm)
uid=$(id -u nobody) || fail "no user nobody"

# nobody cannot read the build tree (it may be under /root): its own copies.
chmod 755 "$T"
cp "$VMM" "$GUESTS/counter.elf" "$T/" || fail "cannot copy the vmm"
as_nobody() {
	setpriv --reuid="$uid" --regid="$(id -g nobody)" --groups="$kvm_gid" "$@"
}

name=squat-$$
# Not through as_nobody: $! must be the vmm itself (setpriv execs it).
setpriv --reuid="$uid" --regid="$(id -g nobody)" --groups="$kvm_gid" "$T/vmm" run --kernel "$T/counter.elf" --serial none --control "$name" -v \
	>"$T/sq.out" 2>"$T/sq.err" &
sq_pid=$!
PIDS="$PIDS $sq_pid"
LOG=$T/sq.err
wait_for_line "$T/sq.err" "serving '$name'" 20 || fail "the squatter did not start"

# Its own user may talk to it: the check is about whom, not that it exists.
as_nobody "$T/vmm" ctl "$name" status >"$T/own" 2>&1 || fail "nobody's own client: $(cat "$T/own")"
pass "a client of the server's own uid is served"

"$VMM" ctl "$name" status >"$T/out" 2>&1; rc=$?
[ "$rc" -ne 0 ] || fail "root's vmm ctl status was answered by nobody's server: $(cat "$T/out")"
grep -q "refusing vmm control '$name': its server (pid $sq_pid) runs as uid $uid, neither root nor our uid 0" "$T/out" ||
	fail "vmm ctl: rc $rc, unclear message: $(cat "$T/out")"
pass "root's vmm ctl refuses: $(cat "$T/out")"

"$VMM" ctl "$name" save "$T/snap" >"$T/out" 2>&1 && fail "root's save went to the squatter"
[ ! -e "$T/snap" ] || fail "the squatter wrote a snapshot"
grep -q "refusing vmm control" "$T/out" || fail "save: $(cat "$T/out")"
pass "no save request reaches it"

"$top_builddir/hasvc/hactl" -s "$name" status >"$T/out" 2>&1; rc=$?
[ "$rc" -ne 0 ] || fail "hactl was answered by nobody's server: $(cat "$T/out")"
grep -q "refusing hasvcd '$name': its server (pid $sq_pid) runs as uid $uid" "$T/out" ||
	fail "hactl: rc $rc, unclear message: $(cat "$T/out")"
pass "hactl refuses a squatted hasvcd name"
