#!/bin/sh
# virtio-net under checkpointing (25 ms epochs), with output commit of
# frames: answers leave only once their epoch is acknowledged (their round
# trip is then at least milliseconds, not the ~0.3 ms of an unprotected
# guest; protect-status counts the held and released frames).  Then a
# chain of failovers under one client sending 100 requests a second with
# 100 ms retries: the primary is killed with SIGKILL at a random moment,
# the standby (on the other tap) is activated, announces the MAC and
# answers; a new standby takes the dead primary's tap and the activated
# vmm is protected again.  Every answer keeps value - seq constant: no
# acknowledged update lost, none applied twice.
. "$(dirname "$0")/../common.sh"
. "$top_srcdir/tests/migration/migration_helpers.sh"
. "$top_srcdir/tests/checkpoint/checkpoint_helpers.sh"
. "$top_srcdir/tests/virtio/net_topology.sh"
need_kvm
need_net

TRIALS=${NET_CK_TRIALS:-4}
GCMD="ip=$GUEST_IP port=$GPORT hb_ms=500"

# standby ID TAP: a standby on TAP, listening on a fresh $PORT.
standby() {
	bg_nvmm "$1" run --standby "tcp:127.0.0.1:0" --tls-none --memory 64M \
		--net "tap=$2,bridge=nbr0" --serial "file:$T/$1.ser" --control "$1-$$"
	listening "$1" "$1: the standby did not listen"
}

nck_field() {
	nctl "$1-$$" protect-status --json | json_field "$2"
}

standby v2 ntap1
bg_nvmm v1 run --kernel "$GUESTS/net.elf" --memory 64M --net tap=ntap0,bridge=nbr0 \
	--serial "file:$T/v1.ser" --control "v1-$$" --cmdline "$GCMD"
LOG=$T/v1.err
wait_for_line "$T/v1.ser" "^net ready" 20 || fail "the guest is not ready: $(cat "$T/v1.ser")"
udp --count 5 --timeout 1000 --duration 10 >"$T/warm" || fail "no answer: $(cat "$T/warm")"
udp --count 200 --rate 0 --echo >"$T/plain" || fail "unprotected echo: $(cat "$T/plain")"
# Epochs by time only for this check: an answer then waits for the rest of
# its 25 ms epoch (output-triggered epochs, on for the failovers below,
# would end the epoch at the answer).
NPROTECT_OPTS="--output-epochs off"
nprotect v1
NPROTECT_OPTS=""
udp --count 100 --rate 100 --duration "$(secs 5)" >"$T/held" || fail "protected client: $(cat "$T/held")"
p50=$(sed -n 's/.* p50=\([0-9.]*\) .*/\1/p' "$T/held")
awk -v p="$p50" 'BEGIN { exit !(p >= 2.0) }' ||
	fail "answers came back in $p50 ms (p50): not held for their epoch: $(cat "$T/held")"
rel=$(nck_field v1 net_output_released_frames)
[ "${rel:-0}" -ge 100 ] || fail "protect-status: $rel frames released: $(nctl "v1-$$" protect-status)"
nctl "v1-$$" protect-status | grep -q "^net output: .* frames held, .* released" ||
	fail "protect-status text lacks the net output line"
pass "protected: answers held for their epoch (p50 $(sed -n 's/.* p50=\([0-9.]*\) .*/\1/p' "$T/plain") ms unprotected, $p50 ms protected), $rel frames released after acks"

bg_udp "$T/c.log" --rate 100 --duration 600 --timeout 100
# The trials start once the client runs: the guest sends its answers (the
# client's Python takes seconds to start on an emulated CPU).
first=$(net_field v1 tx_frames) end=$(deadline 10)
until [ "$(net_field v1 tx_frames)" -gt "$first" ]; do
	[ "$(date +%s)" -le "$end" ] || fail "the background client got no answer: $(cat "$T/c.log")"
	sleep 0.05
done
i=1
while [ "$i" -le "$TRIALS" ]; do
	cur=v$i sb=v$((i + 1))
	curtap=ntap$(( (i + 1) % 2 ))
	before=$(net_field "$cur" tx_frames)
	# The random moment of the failure (not a synchronisation).
	sleep "$(( $(rand_ms 1000) / 1000 + 1 )).$(printf %03d "$(rand_ms 1000)")"
	after=$(net_field "$cur" tx_frames)
	[ "$after" -gt "$before" ] || fail "trial $i: $cur answers nothing ($before -> $after)"
	eval "kill_vmm \$${cur}_pid"
	nctl "$sb-$$" activate >"$T/act" 2>&1 || fail "trial $i: activate: $(cat "$T/act")"
	LOG=$T/$sb.err
	wait_for_line "$T/$sb.err" "virtio-net: announcing $GMAC" 10 || fail "trial $i: no announce"
	end=$(deadline 10)
	until [ "$(net_field "$sb" tx_frames)" -ge 20 ]; do
		[ "$(date +%s)" -le "$end" ] || fail "trial $i: the activated $sb answers nothing"
		sleep 0.05
	done
	echo "trial $i: $cur killed after $after frames, $sb activated and answering"
	if [ "$i" -lt "$TRIALS" ]; then
		standby v$((i + 2)) "$curtap"
		nprotect "$sb"
	fi
	i=$((i + 1))
done
kill -TERM "$ucl"
wait "$ucl"; crc=$?
LOG=$T/c.log
[ "$crc" -eq 0 ] && grep -q "mismatches=0 " "$T/c.log" || fail "client: rc $crc"
pass "$TRIALS kill -9 failovers under 100 Hz: $(tail -n 1 "$T/c.log")"
