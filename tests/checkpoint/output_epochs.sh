#!/bin/sh
# Output-triggered epochs (docs/checkpointing.md): held output ends an epoch
# once it is --min-interval old, at most --max-rate epochs a second, and the
# output still leaves only when its checkpoint is acknowledged.
#
# 1. With a 2 s interval a back-to-back client of the counter guest is
#    answered many times a second: the answers end the epochs (with
#    --output-epochs off it would get one answer per 2 s epoch at most),
#    but no epoch is shorter than --min-interval 20 ms (counted in the status) (which also keeps
#    each answer line whole in one epoch, for part 2).
# 2. The link to the standby is cut (a forwarder stopped: no ack comes,
#    the connection stays open, well within the primary's ack timeout,
#    10 s scaled like every time limit): the answer of the epoch in flight stays held, no answer
#    leaves; the standby, activated after a kill -9 of the primary, holds
#    every value any answer showed.
# 3. A chatty guest (the client never stops asking) with --max-rate 50,
#    --min-interval 0.5 (below a millisecond: the rate bound decides) and
#    a 1 s interval: never more epochs than the bound, and at least 10 a
#    second, ended by output (1 a second would be the interval's rate; the
#    lower bound leaves room for a loaded host's slow pauses and acks).
. "$(dirname "$0")/../common.sh"
. "$top_srcdir/tests/migration/migration_helpers.sh"
. "$top_srcdir/tests/checkpoint/checkpoint_helpers.sh"
need_kvm

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# --- 1: answers end the epochs ---------------------------------------------
# The standby behind a forwarder that part 2 stops.
start_standby sb1
start_proxy px1 "$PORT"
start_primary pr1
protect pr1 "$PPORT" --interval 2000 --min-interval 20 --ack-timeout $((10000 * TIME_SCALE))
log=$T/acked1
: >"$log"
python3 "$CKCLIENT" inc "$T/pr1.sock" "$log" >"$T/client1.out" 2>&1 &
cl=$!
PIDS="$PIDS $cl"
wait_for_line "$log" '^1$' 20 || fail "no value acknowledged"
t0=$(now_ms)
e0=$(ck_field pr1 epochs)
wait_for_line "$log" '^21$' 8 || fail "20 answers took more than $(secs 8) s with 2 s epochs: output did not end the epochs ($(wc -l <"$log") answers; $(ck_status pr1))"
e1=$(ck_field pr1 epochs)
took=$(( $(now_ms) - t0 ))
# Captures are at least 20 ms apart: in the $took ms between the two
# readings at most took/20 + 1 epochs ended (the answer lines' times would
# measure the client's polling, not the epochs).
[ $(( (e1 - e0 - 1) * 20 )) -le "$took" ] ||
	fail "$((e1 - e0)) epochs in $took ms: epochs shorter than --min-interval 20"
# The counter guest's epochs have few dirty pages: with cow, the pauses copy them.
[ "$(ck_field pr1 capture)" != cow ] || [ "$(ck_field pr1 epochs_copied)" -ge 20 ] ||
	fail "fewer than 20 epochs copied in the pause: $(ck_status pr1)"
[ "$(ck_field pr1 min_interval_us)" = 20000 ] ||
	fail "min_interval_us $(ck_field pr1 min_interval_us), want 20000 (--min-interval 20)"
by_output=$(ck_field pr1 epochs_by_output)
[ "$by_output" -ge 20 ] || fail "epochs_by_output $by_output, want >= 20: $(ck_status pr1)"
pass "20 answers in $took ms with a 2 s interval; epochs by output $by_output, by time $(ck_field pr1 epochs_by_time)"

# --- 2: no answer leaves before its ack --------------------------------------
# The link is cut mid-stream (the forwarder stopped): the checkpoint in
# flight never reaches the standby, so its answer must never leave.  Then
# the primary dies (kill -9) and so does the link: the standby, activated,
# must hold every value an answer showed.  An answer let out at the
# capture instead of at the ack is seen by the client and missing there.
kill -STOP "$px1_pid"
# An ack in flight when the link stopped may still release one epoch.
sleep 0.5
n1=$(wc -l <"$log")
e1=$(ck_field pr1 committed_epoch)
# The next answer is produced and held: the status shows it (polled, the status is the event).
wait_status pr1 '"output_held_bytes":[1-9]' 5 || fail "no output held with the link cut: $(ck_status pr1)"
sleep 1
n2=$(wc -l <"$log")
e2=$(ck_field pr1 committed_epoch)
[ "$n1" -eq "$n2" ] || fail "answers left with the link cut: $n1 -> $n2 (epoch $e1 -> $e2)"
[ "$e1" -eq "$e2" ] || fail "epochs committed with the link cut: $e1 -> $e2"
pass "link cut: $n2 answers before, none for 1 s with output held (epoch $e2)"
kill_vmm "$pr1_pid"
kill_vmm "$px1_pid"
wait "$cl"
last=$(tail -n 1 "$log")
"$VMM" ctl "sb1-$$" activate >"$T/act1" 2>&1 || fail "activate: $(cat "$T/act1")"
python3 "$CKCLIENT" verify "$T/sb1.sock" "$last" >"$T/verify1" 2>&1 ||
	{ LOG=$T/sb1.err; fail "$(cat "$T/verify1")"; }
pass "kill -9, activated: $(cat "$T/verify1")"
kill_vmm "$sb1_pid"

# --- 3: --max-rate bounds a chatty guest -----------------------------------
RATE=50
start_standby sb2
start_primary pr2
protect pr2 "$PORT" --interval 1000 --min-interval 0.5 --max-rate $RATE
[ "$(ck_field pr2 min_interval_us)" = 500 ] ||
	fail "min_interval_us $(ck_field pr2 min_interval_us), want 500 (--min-interval 0.5)"
log=$T/acked2
: >"$log"
python3 "$CKCLIENT" inc "$T/pr2.sock" "$log" >"$T/client2.out" 2>&1 &
cl=$!
PIDS="$PIDS $cl"
wait_for_line "$log" '^20$' 20 || fail "no values acknowledged"
t0=$(now_ms)
e0=$(ck_field pr2 epochs)
sleep 3   # the window the rate is measured over (not a synchronisation)
e1=$(ck_field pr2 epochs)
t1=$(now_ms)
rate=$(( (e1 - e0) * 1000 / (t1 - t0) ))
# One epoch more than the bound for the window's edges.
[ $(( (e1 - e0 - 1) * 1000 )) -le $(( RATE * (t1 - t0) )) ] ||
	fail "$((e1 - e0)) epochs in $((t1 - t0)) ms: $rate/s, above --max-rate $RATE"
[ "$rate" -ge 10 ] ||
	fail "$rate epochs/s with a chatty guest: output did not end the epochs (interval rate 1/s): $(ck_status pr2)"
per_s=$(ck_field pr2 epochs_per_s)
python3 -c "import sys; sys.exit(float('$per_s') > $RATE + 1)" ||
	fail "epochs_per_s $per_s above --max-rate $RATE"
pass "chatty guest, --max-rate $RATE: $rate epochs/s over $((t1 - t0)) ms (status: $per_s/s, by output $(ck_field pr2 epochs_by_output), by time $(ck_field pr2 epochs_by_time))"
kill "$cl"; wait "$cl" 2>/dev/null
kill_vmm "$pr2_pid"
kill_vmm "$sb2_pid"
