#!/bin/sh
# Failover with output commit: a client increments the counter guest on a
# protected primary and records every value acknowledged to it; the primary
# vmm is killed with SIGKILL at a random moment (epochs are 10 ms, so many
# kills land mid-epoch or mid-checkpoint); the standby is activated (by
# command, or by --activate-on-loss every third trial) and must hold every
# value the client saw: counter >= last acknowledged, the guest's log intact.
# Output-triggered epochs are on (the default: an answer ends its epoch
# after 1 ms), but every fourth trial, which runs with --output-epochs off.
. "$(dirname "$0")/../common.sh"
. "$top_srcdir/tests/migration/migration_helpers.sh"
. "$top_srcdir/tests/checkpoint/checkpoint_helpers.sh"
need_kvm

TRIALS=${CK_TRIALS:-30}
i=0
while [ "$i" -lt "$TRIALS" ]; do
	i=$((i + 1))
	auto=""
	[ $((i % 3)) -eq 0 ] && auto=--activate-on-loss
	oe=""
	[ $((i % 4)) -eq 0 ] && oe="--output-epochs off"
	start_standby sb$i $auto
	start_primary pr$i
	# shellcheck disable=SC2086
	protect pr$i "$PORT" --interval 10 $oe
	log=$T/acked$i
	: >"$log"
	python3 "$CKCLIENT" inc "$T/pr$i.sock" "$log" >"$T/client$i.out" 2>&1 &
	cl=$!
	PIDS="$PIDS $cl"
	wait_for_line "$log" '^[0-9]' 20 || fail "trial $i: no value acknowledged"
	# The random moment of the failure (not a synchronisation).
	sleep "0.$(printf %03d "$(rand_ms 400)")"
	eval "kill_vmm \$pr${i}_pid"
	wait "$cl"
	last=$(tail -n 1 "$log")
	if [ -n "$auto" ]; then
		wait_for_line "$T/sb$i.err" "standby activated" 20 ||
			fail "trial $i: --activate-on-loss did not activate: $(cat "$T/sb$i.err")"
	else
		"$VMM" ctl "sb$i-$$" activate >"$T/act$i" 2>&1 || fail "trial $i: activate: $(cat "$T/act$i")"
	fi
	python3 "$CKCLIENT" verify "$T/sb$i.sock" "$last" >"$T/verify$i" 2>&1 ||
		{ LOG=$T/sb$i.err; fail "trial $i: $(cat "$T/verify$i")"; }
	ck_status sb$i | grep -q '"state":"activated".*"generation":1' ||
		fail "trial $i: standby status: $(ck_status sb$i)"
	echo "trial $i${auto:+ (auto)}${oe:+ ($oe)}: $(wc -l <"$log") acknowledged, $(cat "$T/verify$i")"
	eval "kill_vmm \$sb${i}_pid"
done
pass "$TRIALS kill -9 failovers: nothing acknowledged was lost"
