#!/bin/sh
# virtio-net across live migration.  Idle: the guest on ntap0 migrates to a
# vmm on ntap1 while its client sends nothing; the guest itself never
# sends unasked, so the bridge learning its MAC on ntap1 is the
# destination's RARP announce (asserted with bridge fdb).  Under traffic:
# it migrates back to ntap0 while the client sends 100 requests a second
# with 100 ms retries: every answer keeps value - seq constant (no
# acknowledged update lost, none applied twice) and the client carries on
# behind the new port.  A destination without --net, or with another MAC,
# refuses the state and the source carries on.
. "$(dirname "$0")/../common.sh"
. "$top_srcdir/tests/migration/migration_helpers.sh"
. "$top_srcdir/tests/virtio/net_topology.sh"
need_kvm
need_net

GCMD="ip=$GUEST_IP port=$GPORT hb_ms=500"

# dst ID TAP [,mac=...]: an incoming vmm on TAP in the bridge, on a fresh $PORT.
dst() {
	_id=$1 _tap=$2 _opt=${3:-}
	bg_nvmm "$_id" run --incoming "tcp:127.0.0.1:0" --tls-none --memory 64M \
		--net "tap=$_tap,bridge=nbr0$_opt" --serial "file:$T/$_id.ser" --control "$_id-$$"
	listening "$_id" "the destination did not listen"
}

nmigrate() {
	nctl "$1-$$" migrate "tcp:127.0.0.1:$2" --wait --tls-none >"$T/ctl.out" 2>"$T/ctl.err"
	rc=$?
}

bg_nvmm s run --kernel "$GUESTS/net.elf" --memory 64M --net tap=ntap0,bridge=nbr0 \
	--serial "file:$T/s.ser" --control "s-$$" --cmdline "$GCMD"
LOG=$T/s.err
wait_for_line "$T/s.ser" "^net ready" 20 || fail "the guest is not ready: $(cat "$T/s.ser")"
udp --count 10 --timeout 1000 --duration 10 >"$T/warm" || fail "no answer: $(cat "$T/warm")"
[ "$(fdb_port)" = ntap0 ] || fail "the bridge did not learn the guest on ntap0: $(fdb_port)"

# A destination with another MAC refuses the state; the source goes on.
dst bad ntap1 ",mac=52:54:00:00:00:99"
nmigrate s "$PORT"
[ "$rc" -ne 0 ] && grep -q "another MAC" "$T/bad.err" ||
	fail "a destination with another MAC took the guest: rc $rc, $(cat "$T/bad.err")"
wait "$bad_pid" 2>/dev/null
udp --count 5 --timeout 1000 --duration 10 >"$T/after" || fail "the source stopped: $(cat "$T/after")"
pass "a destination with another MAC refused the state; the source answers on"

# Idle migration ntap0 -> ntap1: only the announce can move the fdb entry.
dst d1 ntap1
nmigrate s "$PORT"
[ "$rc" -eq 0 ] || fail "migrate 1: $(cat "$T/ctl.err")"
wait "$s_pid" || fail "the source did not quit after the migration"
LOG=$T/d1.err
wait_for_line "$T/d1.err" "virtio-net: announcing $GMAC" 10 || fail "no announce logged"
end=$(deadline 5)
until [ "$(fdb_port)" = ntap1 ]; do
	[ "$(date +%s)" -le "$end" ] || fail "the bridge has the guest on '$(fdb_port)', not ntap1"
	sleep 0.05
done
[ "$(net_field d1 tx_frames)" -eq 5 ] ||
	fail "the idle destination sent $(net_field d1 tx_frames) frames, not the 5 RARPs"
[ "$(net_field d1 announces)" -eq 5 ] || fail "announces: $(net_field d1 announces)"
pass "idle migration to ntap1: 5 RARP frames, the bridge fdb has $GMAC on ntap1"

# Under traffic, back to ntap0 (free since the first source quit).
dst d2 ntap0
bg_udp "$T/c.log" --rate 100 --duration 8 --timeout 100
wait_for_line "$T/d1.ser" '^hb [0-9]+ ' 20 || fail "no heartbeat on the destination"
sleep 2  # traffic before the migration: the client runs on its own clock
nmigrate d1 "$PORT"
[ "$rc" -eq 0 ] || fail "migrate 2: $(cat "$T/ctl.err")"
wait "$ucl"; crc=$?
LOG=$T/c.log
[ "$crc" -eq 0 ] && grep -q "mismatches=0" "$T/c.log" || fail "client: rc $crc"
acked=$(sed -n 's/.*acked=\([0-9]*\).*/\1/p' "$T/c.log")
[ "$acked" -ge 400 ] || fail "only $acked answers in 8 s"
end=$(deadline 5)
until [ "$(fdb_port)" = ntap0 ]; do
	[ "$(date +%s)" -le "$end" ] || fail "the bridge has the guest on '$(fdb_port)', not ntap0"
	sleep 0.05
done
LOG=$T/d2.err
udp --count 20 --timeout 1000 --duration 10 >"$T/final" || fail "after: $(cat "$T/final")"
pass "migration under 100 Hz traffic: $(tail -n 1 "$T/c.log")"

# A destination without a network device refuses the state.
bg_nvmm nn run --incoming "tcp:127.0.0.1:0" --tls-none --memory 64M \
	--serial "file:$T/nn.ser" --control "nn-$$"
listening "nn" "nn did not listen"
nmigrate d2 "$PORT"
[ "$rc" -ne 0 ] && grep -q "with a network device: give --net" "$T/nn.err" ||
	fail "a destination without --net took the guest: rc $rc, $(cat "$T/nn.err")"
udp --count 5 --timeout 1000 --duration 10 >"$T/after2" || fail "the source stopped"
pass "a destination without --net refused the state; the source answers on"
