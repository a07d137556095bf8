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
#   tests/bench/bench_checkpoint.sh [--record] [--runs N]
#
# Builds what it needs (make in the build tree: $BUILDDIR, default the
# source tree), runs tests/bench/bench_checkpoint.py and prints a markdown
# report; --record replaces the "## Checkpointing" section of
# docs/performance.md (appending it at the end when missing) and leaves the
# rest of the file alone.  A benchmark never fails because a number moved:
# the exit status is non-zero only when it could not build or run at all.
set -eu

srcdir=$(cd "$(dirname "$0")/../.." && pwd)
builddir=${BUILDDIR:-$srcdir}
cmd="tests/bench/bench_checkpoint.sh"
args=""
while [ $# -gt 0 ]; do
	case $1 in
	--record) args="$args --record $srcdir/docs/performance.md"; cmd="$cmd --record" ;;
	--runs)
		case ${2:-} in
		''|*[!0-9]*) echo "bench_checkpoint.sh: --runs needs a number" >&2; exit 2 ;;
		esac
		args="$args --runs $2"; cmd="$cmd --runs $2"; shift ;;
	-h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench_checkpoint.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
	esac
	shift
done

if [ ! -c /dev/kvm ] || [ ! -w /dev/kvm ]; then
	echo "bench_checkpoint.sh: /dev/kvm is missing or not writable: nothing to measure" >&2
	exit 1
fi
if [ ! -f "$builddir/Makefile" ]; then
	echo "bench_checkpoint.sh: no Makefile in $builddir: run autoreconf -fi && ./configure first" >&2
	exit 1
fi
# (cheap when up to date; so the vmm measured is the current source)
make -C "$builddir" -j2 vmm/vmm tests/guests/dirty.elf tests/guests/counter.elf >/dev/null

cd "$srcdir"
# shellcheck disable=SC2086  # $args is a word list without spaces
exec python3 "$srcdir/tests/bench/bench_checkpoint.py" --vmm "$builddir/vmm/vmm" \
	--dirty "$builddir/tests/guests/dirty.elf" --counter "$builddir/tests/guests/counter.elf" \
	--command "$cmd" $args
