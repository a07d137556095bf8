#!/bin/sh
# Offline migration: a paused VM moves and stays paused on the destination
# (not one guest instruction runs there) until it is resumed; then its
# heartbeat carries on and its working set verifies.  Also `vmm run --paused`.
. "$(dirname "$0")/../common.sh"
. "$(dirname "$0")/migration_helpers.sh"
need_kvm

start_dst dst 128M 1 --tls-none
start_src src 128M 1 "mem_mib=16 rate_mib=20 hb_us=20000 verify_every=2"
LOG=$T/src.err
"$VMM" ctl "src-$$" pause >/dev/null || fail "pause"
migrate src "$PORT" --tls-none
[ "$rc" -eq 0 ] || fail "offline migration failed: $(cat "$T/ctl.err")"
wait "$src_pid" || fail "the source exited with $?"
LOG=$T/dst.err
"$VMM" ctl "dst-$$" status >"$T/st" || fail "destination status"
grep -q "state: paused" "$T/st" || fail "the destination runs a VM that was paused: $(cat "$T/st")"
before=$(last_hb "$T/dst.ser")
# Nothing may happen while paused; no event tells that nothing happened.
sleep 0.3
[ "$(last_hb "$T/dst.ser")" = "$before" ] || fail "the guest ran on the destination while paused"
"$VMM" ctl "dst-$$" resume >/dev/null || fail "resume"
hb_continues "$T/dst.ser" "$T/src.ser"
"$VMM" ctl "dst-$$" quit >/dev/null
wait "$dst_pid"
pass "a paused VM migrates, stays paused, and runs on when resumed"

bg_vmm p run --paused --memory 64M --kernel "$GUESTS/hello.elf" --serial "file:$T/p.ser" \
	--control "p-$$"
LOG=$T/p.err
i=0
until "$VMM" ctl "p-$$" status >"$T/st" 2>/dev/null; do
	i=$((i + 1)); [ $i -lt 200 ] || fail "the paused vmm does not answer"
	sleep 0.05 # the control socket appears when the vmm is up
done
grep -q "state: paused" "$T/st" || fail "vmm run --paused: $(cat "$T/st")"
[ -s "$T/p.ser" ] && fail "vmm run --paused ran the guest"
"$VMM" ctl "p-$$" resume >/dev/null || fail "resume"
wait "$p_pid"; rc=$?
[ "$rc" -eq 0 ] && grep -q "Hello" "$T/p.ser" || fail "after resume: rc $rc"
pass "vmm run --paused starts nothing until resumed"
