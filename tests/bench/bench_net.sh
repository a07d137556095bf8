#!/bin/sh
# virtio-net benchmark: UDP request round trip to the net guest
# (tests/guests/net.c, 64 MiB, 1 vCPU) on a tap in a bridge, from a client
# in another network namespace (tests/virtio/udpclient.py): ECHO requests
# open loop at 100 Hz (sent on schedule whatever the answers, several in
# flight, lost after 1 s), unprotected and protected (25 ms epochs, standby
# on this host over TLS, certificates from conf/make-certs.sh) with epochs
# ended by time only (--output-epochs off: mode p) and by held output too
# (the default: mode o), and the same with --min-interval 0.25 --max-rate
# 4000 (mode s), interleaved run by run; plus a closed-loop run of the
# counter request back to back (one in flight, every answer checked) of
# each.  About 4 minutes, 3 runs.
#
#   tests/bench/bench_net.sh [--record] [--runs N] [--baseline-vmm PATH]
#                            [--modes u,p,o,s]
#
# --baseline-vmm runs another build's vmm (say, one built before a change)
# output-triggered too (mode b: its primary and its standby), right after
# ours in every run.  --modes chooses the configurations (u unprotected,
# p time only, o output-triggered, s output-triggered with a 0.25 ms
# minimum epoch; default all four).
#
# Builds what it needs (make in $BUILDDIR, default the source tree), prints a
# markdown report; --record replaces the "## virtio-net" section of
# docs/performance.md (appended when missing).  Needs root, /dev/net/tun,
# ip netns and openssl; exits 77 naming what is missing.  A benchmark never
# fails because a number moved.
set -eu

. "$(dirname "$0")/bench_options.sh"
# Our own options first; bench_options takes the rest.
own="" rest="" modes="u p o s"
while [ $# -gt 0 ]; do
	case $1 in
	--modes)
		case ${2:-} in
		''|*[!upos,]*) echo "bench_net.sh: --modes takes u, p, o and s separated by commas" >&2; exit 2 ;;
		esac
		modes=$(echo "$2" | tr ',' ' ')
		own="$own --modes $2"; shift ;;
	*) rest="$rest $1" ;;
	esac
	shift
done
# shellcheck disable=SC2086  # option words without spaces
bench_options bench_net.sh 25 $rest
cmd="$cmd$own"
[ -n "$baseline" ] && modes="$modes b"
bench_need_build
make -C "$builddir" -j2 vmm/vmm tests/guests/net.elf >/dev/null
command -v openssl >/dev/null || { echo "bench_net.sh: no openssl" >&2; exit 77; }

RUNS=3
case $args in *--runs*) RUNS=$(echo "$args" | sed 's/.*--runs \([0-9]*\).*/\1/') ;; esac
top_srcdir=$srcdir top_builddir=$builddir VMM=$builddir/vmm/vmm GUESTS=$builddir/tests/guests
export top_srcdir top_builddir VMM GUESTS
set +eu
. "$srcdir/tests/common.sh"
. "$srcdir/tests/virtio/net_topology.sh"
. "$srcdir/tests/migration/migration_helpers.sh"
need_net
"$srcdir/conf/make-certs.sh" "$T/certs" pr sb >/dev/null 2>&1 || fail "make-certs.sh failed"
tls() { echo "--tls-ca $T/certs/ca.pem --tls-cert $T/certs/$1.pem --tls-key $T/certs/$1.key --tls-peer $2"; }

RATE_S=10 MAX_S=5
started=$(date +%s)
: >"$T/results"
# one MODE RUN: a fresh guest (and standby when protected), then both clients.
one() {
	_m=$1 _r=$2 _ours=$VMM
	[ "$_m" = b ] && VMM=$baseline
	bg_nvmm g$_r$_m run --kernel "$GUESTS/net.elf" --memory 64M --net tap=ntap0,bridge=nbr0 \
		--serial "file:$T/g$_r$_m.ser" --control "g$_r$_m-$$" --cmdline "ip=$GUEST_IP port=$GPORT"
	wait_for_line "$T/g$_r$_m.ser" "^net ready" 20 || fail "the guest did not start"
	if [ "$_m" != u ]; then
		_oe=""
		[ "$_m" = p ] && _oe="--output-epochs off"
		[ "$_m" = s ] && _oe="--min-interval 0.25 --max-rate 4000"
		# shellcheck disable=SC2046
		bg_nvmm s$_r$_m run --standby "tcp:127.0.0.1:0" $(tls sb pr) --memory 64M \
			--net tap=ntap1,bridge=nbr0 --serial "file:$T/s$_r$_m.ser" --control "s$_r$_m-$$"
		listening "s$_r$_m" "no standby"
		# shellcheck disable=SC2046
		nctl "g$_r$_m-$$" protect "tcp:127.0.0.1:$PORT" $(tls pr sb) --interval 25 $_oe >/dev/null ||
			fail "protect"
		wait_for_line "$T/g$_r$_m.err" "initial sync to .* done" 20 || fail "not protected"
	fi
	udp --count 20 --timeout 1000 --duration 20 >/dev/null || fail "no answer ($_m)"
	udp --echo --open-loop --rate 100 --duration $RATE_S --timeout 1000 --json |
		sed "s/^/$_m open /" >>"$T/results"
	# the checkpoints' pause and ack times behind the protected round trips
	[ "$_m" != u ] && nctl "g$_r$_m-$$" protect-status --json |
		python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin)))' |
		sed "s/^/$_m status /" >>"$T/results"
	udp --rate 0 --duration $MAX_S --json | sed "s/^/$_m max /" >>"$T/results"
	for p in $PIDS; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	PIDS=""
	VMM=$_ours
	echo "run $_r $_m: $(grep -v ' status ' "$T/results" | tail -n 2 | cut -c1-80 | tr '\n' ' ')" >&2
}
r=1
while [ "$r" -le "$RUNS" ]; do
	for m in $modes; do
		one "$m" $r
	done
	r=$((r + 1))
done
took=$(( $(date +%s) - started ))
# shellcheck disable=SC2086
python3 "$srcdir/tests/bench/bench_net.py" --results "$T/results" --command "$cmd" \
	--runs "$RUNS" --seconds "$took" --rate-s $RATE_S --max-s $MAX_S $args
