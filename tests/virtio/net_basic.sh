#!/bin/sh
# virtio-net on a tap in a bridge: the net guest answers ARP and the UDP
# counter (new seq counted once, a retried seq answered again without
# counting, a wrong seq refused); the device counters move; bad --net
# options, a busy tap, a missing bridge and a missing /dev/net/tun are
# refused with clear errors; snapshots whose device set or MAC differs are
# refused; malformed tx chains and rx buffers are refused
# (DEVICE_NEEDS_RESET) and the vmm survives them.  Topology: tests/virtio/net_topology.sh.
. "$(dirname "$0")/../common.sh"
. "$top_srcdir/tests/virtio/net_topology.sh"
need_kvm
need_net

bg_nvmm g run --kernel "$GUESTS/net.elf" --memory 64M --net tap=ntap0,bridge=nbr0 \
	--serial "file:$T/g.ser" --control "g-$$" --cmdline "ip=$GUEST_IP port=$GPORT hb_ms=500"
LOG=$T/g.err
wait_for_line "$T/g.ser" "^net ready $GUEST_IP:$GPORT mac $GMAC" 20 ||
	fail "the guest is not ready: $(cat "$T/g.ser")"
hip link show ntap0 | grep -q "master nbr0" || fail "the vmm did not put the tap in the bridge"
# The first request waits for ARP and the bridge port: a long timeout.
udp --count 1 --timeout 1000 --duration 10 >"$T/warm" || fail "no first answer: $(cat "$T/warm")"
inc ip neigh show "$GUEST_IP" | grep -q "lladdr $GMAC" ||
	fail "ARP did not resolve the guest: $(inc ip neigh show)"
pass "the guest answers ARP for $GUEST_IP with $GMAC"

# 150 answers within 3 s (scaled: the client and the guest both run
# emulated in a nested VM).
udp --duration "$(secs 3)" --rate 100 >"$T/c1" || fail "client: $(cat "$T/c1")"
grep -q "mismatches=0" "$T/c1" || fail "client: $(cat "$T/c1")"
acked=$(sed -n 's/.*acked=\([0-9]*\).*/\1/p' "$T/c1")
[ "$acked" -ge 150 ] || fail "only $acked requests answered in $(secs 3) s at 100 Hz: $(cat "$T/c1")"
pass "UDP counter at 100 Hz: $(tail -n 1 "$T/c1")"

# Retries and wrong sequence numbers, one datagram at a time.
inc python3 - "$GUEST_IP" "$GPORT" >"$T/seq" 2>&1 <<'PY' || fail "sequence checks: $(cat "$T/seq")"
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.connect((sys.argv[1], int(sys.argv[2])))
def ask(seq, magic=0x544E4355, cid=4242):
    s.send(struct.pack("<IIQ", magic, cid, seq))
    return struct.unpack("<IIQQ", s.recv(64))
m, st1, q, v1 = ask(1)
m, st2, q, v2 = ask(1)           # a retry: the same value, not counted again
m, st3, q, v3 = ask(2)
m, st4, q, last = ask(5)         # a gap: refused, tells the last seq
m, st5, q, v5 = ask(7, magic=0x4F484345)  # echo
assert (st1, st2, st3, st4, st5) == (0, 0, 0, 1, 0), (st1, st2, st3, st4, st5)
assert v2 == v1 and v3 == v1 + 1 and last == 2 and v5 == 0, (v1, v2, v3, last, v5)
s.send(b"short")                 # not a request: dropped, no answer
try:
    s.recv(64)
    sys.exit("a malformed request was answered")
except socket.timeout:
    pass
print("seq ok")
PY
pass "a retried seq is answered with the same value, a gap is refused, junk is dropped"

for f in rx_frames tx_frames rx_bytes tx_bytes; do
	v=$(net_field g "$f")
	[ "${v:-0}" -gt 0 ] || fail "net-status $f is ${v:-missing}: $(nctl "g-$$" net-status)"
done
before=$(net_field g tx_frames)
udp --count 20 --rate 0 >/dev/null || fail "second client"
after=$(net_field g tx_frames)
[ "$after" -ge $((before + 20)) ] || fail "tx_frames moved from $before to $after only"
nctl "g-$$" net-status | grep -q "^rx (tap->guest): " || fail "net-status text"
wait_for_line "$T/g.ser" '^hb [0-9]+ value=[0-9]+ ' 10 || fail "no heartbeat on the serial port"
pass "net-status counters move (tx_frames $before -> $after); heartbeats on serial"

