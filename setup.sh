#!/bin/sh
# Set up a fresh Debian 12 machine (as root) and build the project, then:
#   ./setup.sh demo    run the demo
#   ./setup.sh check   run the whole test suite
# Safe to run again: installs are idempotent and the build is incremental.
set -eu
cd "$(dirname "$0")"
what=${1:-demo}

PACKAGES="build-essential autoconf automake libtool pkg-config \
  libqb-dev libprotobuf-c-dev protobuf-c-compiler libssl-dev libzstd-dev \
  corosync libcpg-dev libquorum-dev libvotequorum-dev libcmap-dev libcorosync-common-dev \
  libinih-dev check iproute2 openssl python3 util-linux util-linux-extra procps git strace \
  acpica-tools linux-image-amd64 linux-image-cloud-amd64 busybox-static e2fsprogs kmod \
  libmicrohttpd-dev libsystemd-dev python3-prometheus-client libjson-c-dev \
  corosync-qdevice corosync-qnetd"
# libmicrohttpd-dev: hasvcd's GET /metrics; libsystemd-dev: sd_notify;
# python3-prometheus-client: tests/cluster/metrics_format.sh parses the output;
# libjson-c-dev: every --json output (ipc/json_out.c).
# util-linux-extra: fincore (tests/checkpoint/disk_log.sh, what the page cache holds).
# corosync-qdevice, corosync-qnetd: tests/cluster/qdevice.sh (quorum_device = yes).
# acpica-tools: iasl -d reads the vmm's ACPI tables (tests/unit/test_acpi).

# For a machine without a usable /dev/kvm: the nested VM (tests/nested/run.sh).
NESTED_PACKAGES="qemu-system-x86"

install_packages() {
	missing=""
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
	done
	[ -n "$missing" ] || return 0
	echo "setup: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing
}

# kvm_here: true if this machine's own /dev/kvm runs a guest (the hello test
# guest boots and powers off); else false, with the reason in $why.
kvm_here() {
	case ${HASVC_NESTED:-} in
	1) why="HASVC_NESTED=1 asks for the nested VM"; return 1 ;;
	0) why="HASVC_NESTED=0 asks for this machine's /dev/kvm"; return 0 ;;
	esac
	if [ ! -c /dev/kvm ]; then
		why="this machine has no /dev/kvm"; return 1
	fi
	if ! out=$(timeout -k 2 30 vmm/vmm run --kernel tests/guests/hello.elf --serial file:/dev/null 2>&1); then
		why="/dev/kvm is here but does not run a guest: $(echo "$out" | tail -n 1)"; return 1
	fi
	why="this machine's /dev/kvm runs guests"
}

# linux_kvm_here: true if this machine's KVM runs a stock Linux kernel:
# Debian's, booted until its first console line.  Some KVMs run only guest
# kernels made for them (kvm-pvm runs PVM-aware kernels only): there the
# Linux guest tests (make -s list-linux-tests) go to the nested VM while the
# others run directly.  Else false, with the reason in $why_linux.
linux_kvm_here() {
	case ${HASVC_NESTED:-} in
	1) why_linux="HASVC_NESTED=1 asks for the nested VM"; return 1 ;;
	0) why_linux="HASVC_NESTED=0 asks for this machine's /dev/kvm"; return 0 ;;
	esac
	_k=$(ls /boot/vmlinuz-* 2>/dev/null | grep -v cloud | sort -V | tail -n 1)
	[ -n "$_k" ] || { why_linux="no Debian kernel in /boot"; return 1; }
	_f=$(mktemp)
	vmm/vmm run --kernel "$_k" --cmdline "console=ttyS0 panic=-1" --memory 256M \
		--serial "file:$_f" >/dev/null 2>&1 &
	_p=$!
	_i=0
	# Its first line comes within a second on a KVM that runs it.
	until grep -q "Linux version" "$_f" || [ "$_i" -ge 150 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	kill "$_p" 2>/dev/null
	wait "$_p" 2>/dev/null
	if grep -q "Linux version" "$_f"; then
		why_linux="this machine's /dev/kvm runs Debian's kernel"
		rm -f "$_f"
		return 0
	fi
	rm -f "$_f"
	why_linux="this machine's /dev/kvm runs no stock Linux kernel (Debian's printed nothing in 15 s)"
	return 1
}

