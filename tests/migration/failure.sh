#!/bin/sh
# Failures: the destination killed mid-migration, a cancel, and garbage
# bytes sent to the incoming port.  The source guest always carries on;
# the destination never runs a partial state.
. "$(dirname "$0")/../common.sh"
. "$(dirname "$0")/migration_helpers.sh"
need_kvm

cmd="mem_mib=64 rate_mib=50 hb_us=20000 verify_every=2"
start_src s 256M 1 "$cmd"
LOG=$T/s.err

# Destination killed mid-migration (a bandwidth limit keeps round 1 long).
start_dst d1 256M 1 --tls-none
"$VMM" ctl "s-$$" migrate "tcp:127.0.0.1:$PORT" --tls-none --bandwidth 8 >"$T/ctl.out" 2>&1 ||
	fail "migrate: $(cat "$T/ctl.out")"
# Mid-migration: round 1 has started sending (at 8 MiB/s it lasts seconds).
end=$(deadline 10)
until "$VMM" ctl "s-$$" migrate-status --json | grep -q '"bytes_sent":[1-9]'; do
	[ "$(date +%s)" -le "$end" ] || fail "round 1 sent nothing: $("$VMM" ctl "s-$$" migrate-status)"
	sleep 0.05
done
"$VMM" ctl "s-$$" migrate-status | grep -q "state: active" || fail "not active"
kill -9 "$d1_pid"
wait "$d1_pid" 2>/dev/null
st=""
for _ in $(seq 1 200); do
	st=$("$VMM" ctl "s-$$" migrate-status --json)
	case $st in *'"state":"active"'*) sleep 0.05 ;; *) break ;; esac
done
case $st in *'"state":"failed"'*) ;; *) fail "after the kill: $st" ;; esac
"$VMM" ctl "s-$$" status | grep -q "state: running" || fail "the source is not running"
hb_continues "$T/s.ser" "$T/s.ser"
pass "destination killed mid-migration: source runs on ($(echo "$st" | sed 's/.*"error":"\([^"]*\)".*/\1/'))"

# Cancel.
start_dst d2 256M 1 --tls-none
"$VMM" ctl "s-$$" migrate "tcp:127.0.0.1:$PORT" --tls-none --bandwidth 8 >"$T/ctl.out" 2>&1 ||
	fail "migrate: $(cat "$T/ctl.out")"
"$VMM" ctl "s-$$" migrate-set-downtime 50 || fail "set-downtime"
"$VMM" ctl "s-$$" migrate-status --json | grep -q '"downtime_limit_ms":50' || fail "downtime not set"
"$VMM" ctl "s-$$" migrate-cancel || fail "cancel"
for _ in $(seq 1 200); do
	st=$("$VMM" ctl "s-$$" migrate-status --json)
	case $st in *'"state":"active"'*) sleep 0.05 ;; *) break ;; esac
done
case $st in *'"state":"cancelled"'*) ;; *) fail "after cancel: $st" ;; esac
wait "$d2_pid"; drc=$?
[ "$drc" -ne 0 ] && [ ! -s "$T/d2.ser" ] || fail "the destination of a cancelled migration ran (rc $drc)"
hb_continues "$T/s.ser" "$T/s.ser"
pass "cancel: source runs on, destination did not run a partial state"

# Garbage to the incoming port: refused and dropped, no crash; the
# destination waits on for its source (tests/migration/stray.sh).
start_dst d3 256M 1 --tls-none
head -c 65536 /dev/urandom | timeout "$(secs 10)" python3 -c "
import socket,sys
s=socket.create_connection(('127.0.0.1',$PORT))
s.sendall(sys.stdin.buffer.read())
s.close()" 2>/dev/null
wait_for_line "$T/d3.err" "connection dropped.*refused" 20 || fail "garbage: $(cat "$T/d3.err")"
alive "$d3_pid" || fail "the destination exited after garbage: $(cat "$T/d3.err")"
[ ! -s "$T/d3.ser" ] || fail "the destination ran a guest after garbage"
kill -9 "$d3_pid"; wait "$d3_pid" 2>/dev/null
pass "garbage refused: $(grep -i refused "$T/d3.err" | head -n 1)"

# Garbage into a TLS port.
sh "$top_srcdir/conf/make-certs.sh" "$T/pki" dst >/dev/null 2>&1 || fail "make-certs"
start_dst d4 256M 1 --tls-ca "$T/pki/ca.pem" --tls-cert "$T/pki/dst.pem" --tls-key "$T/pki/dst.key" --tls-peer src
head -c 65536 /dev/urandom | timeout "$(secs 10)" python3 -c "
import socket,sys
s=socket.create_connection(('127.0.0.1',$PORT))
s.sendall(sys.stdin.buffer.read())
s.close()" 2>/dev/null
wait_for_line "$T/d4.err" "connection dropped.*TLS handshake" 20 || fail "TLS garbage: $(cat "$T/d4.err")"
alive "$d4_pid" || fail "the destination exited after TLS garbage: $(cat "$T/d4.err")"
kill -9 "$d4_pid"; wait "$d4_pid" 2>/dev/null
pass "garbage into a TLS port refused: $(grep "TLS handshake" "$T/d4.err" | head -n 1)"
"$VMM" ctl "s-$$" quit >/dev/null
wait "$s_pid"
