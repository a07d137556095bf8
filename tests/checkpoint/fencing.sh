#!/bin/sh
# Fencing tokens as the cluster hands them out: every copy of a VM has its
# own generation, and each side of a stream is told the other's exactly.
#  - a standby with --peer-generation refuses a primary with another token
#    (both numbers in the error, on both sides), keeps listening, and takes
#    the primary with the right token, whose checkpoints it then applies;
#    its acks carry its own token, which protect-status shows on both sides
#  - protect --peer-generation refuses a standby with another token
#  - vmm run --incoming --peer-generation: a migration destination takes
#    only a source with that token
. "$(dirname "$0")/../common.sh"
. "$top_srcdir/tests/migration/migration_helpers.sh"
. "$top_srcdir/tests/checkpoint/checkpoint_helpers.sh"
need_kvm

# --- the standby checks the primary's token -------------------------------
start_standby sb --generation 2 --peer-generation 1
sbport=$PORT
start_primary bad --generation 5
wait_ctl bad
"$VMM" ctl "bad-$$" protect "tcp:127.0.0.1:$sbport" --tls-none --interval 10 >"$T/ctl.out" 2>&1 ||
	fail "protect: $(cat "$T/ctl.out")"
wait_for_line "$T/bad.err" "initial sync failed" 20 || fail "a primary with token 5 was accepted: $(cat "$T/bad.err")"
grep -q "the source has generation 5, this standby expects generation 1" "$T/bad.err" ||
	fail "the primary's error does not name both tokens: $(cat "$T/bad.err")"
grep -q "the source has generation 5, this standby expects generation 1" "$T/sb.err" ||
	fail "the standby did not log the refusal: $(cat "$T/sb.err")"
ck_status bad | grep -q '"state":"failed"' || fail "primary status: $(ck_status bad)"
[ "$(vm_state bad)" = running ] || fail "the refused primary's guest does not run"
kill -0 "$sb_pid" 2>/dev/null || fail "the standby exited after refusing: $(cat "$T/sb.err")"
pass "a standby expecting token 1 refuses a primary with token 5, and keeps listening"

start_primary good --generation 1
protect good "$sbport" --interval 10 --peer-generation 2
wait_status sb '"state":"standby"' 20 || fail "standby status: $(ck_status sb)"
wait_epochs good 20 || fail "no epochs acknowledged: $(ck_status good)"
ck_status sb | grep -q '"generation":2,"peer_generation":1' || fail "standby status: $(ck_status sb)"
ck_status good | grep -q '"state":"protected","role":"primary","generation":1,"peer_generation":2' ||
	fail "primary status: $(ck_status good)"
[ "$(ck_field sb committed_epoch)" -ge 20 ] || fail "the standby applied nothing: $(ck_status sb)"
pass "then the primary with token 1 is taken: $(ck_field good epochs) epochs acknowledged by the standby at token 2"
kill_vmm "$good_pid"
kill_vmm "$bad_pid"
kill_vmm "$sb_pid"

# --- the primary checks the standby's token -------------------------------
start_standby sb2 --generation 7 --peer-generation 3
sbport=$PORT
start_primary pr --generation 3
wait_ctl pr
"$VMM" ctl "pr-$$" protect "tcp:127.0.0.1:$sbport" --tls-none --peer-generation 4 >"$T/ctl.out" 2>&1 ||
	fail "protect: $(cat "$T/ctl.out")"
wait_for_line "$T/pr.err" "initial sync failed" 20 || fail "a standby with token 7 was taken: $(cat "$T/pr.err")"
grep -q "standby has generation 7, expected 4" "$T/pr.err" ||
	fail "the error does not name both tokens: $(cat "$T/pr.err")"
ck_status pr | grep -q '"state":"failed".*standby has generation 7, expected 4' ||
	fail "primary status: $(ck_status pr)"
kill -0 "$sb2_pid" 2>/dev/null || fail "the standby exited: $(cat "$T/sb2.err")"
# The same standby, now expected with its own token.
protect pr "$sbport" --interval 10 --peer-generation 7
wait_epochs pr 5 || fail "no epochs: $(ck_status pr)"
pass "protect --peer-generation 4 refuses a standby with token 7 ('standby has generation 7, expected 4'); --peer-generation 7 takes it"
kill_vmm "$pr_pid"
kill_vmm "$sb2_pid"

# --- a migration destination checks the source's token --------------------
bg_vmm dst run --incoming "tcp:127.0.0.1:0" --tls-none --memory 32M --cpus 1 \
	--serial "unix:$T/dst.sock" --control "dst-$$" --generation 9 --peer-generation 8
listening "dst" "the destination did not listen"
dport=$PORT
start_primary src1 --generation 6
wait_ctl src1
migrate src1 "$dport" --tls-none
[ "$rc" -ne 0 ] || fail "a source with token 6 migrated to a destination expecting 8"
grep -q "the source has generation 6, this destination expects generation 8" "$T/ctl.err" ||
	fail "migrate: $(cat "$T/ctl.out" "$T/ctl.err")"
[ "$(vm_state src1)" = running ] || fail "the refused source does not run"
kill -0 "$dst_pid" 2>/dev/null || fail "the destination exited: $(cat "$T/dst.err")"
start_primary src2 --generation 8
wait_ctl src2
python3 "$top_srcdir/tests/vmm/serial_client.py" "$T/src2.sock" --expect "counter ready" \
	--send "inc 41" >"$T/src2.cl" 2>&1 || fail "counter: $(cat "$T/src2.cl")"
migrate src2 "$dport" --tls-none
[ "$rc" -eq 0 ] || fail "migrate with the right token: $(cat "$T/ctl.out" "$T/ctl.err")"
python3 "$CKCLIENT" verify "$T/dst.sock" 41 >"$T/verify" 2>&1 || { LOG=$T/dst.err; fail "$(cat "$T/verify")"; }
pass "a destination expecting token 8 refuses a source with token 6 and takes the one with 8 ($(cat "$T/verify"))"
