#!/bin/sh
# unprotect, then protect to another standby:
#  - unprotect is refused on a standby, with a clear error
#  - on the primary it stops checkpointing (no more epochs; the standby sees
#    its stream end), holds no output (state none, the client is answered
#    on), and the guest runs unprotected
#  - protect to a new standby then works, and every value acknowledged to
#    the client survives a kill -9 failover to that second standby
. "$(dirname "$0")/../common.sh"
. "$top_srcdir/tests/migration/migration_helpers.sh"
. "$top_srcdir/tests/checkpoint/checkpoint_helpers.sh"
need_kvm

start_standby sb1
port1=$PORT
start_standby sb2
port2=$PORT
start_primary pr
protect pr "$port1" --interval 10
log=$T/acked
start_client pr "$log"
wait_for_line "$log" '^20$' 20 || fail "no values acknowledged while protected"

# A standby refuses.
if "$VMM" ctl "sb1-$$" unprotect >"$T/u.out" 2>&1; then
	fail "a standby took unprotect"
fi
grep -q "this vmm is a standby" "$T/u.out" || fail "unclear refusal: $(cat "$T/u.out")"
ck_status sb1 | grep -q '"state":"standby"' || fail "the refusal changed the standby: $(ck_status sb1)"
pass "unprotect on a standby is refused: $(cat "$T/u.out")"

# The primary stops checkpointing.
"$VMM" ctl "pr-$$" unprotect >"$T/u.out" 2>&1 || fail "unprotect: $(cat "$T/u.out")"
ck_status pr | grep -q '"state":"none","role":"primary".*"output_held_bytes":0' ||
	fail "status after unprotect: $(ck_status pr)"
grep -q "protect: stopped (unprotect, was protected)" "$T/pr.err" || fail "log: $(cat "$T/pr.err")"
e1=$(ck_field pr epochs)
wait_status sb1 '"state":"lost"' 20 || fail "the standby did not see its stream end: $(ck_status sb1)"
n=$(wc -l <"$log")
wait_for_line "$log" "^$((n + 200))\$" 20 || fail "output stopped after unprotect ($(wc -l <"$log") answers)"
e2=$(ck_field pr epochs)
[ "$e1" = "$e2" ] || fail "epochs went on after unprotect ($e1 -> $e2)"
[ "$(vm_state pr)" = running ] || fail "the guest does not run"
pass "unprotect: no more epochs (stayed at $e1), the standby lost its stream, output flows ($(wc -l <"$log") answers)"
kill_vmm "$sb1_pid"

# Protect again, to a new standby; then fail over to it.
protect pr "$port2" --interval 10
wait_epochs pr 20 || fail "no epochs with the second standby: $(ck_status pr)"
n=$(wc -l <"$log")
wait_for_line "$log" "^$((n + 50))\$" 20 || fail "output stopped under the second protect"
kill_vmm "$pr_pid"
wait "$cl"
last=$(tail -n 1 "$log")
"$VMM" ctl "sb2-$$" activate >"$T/act" 2>&1 || fail "activate: $(cat "$T/act")"
python3 "$CKCLIENT" verify "$T/sb2.sock" "$last" >"$T/verify" 2>&1 ||
	{ LOG=$T/sb2.err; fail "$(cat "$T/verify")"; }
pass "protect to a second standby after unprotect; kill -9, failover: $(cat "$T/verify")"
