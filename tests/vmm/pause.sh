#!/bin/sh
# Pause and resume under load: the dirty guest's heartbeat stops while the
# VM is paused and carries on afterwards, and its final self-check (every
# page holds what the guest wrote) passes.
. "$(dirname "$0")/../common.sh"
need_kvm

name=pause-test-$$
for cpus in 1 2; do
	serial=$T/serial-$cpus
	# The guest ends after duration_ms of its own clock, which runs on while
	# it is paused: it must outlive the test's steps (scaled, as they are).
	bg_vmm vm run --cpus $cpus --memory 128M --kernel "$GUESTS/dirty.elf" \
		--cmdline "mem_mib=16 rate_mib=0 hb_us=20000 duration_ms=$((3000 * TIME_SCALE)) cpus=$cpus" \
		--serial "file:$serial" --control "$name"
	LOG=$T/vm.err
	wait_for_line "$serial" '^hb 3 ' 30 || fail "no heartbeat from the dirty guest"
	"$VMM" ctl "$name" pause >"$T/ctl" 2>&1 || fail "pause: $(cat "$T/ctl")"
	"$VMM" ctl "$name" status >"$T/st" || fail "status"
	grep -q "^state: paused$" "$T/st" && grep -q "^held by: operator$" "$T/st" ||
		fail "status does not say paused by the operator: $(cat "$T/st")"
	before=$(wc -c <"$serial")
	# Checking that nothing happens needs some time to pass; nothing to wait on.
	sleep 0.5
	after=$(wc -c <"$serial")
	[ "$before" -eq "$after" ] || fail "the guest wrote $((after - before)) bytes while paused"
	last=$(last_hb "$serial")
	"$VMM" ctl "$name" resume >"$T/ctl" 2>&1 || fail "resume: $(cat "$T/ctl")"
	wait_for_line "$serial" "^hb $((last + 2)) " 30 || fail "no heartbeat after resume"
	wait "$vm_pid"; rc=$?
	[ "$rc" -eq 0 ] || fail "dirty guest exit status $rc"
	grep -q "^dirty ok" "$serial" || fail "the dirty guest's self-check failed: $(tail -n 3 "$serial")"
	pass "$cpus vCPU(s): paused (no output), resumed, checksum intact"
done
