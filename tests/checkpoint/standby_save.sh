#!/bin/sh
# A standby loads its checkpoints' vCPU and device state into KVM at most
# once a second and keeps the others' aside (docs/checkpointing.md, "The
# standby"): whatever reads or runs the standby's state loads the last one
# first.
# - `save` of a standby while 10 ms checkpoints arrive (the dirty guest,
#   2 vCPUs): the snapshot, restored in a new vmm, runs on and keeps
#   verifying its working set against its own counts; RAM of one checkpoint
#   under the vCPUs of an older one shows as "dirty BAD" or a silent guest.
#   The standby takes checkpoints after the save as before.
# - `migrate` of a standby is refused, naming why (its RAM changes with
#   every checkpoint, which no dirty log sees).
. "$(dirname "$0")/../common.sh"
. "$top_srcdir/tests/migration/migration_helpers.sh"
. "$top_srcdir/tests/checkpoint/checkpoint_helpers.sh"
need_kvm

shape="--cpus 2 --memory 64M"
# shellcheck disable=SC2086  # option words without spaces
bg_vmm sb run --standby "tcp:127.0.0.1:0" --tls-none $shape --serial "file:$T/sb.ser" \
	--control "sb-$$"
listening sb "the standby did not listen"
# shellcheck disable=SC2086
bg_vmm pr run $shape --kernel "$GUESTS/dirty.elf" --serial "file:$T/pr.ser" --control "pr-$$" \
	--cmdline "mem_mib=8 rate_mib=0 hb_us=20000 verify_every=2 cpus=2"
wait_for_line "$T/pr.ser" '^hb 2 ' 30 || fail "the dirty guest did not start"
protect pr "$PORT" --interval 10
wait_epochs pr 300 60 || fail "no 300 epochs: $(ck_status pr)"

"$VMM" ctl "sb-$$" save "$T/snap" >"$T/save" 2>&1 || fail "save of the standby: $(cat "$T/save")"
n=$(ck_field sb epochs)
wait_epochs sb $((n + 50)) 30 || fail "no checkpoints after the save: $(ck_status sb)"
ck_status sb | grep -q '"state":"standby"' || fail "the save changed the standby: $(ck_status sb)"
# shellcheck disable=SC2086
bg_vmm rs run $shape --restore "$T/snap" --serial "file:$T/rs.ser" --control "rs-$$"
LOG=$T/rs.err
wait_for_line "$T/rs.ser" '^hb ' 30 || fail "the restored standby's guest is silent"
first=$(last_hb "$T/rs.ser")
wait_for_line "$T/rs.ser" "^hb $((first + 5)) " 30 ||
	fail "the restored standby's guest stopped: $(tail -n 3 "$T/rs.ser")"
grep -q "dirty BAD" "$T/rs.ser" && fail "$(grep 'dirty BAD' "$T/rs.ser")"
pass "a standby saved while 10 ms checkpoints arrived: restored, the guest verified its memory 5 more times; the standby went on"
kill_vmm "$rs_pid"

if "$VMM" ctl "sb-$$" migrate "tcp:127.0.0.1:1" >"$T/mig" 2>&1; then
	fail "a migration of the standby was accepted"
fi
grep -q "this vmm is a standby: migrate its primary" "$T/mig" || fail "migrate: $(cat "$T/mig")"
pass "migrate of a standby refused: $(cat "$T/mig")"
kill_vmm "$pr_pid"
kill_vmm "$sb_pid"
