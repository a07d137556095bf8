#!/bin/sh
# The counter guest as a service on a Unix-socket serial port.
. "$(dirname "$0")/../common.sh"
need_kvm

bg_vmm vm run --memory 64M --kernel "$GUESTS/counter.elf" --serial "unix:$T/serial"
python3 "$top_srcdir/tests/vmm/serial_client.py" "$T/serial" --expect "counter ready" \
	--send "inc 5" --send "inc 37" --send "get" --send "bogus" --send "check" >"$T/c1" ||
	{ LOG=$T/vm.err; fail "client: $(cat "$T/c1")"; }
grep -qx "guest: val 5" "$T/c1" && grep -qx "guest: val 42" "$T/c1" || fail "wrong values: $(cat "$T/c1")"
[ "$(grep -c '^guest: val 42$' "$T/c1")" -eq 2 ] || fail "get did not answer 42"
grep -q "^guest: err" "$T/c1" || fail "a bad request got no error answer"
grep -q "^guest: check ok 2" "$T/c1" || fail "the log does not match the counter"
pass "inc, get, bad request, check"

# A second client later sees the same state: it lives in the guest.
python3 "$top_srcdir/tests/vmm/serial_client.py" "$T/serial" --send "inc 1" --send "quit" \
	>"$T/c2" 2>&1 || true
grep -qx "guest: val 43" "$T/c2" || fail "reconnect: $(cat "$T/c2")"
wait "$vm_pid"; rc=$?
[ "$rc" -eq 0 ] || { LOG=$T/vm.err; fail "counter guest exit status $rc"; }
pass "state kept across clients; quit powers off with 0"
