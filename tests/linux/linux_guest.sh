# Helpers for the Linux guest tests (sourced after tests/common.sh,
# tests/migration/migration_helpers.sh, tests/checkpoint/checkpoint_helpers.sh and
# tests/virtio/net_topology.sh).
#
# The guest is a Debian server as a user would protect: Debian's own kernel
# and drivers (linux-image-amd64, installed by setup.sh) with a busybox
# initramfs (lib.sh), booted with "console=ttyS0 root=/dev/vda loglevel=5" only, finding its virtio disk and NIC
# through the vmm's ACPI tables; an ext4 root made at test time by
# tests/guests/linux/mkroot.sh, whose counterd serves the counter on
# UDP $GUEST_IP:$GPORT and fsyncs every update to its log before answering.
LINUX_MEM=${LINUX_MEM:-256M}
# loglevel=5: the console shows the kernel's warnings and errors (what
# linux_complaints looks for) but not its informational boot log, as a
# Debian server's "quiet" does: every console byte is a trapped port write,
# and in a nested VM the boot log alone takes minutes.  boot.sh boots with
# the whole log.
LINUX_CMDLINE="console=ttyS0 root=/dev/vda loglevel=5"

# need_linux: Debian's kernel ($LK) and the test initramfs ($LI, lib.sh:
# busybox and Debian's modules; its init mounts root= and runs the root's
# /sbin/init).  A Linux test that cannot run fails, as every KVM test does.
need_linux() {
	. "$top_srcdir/tests/linux/linux_kernel.sh"
	linux_kernel
	make_initramfs "$T/initrd"
	LK=$KERNEL LI=$T/initrd
	command -v mkfs.ext4 >/dev/null && command -v e2fsck >/dev/null ||
		fail "mkfs.ext4/e2fsck are missing: apt-get install e2fsprogs"
}

# linux_root IMG: a fresh root file system image for the guest.
linux_root() {
	LINUX_GUEST_BUILD="$top_builddir/tests/guests/linux" \
		"$top_srcdir/tests/guests/linux/mkroot.sh" "$1" "$GUEST_IP" "$GPORT" \
		>"$T/mkroot.out" 2>&1 || fail "mkroot.sh: $(cat "$T/mkroot.out")"
}

# bg_linux ID IMG TAP [ARGS...]: boot the guest on IMG and TAP in the host
# namespace; serial to $T/ID.ser, control service ID-$$.
bg_linux() {
	_id=$1 _img=$2 _tap=$3; shift 3
	bg_nvmm "$_id" run --kernel "$LK" --initrd "$LI" --cmdline "$LINUX_CMDLINE" \
		--memory "$LINUX_MEM" --disk "$_img" --net "tap=$_tap,bridge=nbr0" \
		--serial "file:$T/$_id.ser" --control "$_id-$$" "$@"
}

# bg_linux_standby ID IMG TAP: a standby for the guest on its own image.
bg_linux_standby() {
	bg_nvmm "$1" run --standby "tcp:127.0.0.1:0" --tls-none --memory "$LINUX_MEM" \
		--disk "$2" --net "tap=$3,bridge=nbr0" --serial "file:$T/$1.ser" \
		--control "$1-$$"
	listening "$1" "$1: the standby did not listen"
}

# linux_ready ID: until counterd serves (its start line on the console).
linux_ready() {
	LOG=$T/$1.ser
	wait_for_line "$T/$1.ser" "^counterd ready" 90 || fail "$1: the Linux guest did not come up"
}

# linux_up ID IMG TAP: boot the guest, wait for counterd, and until it
# answers a first few updates.
linux_up() {
	bg_linux "$1" "$2" "$3"
	linux_ready "$1"
	udp --count 5 --timeout 1000 --duration "$(secs 20)" >"$T/warm" ||
		fail "$1: no answer: $(cat "$T/warm")"
}

# linux_load ID: the background client ($ucl, log $T/c.log): 100 counter
# updates a second, checked; returns once ID has answered some of them.
linux_load() {
	bg_udp "$T/c.log" --rate 100 --duration 3600 --timeout 100 --check
	answering "$1" 10 "$1: the background client got no answer"
}

