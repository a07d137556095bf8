#!/bin/sh
# Linux guest benchmark (issue 14): the guest of tests/linux (Debian's
# kernel, the busybox initramfs of tests/linux/linux_kernel.sh, the ext4
# root of tests/guests/linux/mkroot.sh with counterd serving the counter on
# virtio-net), 256 MiB, 1 vCPU, in our vmm and in QEMU under the same KVM,
# in the same run, peers interleaved run by run:
# - start to the service's first answer (the process spawned to counterd's
#   first UDP answer), and the idle CPU of the booted guest over 10 s;
# - the service's round trip, unprotected: ECHO open loop at 100 Hz (10 Hz
#   in the nested VM; BENCH_LINUX_RATE) for 5 s, the counter back to back
#   (retried after 1 s) for 5 s (tests/virtio/udpclient.py);
# - vmm only (QEMU has no Remus-style checkpointing): protected at 25 ms
#   epochs to a standby on this host (plaintext, loopback, disk replicated),
#   checkpoint pause, pages and disk bytes per epoch of the idle guest (10 s)
#   and of the busy one (counter updates back to back, each fsync'd to its
#   disk, 10 s), and the protected round trips.
# About 6 minutes a run in the nested VM, most of it the three boots.
#
#   tests/bench/bench_linux.sh [--record] [--runs N]
#
# QEMU peers: BENCH_LINUX_QEMU (default "microvm q35"; empty: none;
# BENCH_LINUX_QEMU_FIRST=1 starts the first run with them, not the vmm), each
# `qemu-system-x86_64 -accel kvm -machine M -cpu host` with the same kernel,
# initramfs, command line, memory, disk image and tap (virtio-mmio devices
# described by microvm's ACPI DSDT; virtio-pci on q35).  Where the machine's
# /dev/kvm runs no stock Linux kernel (kvm-pvm, docs/testing.md), run it in
# the nested VM, on a built tree:
#
#   NESTED_CPUS=1 NESTED_ACCEL=tcg,thread=multi tests/nested/run.sh tests/bench/bench_linux.sh
#
# Prints a markdown report; --record replaces the "## Linux guest" section of
# docs/performance.md.  Needs root, /dev/net/tun, ip netns, busybox-static,
# e2fsprogs and linux-image-amd64.  A benchmark never fails because a number
# moved.
set -eu

. "$(dirname "$0")/bench_options.sh"
bench_options bench_linux.sh 35 "$@"
bench_need_build
# In the nested VM make's own start-up costs minutes: there the tree must
# be built already.
if [ "${HASVC_NESTED:-0}" = 1 ]; then
	[ -x "$builddir/vmm/vmm" ] && [ -x "$builddir/tests/guests/linux/counterd" ] ||
		{ echo "bench_linux.sh: build the tree first (make, make check TESTS=)" >&2; exit 1; }
else
	make -C "$builddir" -j2 vmm/vmm tests/guests/linux/counterd >/dev/null
fi

RUNS=1
case $args in *--runs*) RUNS=$(echo "$args" | sed 's/.*--runs \([0-9]*\).*/\1/') ;; esac
MACHINES=${BENCH_LINUX_QEMU-microvm q35}
[ -z "$MACHINES" ] || command -v qemu-system-x86_64 >/dev/null ||
	{ echo "bench_linux.sh: qemu-system-x86_64 is missing (apt-get install qemu-system-x86)" >&2; exit 1; }
top_srcdir=$srcdir top_builddir=$builddir VMM=$builddir/vmm/vmm GUESTS=$builddir/tests/guests
export top_srcdir top_builddir VMM GUESTS
set +eu
. "$srcdir/tests/common.sh"
. "$srcdir/tests/migration/migration_helpers.sh"
. "$srcdir/tests/checkpoint/checkpoint_helpers.sh"
. "$srcdir/tests/virtio/net_topology.sh"
. "$srcdir/tests/linux/linux_guest.sh"
need_kvm
need_net
# One initramfs for every peer: q35's disk and NIC are virtio-pci.
LINUX_EXTRA_MODULES="virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci"
need_linux
PY="$srcdir/tests/bench/bench_linux.py"
IDLE_S=10 RTT_S=5 CK_S=10
# The open loop's rate: in the nested VM the emulated guest answers some 20
# fsync'd updates a second back to back, and 100 Hz only measures a queue.
RATE=${BENCH_LINUX_RATE:-100}
[ "${HASVC_NESTED:-0}" = 1 ] && RATE=${BENCH_LINUX_RATE:-10}
started=$(date +%s)
: >"$T/results"

# put PEER RUN KIND JSON: one result line.
put() { printf '%s %s %s %s\n' "$1" "$2" "$3" "$4" >>"$T/results"; }

# rtt PEER RUN KIND ARGS...: the client's summary (its last line, JSON),
# also when it failed (nothing answered: acked 0).
rtt() {
	_p=$1 _r=$2 _k=$3; shift 3
	udp "$@" --json >"$T/rtt" 2>&1
	tail -n 1 "$T/rtt" | grep -q '^{' && put "$_p" "$_r" "$_k" "$(tail -n 1 "$T/rtt")"
}

