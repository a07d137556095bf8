#!/bin/sh
# TLS holds each side to the node it must be (--tls-peer) and honours the
# CA's revocation list (--tls-crl).  Four nodes' certificates from one CA
# (conf/make-certs.sh): a certificate of the right CA but of another node is
# refused in both directions, on a migration and on a standby's channel; a
# revoked certificate is refused in both directions; a CRL of another CA or
# past its next update is refused at start; the right ones work.
# A refused receiver may end or wait on: this test only reads its account.
. "$(dirname "$0")/../common.sh"
. "$(dirname "$0")/migration_helpers.sh"
need_kvm
command -v openssl >/dev/null || skip "no openssl CLI to make test certificates"

P=$T/pki
sh "$top_srcdir/conf/make-certs.sh" "$P" a b c d >"$T/certs.out" 2>&1 ||
	fail "make-certs.sh: $(cat "$T/certs.out")"
# as NODE PEER: the TLS options of node NODE expecting node PEER.
as() { echo "--tls-ca $P/ca.pem --tls-cert $P/$1.pem --tls-key $P/$1.key --tls-peer $2"; }
cmd="mem_mib=16 rate_mib=20 hb_us=20000 verify_every=2"

# refused_by ID REGEX WHAT: ID's log names the refusal; ID is then stopped.
refused_by() {
	wait_for_line "$T/$1.err" "$2" 20 || fail "$3: $1 did not refuse: $(cat "$T/$1.err")"
	kill -9 "$(eval echo "\$${1}_pid")" 2>/dev/null
	wait "$(eval echo "\$${1}_pid")" 2>/dev/null
	return 0
}

# TLS without --tls-peer is refused before anything listens.
run_vmm 20 run --incoming tcp:127.0.0.1:0 --memory 64M --tls-ca "$P/ca.pem" \
	--tls-cert "$P/b.pem" --tls-key "$P/b.key"
[ "$rc" -eq 2 ] && grep -q -- "--tls-peer" "$T/err" || fail "TLS without a peer name: rc $rc, $(cat "$T/err")"
pass "TLS without --tls-peer refused: $(head -n 1 "$T/err")"

start_src s1 64M 1 "$cmd"
LOG=$T/s1.err

# A receiver expecting node a; the client presents node b's certificate
# (signed by the same CA) and itself expects the receiver's name, c.
start_dst d1 64M 1 $(as c a)
migrate s1 "$PORT" $(as b c)
[ "$rc" -ne 0 ] || fail "node b's certificate was accepted as node a's"
refused_by d1 "the peer is not node a: .*CN=b, DNS:b" "receiver expecting a"
grep -q "refused by the peer: .*--tls-peer" "$T/ctl.err" || fail "the client was not told: $(cat "$T/ctl.err")"
pass "receiver expecting a refuses b: $(grep -o 'the peer is not node.*' "$T/d1.err" | head -n 1)"

# A sender expecting node b reaches a receiver presenting node c's
# certificate (and expecting the sender, a).
start_dst d2 64M 1 $(as c a)
migrate s1 "$PORT" $(as a b)
[ "$rc" -ne 0 ] || fail "a sender expecting b accepted c"
grep -q "the peer is not node b: .*CN=c, DNS:c" "$T/ctl.err" || fail "sender: $(cat "$T/ctl.err")"
kill -9 "$d2_pid" 2>/dev/null; wait "$d2_pid" 2>/dev/null
hb_continues "$T/s1.ser" "$T/s1.ser"
pass "sender expecting b refuses c: $(grep -o 'the peer is not node.*' "$T/ctl.err")"

# Node c's certificate is revoked.  A receiver with the CRL refuses c as a
# client; a sender with the CRL refuses c as a receiver.
sh "$top_srcdir/conf/make-certs.sh" --revoke "$P" c >"$T/certs.out" 2>&1 ||
	fail "make-certs.sh --revoke: $(cat "$T/certs.out")"
crl="--tls-crl $P/crl.pem"
start_dst d3 64M 1 $(as b c) $crl
migrate s1 "$PORT" $(as c b)
[ "$rc" -ne 0 ] || fail "a revoked client certificate was accepted"
refused_by d3 "CN=c, DNS:c\) is revoked" "receiver with the CRL"
grep -q "refused by the peer: .*revokes our certificate" "$T/ctl.err" ||
	fail "the revoked client was not told: $(cat "$T/ctl.err")"
pass "revoked client refused: $(grep -o 'the peer.s certificate.*revoked[^;]*' "$T/d3.err" | head -n 1)"

