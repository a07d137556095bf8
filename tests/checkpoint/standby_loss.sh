#!/bin/sh
# The standby goes away (SIGKILL): with --on-standby-loss degrade (the
# default) the primary carries on unprotected, its held output released and
# new output flowing at once; with pause it pauses the guest.  And fencing:
# a standby at a newer generation refuses a protect stream of an older one.
. "$(dirname "$0")/../common.sh"
. "$top_srcdir/tests/migration/migration_helpers.sh"
. "$top_srcdir/tests/checkpoint/checkpoint_helpers.sh"
need_kvm

# --- degrade -------------------------------------------------------------
start_standby sb1
start_primary pr1
protect pr1 "$PORT" --interval 10
log=$T/acked1
: >"$log"
python3 "$CKCLIENT" inc "$T/pr1.sock" "$log" >"$T/client1.out" 2>&1 &
cl=$!
PIDS="$PIDS $cl"
wait_for_line "$log" '^20$' 20 || fail "no values acknowledged while protected"
kill_vmm "$sb1_pid"
wait_for_line "$T/pr1.err" "running unprotected \(degraded\)" 20 ||
	fail "the primary did not notice the standby's loss: $(cat "$T/pr1.err")"
ck_status pr1 | grep -q '"state":"degraded"' || fail "status: $(ck_status pr1)"
n=$(wc -l <"$log")
# Output flows on unprotected: 200 more answers.
wait_for_line "$log" "^$((n + 200))\$" 20 || fail "output stopped after the loss ($(wc -l <"$log") answers)"
"$VMM" ctl "pr1-$$" status | grep -q running || fail "the guest does not run"
kill "$cl"; wait "$cl" 2>/dev/null
pass "standby killed: the primary runs on degraded, output flows ($(wc -l <"$log") answers)"
kill_vmm "$pr1_pid"

# --- pause ---------------------------------------------------------------
start_standby sb2
start_primary pr2
protect pr2 "$PORT" --interval 10 --on-standby-loss pause
kill_vmm "$sb2_pid"
wait_for_line "$T/pr2.err" "pausing the guest" 20 ||
	fail "policy pause: $(cat "$T/pr2.err")"
ck_status pr2 | grep -q '"state":"paused"' || fail "status: $(ck_status pr2)"
"$VMM" ctl "pr2-$$" status | grep -q paused || fail "the guest is not paused: $("$VMM" ctl "pr2-$$" status)"
pass "standby killed with --on-standby-loss pause: the guest is paused"
kill_vmm "$pr2_pid"

# --- fencing: an older generation is refused -----------------------------
start_standby sb3 --generation 3
start_primary pr3 --generation 2
wait_ctl pr3
"$VMM" ctl "pr3-$$" protect "tcp:127.0.0.1:$PORT" --tls-none >"$T/ctl.out" 2>&1 ||
	fail "protect: $(cat "$T/ctl.out")"
wait_for_line "$T/pr3.err" "initial sync failed" 20 || fail "a stale primary was accepted"
grep -q "stale generation 2" "$T/pr3.err" || fail "no reason given: $(cat "$T/pr3.err")"
ck_status pr3 | grep -q '"state":"failed"' || fail "status: $(ck_status pr3)"
pass "a protect stream of generation 2 is refused by a standby at generation 3"