# Refused configurations, each with its reason.
run_vmm 10 run --kernel "$GUESTS/net.elf" --net "tap=x,mac=52:54:00:12:34"
[ "$rc" -eq 2 ] && grep -q "bad --net: bad mac" "$T/err" || fail "a short mac: rc $rc"
run_vmm 10 run --kernel "$GUESTS/net.elf" --net "tap=x,mac=01:00:00:00:00:01"
[ "$rc" -eq 2 ] && grep -q "multicast" "$T/err" || fail "a multicast mac: rc $rc"
run_vmm 10 run --kernel "$GUESTS/net.elf" --net "mac=52:54:00:00:00:01"
[ "$rc" -eq 2 ] && grep -q "tap=NAME is required" "$T/err" || fail "no tap=: rc $rc"
run_vmm 10 run --kernel "$GUESTS/net.elf" --net "tap=x,speed=10"
[ "$rc" -eq 2 ] && grep -q "want tap=NAME" "$T/err" || fail "an unknown key: rc $rc"
inh timeout -k 2 "$(secs 10)" "$VMM" run --kernel "$GUESTS/net.elf" --net tap=ntap0 >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" -eq 1 ] && grep -q "the tap is busy" "$T/err" || fail "a busy tap: rc $rc, $(cat "$T/err")"
inh timeout -k 2 "$(secs 10)" "$VMM" run --kernel "$GUESTS/net.elf" --net tap=ntap1,bridge=nosuch \
	>"$T/out" 2>"$T/err"
rc=$?
[ "$rc" -eq 1 ] && grep -q "the bridge does not exist" "$T/err" ||
	fail "a missing bridge: rc $rc, $(cat "$T/err")"
# No tun driver: /dev/net hidden under an empty tmpfs in a private mount namespace.
if command -v unshare >/dev/null; then
	unshare -m sh -c 'mount -t tmpfs none /dev/net && exec timeout -k 2 "$2" "$0" run \
		--kernel "$1" --net tap=ntapx' "$VMM" "$GUESTS/net.elf" "$(secs 10)" >"$T/out" 2>"$T/err"
	rc=$?
	[ "$rc" -eq 1 ] && grep -q "/dev/net/tun does not exist" "$T/err" ||
		fail "no /dev/net/tun: rc $rc, $(cat "$T/err")"
fi
pass "bad --net options, a busy tap, a missing bridge and a missing /dev/net/tun are refused with their reason"

# Snapshots: a VM without a network device does not load into one with it,
# nor the other way round, nor into one with another MAC.
bg_nvmm nn run --kernel "$GUESTS/counter.elf" --memory 32M --serial none --control "nn-$$"
wait_ctl() { _e=$(deadline 20); until nctl "$1-$$" status >/dev/null 2>&1; do
	[ "$(date +%s)" -le "$_e" ] || fail "$1: no control service"; sleep 0.02; done; }
wait_ctl nn
nctl "nn-$$" save "$T/nonet.snap" --quit >"$T/ctl" 2>&1 || fail "save: $(cat "$T/ctl")"
nctl "g-$$" save "$T/net.snap" >"$T/ctl" 2>&1 || fail "save with net: $(cat "$T/ctl")"
inh timeout -k 2 "$(secs 10)" "$VMM" run --restore "$T/nonet.snap" --memory 32M --net tap=ntap1 \
	>"$T/out" 2>"$T/err"
rc=$?
[ "$rc" -eq 1 ] && grep -q "saved from a VM without a network device" "$T/err" ||
	fail "restore without the record into --net: rc $rc, $(cat "$T/err")"
run_vmm 10 run --restore "$T/net.snap" --memory 64M
[ "$rc" -eq 1 ] && grep -q "with a network device: give --net" "$T/err" ||
	fail "restore with the record without --net: rc $rc, $(cat "$T/err")"
inh timeout -k 2 "$(secs 10)" "$VMM" run --restore "$T/net.snap" --memory 64M \
	--net tap=ntap1,mac=52:54:00:00:00:01 >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" -eq 1 ] && grep -q "another MAC" "$T/err" || fail "restore with another MAC: rc $rc"
pass "a snapshot without / with virtio_net, or with another MAC, is refused before loading"

run_vmm 20 run --kernel "$GUESTS/net.elf" --memory 64M --serial "file:$T/none.ser"
[ "$rc" -eq 1 ] && grep -q "net BAD no virtio-net device (magic 0xffffffff)" "$T/none.ser" ||
	fail "without --net: rc $rc, $(cat "$T/none.ser")"
pass "no device at slot 1 without --net"

# Malformed chains: the rx cases need frames from outside: ARP requests
# from the client (ping of an address nobody answers in bad mode) do.
bg_nvmm b run --kernel "$GUESTS/net.elf" --memory 64M --net tap=ntap1,bridge=nbr0 \
	--serial "file:$T/b.ser" --cmdline "mode=bad ip=10.77.0.11 wait_ms=$(secs 10)000"
inc ping -q -i 0.2 -w "$(secs 60)" 10.77.0.11 >/dev/null 2>&1 &
PIDS="$PIDS $!"
wait "$b_pid"; rc=$?
LOG=$T/b.err
[ "$rc" -eq 0 ] && grep -qx "net ok bad 9" "$T/b.ser" || fail "bad chains: rc $rc, $(cat "$T/b.ser")"
n=$(grep -c "needs a reset" "$T/b.err")
[ "$n" -eq 8 ] || fail "want 8 needs-reset warnings, got $n"
pass "8 malformed tx chains and rx buffers refused (NEEDS_RESET), a small rx buffer dropped, the device recovered"
nctl "g-$$" status >/dev/null || fail "the first vmm is gone"