start_dst d4 64M 1 $(as c a)
migrate s1 "$PORT" $(as a c) $crl
[ "$rc" -ne 0 ] || fail "a revoked receiver certificate was accepted"
grep -q "CN=c, DNS:c) is revoked" "$T/ctl.err" || fail "sender with the CRL: $(cat "$T/ctl.err")"
kill -9 "$d4_pid" 2>/dev/null; wait "$d4_pid" 2>/dev/null
hb_continues "$T/s1.ser" "$T/s1.ser"
pass "revoked receiver refused: $(grep -o 'the peer.s certificate.*revoked' "$T/ctl.err")"

# A CRL that is not of our CA: the vmm says so before it listens.
sh "$top_srcdir/conf/make-certs.sh" "$T/other" x >/dev/null 2>&1 || fail "make-certs.sh (other CA)"
run_vmm 20 run --incoming tcp:127.0.0.1:0 --memory 64M $(as b a) --tls-crl "$T/other/crl.pem"
[ "$rc" -ne 0 ] && grep -q "own certificate does not verify with the CRL" "$T/err" ||
	fail "a CRL of another CA: rc $rc, $(cat "$T/err")"
pass "CRL of another CA refused: $(grep -o 'TLS: our own.*' "$T/err" | head -n 1)"

# Our CA's CRL past its next update would refuse every peer: said at start.
printf '[ca]\ndefault_ca = x\n[x]\ndatabase = %s\ncrlnumber = %s\ncertificate = %s\n' \
	"$P/ca-index.txt" "$P/ca-crlnumber" "$P/ca.pem" >"$T/ca.cnf"
printf 'private_key = %s\ndefault_md = sha256\n' "$P/ca.key" >>"$T/ca.cnf"
openssl ca -config "$T/ca.cnf" -batch -gencrl -crl_lastupdate 20200101000000Z \
	-crl_nextupdate 20200201000000Z -out "$T/expired.pem" >"$T/ca.out" 2>&1 ||
	fail "openssl ca -gencrl: $(cat "$T/ca.out")"
run_vmm 20 run --incoming tcp:127.0.0.1:0 --memory 64M $(as b a) --tls-crl "$T/expired.pem"
[ "$rc" -ne 0 ] && grep -q "own certificate does not verify with the CRL .*: CRL has expired" "$T/err" ||
	fail "an expired CRL: rc $rc, $(cat "$T/err")"
pass "expired CRL refused: $(grep -o 'TLS: our own.*' "$T/err" | head -n 1)"

# The right nodes, both with the CRL: the migration works.
start_dst d5 64M 1 $(as b a) $crl
migrate s1 "$PORT" $(as a b) $crl --timeout "$(secs 15)" --on-timeout force
[ "$rc" -eq 0 ] || fail "a to b with the right certificates: $(cat "$T/ctl.err")"
wait "$s1_pid"
LOG=$T/d5.err
hb_continues "$T/d5.ser" "$T/s1.ser"
grep -q "(TLS)" "$T/d5.err" || fail "the destination did not use TLS"
pass "a to b with the right certificates and the CRL: migrated"

# The checkpointing channel: a standby expecting a refuses a primary that
# presents node d's certificate; the primary with a's certificate protects.
start_src p1 64M 1 "$cmd"
LOG=$T/p1.err
bg_vmm sb run --standby "tcp:127.0.0.1:0" --memory 64M --cpus 1 --serial "file:$T/sb.ser" \
	--control "sb-$$" $(as b a) $crl
listening sb "the standby did not listen"
"$VMM" ctl "p1-$$" protect "tcp:127.0.0.1:$PORT" $(as d b) >"$T/ctl.out" 2>&1 ||
	fail "protect: $(cat "$T/ctl.out")"
wait_for_line "$T/p1.err" "initial sync failed: .*TLS" 20 || fail "primary d: $(cat "$T/p1.err")"
refused_by sb "the peer is not node a: .*CN=d, DNS:d" "standby expecting a"
pass "standby expecting a refuses d: $(grep -o 'the peer is not node.*' "$T/sb.err" | head -n 1)"

bg_vmm sb2 run --standby "tcp:127.0.0.1:0" --memory 64M --cpus 1 --serial "file:$T/sb2.ser" \
	--control "sb2-$$" $(as b a) $crl
listening sb2 "the standby did not listen"
"$VMM" ctl "p1-$$" protect "tcp:127.0.0.1:$PORT" $(as a b) $crl >"$T/ctl.out" 2>&1 ||
	fail "protect: $(cat "$T/ctl.out")"
wait_for_line "$T/p1.err" "initial sync to .* done" 30 || fail "a to standby b not protected"
pass "a protects to standby b with the right certificates and the CRL"
"$VMM" ctl "p1-$$" quit >/dev/null 2>&1
