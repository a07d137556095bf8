#!/bin/sh
# Garbage on post-copy's page-request channel: a fake destination
# (pcfake.py) acknowledges the switch-over, then asks for a page far outside
# guest RAM.  The source refuses the request, goes postcopy-paused with the
# reason, keeps its guest paused (the destination is deemed to run it) and
# sends nothing for it; `vmm ctl quit` still ends the source.
. "$(dirname "$0")/../common.sh"
. "$(dirname "$0")/migration_helpers.sh"
need_kvm
command -v python3 >/dev/null 2>&1 || skip "python3 is needed for the fake destination"

python3 "$(dirname "$0")/pcfake.py" >"$T/fake.out" 2>&1 &
fake_pid=$!
PIDS="$PIDS $fake_pid"
wait_for_line "$T/fake.out" "^listening " 10 || fail "the fake destination did not start"
FPORT=$(sed -n 's/^listening //p' "$T/fake.out")

start_src s 128M 1 "mem_mib=32 rate_mib=0 hb_us=20000 verify_every=2"
LOG=$T/s.err
"$VMM" ctl "s-$$" migrate "tcp:127.0.0.1:$FPORT" --tls-none --bandwidth 20 --postcopy \
	>/dev/null || fail "migrate --postcopy was refused"
wait_status s "^round: [1-9]" 30 || fail "pre-copy did not start"
"$VMM" ctl "s-$$" migrate-postcopy >/dev/null || fail "migrate-postcopy was refused"
LOG=$T/fake.out
wait_for_line "$T/fake.out" "^sent garbage" 30 || fail "the fake destination got no switch-over"
LOG=$T/s.err
wait_status s "^state: postcopy-paused" 20 || fail "the source did not stop post-copy"
"$VMM" ctl "s-$$" migrate-status | grep -q "^error: .*page request lies outside guest RAM" ||
	fail "wrong reason: $("$VMM" ctl "s-$$" migrate-status | grep '^error')"
"$VMM" ctl "s-$$" status | grep -q "^state: paused" || fail "the source guest is not paused"
pass "garbage refused: $("$VMM" ctl "s-$$" migrate-status | sed -n 's/^error: //p')"

"$VMM" ctl "s-$$" quit >/dev/null || fail "quit was refused"
wait "$s_pid"
kill "$fake_pid" 2>/dev/null
pass "the source vmm quits when told to"
