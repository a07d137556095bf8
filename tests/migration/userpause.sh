#!/bin/sh
# The operator's pause during a migration holds (vmm/vm_hold.h): the
# migration takes and releases a hold of its own, and never ends the
# operator's.
#  - paused while a live migration sends its first round, which then
#    completes: the guest arrives paused and stays so until resumed there.
#    (Before the holds, the source decided "it was running" when the
#    migration started, and the destination ran a guest that its operator,
#    or hasvcd's self-fence, had paused meanwhile.)
#  - paused while a migration sends, which then fails (its destination
#    killed): the source stays paused; resume runs it on.
#  - migrate --paused: the source stays paused after success; resume runs it.
. "$(dirname "$0")/../common.sh"
. "$(dirname "$0")/migration_helpers.sh"
need_kvm

cmd="mem_mib=32 rate_mib=50 hb_us=20000 verify_every=2"

# Until SRC's migration has sent something (round 1 lasts seconds at 8 MiB/s).
wait_sending() {
	_end=$(deadline 10)
	until "$VMM" ctl "$1-$$" migrate-status --json | grep -q '"bytes_sent":[1-9]'; do
		[ "$(date +%s)" -le "$_end" ] ||
			fail "round 1 sent nothing: $("$VMM" ctl "$1-$$" migrate-status)"
		sleep 0.05
	done
}

# SRC ARGS...: start SRC's migration to $PORT (8 MiB/s), and pause SRC's
# guest once it has sent something.
pause_while_sending() {
	_src=$1; shift
	"$VMM" ctl "$_src-$$" migrate "tcp:127.0.0.1:$PORT" --tls-none --bandwidth 8 "$@" \
		>"$T/ctl.out" 2>&1 || fail "migrate: $(cat "$T/ctl.out")"
	wait_sending "$_src"
	"$VMM" ctl "$_src-$$" pause >/dev/null || fail "pause"
}

# ID FROM: resume ID; its guest runs on from serial file FROM's last heartbeat.
resume_runs() {
	"$VMM" ctl "$1-$$" resume >/dev/null || fail "$1: resume"
	hb_continues "$T/$1.ser" "$2"
	"$VMM" ctl "$1-$$" quit >/dev/null
}

# ID's guest is paused: its status says so and no heartbeat comes out.
stays_paused() {
	"$VMM" ctl "$1-$$" status >"$T/st" || fail "$1: status"
	grep -q "state: paused" "$T/st" || fail "$2: $(cat "$T/st")"
	_before=$(last_hb "$T/$1.ser")
	# Nothing may happen while paused; no event tells that nothing happened.
	sleep 0.3
	[ "$(last_hb "$T/$1.ser")" = "$_before" ] || fail "$1: the paused guest ran ($2)"
}

start_dst d1 256M 1 --tls-none
start_src s1 256M 1 "$cmd"
LOG=$T/s1.err
pause_while_sending s1
wait_exit "$s1_pid" 60 || fail "the source did not finish its migration"
[ "$rc" -eq 0 ] || fail "the source exited with $rc"
LOG=$T/d1.err
stays_paused d1 "the destination runs a guest paused during its migration"
resume_runs d1 "$T/s1.ser"
wait "$d1_pid"
pass "paused during a live migration: arrived paused, runs on when resumed"

start_dst d2 256M 1 --tls-none
start_src s2 256M 1 "$cmd"
LOG=$T/s2.err
pause_while_sending s2 --auto-converge
kill -9 "$d2_pid"
wait "$d2_pid" 2>/dev/null
wait_status s2 "state: failed" 20 || fail "after the kill: $("$VMM" ctl "s2-$$" migrate-status)"
stays_paused s2 "the failed migration resumed the guest its operator paused"
resume_runs s2 "$T/s2.ser"
wait "$s2_pid"
pass "paused during a migration that failed: stays paused, runs on when resumed"

# migrate --paused: the source, left paused as asked, is the operator's to
# resume (the migration's hold became the operator's, as after save --paused).
start_dst d3 256M 1 --tls-none
start_src s3 256M 1 "$cmd"
LOG=$T/s3.err
migrate s3 "$PORT" --tls-none --paused
[ "$rc" -eq 0 ] || fail "migrate --paused: $(cat "$T/ctl.err")"
"$VMM" ctl "d3-$$" quit >/dev/null
wait "$d3_pid"
stays_paused s3 "migrate --paused did not leave the source paused"
resume_runs s3 "$T/s3.ser"
wait "$s3_pid"
pass "migrate --paused: the source stays paused, and runs on when resumed"
