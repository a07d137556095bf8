#!/bin/sh
# Post-copy recovery: the link (a TCP proxy, tests/checkpoint/ckproxy.py)
# is stopped mid-post-copy and then killed; the source says postcopy-paused
# and stays paused, the destination waits for the source.  Through a new
# proxy, `migrate-resume` reconnects; the destination says which pages it
# has, the rest follows, and the guest finishes its run verified.  Garbage
# sent to the waiting destination instead of the source is refused, and it
# keeps waiting, and so is (over TLS) another node's certificate.  Over TLS
# when the openssl CLI can make certificates (the proxy forwards bytes), so
# the resume's handshakes are tested too.
. "$(dirname "$0")/../common.sh"
. "$(dirname "$0")/migration_helpers.sh"
need_kvm
need_userfaultfd
command -v python3 >/dev/null 2>&1 || skip "python3 is needed for the proxy"
PROXY="$(dirname "$0")/../checkpoint/ckproxy.py"

# start_proxy TARGET-PORT: a forwarder; sets $proxy_pid and $PPORT.
start_proxy() {
	python3 "$PROXY" "$1" >"$T/proxy.out" 2>&1 &
	proxy_pid=$!
	PIDS="$PIDS $proxy_pid"
	wait_for_line "$T/proxy.out" "^listening " 10 || fail "the proxy did not start"
	PPORT=$(sed -n 's/^listening //p' "$T/proxy.out")
}

TLS_D=--tls-none TLS_S=--tls-none
if command -v openssl >/dev/null && sh "$top_srcdir/conf/make-certs.sh" "$T/pki" src dst \
	>/dev/null 2>&1; then
	TLS_D="--tls-ca $T/pki/ca.pem --tls-cert $T/pki/dst.pem --tls-key $T/pki/dst.key --tls-peer src"
	TLS_S="--tls-ca $T/pki/ca.pem --tls-cert $T/pki/src.pem --tls-key $T/pki/src.key --tls-peer dst"
fi
start_dst d 128M 1 $TLS_D
DPORT=$PORT
# The guest's run outlasts the cut and the resume: a guest that ended at the
# destination before every page was there would leave the source waiting.
start_src s 128M 1 "mem_mib=32 rate_mib=0 hb_us=20000 verify_every=2 duration_ms=40000"
start_proxy "$DPORT"
LOG=$T/s.err
# 4 MiB/s: the background push of 32 MiB takes about 8 s, time to cut it.
"$VMM" ctl "s-$$" migrate "tcp:127.0.0.1:$PPORT" $TLS_S --bandwidth 4 --postcopy \
	>/dev/null || fail "migrate --postcopy was refused"
"$VMM" ctl "s-$$" migrate-postcopy >/dev/null || fail "migrate-postcopy was refused"
wait_for_line "$T/s.err" "post-copy: the destination runs the guest" 30 ||
	fail "no switch to post-copy"
wait_status s "^bytes_sent: [0-9]{7,}" 30 || fail "no pages pushed"

# Cut: a dead switch (SIGSTOP): the source finds the link stalled (10 s
# without progress); then gone (SIGKILL closes the sockets): the destination
# finds it at once.
kill -STOP "$proxy_pid"
wait_status s "^state: postcopy-paused" 40 || fail "the source did not pause post-copy"
kill -KILL "$proxy_pid"
wait "$proxy_pid" 2>/dev/null
LOG=$T/d.err
wait_for_line "$T/d.err" "post-copy: waiting for the source on" 30 ||
	fail "the destination does not wait for the source"
kill -0 "$s_pid" || fail "the source vmm went away"
"$VMM" ctl "s-$$" status | grep -q "paused" || fail "the source guest is not paused"
pass "link cut ($(grep -o 'TLS)\|plaintext)' "$T/d.err" | tr -d ')')): $("$VMM" ctl "s-$$" migrate-status | sed -n 's/^error: //p')"

# Garbage where a resuming source should be: refused (by the TLS handshake,
# or as not a migration stream in plaintext), still waiting.
printf 'GET / HTTP/1.0\r\n\r\n' | python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(sys.stdin.buffer.read()); s.shutdown(socket.SHUT_WR)
try:
    s.recv(100)
except OSError:
    pass' "$DPORT"
wait_for_line "$T/d.err" "resume attempt failed: " 10 ||
	fail "garbage was not refused"
pass "garbage instead of the source refused: $(grep -a 'resume attempt failed' "$T/d.err" | tail -n 1 | sed 's/.*: a resume/a resume/')"

# Over TLS: another node of the same CA where the source (node src) should
# reconnect is refused by name (--tls-peer holds the resume too).
if [ "$TLS_D" != --tls-none ]; then
	sh "$top_srcdir/conf/make-certs.sh" "$T/pki" x >/dev/null 2>&1 || fail "make-certs.sh x"
	timeout "$(secs 10)" openssl s_client -connect "127.0.0.1:$DPORT" -CAfile "$T/pki/ca.pem" \
		-cert "$T/pki/x.pem" -key "$T/pki/x.key" -tls1_3 </dev/null >"$T/sc.out" 2>&1
	wait_for_line "$T/d.err" "resume attempt failed: .*the peer is not node src: .*CN=x" 10 ||
		fail "node x was not refused as the source: $(tail -n 2 "$T/d.err")"
	pass "node x refused as the resuming source: $(grep -ao 'the peer is not node src.*' "$T/d.err" | tail -n 1)"
fi

# Resume through a new link.
start_proxy "$DPORT"
LOG=$T/s.err
"$VMM" ctl "s-$$" migrate-resume "tcp:127.0.0.1:$PPORT" || fail "migrate-resume was refused"
wait_for_line "$T/s.err" "post-copy resumed to" 30 || fail "the source did not reconnect"
wait_for_line "$T/s.err" "migration to .* completed" 60 || fail "post-copy did not complete"
LOG=$T/d.err
wait_for_line "$T/d.ser" "^dirty (ok|BAD)" 60 || fail "the guest did not finish"
grep -aq "dirty BAD" "$T/d.ser" && fail "working set corrupted: $(grep -a 'dirty BAD' "$T/d.ser")"
wait "$d_pid"; drc=$?
[ "$drc" -eq 0 ] || fail "the destination exited with $drc"
wait "$s_pid"; src=$?
[ "$src" -eq 0 ] || fail "the source exited with $src"
pass "resumed and completed: $(grep -a 'every page is at' "$T/s.err" | sed 's/.*post-copy: //'); $(grep -a '^dirty ok' "$T/d.ser")"
