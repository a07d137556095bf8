#!/bin/sh
# Block I/O benchmark (docs/virtio.md, docs/checkpointing.md "The disk"):
# the block guest in mode=bench (tests/guests/block.c) measures, with its
# own TSC, sequential write and read MB/s (256 MiB image, 32 KiB requests,
# the write's FLUSH included) and random 4 KiB write and read IOPS (4096
# each) on a virtio-blk image, unprotected and protected (25 ms epochs, a
# standby on this host over TLS with its own image), and protected with
# --verify-disk; interleaved run by run.  About 2 minutes with 3 runs.
#
#   tests/bench/bench_block.sh [--record] [--runs N] [--baseline-vmm PATH]
#                              [--image-mib N] [--standby-dir DIR]
#
# --image-mib sizes the images (default 256).  The images go in $TMPDIR
# (default /tmp): TMPDIR=/dev/shm puts both on tmpfs.  --standby-dir puts
# the standbys' images in DIR instead (say /dev/shm: the standby's writes
# and fdatasyncs then leave the primary's file system alone, as a standby
# on another host does).
# --baseline-vmm runs another build's vmm (say, one built before a change)
# protected too, primary and standby, right after ours in every run.
#
# Builds what it needs (make in the build tree: $BUILDDIR, default the
# source tree), makes throw-away certificates (conf/make-certs.sh), runs
# tests/bench/bench_block.py and prints a markdown report; --record
# replaces the "## Block I/O" section of docs/performance.md (appending it
# when missing).  The exit status is non-zero only when it could not build
# or run at all.
set -eu

. "$(dirname "$0")/bench_options.sh"
own="" rest=""
while [ $# -gt 0 ]; do
	case $1 in
	--image-mib)
		case ${2:-} in
		''|*[!0-9]*|0) echo "bench_block.sh: --image-mib needs a size in MiB" >&2; exit 2 ;;
		esac
		own="$own --image-mib $2"; shift ;;
	--standby-dir)
		[ -d "${2:-}" ] || { echo "bench_block.sh: --standby-dir needs a directory" >&2; exit 2; }
		own="$own --standby-dir $2"; shift ;;
	*) rest="$rest $1" ;;
	esac
	shift
done
# shellcheck disable=SC2086  # option words without spaces
bench_options bench_block.sh 23 $rest
args="$args$own"
cmd="$cmd$own"
[ -z "$baseline" ] || args="$args --baseline-vmm $baseline"
bench_need_build
make -C "$builddir" -j2 vmm/vmm tests/guests/block.elf >/dev/null

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-block.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
sh "$srcdir/conf/make-certs.sh" "$tmp/pki" pr sb >/dev/null 2>&1 ||
	{ echo "bench_block.sh: conf/make-certs.sh failed (openssl?)" >&2; exit 1; }

cd "$srcdir"
# shellcheck disable=SC2086  # $args is a word list without spaces
python3 "$srcdir/tests/bench/bench_block.py" --vmm "$builddir/vmm/vmm" \
	--guest "$builddir/tests/guests/block.elf" --certs "$tmp/pki" --tmp "$tmp" \
	--command "$cmd" $args