# linux_verdict PREFIX LAST IMG: stop the background client and check that
# no answer broke value - seq and counterd read back every acknowledged
# update; shut LAST down with its power button (linux_shutdown); every
# console $T/PREFIX*.ser clean; e2fsck IMG.
linux_verdict() {
	kill -TERM "$ucl"
	wait "$ucl"; _crc=$?
	LOG=$T/c.log
	[ "$_crc" -eq 0 ] && grep -q "mismatches=0 .*check=ok" "$T/c.log" || fail "client: rc $_crc"
	linux_shutdown "$2"
	for _s in "$T/$1"*.ser; do
		_id=${_s##*/}
		linux_clean "${_id%.ser}"
	done
	fsck_clean "$3"
}

# linux_shutdown ID: vmm ctl shutdown presses ID's power button; the
# guest's acpid powers it off cleanly and the vmm exits 0.  ID was restored,
# migrated or activated: its power button works only if the state it was
# loaded from kept the guest's enable bit (the acpi_pm record).
linux_shutdown() {
	LOG=$T/$1.err
	nctl "$1-$$" shutdown --timeout "$(secs 120)" >"$T/shut" 2>&1 ||
		fail "$1: vmm ctl shutdown: $(cat "$T/shut")"
	eval "_pid=\$${1}_pid"
	wait_exit "$_pid" 150 || fail "$1 still runs after its shutdown"
	[ "$rc" -eq 0 ] || fail "$1: exit status $rc after the shutdown"
	grep -q "ACPI S5" "$T/$1.err" || fail "$1: the guest did not power off (no ACPI S5)"
	LOG=$T/$1.ser
	grep -q "guest: power button" "$T/$1.ser" || fail "$1: the guest saw no power button"
}

# linux_clean ID: the guest's console has no kernel warning, oops or
# clocksource or soft-lockup complaint (lib.sh: linux_complaints).
linux_clean() {
	LOG=$T/$1.ser
	! linux_complaints "$T/$1.ser" || fail "$1: the kernel complained"
}

# fsck_clean IMG: e2fsck finds no error in the image.  On a copy: the
# journal of a guest stopped by kill -9 is replayed first (what a mount
# does), then the full check, which repairs nothing and fails on any error.
fsck_clean() {
	cp --sparse=always "$1" "$T/fsck.img"
	e2fsck -y -E journal_only "$T/fsck.img" >"$T/fsck.out" 2>&1
	e2fsck -fn "$T/fsck.img" >>"$T/fsck.out" 2>&1 ||
		{ LOG=$T/fsck.out; fail "e2fsck found errors in $1"; }
	rm -f "$T/fsck.img"
}

# answering ID N WHAT: until ID's NIC has sent N more frames than now (the
# guest answers its client), else fail with WHAT.
answering() {
	_first=$(net_field "$1" tx_frames 2>/dev/null) _end=$(deadline 20)
	while _now=$(net_field "$1" tx_frames 2>/dev/null); [ "${_now:-0}" -lt "$(( ${_first:-0} + $2 ))" ]; do
		[ "$(date +%s)" -le "$_end" ] || fail "$3"
		sleep 0.05
	done
}

# clock_right WHAT: the guest's wall clock (counterd's TIME answer) is
# within a second of the host's: it moved on while the guest was stopped.
clock_right() {
	inc python3 - "$GUEST_IP" "$GPORT" >"$T/clock" 2>&1 <<'PY' || fail "$1: $(cat "$T/clock")"
import socket, struct, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1)
s.connect((sys.argv[1], int(sys.argv[2])))
for _ in range(10):
    s.send(struct.pack("<IIQ", 0x454D4954, 1, 1))
    try:
        magic, status, seq, guest = struct.unpack("<IIQQ", s.recv(64))
    except (socket.timeout, struct.error):
        continue
    off = guest / 1000.0 - time.time()
    print("guest clock %+.3f s from the host's" % off)
    sys.exit(0 if abs(off) < 1.0 else 1)
print("no answer to TIME")
sys.exit(1)
PY
}