# cpu_ticks PID: user + system time of the process (all its threads).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# qemu_start ID MACHINE IMG: the same guest in QEMU on a tap of its own in
# the bridge (qtap0, removed by stop); PID in ${ID}_pid.  Not the vmm's
# ntap0: QEMU turns on the offloads of the tap it uses (TUNSETOFFLOAD) and
# a persistent tap keeps them (the vmm now turns them off again: before,
# its guest on ntap0 after QEMU's answered nothing); each peer its own tap.
qemu_start() {
	case $2 in
	microvm) _dev=device ;;
	*) _dev=pci ;;
	esac
	hip tuntap add dev qtap0 mode tap || fail "cannot create tap qtap0"
	hip link set qtap0 master nbr0 up
	ip netns exec "$HNS" qemu-system-x86_64 -accel kvm -machine "$2" -cpu host -smp 1 \
		-m "$LINUX_MEM" -nodefaults -no-user-config -display none -no-reboot \
		-serial "file:$T/$1.ser" -kernel "$LK" -initrd "$LI" -append "$LINUX_CMDLINE" \
		-drive "file=$3,format=raw,if=none,id=d0" -device "virtio-blk-$_dev,drive=d0" \
		-netdev tap,id=n0,ifname=qtap0,script=no,downscript=no \
		-device "virtio-net-$_dev,netdev=n0,mac=$GMAC" >"$T/$1.out" 2>"$T/$1.err" &
	eval "${1}_pid=$!"
	PIDS="$PIDS $!"
}

# boot PEER RUN: a fresh root, the guest started, until counterd's first
# answer; its idle CPU; the unprotected round trips.  False if it never
# answered.
boot() {
	_p=$1 _r=$2 _id=$1$2
	linux_root "$T/$_id.img"
	_t0=$(date +%s%N)
	case $_p in
	vmm) bg_linux "$_id" "$T/$_id.img" ntap0 ;;
	*) qemu_start "$_id" "$_p" "$T/$_id.img" ;;
	esac
	if ! inc python3 "$PY" first "$GUEST_IP" "$GPORT" "$_t0" "$(secs 150)" >"$T/first" 2>&1; then
		echo "run $_r $_p: no answer: $(cat "$T/first")" >&2
		put "$_p" "$_r" note "$(python3 "$PY" note "$_p: no answer in $(secs 150) s: $(tail -n 3 "$T/$_id.ser" "$T/$_id.err" | tr '\n' ' ')")"
		return 1
	fi
	put "$_p" "$_r" first "$(cat "$T/first")"
	eval "_pid=\$${_id}_pid"
	sleep 2 # the boot's last work (acpid, the first answers) out of the window
	_c0=$(cpu_ticks "$_pid") _w0=$(date +%s%N)
	sleep $IDLE_S # the measurement window, not a synchronisation
	_c1=$(cpu_ticks "$_pid") _w1=$(date +%s%N)
	put "$_p" "$_r" idle "{\"ticks\": $((_c1 - _c0)), \"hz\": $(getconf CLK_TCK), \"ns\": $((_w1 - _w0))}"
	rtt "$_p" "$_r" open_u --echo --open-loop --rate "$RATE" --duration $RTT_S --timeout 1000
	rtt "$_p" "$_r" max_u --rate 0 --duration $RTT_S --timeout 1000
	echo "run $_r $_p: first answer $(cat "$T/first"), $(tail -n 1 "$T/results" | cut -c1-90)" >&2
}

# status PEER RUN KIND ID: the primary's protect-status.
status() {
	nctl "$4-$$" protect-status --json >"$T/st" 2>&1 &&
		put "$1" "$2" "$3" "$(python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin)))' <"$T/st")"
}

# protected RUN: the booted vmm guest protected, idle then busy.
protected() {
	_id=vmm$1 _sb=sb$1
	truncate -s "$(stat -c %s "$T/$_id.img")" "$T/$_sb.img"
	bg_linux_standby "$_sb" "$T/$_sb.img" ntap1
	nprotect "$_id" 60
	sleep 2 # past the first epochs after the initial sync
	status vmm "$1" st_a "$_id"
	sleep $CK_S # the idle window, not a synchronisation
	status vmm "$1" st_b "$_id"
	rtt vmm "$1" max_p --rate 0 --duration $CK_S --timeout 1000
	status vmm "$1" st_c "$_id"
	rtt vmm "$1" open_p --echo --open-loop --rate "$RATE" --duration $RTT_S --timeout 1000
	echo "run $1 vmm protected: $(tail -n 1 "$T/results" | cut -c1-90)" >&2
}

# stop: every process of this run, by PID.
stop() {
	for p in $PIDS; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	PIDS=""
	hip link del qtap0 2>/dev/null
	rm -f "$T"/*.img
}

r=1
while [ "$r" -le "$RUNS" ]; do
	# the order turns run by run: no peer always first after a quiet spell
	# (BENCH_LINUX_QEMU_FIRST=1: QEMU first in the first run)
	peers="vmm $MACHINES"
	[ $(((r + ${BENCH_LINUX_QEMU_FIRST:-0}) % 2)) -eq 0 ] && peers="$MACHINES vmm"
	for p in $peers; do
		if boot "$p" "$r" && [ "$p" = vmm ]; then
			protected "$r"
		fi
		stop
	done
	r=$((r + 1))
done
took=$(( $(date +%s) - started ))
# shellcheck disable=SC2086
python3 "$PY" report --results "$T/results" --command "$cmd" --runs "$RUNS" \
	--seconds "$took" --machines "$MACHINES" --kernel "$KVER" --idle-s $IDLE_S \
	--rtt-s $RTT_S --ck-s $CK_S --rate "$RATE" $args
