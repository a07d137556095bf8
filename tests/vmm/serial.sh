#!/bin/sh
# The UART's flush timer (vmm/serial.c) runs only while it has work: THRI
# acknowledged with THRI still enabled and the transmitter empty is raised
# again, again and again (hello.elf thri=1, read through IIR); and a vmm
# whose guest used THRI, disabled it and halts for good (hello.elf thri=1
# idle=1) does not wake up: fewer than 10 wake-ups a second over 2 s for
# all its threads (it was 200 a second with a free-running 5 ms timer).
. "$(dirname "$0")/../common.sh"
need_kvm

run_vmm 30 run --kernel "$GUESTS/hello.elf" --cmdline "thri=1" --serial stdio --test-port
[ "$rc" -eq 0 ] || fail "thri=1: exit status $rc, want 0: $(cat "$T/out" "$T/err")"
grep -q "^hello thri ok" "$T/out" || fail "thri=1: no 'hello thri ok': $(cat "$T/out")"
pass "THRI raised again after its acknowledgement: $(grep '^hello thri ok' "$T/out")"

# The voluntary context switches of every thread of PID (its wake-ups).
wakeups() {
	cat /proc/"$1"/task/*/status 2>/dev/null |
		awk '/^voluntary_ctxt_switches:/ { n += $2 } END { print n + 0 }'
}
bg_vmm idle run --kernel "$GUESTS/hello.elf" --cmdline "thri=1 idle=1" --memory 64M \
	--serial "file:$T/idle.ser" --control "idle-$$"
wait_for_line "$T/idle.ser" "^hello idle" 20 || fail "no 'hello idle': $(cat "$T/idle.err")"
# Let the start-up's last wake-ups (the output written, the control server) pass.
sleep 0.5
w0=$(wakeups "$idle_pid")
sleep 2
w1=$(wakeups "$idle_pid")
alive "$idle_pid" || fail "the idle vmm exited: $(cat "$T/idle.err")"
[ $((w1 - w0)) -lt 20 ] || fail "an idle vmm woke $((w1 - w0)) times in 2 s (want < 20)"
kill "$idle_pid"
wait_exit "$idle_pid" 10 || fail "the idle vmm did not stop on SIGTERM"
pass "an idle vmm woke $((w1 - w0)) times in 2 s"
