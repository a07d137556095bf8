#!/bin/sh
# Live-migration benchmark: our vmm against QEMU 7.2 on the same dirty guest
# (1 and 4 GiB guests, 256 MiB working set, idle / 50 MiB/s / maximum
# dirtying; TLS; 1, 2 and 4 connections) with loopback TCP and TLS
# throughput measured in the same run as the ceiling.  About 4 minutes with
# 3 runs; up to about 9 GiB of guest memory at once.
#
#   tests/bench/bench_migration.sh [--record] [--runs N] [--no-qemu]
#                                  [--only LABEL-SUBSTRING] [--baseline-vmm PATH]
#
# --baseline-vmm runs another build's vmm (say, one built before a change)
# interleaved with ours on every configuration and adds ours/baseline ratios.
#
# Builds what it needs (make in the build tree: $BUILDDIR, default the
# source tree), makes throw-away certificates (conf/make-certs.sh) in a
# temporary directory, runs tests/bench/bench_migration.py and prints a
# markdown report; --record replaces the "## Live migration" section of
# docs/performance.md (appending it when missing) and leaves the rest of the
# file alone.  Without qemu-system-x86_64 the QEMU part is skipped with a
# note.  A benchmark never fails because a number moved: the exit status is
# non-zero only when it could not build or run at all.
set -eu

srcdir=$(cd "$(dirname "$0")/../.." && pwd)
builddir=${BUILDDIR:-$srcdir}
cmd="tests/bench/bench_migration.sh"
args=""
while [ $# -gt 0 ]; do
	case $1 in
	--record) args="$args --record $srcdir/docs/performance.md"; cmd="$cmd --record" ;;
	--no-qemu) args="$args --no-qemu"; cmd="$cmd --no-qemu" ;;
	--runs)
		case ${2:-} in
		''|*[!0-9]*) echo "bench_migration.sh: --runs needs a number" >&2; exit 2 ;;
		esac
		args="$args --runs $2"; cmd="$cmd --runs $2"; shift ;;
	--only)
		[ -n "${2:-}" ] || { echo "bench_migration.sh: --only needs a label substring" >&2; exit 2; }
		only=$2; cmd="$cmd --only '$2'"; shift ;;
	--baseline-vmm)
		[ -x "${2:-}" ] || { echo "bench_migration.sh: --baseline-vmm needs an executable vmm" >&2; exit 2; }
		args="$args --baseline-vmm $2"; cmd="$cmd --baseline-vmm $2"; shift ;;
	-h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench_migration.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
	esac
	shift
done

if [ ! -c /dev/kvm ] || [ ! -w /dev/kvm ]; then
	echo "bench_migration.sh: /dev/kvm is missing or not writable: nothing to measure" >&2
	exit 1
fi
if [ ! -x "$builddir/vmm/vmm" ] || [ ! -f "$builddir/tests/guests/dirty.elf" ]; then
	if [ ! -f "$builddir/Makefile" ]; then
		echo "bench_migration.sh: no Makefile in $builddir: run autoreconf -fi && ./configure first" >&2
		exit 1
	fi
	make -C "$builddir" -j2 >&2
fi
# (cheap when up to date; so the vmm measured is the current source)
make -C "$builddir" -j2 vmm/vmm tests/guests/dirty.elf >/dev/null ||
	echo "NOTE: make vmm/vmm tests/guests/dirty.elf failed: measuring the binaries already built" >&2

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-migration.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
certs=""
if command -v openssl >/dev/null 2>&1 && sh "$srcdir/conf/make-certs.sh" "$tmp/pki" src dst; then
	certs="--certs $tmp/pki"
else
	echo "NOTE: no openssl CLI (or make-certs.sh failed): the TLS runs are skipped" >&2
fi

cd "$srcdir"
# shellcheck disable=SC2086  # $args and $certs are word lists without spaces
exec_py() {
	python3 "$srcdir/tests/bench/bench_migration.py" --vmm "$builddir/vmm/vmm" \
		--guest "$builddir/tests/guests/dirty.elf" $certs --command "$cmd" $args "$@"
}
if [ -n "${only:-}" ]; then
	exec_py --only "$only"
else
	exec_py
fi
