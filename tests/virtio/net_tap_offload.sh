#!/bin/sh
# virtio-net on a persistent tap that its last user left with offloads on
# (QEMU turns on checksum and TSO offloads of the tap it uses, and a
# persistent tap keeps them): the vmm, whose frames carry no virtio-net
# header, turns them off when it opens the tap, and the guest answers.
# Before, the host handed the guest frames with partial checksums and it
# dropped every one (found by tests/bench/bench_linux.sh: the vmm's Linux
# guest booted after QEMU's on the same tap never answered).
. "$(dirname "$0")/../common.sh"
. "$top_srcdir/tests/virtio/net_topology.sh"
need_kvm
need_net

# What QEMU's tap backend does to the tap: a vnet-header open and
# TUNSETOFFLOAD with checksum and TSO on, then (QEMU gone) the tap stays.
inh python3 - >"$T/off" 2>&1 <<'PY' || fail "cannot set the tap's offloads: $(cat "$T/off")"
import fcntl, os, struct
TUNSETIFF, TUNSETOFFLOAD = 0x400454CA, 0x400454D0
IFF_TAP, IFF_NO_PI, IFF_VNET_HDR = 0x0002, 0x1000, 0x4000
TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, TUN_F_TSO_ECN = 0x01, 0x02, 0x04, 0x08
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", b"ntap0", IFF_TAP | IFF_NO_PI | IFF_VNET_HDR))
fcntl.ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN)
os.close(fd)
PY

bg_nvmm g run --kernel "$GUESTS/net.elf" --memory 64M --net tap=ntap0,bridge=nbr0 \
	--serial "file:$T/g.ser" --control "g-$$" --cmdline "ip=$GUEST_IP port=$GPORT"
LOG=$T/g.err
wait_for_line "$T/g.ser" "^net ready" 20 || fail "the guest is not ready: $(cat "$T/g.ser")"
udp --count 20 --timeout 200 --duration "$(secs 10)" >"$T/c" 2>&1
LOG=$T/c
grep -q "acked=20 .*mismatches=0" "$T/c" || fail "the guest did not answer on the tap QEMU had used"
pass "a tap left with offloads on: 20 counter updates answered: $(tail -n 1 "$T/c")"
