#!/bin/bash
# Run a command inside a nested VM that has a real KVM, on a machine whose
# own kernel offers none:
#	tests/nested/run.sh [COMMAND [ARG...]]
# With no command, an interactive shell.  The command runs in the current
# directory (which must be inside the project tree) with this environment
# and HASVC_TIME_SCALE set (default 4: tests scale their time limits by it);
# its output comes on stdout and its exit status is ours.
#
# The VM is QEMU's TCG emulator with -cpu max, which offers AMD SVM with
# nested paging, booting Debian's own kernel (linux-image-amd64); its
# kvm_amd gives /dev/kvm.  The host's / is the guest's root (read-only
# under a tmpfs overlay) and the project tree is shared writable at its
# own path, so a build made on the host runs as it is.  Nothing is
# downloaded: qemu-system-x86, linux-image-amd64 and busybox-static are
# Debian packages (setup.sh installs them).
#
# One TCG thread for both vCPUs (thread=single): with QEMU 7.2's
# multi-threaded TCG the VM's kernel locked up (soft lockups on both CPUs,
# an IPI lost) within minutes of running KVM guests, and restored test
# guests triple-faulted now and then; with one thread neither happened
# (docs/testing.md has the figures).
#
# Settings: NESTED_ACCEL (tcg,thread=single), NESTED_CPU (max), NESTED_MEM (guest memory, 6G), NESTED_CPUS (2),
# NESTED_TIMEOUT (seconds before the VM is killed, 5400; 15 s before, the
# registers of its CPUs and the kernel function each is in are printed), NESTED_SHELL (a
# path: a second shell in the VM, on its second serial port, served on that
# Unix socket, to look around while the command runs), NESTED_APPEND (more
# arguments for the VM's kernel, e.g. loglevel=7).
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
mem=${NESTED_MEM:-6G}
cpus=${NESTED_CPUS:-2}
limit=${NESTED_TIMEOUT:-5400}
stall=${NESTED_STALL:-240}

die() { echo "nested: $*" >&2; exit 1; }

case $top in *[[:space:]]*) die "the project path '$top' holds white space" ;; esac
case $PWD/ in "$top"/*) ;; *) die "run from inside the project tree $top, not $PWD" ;; esac
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 is missing (apt-get install qemu-system-x86)"
[ -x /bin/busybox ] || die "/bin/busybox is missing (apt-get install busybox-static)"

# The kernel that linux-image-amd64 stands for, else the newest installed.
kver=$(dpkg-query -W -f='${Depends}' linux-image-amd64 2>/dev/null |
	sed -n 's/.*linux-image-\([0-9][^ ,]*\).*/\1/p')
[ -n "$kver" ] || kver=$(ls /lib/modules 2>/dev/null | grep -v cloud | sort -V | tail -n 1)
kernel=/boot/vmlinuz-$kver
[ -n "$kver" ] && [ -r "$kernel" ] && [ -d "/lib/modules/$kver" ] ||
	die "no Debian kernel with its modules (apt-get install linux-image-amd64)"

run=$(mktemp -d "$top/.nested.XXXXXX") || die "cannot make a run directory in $top"
qpid=""
# qpid is timeout's: a TERM reaches QEMU through it (a KILL would not, and
# would leave QEMU running); QEMU, its child, is killed if it outlives 5 s.
cleanup() {
	if [ -n "$qpid" ]; then
		kill -TERM "$qpid" 2>/dev/null
		for _ in $(seq 50); do
			kill -0 "$qpid" 2>/dev/null || break
			sleep 0.1
		done
		pkill -9 -P "$qpid" 2>/dev/null
		kill -9 "$qpid" 2>/dev/null
		wait "$qpid" 2>/dev/null
	fi
	[ -z "${wpid:-}" ] || kill "$wpid" 2>/dev/null
	rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# The initramfs: busybox, the modules a 9p root on an overlay needs (in
# load order), and stage one (init).
mods="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
	netfs fscache 9pnet 9pnet_virtio 9p overlay"
ird=$run/initrd.d
mkdir -p "$ird/bin" "$ird/modules"
cp /bin/busybox "$ird/bin/busybox"
cp "$here/init" "$ird/init"
for m in $mods; do
	f=$(modinfo -k "$kver" -n "$m" 2>/dev/null) || die "module $m is not in kernel $kver"
	case $f in
	*.ko) cp "$f" "$ird/modules/$m.ko" ;;
	*.ko.xz) xz -dc "$f" >"$ird/modules/$m.ko" ;;
	*.ko.zst) zstd -qdc "$f" >"$ird/modules/$m.ko" ;;
	"(builtin)") continue ;;
	*) die "module $m: unexpected file $f" ;;
	esac
	echo "$m" >>"$ird/modules.list"
done
(cd "$ird" && find . | /bin/busybox cpio -o -H newc 2>/dev/null) >"$run/initrd" ||
	die "cannot make the initramfs"

