#!/bin/sh
# A peer's error text is cleaned before it reaches our log and status: a
# fake destination refuses the hello with a terminal escape, a newline
# followed by a forged log line, a byte above 0x7f and 4000 more bytes.  The
# source's log and migrate-status show it as one line of printable ASCII,
# cut to a bounded length ("...").
. "$(dirname "$0")/../common.sh"
. "$(dirname "$0")/migration_helpers.sh"
need_kvm

python3 "$(dirname "$0")/refusefake.py" >"$T/fake.out" 2>&1 &
PIDS="$PIDS $!"
wait_for_line "$T/fake.out" "^listening " 10 || fail "the fake destination did not start"
FPORT=$(sed -n 's/^listening //p' "$T/fake.out")

start_src s 64M 1 "mem_mib=4 rate_mib=0 hb_us=20000"
LOG=$T/s.err
migrate s "$FPORT" --tls-none
[ "$rc" -ne 0 ] || fail "the migration to a refusing destination succeeded"
"$VMM" ctl "s-$$" migrate-status >"$T/st" || fail "migrate-status failed"
err=$(sed -n 's/^error: //p' "$T/st")
case $err in
"the destination refused: ?[2Jwiped?vmm[1]: notice: FORGED LINE ?AAA"*...) ;;
*) fail "status error not cleaned: $(od -c "$T/st" | head -n 20)" ;;
esac
[ "${#err}" -le 200 ] || fail "status error of ${#err} bytes: not bounded"
LC_ALL=C grep -q "$(printf '[\001-\010\013-\037\177-\377]')" "$T/st" "$T/s.err" &&
	fail "control or high bytes reached the status or the log: $(od -c "$T/s.err" | grep -m3 '033\|377')"
grep -q "FORGED LINE" "$T/s.err" || fail "the refusal is not in the log: $(cat "$T/s.err")"
grep "FORGED LINE" "$T/s.err" | grep -q "refused" ||
	fail "the peer's text started a log line of its own: $(grep 'FORGED' "$T/s.err")"
pass "peer text cleaned: ${#err} bytes: $err"
"$VMM" ctl "s-$$" quit >/dev/null 2>&1
