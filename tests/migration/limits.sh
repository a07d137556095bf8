#!/bin/sh
# The limits an operator sets are honoured: a bandwidth cap stretches the
# migration to at least bytes / cap; auto-converge throttles a guest that
# dirties memory faster than it can be sent until the rest fits a tight
# downtime limit.  The source stays paused afterwards (--paused) so that its
# job figures can be read.
. "$(dirname "$0")/../common.sh"
. "$(dirname "$0")/migration_helpers.sh"
need_kvm

start_dst d1 128M 1 --tls-none
start_src s1 128M 1 "mem_mib=32 rate_mib=1 hb_us=20000 verify_every=2"
LOG=$T/s1.err
migrate s1 "$PORT" --tls-none --bandwidth 16 --paused
[ "$rc" -eq 0 ] || fail "capped migration failed: $(cat "$T/ctl.err")"
"$VMM" ctl "s1-$$" migrate-status --json >"$T/st.json" || fail "migrate-status"
sent=$(json_field bytes_sent <"$T/st.json")
ms=$(json_field elapsed_ms <"$T/st.json")
# 16 MiB/s; allow one 10% burst of slack.
floor=$(( sent / 16777 * 9 / 10 ))
[ "$ms" -ge "$floor" ] || fail "$sent bytes in $ms ms: faster than the 16 MiB/s cap (floor $floor ms)"
LOG=$T/d1.err
hb_continues "$T/d1.ser" "$T/s1.ser"
"$VMM" ctl "s1-$$" quit >/dev/null; "$VMM" ctl "d1-$$" quit >/dev/null
wait "$s1_pid"; wait "$d1_pid"
pass "--bandwidth 16: $sent bytes took $ms ms (at least $floor)"

start_dst d2 128M 1 --tls-none
start_src s2 128M 1 "mem_mib=64 rate_mib=0 hb_us=20000 verify_every=2"
LOG=$T/s2.err
migrate s2 "$PORT" --tls-none --downtime 20 --auto-converge --bandwidth 64 --paused
[ "$rc" -eq 0 ] || fail "auto-converge migration failed: $(cat "$T/ctl.err")"
"$VMM" ctl "s2-$$" migrate-status --json >"$T/st.json" || fail "migrate-status"
thr=$(json_field throttle_pct <"$T/st.json")
[ "$thr" -gt 0 ] || fail "the guest was never throttled: $(cat "$T/st.json")"
LOG=$T/d2.err
hb_continues "$T/d2.ser" "$T/s2.ser"
"$VMM" ctl "s2-$$" quit >/dev/null; "$VMM" ctl "d2-$$" quit >/dev/null
wait "$s2_pid"; wait "$d2_pid"
pass "auto-converge: converged with the guest throttled to $thr%"
