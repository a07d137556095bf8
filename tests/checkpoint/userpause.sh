#!/bin/sh
# The operator's pause of a protected primary (what hasvcd does when its
# node loses quorum) holds: every epoch pauses and resumes the guest for
# its capture, but must not resume one the operator paused.
#  - paused while protected: epochs go on, the guest stays paused and
#    answers nothing; the output it had made is released by the epochs;
#    resume lets it run and answer again
#  - paused, then unprotect and protect to a new standby: still paused
#    after the initial sync; resume works
#  - paused, and paused by --on-standby-loss pause too: unprotect ends
#    only the policy's hold; resume runs it
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

"$VMM" ctl "pr-$$" pause || fail "pause"
e0=$(ck_field pr epochs)
wait_epochs pr $((e0 + 30)) 30 || fail "epochs stopped: $(ck_status pr)"
[ "$(vm_state pr)" = paused ] || fail "an epoch resumed the paused guest"
# An answer made before the pause may still have come out since; none after.
n1=$(wc -l <"$log")
wait_epochs pr $((e0 + 60)) 30 || fail "epochs stopped: $(ck_status pr)"
n2=$(wc -l <"$log")
[ "$n1" = "$n2" ] || fail "the paused guest answered ($n1 -> $n2)"
[ "$(vm_state pr)" = paused ] || fail "an epoch resumed the paused guest"
ck_status pr | grep -q '"state":"protected".*"output_held_bytes":0' || fail "status: $(ck_status pr)"
"$VMM" ctl "pr-$$" resume || fail "resume"
wait_for_line "$log" "^$((n2 + 100))\$" 20 || fail "no answers after resume"
pass "paused across $(( $(ck_field pr epochs) - e0 )) epochs, nothing answered meanwhile; resumed, answers flow"

# Paused through unprotect and a new initial sync.
"$VMM" ctl "pr-$$" pause || fail "pause"
"$VMM" ctl "pr-$$" unprotect || fail "unprotect"
[ "$(vm_state pr)" = paused ] || fail "unprotect resumed an operator-paused guest"
kill_vmm "$sb1_pid"
n1=$(wc -l <"$log")
protect pr "$port2" --interval 10
wait_epochs pr 20 || fail "no epochs: $(ck_status pr)"
[ "$(vm_state pr)" = paused ] || fail "the initial sync resumed an operator-paused guest"
[ "$(wc -l <"$log")" -le $((n1 + 1)) ] || fail "the paused guest answered"
"$VMM" ctl "pr-$$" resume || fail "resume"
wait_for_line "$log" "^$((n1 + 100))\$" 20 || fail "no answers after resume"
ck_status pr | grep -q '"state":"protected"' || fail "status: $(ck_status pr)"
pass "paused through unprotect and a protect to a new standby; resumed, answers flow"

# Held by the operator and by the standby-loss policy: the operator's
# resume is refused while the policy holds; unprotect ends the policy's
# hold only; then the operator's resume runs it.
start_standby sb3
port3=$PORT
"$VMM" ctl "pr-$$" unprotect || fail "unprotect"
kill_vmm "$sb2_pid"
protect pr "$port3" --interval 10 --on-standby-loss pause
"$VMM" ctl "pr-$$" pause || fail "pause"
kill_vmm "$sb3_pid"
wait_for_line "$T/pr.err" "pausing the guest" 20 || fail "policy pause: $(cat "$T/pr.err")"
ck_status pr | grep -q '"state":"paused"' || fail "status: $(ck_status pr)"
"$VMM" ctl "pr-$$" status --json | grep -q '"held_by":"operator,policy"' ||
	fail "status: $("$VMM" ctl "pr-$$" status --json)"
"$VMM" ctl "pr-$$" resume 2>/dev/null && fail "resume of a guest the policy holds was accepted"
"$VMM" ctl "pr-$$" unprotect || fail "unprotect"
[ "$(vm_state pr)" = paused ] || fail "unprotect resumed a guest the operator paused too"
"$VMM" ctl "pr-$$" status | grep -q "^held by: operator$" || fail "status: $("$VMM" ctl "pr-$$" status)"
n1=$(wc -l <"$log")
"$VMM" ctl "pr-$$" resume || fail "resume"
wait_for_line "$log" "^$((n1 + 100))\$" 20 || fail "no answers after resume"
pass "paused by the operator and the policy: unprotect leaves it paused; resume runs it"
