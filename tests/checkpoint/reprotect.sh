#!/bin/sh
# Protect again after the standby was lost:
#  - degraded (the default policy): protect to a new standby works
#  - paused by --on-standby-loss pause, output held: protect to a new
#    standby syncs with the guest paused and its output held, resumes the
#    guest when protection starts, and the held output leaves with the
#    first acknowledged checkpoint; every value acknowledged to the client
#    survives a kill -9 failover to the new standby
. "$(dirname "$0")/../common.sh"
. "$top_srcdir/tests/migration/migration_helpers.sh"
. "$top_srcdir/tests/checkpoint/checkpoint_helpers.sh"
need_kvm

# --- degraded ------------------------------------------------------------------
start_standby sb1
port1=$PORT
start_standby sb2
port2=$PORT
start_primary pr1
protect pr1 "$port1" --interval 10
kill_vmm "$sb1_pid"
wait_for_line "$T/pr1.err" "running unprotected \(degraded\)" 20 || fail "degrade: $(cat "$T/pr1.err")"
wait_status pr1 '"state":"degraded"' 5 || fail "status: $(ck_status pr1)"
protect pr1 "$port2" --interval 10
wait_epochs pr1 20 || fail "no epochs: $(ck_status pr1)"
ck_status pr1 | grep -q '"state":"protected"' || fail "status: $(ck_status pr1)"
pass "degraded, then protected again to a new standby ($(ck_field pr1 epochs) epochs)"
kill_vmm "$pr1_pid"
kill_vmm "$sb2_pid"

# --- paused by policy, output held ---------------------------------------------
start_standby sb3
port3=$PORT
start_standby sb4
port4=$PORT
start_primary pr
protect pr "$port3" --interval 10 --on-standby-loss pause
log=$T/acked
start_client pr "$log"
wait_for_line "$log" '^20$' 20 || fail "no values acknowledged while protected"
kill_vmm "$sb3_pid"
wait_for_line "$T/pr.err" "pausing the guest \(policy pause\)" 20 || fail "policy pause: $(cat "$T/pr.err")"
wait_status pr '"state":"paused"' 5 || fail "status: $(ck_status pr)"
held=$(ck_field pr output_held_bytes)
released=$(ck_field pr output_released_bytes)
n=$(wc -l <"$log")
protect pr "$port4" --interval 10 --on-standby-loss pause
grep -q "syncing to .* with the guest paused (policy pause)" "$T/pr.err" || fail "log: $(cat "$T/pr.err")"
wait_epochs pr 1 || fail "no epoch acknowledged: $(ck_status pr)"
[ "$(vm_state pr)" = running ] || fail "the guest was not resumed when protection started"
ck_status pr | grep -q '"state":"protected"' || fail "status: $(ck_status pr)"
[ "$(ck_field pr output_released_bytes)" -ge $((released + held)) ] ||
	fail "the $held bytes held were not released: $(ck_status pr)"
wait_for_line "$log" "^$((n + 100))\$" 20 || fail "no answers under the new standby"
pass "policy-paused ($held bytes held), protected to a new standby: resumed, output flows"
kill_vmm "$pr_pid"
wait "$cl"
last=$(tail -n 1 "$log")
"$VMM" ctl "sb4-$$" activate >"$T/act" 2>&1 || fail "activate: $(cat "$T/act")"
python3 "$CKCLIENT" verify "$T/sb4.sock" "$last" >"$T/verify" 2>&1 ||
	{ LOG=$T/sb4.err; fail "$(cat "$T/verify")"; }
pass "kill -9, failover to the new standby: $(cat "$T/verify")"