# nested_vm JOBS "TESTS": one nested VM runs the tests.  A VM that stopped
# (tests/nested/run.sh's status 75: no sign of life from it for minutes,
# its CPUs printed) is the emulator's failure, not a test's: the tests it
# had not finished (no .trs) run once more in a new VM, and the line says
# so.  A test that failed is never run again.
nested_vm() {
	_v0=$(date +%s)
	# shellcheck disable=SC2086
	tests/nested/run.sh tests/nested/check.sh -j "$1" $2
	_vrc=$?
	[ "$_vrc" = 75 ] || return $_vrc
	_left=""
	for _t in $2; do
		[ -f "${_t%.sh}.trs" ] || _left="$_left $_t"
	done
	for _t in $_left; do
		[ -f "${_t%.sh}.log" ] || continue
		echo "==== $_t, running when the VM stopped: the last 30 lines of ${_t%.sh}.log"
		tail -n 30 "${_t%.sh}.log"
	done
	echo "setup: the nested VM stopped; again in a new VM:$_left"
	# Within what the first VM had left, and 300 s more: both fit CI's time.
	_lim=$(( ${NESTED_TIMEOUT:-5400} - ($(date +%s) - _v0) + 300 ))
	# shellcheck disable=SC2086
	NESTED_TIMEOUT=$_lim tests/nested/run.sh tests/nested/check.sh -j "$1" $_left
}

# nested_check "TESTS": runs the tests in nested VMs, as many as this machine
# has cores (NESTED_VMS): each VM is one emulator thread (tests/nested/run.sh
# says why), so one VM would leave the other cores idle.  The tests are dealt
# out in turn; each VM's lines are prefixed with its number.  Each VM runs
# its tests with tests/nested/check.sh (automake's test driver without make,
# whose start-up there costs minutes).  Fails if any VM's tests failed.
# The emulator is slow: the tests that repeat one cycle many times repeat
# it fewer times there (CK_TRIALS 8 of 30 kill -9 failovers, SNAPSHOT_CYCLES
# 25 of 100, PINGPONG 8 of 20 migrations), as the Linux tests do; every
# cycle checks what it checks directly.
nested_check() {
	n=${NESTED_VMS:-$(nproc)} jobs=${NESTED_JOBS:-2}
	export CK_TRIALS=${CK_TRIALS:-8} SNAPSHOT_CYCLES=${SNAPSHOT_CYCLES:-25} PINGPONG=${PINGPONG:-8}
	i=0
	while [ "$i" -lt "$n" ]; do
		list=$(echo $1 | tr ' ' '\n' | awk -v n="$n" -v i="$i" 'NR % n == i' | tr '\n' ' ')
		if [ -n "$list" ]; then
			( nested_vm "$jobs" "$list"; echo $? >".nested-rc.$i" ) 2>&1 |
				sed -u "s/^/[vm$i] /" &
		fi
		i=$((i + 1))
	done
	wait
	_rc=0
	i=0
	while [ "$i" -lt "$n" ]; do
		if [ -f ".nested-rc.$i" ]; then
			[ "$(cat ".nested-rc.$i")" = 0 ] || _rc=1
			rm -f ".nested-rc.$i"
		fi
		i=$((i + 1))
	done
	return $_rc
}

