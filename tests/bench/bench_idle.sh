#!/bin/sh
# Idle cost of the vmm: the host CPU (user + system time, % of a core) and
# the wake-ups per second (voluntary context switches of all its threads) of
# a vmm whose guest does nothing: tests/guests/hello.elf idle=1 halts with
# interrupts off, with its serial port on a Unix socket a client holds open,
# a virtio-blk disk and a control socket.  10 s windows, 3 runs, about 40 s
# (80 s with a baseline).
#
#   tests/bench/bench_idle.sh [--record] [--runs N] [--seconds S]
#                             [--baseline-vmm PATH]
#
# --baseline-vmm runs another build's vmm (say, one built before a change)
# on the same guest in the same run, interleaved with ours, and prints
# ours / baseline.  Builds what it needs (make in $BUILDDIR, default the
# source tree), runs tests/bench/bench_idle.py and prints a markdown report;
# --record replaces the "## Idle cost of the vmm" section of
# docs/performance.md (appended when missing).  A benchmark never fails
# because a number moved: the exit status is non-zero only when it could
# not build or run at all.
set -eu

. "$(dirname "$0")/bench_options.sh"
# Our own options first; bench_options takes the rest.
own="" rest=""
while [ $# -gt 0 ]; do
	case $1 in
	--baseline-vmm)
		[ -x "${2:-}" ] || { echo "bench_idle.sh: --baseline-vmm needs an executable vmm" >&2; exit 2; }
		own="$own --baseline-vmm $2"; shift ;;
	--seconds)
		case ${2:-} in
		''|*[!0-9]*) echo "bench_idle.sh: --seconds needs a number" >&2; exit 2 ;;
		esac
		own="$own --seconds $2"; shift ;;
	*) rest="$rest $1" ;;
	esac
	shift
done
# shellcheck disable=SC2086  # option words without spaces
bench_options bench_idle.sh 19 $rest
args="$args$own"
cmd="$cmd$own"
bench_need_build
make -C "$builddir" -j2 vmm/vmm tests/guests/hello.elf >/dev/null

cd "$srcdir"
# shellcheck disable=SC2086  # $args is a word list without spaces
exec python3 "$srcdir/tests/bench/bench_idle.py" --vmm "$builddir/vmm/vmm" \
	--guest "$builddir/tests/guests/hello.elf" --command "$cmd" $args
