#!/bin/sh
# Stray connections never end a receiver (issue 15, item 3).  Before a
# source's hello is accepted, `vmm run --incoming` and `--standby` log,
# close and forget a connection that closes at once, sends garbage, fails
# its TLS handshake (a client without a certificate) or is refused at its
# hello; during the data-connection phase a connection is taken as the
# migration's only if it carries the hello's nonce, so strays that come
# before the source's own data connections are dropped too.  Each time a
# real migration (or protect) to the same port then succeeds.
. "$(dirname "$0")/../common.sh"
. "$(dirname "$0")/migration_helpers.sh"
. "$top_srcdir/tests/checkpoint/checkpoint_helpers.sh"
need_kvm
command -v python3 >/dev/null || skip "python3 is needed for the stray clients"
command -v openssl >/dev/null || skip "no openssl CLI to make test certificates"

PROXY="$top_srcdir/tests/migration/strayproxy.py"
cmd="mem_mib=32 rate_mib=50 hb_us=20000 verify_every=2"
sh "$top_srcdir/conf/make-certs.sh" "$T/pki" src dst >/dev/null 2>&1 || fail "make-certs.sh"
P=$T/pki
good_dst="--tls-ca $P/ca.pem --tls-cert $P/dst.pem --tls-key $P/dst.key --tls-peer src"
good_src="--tls-ca $P/ca.pem --tls-cert $P/src.pem --tls-key $P/src.key --tls-peer dst"

# connect_close PORT / garbage PORT: a client that closes at once, and one
# that sends 64 KiB of random bytes (what the receiver answers is ignored).
connect_close() {
	python3 -c "import socket; socket.create_connection(('127.0.0.1', $1)).close()" ||
		fail "cannot connect to port $1"
}
garbage() {
	head -c 65536 /dev/urandom | timeout "$(secs 10)" python3 -c "
import socket, sys
s = socket.create_connection(('127.0.0.1', $1))
try:
    s.sendall(sys.stdin.buffer.read())
    s.shutdown(socket.SHUT_WR)
    while s.recv(65536):
        pass
except OSError:
    pass" || fail "garbage client to port $1"
}
# no_cert PORT: a TLS 1.3 client with no certificate.
no_cert() {
	timeout "$(secs 10)" openssl s_client -connect "127.0.0.1:$1" -CAfile "$P/ca.pem" \
		-tls1_3 </dev/null >"$T/sc.out" 2>&1
}

# dropped ID N: ID's log names N dropped connections, and ID still runs.
dropped() {
	wait_for_count "$T/$1.err" "connection.* dropped" "$2" 20 ||
		fail "$1: $2 dropped connections not logged: $(cat "$T/$1.err")"
	alive "$(eval echo "\$${1}_pid")" || fail "$1 exited after a stray: $(cat "$T/$1.err")"
}

# proxy ID DSTPORT: strayproxy.py in front of DSTPORT; its port in $PPORT.
proxy() {
	python3 "$PROXY" "$2" >"$T/$1.out" 2>&1 &
	eval "${1}_pid=$!"
	PIDS="$PIDS $!"
	wait_for_line "$T/$1.out" "^listening " 20 || fail "the relay did not start: $(cat "$T/$1.out")"
	PPORT=$(sed -n 's/^listening //p' "$T/$1.out")
}

# via_strays DST SRC PROXY WHAT SRC-TLS-ARGS...: a real 2-connection
# migration of a new source SRC to DST through PROXY, which injects 3
# strays into the data phase.
via_strays() {
	_d=$1 _s=$2 _p=$3 _what=$4
	shift 4
	proxy "$_p" "$PORT"
	start_src "$_s" 128M 1 "$cmd"
	LOG=$T/$_s.err
	migrate "$_s" "$PPORT" "$@" --parallel 2 --timeout "$(secs 15)" --on-timeout force
	[ "$rc" -eq 0 ] ||
		fail "the ${_what}migration after strays failed: $(cat "$T/ctl.err"); $_d: $(cat "$T/$_d.err")"
	grep -q "^strays dropped 3" "$T/$_p.out" || fail "relay: $(cat "$T/$_p.out")"
}

# carried_on DST SRC PROXY: the source ended, the guest runs on at DST;
# then DST and PROXY are stopped and DST's drops shown.
carried_on() {
	eval "wait \$${2}_pid"
	LOG=$T/$1.err
	hb_continues "$T/$1.ser" "$T/$2.ser"
	"$VMM" ctl "$1-$$" quit >/dev/null
	eval "kill_vmm \$${3}_pid"
	grep "dropped" "$T/$1.err" | sed "s/^/  $1: /"
}

# --- plaintext migration ----------------------------------------------------
start_dst d1 128M 1 --tls-none
connect_close "$PORT"
garbage "$PORT"
dropped d1 2
grep -q "not a migration stream" "$T/d1.err" || fail "garbage: $(cat "$T/d1.err")"
via_strays d1 s1 p1 "" --tls-none
grep -q "belongs to another session" "$T/d1.err" ||
	fail "the DataHello of another session was not named: $(cat "$T/d1.err")"
dropped d1 5
carried_on d1 s1 p1
pass "plaintext: connect/close, garbage, and 3 strays in the data phase dropped; the migration succeeded"

# --- TLS migration ----------------------------------------------------------
start_dst d2 128M 1 $good_dst
connect_close "$PORT"
garbage "$PORT"
no_cert "$PORT"
dropped d2 3
grep -qi "no certificate\|did not return a certificate" "$T/d2.err" ||
	fail "the client without a certificate is not named: $(cat "$T/d2.err")"
via_strays d2 s2 p2 "TLS " $good_src
dropped d2 6
carried_on d2 s2 p2
pass "TLS: connect/close, garbage, no client certificate, 3 strays in the data phase dropped; the migration succeeded"

# --- TLS standby ------------------------------------------------------------
bg_vmm sb run --standby "tcp:127.0.0.1:0" $good_dst --memory 32M --cpus 1 \
	--serial "unix:$T/sb.sock" --control "sb-$$"
listening sb "the standby did not listen"
connect_close "$PORT"
garbage "$PORT"
no_cert "$PORT"
dropped sb 3
start_primary pr
wait_ctl pr
"$VMM" ctl "pr-$$" protect "tcp:127.0.0.1:$PORT" $good_src --interval 20 >"$T/ctl.out" 2>&1 ||
	fail "protect: $(cat "$T/ctl.out")"
wait_for_line "$T/pr.err" "initial sync to .* done" 20 ||
	fail "not protected after strays: $(cat "$T/pr.err"); standby: $(cat "$T/sb.err")"
wait_epochs pr 5 || fail "no checkpoints acknowledged: $(ck_status pr)"
wait_status sb '"state":"standby"' 20 || fail "standby status: $(ck_status sb)"
epoch=$(ck_field sb committed_epoch)
[ "${epoch:-0}" -ge 1 ] || fail "the standby committed nothing: $(ck_status sb)"
"$VMM" ctl "pr-$$" quit >/dev/null
kill_vmm "$sb_pid"
grep "dropped" "$T/sb.err" | sed 's/^/  sb: /'
pass "standby: connect/close, garbage, no client certificate dropped; protect succeeded (checkpoint $epoch committed)"
