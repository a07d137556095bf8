#!/bin/sh
# vmm ctl: status fields, bad usage, and no server.
. "$(dirname "$0")/../common.sh"
need_kvm

name=ctl-test-$$
"$VMM" ctl "nobody-$$" status >"$T/out" 2>&1; rc=$?
[ "$rc" -eq 1 ] && grep -q "cannot connect" "$T/out" || fail "no server: rc $rc, $(cat "$T/out")"
pass "no server: clear error"
"$VMM" ctl "$name" frobnicate >"$T/out" 2>&1; rc=$?
[ "$rc" -eq 2 ] || fail "unknown ctl command: rc $rc"
pass "unknown command: usage error"
# Bad words of a checkpointing command are refused before any vmm is asked.
"$VMM" ctl "nobody-$$" protect tcp:127.0.0.1:1 --tls-none --interval 0 >"$T/out" 2>&1; rc=$?
[ "$rc" -eq 2 ] && grep -q "vmm ctl: protect: bad --interval '0': 1 to 60000 ms" "$T/out" ||
	fail "protect --interval 0: rc $rc, $(cat "$T/out")"
"$VMM" ctl "nobody-$$" activate --generation >"$T/out" 2>&1; rc=$?
[ "$rc" -eq 2 ] && grep -q "usage: activate \[--generation N\]" "$T/out" ||
	fail "activate --generation: rc $rc, $(cat "$T/out")"
pass "bad checkpointing words: usage error without a vmm"

bg_vmm vm run --cpus 2 --memory 96M --kernel "$GUESTS/counter.elf" --serial "unix:$T/s" \
	--control "$name"
LOG=$T/vm.err
python3 "$top_srcdir/tests/vmm/serial_client.py" "$T/s" --expect "counter ready" >/dev/null ||
	fail "the counter guest did not start"
"$VMM" ctl "$name" status >"$T/st" || fail "status failed"
grep -q "running" "$T/st" && grep -q "2" "$T/st" && grep -q "100663296" "$T/st" ||
	fail "status lacks state/vcpus/memory: $(cat "$T/st")"
"$VMM" ctl "$name" status --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d' ||
	fail "status --json is not JSON"
pass "status and status --json"
"$VMM" ctl "$name" quit || fail "quit"
wait "$vm_pid"; rc=$?
[ "$rc" -eq 0 ] || fail "exit status $rc after quit"
pass "quit"