# The command, with this environment (less what belongs to this shell or a
# parent make), in this directory.
{
	echo '#!/bin/bash'
	declare -px | grep -Ev '^declare -[a-zA-Z]*r|^declare -x (BASH|SHLVL|PWD|OLDPWD|_|MAKEFLAGS|MFLAGS|MAKELEVEL|MAKE_TERMOUT|MAKE_TERMERR|TERM)='
	echo "export HASVC_TIME_SCALE=${HASVC_TIME_SCALE:-4} HASVC_NESTED=1 TERM=${TERM:-dumb}"
	printf 'cd %q || exit 1\n' "$PWD"
	if [ $# -eq 0 ]; then
		echo 'exec bash -i'
		touch "$run/interactive"
	else
		printf 'exec'; printf ' %q' "$@"; echo
	fi
} >"$run/cmd.sh"

qemu=(qemu-system-x86_64 -machine q35 -accel "${NESTED_ACCEL:-tcg,thread=single}" -cpu "${NESTED_CPU:-max}"
	-smp "$cpus" -m "$mem" -nodefaults -no-user-config -display none
	-serial stdio -no-reboot -d cpu_reset -D "$run/qemu.log"
	-kernel "$kernel" -initrd "$run/initrd"
	-append "console=ttyS0 quiet panic=-1 rdinit=/init hasvc.work=$top hasvc.run=$run ${NESTED_APPEND:-}"
	-virtfs "local,path=/,mount_tag=host0,security_model=passthrough,readonly=on,multidevs=remap,id=h0"
	-virtfs "local,path=$top,mount_tag=work,security_model=passthrough,multidevs=remap,id=w0"
	-monitor "unix:$run/monitor,server=on,wait=off")
if [ -n "${NESTED_SHELL:-}" ]; then
	qemu+=(-serial "unix:$NESTED_SHELL,server=on,wait=off")
	touch "$run/shell"
fi
if [ $# -eq 0 ] && [ -t 0 ]; then
	timeout -k 5 "$limit" "${qemu[@]}" &
else
	timeout -k 5 "$limit" "${qemu[@]}" </dev/null &
fi
qpid=$!
# cpu_dump: where the VM's CPUs are (QEMU's monitor), on stderr: a VM
# whose own kernel stopped is told from a slow one by what it runs.
cpu_dump() {
	python3 - "$run/monitor" "$run/kallsyms" >&2 <<'PY' || true
import bisect, re, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
out = b""
for cmd in ("info cpus", "info registers -a"):
    s.sendall((cmd + "\n").encode())
    time.sleep(1)
try:
    while True:
        data = s.recv(65536)
        if not data:
            break
        out += data
except socket.timeout:
    pass
# The kernel's symbols (guest.sh): which function RIP is in.
syms = []
try:
    for line in open(sys.argv[2]):
        a, t, n = line.split()[:3]
        if t in "tT":
            syms.append((int(a, 16), n))
except OSError:
    pass
syms.sort()
keys = [a for a, _ in syms]
for line in out.decode(errors="replace").replace("\r", "").splitlines():
    if re.match(r"(YMM|XMM|FPR|FCW|DR[0-7]|[ECSDFG]S =|LDT|TR |GDT|IDT|\(qemu\))", line):
        continue
    print(line)
    m = re.search(r"RIP=([0-9a-f]{16})", line)
    if m and syms:
        rip = int(m.group(1), 16)
        i = bisect.bisect_right(keys, rip) - 1
        # No function is a megabyte long: past one, RIP is in no code
        # of this kernel's (the code of a guest of its KVM, most likely).
        if i >= 0 and rip - keys[i] < (1 << 20):
            print("  RIP is in %s+0x%x" % (syms[i][1], rip - keys[i]))
        else:
            print("  RIP is in no function of the VM's kernel (a nested guest's code?)")
PY
}

# watch: 15 s before the limit, the VM's CPUs.  And the VM's userland
# touches $run/alive every 10 s (guest.sh): no touch for NESTED_STALL
# seconds (240) means its kernel stopped making progress (CI twice saw a
# Linux test in the multi-threaded emulator make none for tens of minutes:
# docs/testing.md); then the CPUs, and the VM is ended at once (status 75)
# rather than at the limit.
watch() {
	_t0=$(date +%s)
	while sleep 5; do
		[ -d "$run" ] || return   # run.sh ended
		_now=$(date +%s)
		if [ -f "$run/alive" ] && [ $((_now - $(stat -c %Y "$run/alive"))) -gt "$stall" ]; then
			echo "nested: no sign of life from the VM's userland for over $stall s; its CPUs:" >&2
			cpu_dump
			touch "$run/stalled"
			kill -TERM "$qpid"
			return
		fi
		if [ $((_now - _t0)) -ge $((limit - 15)) ]; then
			echo "nested: the VM still runs after $((limit - 15)) s; its CPUs:" >&2
			cpu_dump
			return
		fi
	done
}
watch &
wpid=$!
wait "$qpid"
qrc=$?
qpid=""
kill "$wpid" 2>/dev/null
if [ -e "$run/stalled" ]; then
	echo "nested: the VM stopped (no sign of life for $stall s) and was ended" >&2
	exit 75
fi
[ "$qrc" -eq 124 ] && die "the nested VM ran past $limit s and was killed"
if [ ! -s "$run/rc" ]; then
	# A reset of the VM's CPU ends QEMU (-no-reboot): its last state says where.
	echo "nested: QEMU's log of CPU resets (the last one ended the VM):" >&2
	tail -n 30 "$run/qemu.log" >&2
	die "the nested VM ended (QEMU status $qrc) without the command's status"
fi
exit "$(cat "$run/rc")"
