#!/bin/sh
# The replication link cut while protected: a loopback TCP forwarder
# (ckproxy.py) sits between primary and standby and is stopped (SIGSTOP),
# so the connection stays open but nothing crosses it.  The primary must
# notice by its timeout: a channel read waits at most 10 s
# (MIGRATE_DEFAULT_TIMEOUT_MS) for the ack, so the loss is declared within
# DETECT_MAX = 15 s of the cut (10 s + one epoch + slack for a loaded host).
# Until then output is held; after it, with the default policy (degrade),
# it is released and the client is answered again.  The standby, never
# activated, keeps its last committed checkpoint: activated afterwards, it
# holds every value acknowledged before the cut (values acknowledged after
# the degrade are legitimately not there: the primary ran unprotected).
# With --on-standby-loss pause and --ack-timeout 4000 the loss comes after
# 4 s, not before and not after 10, the guest pauses and its output stays held.
. "$(dirname "$0")/../common.sh"
. "$top_srcdir/tests/migration/migration_helpers.sh"
. "$top_srcdir/tests/checkpoint/checkpoint_helpers.sh"
need_kvm

DETECT_MAX=15000   # ms

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# cut ID LOG: stop the proxy; sets $cut_at (ms) and $acked (the last value
# the client had seen acknowledged when the link was cut).
cut() {
	eval "kill -STOP \$$1_pid"
	cut_at=$(now_ms)
	acked=$(tail -n 1 "$2")
}

# wait_loss ID REGEX: the primary logs its loss within DETECT_MAX; sets $took.
wait_loss() {
	wait_for_line "$T/$1.err" "$2" $(( DETECT_MAX / 1000 + 1 )) ||
		fail "$1: the cut link was not detected: $(cat "$T/$1.err")"
	took=$(( $(now_ms) - cut_at ))
	[ "$took" -le "$DETECT_MAX" ] || fail "$1: the loss took $took ms to notice (bound $DETECT_MAX)"
}

# --- degrade (the default policy) ----------------------------------------
start_standby sb1
sbport=$PORT
start_proxy px1 "$sbport"
start_primary pr1
protect pr1 "$PPORT" --interval 10
log=$T/acked1
: >"$log"
python3 "$CKCLIENT" inc "$T/pr1.sock" "$log" >"$T/client1.out" 2>&1 &
cl=$!
PIDS="$PIDS $cl"
wait_for_line "$log" '^20$' 20 || fail "no values acknowledged while protected"
cut px1 "$log"
sleep 0.5
n1=$(wc -l <"$log")
sleep 1
n2=$(wc -l <"$log")
[ "$n1" -eq "$n2" ] || fail "output was released while the link was cut ($n1 -> $n2 answers)"
ck_status pr1 | grep -q '"state":"protected"' || fail "lost too early: $(ck_status pr1)"
wait_loss pr1 "running unprotected \(degraded\)"
ck_status pr1 | grep -q '"state":"degraded"' || fail "status: $(ck_status pr1)"
wait_for_line "$log" "^$((n2 + 100))\$" 20 || fail "held output not released after the loss ($(wc -l <"$log") answers)"
pass "link cut: held output from the cut on, loss noticed in $took ms (bound $DETECT_MAX), degraded, output flows ($(wc -l <"$log") answers)"
kill "$cl"; wait "$cl" 2>/dev/null
ck_status sb1 | grep -Eq '"state":"(standby|lost)"' || fail "standby status: $(ck_status sb1)"
# Free the standby's end too (a stopped process dies on SIGKILL).
kill_vmm "$px1_pid"
"$VMM" ctl "sb1-$$" activate >"$T/act1" 2>&1 || fail "activate: $(cat "$T/act1")"
python3 "$CKCLIENT" verify "$T/sb1.sock" "$acked" >"$T/verify1" 2>&1 ||
	{ LOG=$T/sb1.err; fail "$(cat "$T/verify1")"; }
ck_status sb1 | grep -q '"state":"activated"' || fail "standby status: $(ck_status sb1)"
pass "the standby kept its last checkpoint: activated, $(cat "$T/verify1")"
kill_vmm "$pr1_pid"
kill_vmm "$sb1_pid"

# --- pause ---------------------------------------------------------------
start_standby sb2
start_proxy px2 "$PORT"
start_primary pr2
protect pr2 "$PPORT" --interval 10 --on-standby-loss pause --ack-timeout 4000
DETECT_MIN=4000 DETECT_MAX=$(( 4000 + 5000 * TIME_SCALE ))
log=$T/acked2
: >"$log"
python3 "$CKCLIENT" inc "$T/pr2.sock" "$log" >"$T/client2.out" 2>&1 &
cl=$!
PIDS="$PIDS $cl"
wait_for_line "$log" '^20$' 20 || fail "no values acknowledged while protected (pause)"
cut px2 "$log"
sleep 0.5
n1=$(wc -l <"$log")
wait_loss pr2 "pausing the guest"
[ "$took" -ge "$DETECT_MIN" ] || fail "pr2: the loss noticed $took ms after the cut, before its --ack-timeout 4000"
ck_status pr2 | grep -q '"state":"paused"' || fail "status: $(ck_status pr2)"
"$VMM" ctl "pr2-$$" status | grep -q paused || fail "the guest is not paused: $("$VMM" ctl "pr2-$$" status)"
sleep 1
n2=$(wc -l <"$log")
[ "$n1" -eq "$n2" ] || fail "held output was released under policy pause ($n1 -> $n2 answers)"
pass "link cut with --on-standby-loss pause --ack-timeout 4000: noticed in $took ms, the guest paused, output still held ($n2 answers)"
kill "$cl"; wait "$cl" 2>/dev/null
kill_vmm "$px2_pid"
kill_vmm "$pr2_pid"