# linux_nested_check "TESTS": the Linux guest tests in one nested VM of its
# own, one test at a time (each runs two or three Linux guests), with QEMU's
# multi-threaded TCG and one vCPU: with one TCG thread Debian's kernel hangs
# in early boot in the nested KVM (a timer interrupt delivered inside its own
# handler), and with two vCPUs under the multi-threaded TCG the nested VM's
# own kernel broke down (a stack corruption panic) after some minutes of
# Linux guests (docs/testing.md, "The emulator's own limits").  The
# emulator is slow: the repetitions are fewer than on a KVM that runs Linux
# itself (LINUX_SNAPSHOTS, LINUX_MIGRATIONS, LINUX_FAILOVER_TRIALS:
# tests/linux/README.md).
# Time limits, so that a hang fails the run in time instead of holding CI
# past its own: 900 s a test (the longest takes about 400 s there;
# tests/nested/check.sh prints every process before it ends one), 2700 s
# the whole VM (its kernel itself could stop; the tests take about 1250 s).
linux_nested_check() {
	[ -n "$1" ] || return 0
	CHECK_TEST_TIMEOUT=${CHECK_TEST_TIMEOUT:-900} NESTED_TIMEOUT=${NESTED_TIMEOUT:-2700} \
	LINUX_SNAPSHOTS=${LINUX_SNAPSHOTS:-3} LINUX_MIGRATIONS=${LINUX_MIGRATIONS:-3} \
	LINUX_FAILOVER_TRIALS=${LINUX_FAILOVER_TRIALS:-2} \
	NESTED_VMS=1 NESTED_JOBS=1 NESTED_CPUS=1 NESTED_ACCEL=tcg,thread=multi nested_check "$1"
}

