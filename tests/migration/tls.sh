#!/bin/sh
# TLS 1.3 with mutual certificates: good certificates work; a peer signed by
# another CA, and a peer without a certificate, are refused, and the source
# guest carries on.
. "$(dirname "$0")/../common.sh"
. "$(dirname "$0")/migration_helpers.sh"
need_kvm
command -v openssl >/dev/null || skip "no openssl CLI to make test certificates"

sh "$top_srcdir/conf/make-certs.sh" "$T/pki" src dst || fail "make-certs.sh"
sh "$top_srcdir/conf/make-certs.sh" "$T/other" rogue || fail "make-certs.sh (other CA)"
P=$T/pki
good_dst="--tls-ca $P/ca.pem --tls-cert $P/dst.pem --tls-key $P/dst.key --tls-peer src"
good_src="--tls-ca $P/ca.pem --tls-cert $P/src.pem --tls-key $P/src.key --tls-peer dst"
cmd="mem_mib=32 rate_mib=50 hb_us=20000 verify_every=2"

# Good certificates.
start_dst d1 128M 1 $good_dst
start_src s1 128M 1 "$cmd"
LOG=$T/s1.err
# What is tested is TLS, not convergence: where TLS is slow (an emulated CPU
# sends about 2 MiB/s) the switch is forced after a while rather than the
# migration failing for want of bandwidth; on hardware it converges first.
migrate s1 "$PORT" $good_src --parallel 2 --timeout "$(secs 15)" --on-timeout force
[ "$rc" -eq 0 ] || fail "TLS migration failed: $(cat "$T/ctl.err")"
wait "$s1_pid"
LOG=$T/d1.err
hb_continues "$T/d1.ser" "$T/s1.ser"
grep -q "(TLS)" "$T/d1.err" || fail "the destination did not use TLS"
"$VMM" ctl "d1-$$" quit >/dev/null
pass "TLS with good certificates, 2 data connections"

# The source presents a certificate of another CA: the destination refuses.
start_dst d2 128M 1 $good_dst
start_src s2 128M 1 "$cmd"
LOG=$T/s2.err
migrate s2 "$PORT" --tls-ca "$P/ca.pem" --tls-cert "$T/other/rogue.pem" --tls-key "$T/other/rogue.key" \
	--tls-peer dst
[ "$rc" -ne 0 ] || fail "a certificate of another CA was accepted"
grep -qi "TLS" "$T/ctl.err" || fail "no TLS reason: $(cat "$T/ctl.err")"
# The destination drops that connection and waits on (tests/migration/stray.sh).
wait_for_line "$T/d2.err" "connection dropped.*certificate" 20 || fail "destination: $(cat "$T/d2.err")"
alive "$d2_pid" || fail "the destination exited: $(cat "$T/d2.err")"
kill -9 "$d2_pid"; wait "$d2_pid" 2>/dev/null
hb_continues "$T/s2.ser" "$T/s2.ser"
pass "wrong CA refused: $(cat "$T/ctl.err") / $(grep "connection dropped" "$T/d2.err" | head -n 1)"

# The destination trusts another CA: the source refuses it, and carries on.
start_dst d3 128M 1 --tls-ca "$T/other/ca.pem" --tls-cert "$T/other/rogue.pem" --tls-key "$T/other/rogue.key" \
	--tls-peer src
migrate s2 "$PORT" $good_src
[ "$rc" -ne 0 ] && grep -qi "certificate" "$T/ctl.err" || fail "a rogue destination was accepted: $(cat "$T/ctl.err")"
hb_continues "$T/s2.ser" "$T/s2.ser"
kill "$d3_pid"
pass "destination of another CA refused: $(cat "$T/ctl.err")"

# A client without a certificate (plaintext into a TLS port, then openssl
# s_client with no certificate) is refused.
start_dst d4 128M 1 $good_dst
timeout "$(secs 10)" openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$P/ca.pem" -tls1_3 \
	</dev/null >"$T/sc.out" 2>&1
wait_for_line "$T/d4.err" "connection dropped.*(no certificate|did not return a certificate)" 20 ||
	fail "a client without a certificate was not refused: $(cat "$T/d4.err")"
alive "$d4_pid" || fail "the destination exited: $(cat "$T/d4.err")"
[ ! -s "$T/d4.ser" ] || fail "the destination ran a guest"
kill -9 "$d4_pid"; wait "$d4_pid" 2>/dev/null
pass "no client certificate refused: $(grep "connection dropped" "$T/d4.err" | head -n 1)"
"$VMM" ctl "s2-$$" quit >/dev/null
