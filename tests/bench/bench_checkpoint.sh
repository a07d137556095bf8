#!/bin/sh
# Checkpointing benchmark (issue 5, docs/checkpointing.md): the dirty guest
# (256 MiB VM, 64 MiB working set, 5 / 50 MiB/s and maximum dirtying)
# protected at 10, 25, 50 and 100 Hz (epochs of 100, 40, 20, 10 ms) against
# the same guest unprotected in the same run (the baseline), interleaved:
# guest speed (page writes per second counted by the guest), epochs/s
# achieved vs asked, pages and pause per epoch (mean, p99, max); then the
# counter guest's request-to-answer round trip from a client, unprotected
# and protected at 25 and 100 Hz.  About 5 minutes with 3 runs.
#
#   tests/bench/bench_checkpoint.sh [--record] [--runs N] [--baseline-vmm PATH]
#                                   [--rates R,R..] [--intervals MS,MS..]
#
# --baseline-vmm runs another build's vmm (say, one built before a change)
# on every protected configuration right after ours, in the same run.
# --rates (MiB/s, 0 = max; default 5,50,0) and --intervals (ms; default
# 100,40,20,10) choose the dirty guest's configurations.
#
# Builds what it needs (make in the build tree: $BUILDDIR, default the
# source tree), runs tests/bench/bench_checkpoint.py and prints a markdown
# report; --record replaces the "## Checkpointing" section of
# docs/performance.md (appending it at the end when missing) and leaves the
# rest of the file alone.  A benchmark never fails because a number moved:
# the exit status is non-zero only when it could not build or run at all.
set -eu

. "$(dirname "$0")/bench_options.sh"
# Our own options first; bench_options takes the rest.
own="" rest=""
while [ $# -gt 0 ]; do
	case $1 in
	--rates|--intervals)
		case ${2:-} in
		''|*[!0-9,]*) echo "bench_checkpoint.sh: $1 needs numbers separated by commas" >&2; exit 2 ;;
		esac
		own="$own $1 $2"; shift ;;
	*) rest="$rest $1" ;;
	esac
	shift
done
# shellcheck disable=SC2086  # option words without spaces
bench_options bench_checkpoint.sh 24 $rest
args="$args$own"
cmd="$cmd$own"
[ -z "$baseline" ] || args="$args --baseline-vmm $baseline"
bench_need_build
make -C "$builddir" -j2 vmm/vmm tests/guests/dirty.elf tests/guests/counter.elf >/dev/null

cd "$srcdir"
# shellcheck disable=SC2086  # $args is a word list without spaces
exec python3 "$srcdir/tests/bench/bench_checkpoint.py" --vmm "$builddir/vmm/vmm" \
	--dirty "$builddir/tests/guests/dirty.elf" --counter "$builddir/tests/guests/counter.elf" \
	--command "$cmd" $args