# sanitize_check: the unit tests and the fuzz corpus replays once more, built
# with AddressSanitizer (LeakSanitizer included) and UndefinedBehaviorSanitizer
# at -O1, -fno-sanitize-recover=all: any report ends the test and fails it.
# They build in a tree of their own, .sanitize/src (gitignored), a copy of the
# working tree's sources: automake refuses a VPATH build beside a source tree
# configured in place.  tar keeps the files' times, so a second run rebuilds
# only what changed.  That tree is a default configure (no fault injection):
# tests/vmm/testbuild.sh checks there that such a build has no test hooks.
# The unit tests that need KVM stay out (they wait for guests by the clock,
# and ASan slows them; the main run has them): SANITIZE_KVM=1 adds them when
# KVM runs here.
SANITIZE_CFLAGS="-g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all"
sanitize_check() {
	_t0=$(date +%s)
	_src=.sanitize/src
	mkdir -p "$_src"
	if ! _files=$(git ls-files -z --cached --others --exclude-standard | tr '\0' '\n'); then
		echo "sanitize: the sanitizer build copies the sources git knows: run from a git checkout"
		return 1
	fi
	# Files deleted but not yet committed are left out (--ignore-failed-read).
	printf '%s\n' "$_files" | tar -T - --ignore-failed-read -cf - 2>/dev/null | tar -xf - -C "$_src"
	(
		cd "$_src"
		[ -x configure ] || autoreconf -fi
		[ -f Makefile ] || ./configure --quiet CFLAGS="$SANITIZE_CFLAGS" \
			LDFLAGS="-fsanitize=address,undefined"
		kvm=$(make -s list-kvm-tests)
		list=$(for t in $(make -s list-tests); do
			case $t in tests/unit/*|tests/fuzz/*) ;; *) continue ;; esac
			case " $kvm " in *" $t "*)
				[ "${SANITIZE_KVM:-0}" = 1 ] && [ -z "$nested" ] || continue ;;
			esac
			echo "$t"
		done | tr '\n' ' ')
		list="$list tests/vmm/testbuild.sh"
		find . -name '*.trs' -delete
		_rc=0
		# Fewer random state-machine sequences: memory errors show in a tenth.
		HASVC_FSM_RUNS=1000 UBSAN_OPTIONS=print_stacktrace=1 \
			make -j"$(nproc)" check TESTS="$list" >sanitize.log 2>&1 || _rc=1
		grep -E '^(FAIL|ERROR|XPASS):' sanitize.log || true
		printf 'sanitize: '
		tests/summary.sh $list || _rc=1
		exit $_rc
	)
	_rc=$?
	echo "sanitize: ASan+UBSan build and run took $(( $(date +%s) - _t0 )) s (log: $_src/sanitize.log)"
	return $_rc
}

# without "LIST" "DROP": the words of LIST that are not in DROP.
without() {
	for _w in $1; do
		case " $2 " in *" $_w "*) ;; *) echo "$_w" ;; esac
	done | tr '\n' ' '
}

echo "setup: started at $(date +%T)"
install_packages $PACKAGES

[ -x configure ] || autoreconf -fi
# A test build: the fault-injection hooks some tests need
# (tests/checkpoint/corrupt.sh); a production build leaves them out.
# A tree configured otherwise earlier is configured again.
grep -q '^FAULT_INJECTION = yes$' Makefile 2>/dev/null || ./configure --quiet --enable-fault-injection
make -j"$(nproc)"
# Every test program too, so that a nested VM only runs them.
make -j"$(nproc)" check TESTS=

if kvm_here; then
	nested=""
	echo "setup: KVM tests run directly: $why"
	if linux_kvm_here; then
		linux_nested=""
		echo "setup: Linux guest tests run directly: $why_linux"
	else
		linux_nested=tests/nested/run.sh
		echo "setup: Linux guest tests run in a nested VM (QEMU TCG with SVM, much slower): $why_linux"
		install_packages $NESTED_PACKAGES
	fi
else
	nested=tests/nested/run.sh
	linux_nested=$nested
	echo "setup: KVM tests run in a nested VM (QEMU TCG with SVM, much slower): $why"
	install_packages $NESTED_PACKAGES
fi

case "$what" in
demo)
	$nested tests/demo.sh || exit $?
	# Then a Debian server in the cluster (tests/linux/cluster.sh), in the
	# nested VM where this machine's KVM runs no stock kernel, with the
	# settings of the Linux tests there (linux_nested_check).
	echo "setup: the demo's Linux part: a Debian guest protected in the cluster, its node killed"
	if [ -n "$linux_nested" ]; then
		NESTED_CPUS=1 NESTED_ACCEL=tcg,thread=multi exec $linux_nested tests/linux/cluster.sh
	fi
	exec tests/linux/cluster.sh ;;
check)
	rc=0
	# Results of an earlier run must not be counted again.
	find . -name '*.trs' -delete
	linux=""
	[ -z "$linux_nested" ] || linux=$(make -s list-linux-tests)
	kvm=""
	[ -z "$nested" ] || kvm=$(without "$(make -s list-kvm-tests)" "$linux")
	# Each part's start time: where a CI run's time went.
	echo "setup: the tests run here from $(date +%T)"
	make -j"$(nproc)" check TESTS="$(without "$(make -s list-tests)" "$kvm $linux")" || rc=$?
	echo "setup: the nested VM's tests from $(date +%T)"
	[ -z "$kvm" ] || nested_check "$kvm" || rc=$?
	linux_nested_check "$linux" || rc=$?
	echo "setup: the sanitizer build from $(date +%T)"
	sanitize_check || rc=$?
	echo "setup: done at $(date +%T)"
	# A failed test's own log, so a CI that keeps only the console can tell why.
	for trs in $(find . -name '*.trs' -exec grep -l '^:test-result: \(FAIL\|ERROR\|XPASS\)' {} +); do
		echo "==== ${trs%.trs}.log (last 60 lines)"
		tail -n 60 "${trs%.trs}.log"
	done
	# One closing line any CI can read, from automake's per-test results.
	tests/summary.sh $(make -s list-tests) || rc=1
	exit $rc ;;
*)
	echo "usage: $0 demo|check" >&2
	exit 2 ;;
esac
