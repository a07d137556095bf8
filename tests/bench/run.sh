#!/bin/sh
# The vmm core benchmarks: boot time and port-I/O exits per second side by side
# with QEMU, and pause/resume latency against a KVM ioctl floor ("vmm core");
# save/restore of 1 and 4 GiB guests against memcpy, and the cost of a
# dirty-log harvest ("VM state", tests/bench/bench_state: 6 to 8 minutes
# with 3 runs, up to about 7 GiB of memory and a 3 GiB file in
# --state-dir).
#
#   tests/bench/run.sh [--record] [--only core|state] [--install-qemu]
#                      [--runs N] [--io-count N] [--pause-iterations N]
#                      [--state-runs N] [--settle-ms MS] [--state-dir DIR]
#
# Builds what it needs (`make bench` in the build tree: $BUILDDIR, default the
# source tree), prints a markdown report on stdout, and with --record replaces
# the "vmm core" and "VM state" sections of docs/performance.md (with --only,
# the one it ran).  A benchmark never fails because a number moved: the exit
# status is non-zero only when it could not build or run at all.
set -eu

srcdir=$(cd "$(dirname "$0")/../.." && pwd)
builddir=${BUILDDIR:-$srcdir}
install_qemu=no
cmd="tests/bench/run.sh"
args=""
while [ $# -gt 0 ]; do
	case $1 in
	--install-qemu) install_qemu=yes ;;
	--record) args="$args --record"; cmd="$cmd --record" ;;
	--only)
		case ${2:-} in
		core|state|all) ;;
		*) echo "run.sh: --only needs core, state or all" >&2; exit 2 ;;
		esac
		args="$args $1 $2"; cmd="$cmd $1 $2"; shift ;;
	--state-dir)
		if [ -z "${2:-}" ] || [ ! -d "$2" ]; then
			echo "run.sh: --state-dir needs a directory" >&2; exit 2
		fi
		case $2 in
		*[!A-Za-z0-9/._-]*) echo "run.sh: --state-dir: use a path without spaces" >&2; exit 2 ;;
		esac
		args="$args $1 $2"; cmd="$cmd $1 $2"; shift ;;
	--runs|--io-count|--pause-iterations|--state-runs|--settle-ms)
		case ${2:-} in
		''|*[!0-9]*) echo "run.sh: $1 needs a number" >&2; exit 2 ;;
		esac
		args="$args $1 $2"; cmd="$cmd $1 $2"; shift ;;
	-h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "run.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
	esac
	shift
done

if [ ! -f "$builddir/Makefile" ]; then
	echo "run.sh: no Makefile in $builddir: run autoreconf -fi && ./configure first" >&2
	echo "        (or point BUILDDIR at a configured build tree)" >&2
	exit 1
fi
if [ ! -c /dev/kvm ] || [ ! -w /dev/kvm ]; then
	echo "run.sh: /dev/kvm is missing or not writable: nothing to measure" >&2
	exit 1
fi
if ! command -v qemu-system-x86_64 >/dev/null 2>&1 && [ "$install_qemu" = yes ]; then
	apt-get install -y qemu-system-x86 >&2
fi

make -C "$builddir" -s bench >&2

# shellcheck disable=SC2086 # $args is a list of options without spaces
exec python3 "$srcdir/tests/bench/bench.py" --srcdir "$srcdir" --builddir "$builddir" \
	--command "$cmd" $args
