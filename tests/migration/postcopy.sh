#!/bin/sh
# Post-copy: the dirty guest writing as fast as it can, over a link capped
# at 20 MiB/s, so that pre-copy cannot converge under a 20 ms downtime
# limit (shown first).  Then post-copy: switched by command while pre-copy
# runs, by the --postcopy-after timeout, and before round 1 sent much; each
# time the guest finishes its run on the destination and verifies its whole
# working set ("dirty ok"), and the source reports the post-copy figures.
. "$(dirname "$0")/../common.sh"
. "$(dirname "$0")/migration_helpers.sh"
need_kvm
need_userfaultfd

GUEST="mem_mib=32 rate_mib=0 hb_us=20000 verify_every=2"
CAP="--tls-none --bandwidth 20 --downtime 20"

# pre-copy alone: does not converge, gives up, the guest carries on.
start_dst dn 128M 1 --tls-none
start_src sn 128M 1 "$GUEST"
LOG=$T/sn.err
migrate sn "$PORT" $CAP --max-rounds 4 --on-timeout abort
[ "$rc" -ne 0 ] && grep -q "did not converge" "$T/ctl.err" ||
	fail "pre-copy converged after all (rc $rc): $(cat "$T/ctl.out" "$T/ctl.err")"
hb_continues "$T/sn.ser" "$T/sn.ser"
kill "$sn_pid"
wait "$dn_pid"
pass "pre-copy alone: $(tail -n 1 "$T/ctl.err")"

# The destination guest ends its run there, verified; both vmms exit 0.
finished() { # NAME
	LOG=$T/d$1.err
	wait_for_line "$T/d$1.ser" "^dirty (ok|BAD)" 60 || fail "$1: the guest did not finish"
	grep -aq "dirty BAD" "$T/d$1.ser" "$T/s$1.ser" &&
		fail "$1: working set corrupted: $(grep -a 'dirty BAD' "$T/d$1.ser")"
	eval "wait \$d${1}_pid"; drc=$?
	[ "$drc" -eq 0 ] || fail "$1: the destination exited with $drc"
	eval "wait \$s${1}_pid"; src=$?
	[ "$src" -eq 0 ] || fail "$1: the source exited with $src"
	grep -q "post-copy: every page is here" "$T/d$1.err" ||
		fail "$1: the destination did not report full residence"
}

# Long enough for the switch and the push under load (make -j2 check): a guest
# that ends before every page is there leaves the source waiting (docs).
# Scaled: in the nested VM a guest that had finished before pre-copy's
# round 2 had no migration left to switch ("migrate-postcopy was refused").
RUN="$GUEST duration_ms=$((15000 * TIME_SCALE))"

# Switched by command once pre-copy has sent a round or two.
start_dst dc 128M 1 --tls-none
start_src sc 128M 1 "$RUN"
LOG=$T/sc.err
"$VMM" ctl "sc-$$" migrate "tcp:127.0.0.1:$PORT" $CAP --postcopy >/dev/null ||
	fail "migrate --postcopy was refused"
wait_status sc "^round: [2-9]" 30 || fail "pre-copy did not reach round 2"
"$VMM" ctl "sc-$$" migrate-postcopy || fail "migrate-postcopy was refused"
wait_for_line "$T/sc.err" "migration to .* completed" 60 || fail "post-copy did not complete"
grep -q "switching to post-copy after" "$T/sc.err" || fail "no switch in the source's log"
finished c
pass "switched by command: $(grep -a 'every page is at' "$T/sc.err" | sed 's/.*post-copy: //')"

# Switched by the timeout, over TLS with 2 data connections (so the request
# connection is a TLS session of its own); the client prints the figures.
TLS_D=--tls-none TLS_S=--tls-none
if command -v openssl >/dev/null && sh "$top_srcdir/conf/make-certs.sh" "$T/pki" src dst \
	>/dev/null 2>&1; then
	TLS_D="--tls-ca $T/pki/ca.pem --tls-cert $T/pki/dst.pem --tls-key $T/pki/dst.key --tls-peer src"
	TLS_S="--tls-ca $T/pki/ca.pem --tls-cert $T/pki/src.pem --tls-key $T/pki/src.key --tls-peer dst"
fi
start_dst dt 128M 1 $TLS_D
start_src st 128M 1 "$RUN"
LOG=$T/st.err
migrate st "$PORT" $TLS_S --bandwidth 20 --downtime 20 --parallel 2 --postcopy-after 1
[ "$rc" -eq 0 ] || fail "timeout switch: migrate failed: $(cat "$T/ctl.err")"
grep -q "pre-copy ran 1 s: switching to post-copy" "$T/st.err" || fail "no timeout switch"
grep -q "^post-copy: .* pulled" "$T/ctl.out" || fail "no post-copy figures: $(cat "$T/ctl.out")"
finished t
pass "switched by --postcopy-after 1 ($(grep -o 'TLS)\|plaintext)' "$T/dt.err" | tr -d ')')): $(tail -n 1 "$T/ctl.out")"

# Asked at once: round 1 (32 MiB at 10 MiB/s) is cut short, everything is
# pulled or pushed (the push at 10 MiB/s too: the guest runs longer).
start_dst de 128M 1 --tls-none
start_src se 128M 1 "$GUEST duration_ms=$((20000 * TIME_SCALE))"
LOG=$T/se.err
"$VMM" ctl "se-$$" migrate "tcp:127.0.0.1:$PORT" --tls-none --bandwidth 10 --postcopy \
	>/dev/null || fail "migrate --postcopy was refused"
"$VMM" ctl "se-$$" migrate-postcopy || fail "migrate-postcopy was refused"
wait_for_line "$T/se.err" "migration to .* completed" 60 || fail "post-copy did not complete"
grep -q "round 1 was not complete" "$T/se.err" || fail "round 1 was not cut short"
finished e
pass "switched before round 1 ended: $(grep -a 'every page is at' "$T/se.err" | sed 's/.*post-copy: //')"

# A migration without --postcopy refuses the switch.
start_dst dr 128M 1 --tls-none
start_src sr 128M 1 "$GUEST"
LOG=$T/sr.err
"$VMM" ctl "sr-$$" migrate "tcp:127.0.0.1:$PORT" $CAP >/dev/null || fail "migrate was refused"
"$VMM" ctl "sr-$$" migrate-postcopy 2>"$T/pc.err" && fail "the switch was not refused"
grep -q "not started with --postcopy" "$T/pc.err" || fail "wrong refusal: $(cat "$T/pc.err")"
"$VMM" ctl "sr-$$" migrate-cancel >/dev/null
pass "no switch without --postcopy: $(cat "$T/pc.err")"
