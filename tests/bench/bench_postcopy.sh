#!/bin/sh
# Post-copy benchmark: the heavy dirtier (dirty guest at full speed, 256 MiB
# working set) migrated by pre-copy with auto-converge, by post-copy after
# 3 s of pre-copy, and by post-copy at once, over loopback capped at
# 100 MiB/s.  About 2 minutes with 3 runs.
#
#   tests/bench/bench_postcopy.sh [--record] [--runs N]
#
# Builds what it needs (make in the build tree: $BUILDDIR, default the
# source tree), runs tests/bench/bench_postcopy.py and prints a markdown
# report; --record replaces the "## Post-copy against pre-copy with
# auto-converge" section of docs/performance.md (appending it when missing)
# and leaves the rest of the file alone.  A benchmark never fails because a
# number moved: the exit status is non-zero only when nothing could be
# measured.
set -eu

. "$(dirname "$0")/bench_options.sh"
bench_options bench_postcopy.sh 15 "$@"
bench_need_build
make -C "$builddir" -j2 vmm/vmm tests/guests/dirty.elf >/dev/null ||
	{ echo "bench_postcopy.sh: cannot build vmm/vmm and the dirty guest" >&2; exit 1; }

cd "$srcdir"
# shellcheck disable=SC2086  # $args is a word list without spaces
exec python3 "$srcdir/tests/bench/bench_postcopy.py" --vmm "$builddir/vmm/vmm" \
	--guest "$builddir/tests/guests/dirty.elf" --command "$cmd" $args
