#!/bin/sh
# A guest cannot flood the host's log: the fault guest makes 20000 sync
# test calls as fast as it can.  With --test-port each would be a log line;
# the vmm logs a burst (20), then at most 5 a second, and the line after a
# gap says how many were suppressed.  Without --test-port the port does not
# exist: not one line, and the guest runs on to its end.
. "$(dirname "$0")/../common.sh"
need_kvm

N=20000
t0=$(date +%s)
run_vmm 120 run --test-port --memory 64M --kernel "$GUESTS/fault.elf" --cmdline "mode=flood count=$N"
t1=$(date +%s)
[ "$rc" -eq 0 ] || fail "flood guest: exit status $rc"
grep -q "fault: flood done $N" "$T/out" || fail "the flood did not finish: $(tail -n 3 "$T/out")"
lines=$(grep -c "guest vCPU 0: sync" "$T/err")
# 20 at once, 5 a second after: the run's whole seconds, rounded up.
limit=$(( 20 + 5 * (t1 - t0 + 1) ))
[ "$lines" -le "$limit" ] || fail "$lines sync lines in $((t1 - t0)) s: over the rate limit ($limit)"
[ "$lines" -ge 20 ] || fail "only $lines sync lines: the burst should pass"
grep -q "guest vCPU 0: sync 0$" "$T/err" || fail "the first test call was not logged"
sup=$(sed -n 's/.*rate limit: \([0-9]*\) such lines suppressed before.*/\1/p' "$T/err" |
	awk '{ s += $1 } END { print s + 0 }')
# Every call is either logged or counted, but for those after the last line.
[ "$sup" -gt 0 ] && [ $((sup + lines)) -le "$N" ] ||
	fail "suppressed count $sup with $lines lines logged of $N calls"
pass "$N test calls in $((t1 - t0)) s: $lines log lines (limit $limit), $sup counted as suppressed"

run_vmm 120 run --memory 64M --kernel "$GUESTS/fault.elf" --cmdline "mode=flood count=$N"
[ "$rc" -eq 0 ] || fail "flood guest without the port: exit status $rc"
grep -q "fault: flood done $N" "$T/out" || fail "the flood did not finish: $(tail -n 3 "$T/out")"
grep -q "sync" "$T/err" && fail "test calls logged without --test-port: $(grep -m3 sync "$T/err")"
pass "without --test-port: no test-call line at all"
