#!/bin/sh
# A primary stopped and continued (SIGSTOP, SIGCONT: a debugger, an
# operator, a stalled host) while it waits for its standby's ack stays
# protected, over TLS and plaintext.  A socket read with a time limit fails
# with EINTR after such a stop (signal(7)); taken as the standby's loss, it
# degraded the VM (a cluster then dropped the handover it had asked for).
# The wait is made certain: the standby is stopped first, so the primary is
# blocked on its ack when it is stopped in turn.  And the two time limits:
# the primary's ack wait (--ack-timeout, 10 s by default) reaches the
# standby in the hello, which then waits for the primary at least as long
# (60 s at least).
. "$(dirname "$0")/../common.sh"
. "$top_srcdir/tests/migration/migration_helpers.sh"
. "$top_srcdir/tests/checkpoint/checkpoint_helpers.sh"
need_kvm
command -v openssl >/dev/null || fail "no openssl CLI to make test certificates"
ROUNDS=${STOPCONT_ROUNDS:-5}

sh "$top_srcdir/conf/make-certs.sh" "$T/pki" pri sb >/dev/null 2>&1 || fail "make-certs.sh"
P=$T/pki

# limits ID_PRIMARY ID_STANDBY ACK SILENCE: what their protect-status says.
limits() {
	_a=$(ck_field "$1" ack_timeout_ms) _s=$(ck_field "$2" silence_limit_ms)
	[ "$_a" = "$3" ] && [ "$_s" = "$4" ] ||
		fail "$1: ack timeout $_a ms (want $3), $2: silence limit $_s ms (want $4)"
}

# blocked_in_read PID: a thread of PID sleeps in a socket read.
blocked_in_read() {
	grep -qE 'wait_woken|sk_wait_data|sk_stream_wait' /proc/"$1"/task/*/wchan 2>/dev/null
}

# stop_cont_rounds ID STANDBY_PID PRIMARY_PID
stop_cont_rounds() {
	_r=1
	while [ "$_r" -le "$ROUNDS" ]; do
		_e=$(ck_field "$1" committed_epoch)
		kill -STOP "$2"
		_end=$(deadline 20)
		until blocked_in_read "$3"; do
			[ "$(date +%s)" -le "$_end" ] || { kill -CONT "$2"; fail "$1 round $_r: the primary never waited for an ack ($(cat /proc/"$3"/task/*/wchan | tr '\0' ' '))"; }
			sleep 0.02
		done
		kill -STOP "$3"
		kill -CONT "$3"
		kill -CONT "$2"
		wait_field_ge "$1" committed_epoch $((_e + 5)) 20 ||
			fail "$1 round $_r: no checkpoint after the stop: $(ck_status "$1"); $(tail -3 "$T/$1.err")"
		ck_status "$1" | grep -q '"state":"protected"' ||
			fail "$1 round $_r: $(ck_status "$1"); $(tail -3 "$T/$1.err")"
		_r=$((_r + 1))
	done
}

# TLS, as a cluster protects.
bg_vmm sb1 run --standby "tcp:127.0.0.1:0" --tls-ca "$P/ca.pem" --tls-cert "$P/sb.pem" \
	--tls-key "$P/sb.key" --tls-peer pri --memory 32M --cpus 1 --control "sb1-$$"
listening sb1 "the standby did not listen"
start_primary pr1
wait_ctl pr1
"$VMM" ctl "pr1-$$" protect "tcp:127.0.0.1:$PORT" --tls-ca "$P/ca.pem" --tls-cert "$P/pri.pem" \
	--tls-key "$P/pri.key" --tls-peer sb --interval 20 >"$T/ctl.out" 2>&1 ||
	fail "protect: $(cat "$T/ctl.out")"
wait_for_line "$T/pr1.err" "initial sync to .* done" 30 || fail "pr1: not protected: $(cat "$T/pr1.err")"
limits pr1 sb1 10000 60000
stop_cont_rounds pr1 "$sb1_pid" "$pr1_pid"
pass "TLS: $ROUNDS stops of the primary while it waited for an ack; still protected"
kill_vmm "$pr1_pid"
kill_vmm "$sb1_pid"

# Plaintext.
start_standby sb2
start_primary pr2
protect pr2 "$PORT" --interval 20 --ack-timeout 90000
limits pr2 sb2 90000 90000
stop_cont_rounds pr2 "$sb2_pid" "$pr2_pid"
pass "plaintext: $ROUNDS stops of the primary while it waited for an ack; still protected"
kill_vmm "$pr2_pid"
kill_vmm "$sb2_pid"
