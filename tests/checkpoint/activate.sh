#!/bin/sh
# activate [--generation N]: N must be above the current generation.
#  - a VM paused by the operator (not protected): activate sets the
#    generation and resumes it; a running one has nothing to activate
#  - a standby: activated under the generation given, shown in
#    protect-status, holding every value acknowledged before the kill -9
#  - a primary paused by --on-standby-loss pause: resume is refused (its
#    output is held); activate resumes it under the new generation and
#    releases the held output: the client is answered again
. "$(dirname "$0")/../common.sh"
. "$top_srcdir/tests/migration/migration_helpers.sh"
. "$top_srcdir/tests/checkpoint/checkpoint_helpers.sh"
need_kvm

# refused CMD... EXPECT: the ctl command must fail with EXPECT on stderr.
refused() {
	_want=$1; shift
	if "$VMM" ctl "$@" >"$T/r.out" 2>&1; then
		fail "'$*' was accepted"
	fi
	grep -q -- "$_want" "$T/r.out" || fail "'$*': $(cat "$T/r.out")"
}

# --- a paused VM, not protected --------------------------------------------
start_primary vm --generation 3
wait_ctl vm
refused "nothing to activate" "vm-$$" activate --generation 4
"$VMM" ctl "vm-$$" pause || fail "pause"
refused "generation 2 is not above the current generation 3" "vm-$$" activate --generation 2
refused "generation 3 is not above the current generation 3" "vm-$$" activate --generation 3
refused "usage: activate" "vm-$$" activate --generation
[ "$(vm_state vm)" = paused ] || fail "a refused activate resumed the guest"
"$VMM" ctl "vm-$$" activate --generation 10 >"$T/act" 2>&1 || fail "activate: $(cat "$T/act")"
grep -q "generation:       10 " "$T/act" || fail "activate's answer: $(cat "$T/act")"
[ "$(vm_state vm)" = running ] || fail "not resumed"
ck_status vm | grep -q '"state":"none","role":"primary","generation":10,' || fail "status: $(ck_status vm)"
"$VMM" ctl "vm-$$" pause || fail "pause"
"$VMM" ctl "vm-$$" activate --json >"$T/act" 2>&1 || fail "activate: $(cat "$T/act")"
grep -q '"generation":11,' "$T/act" || fail "activate without --generation: $(cat "$T/act")"
pass "a paused VM: lower and equal generations refused, 10 taken and resumed, then 11 without --generation"
kill_vmm "$vm_pid"

# --- a standby ---------------------------------------------------------------
start_standby sb --generation 4 --peer-generation 1
sbport=$PORT
start_primary pr --generation 1
protect pr "$sbport" --interval 10 --peer-generation 4
log=$T/acked1
start_client pr "$log"
wait_for_line "$log" '^20$' 20 || fail "no values acknowledged while protected"
kill_vmm "$pr_pid"
wait "$cl"
last=$(tail -n 1 "$log")
refused "generation 4 is not above the current generation 4" "sb-$$" activate --generation 4
ck_status sb | grep -Eq '"state":"(standby|lost)"' || fail "a refused activate changed the standby: $(ck_status sb)"
"$VMM" ctl "sb-$$" activate --generation 12 >"$T/act" 2>&1 || fail "activate: $(cat "$T/act")"
ck_status sb | grep -q '"state":"activated","role":"primary","generation":12,' || fail "status: $(ck_status sb)"
python3 "$CKCLIENT" verify "$T/sb.sock" "$last" >"$T/verify" 2>&1 || { LOG=$T/sb.err; fail "$(cat "$T/verify")"; }
pass "standby at 4: activate --generation 4 refused, 12 taken: $(cat "$T/verify")"
kill_vmm "$sb_pid"

# --- a primary paused by its standby-loss policy ------------------------------
start_standby sb2
sbport=$PORT
start_primary pp --generation 5
protect pp "$sbport" --interval 10 --on-standby-loss pause
log=$T/acked2
start_client pp "$log"
wait_for_line "$log" '^20$' 20 || fail "no values acknowledged while protected"
kill_vmm "$sb2_pid"
wait_for_line "$T/pp.err" "pausing the guest \(policy pause\)" 20 || fail "policy pause: $(cat "$T/pp.err")"
wait_status pp '"state":"paused"' 5 || fail "status: $(ck_status pp)"
[ "$(vm_state pp)" = paused ] || fail "the guest is not paused"
held=$(ck_field pp output_held_bytes)
refused "resume failed" "pp-$$" resume
grep -q "resume refused: the guest was paused by --on-standby-loss pause" "$T/pp.err" ||
	fail "no reason logged: $(cat "$T/pp.err")"
[ "$(vm_state pp)" = paused ] || fail "a refused resume resumed the guest"
n=$(wc -l <"$log")
"$VMM" ctl "pp-$$" activate --generation 6 >"$T/act" 2>&1 || fail "activate: $(cat "$T/act")"
ck_status pp | grep -q '"state":"activated","role":"primary","generation":6,.*"output_held_bytes":0' ||
	fail "status: $(ck_status pp)"
[ "$(vm_state pp)" = running ] || fail "activate did not resume the guest"
wait_for_line "$log" "^$((n + 100))\$" 20 || fail "no answers after activate ($(wc -l <"$log"), $n before)"
pass "policy-paused primary ($held bytes held): resume refused; activate --generation 6 resumes it, output flows"
