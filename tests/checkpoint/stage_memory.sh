#!/bin/sh
# The standby gives its staging memory back after each checkpoint
# (docs/checkpointing.md, "Staging memory"): the dirty guest rewrites a
# 96 MiB working set, protected with 3 s epochs, so that checkpoints of
# 32 MiB and more arrive (epochs by time only: --output-epochs off); then the operator pauses it and the checkpoints
# become small.  Once two of those committed, the standby's anonymous
# memory (RssAnon: the staging area, not guest RAM, which is a memfd) is
# far below the large checkpoint's size.
. "$(dirname "$0")/../common.sh"
. "$top_srcdir/tests/migration/migration_helpers.sh"
. "$top_srcdir/tests/checkpoint/checkpoint_helpers.sh"
need_kvm

# rss_anon PID: the process's anonymous resident memory, in KiB.
rss_anon() {
	sed -n 's/^RssAnon:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status"
}

bg_vmm sb run --standby "tcp:127.0.0.1:0" --tls-none --memory 256M --cpus 1 \
	--serial "file:$T/sb.ser" --control "sb-$$"
listening sb "the standby did not listen"
start_src pr 256M 1 "mem_mib=96 rate_mib=0 hb_us=100000"
# The ack wait scales like every time limit: applying a 32 MiB checkpoint
# takes the emulated nested VM more than the default 10 s.
protect pr "$PORT" --interval 3000 --output-epochs off --ack-timeout $((10000 * TIME_SCALE))
LOG=$T/sb.err
# A checkpoint of at least 32 MiB committed.
_end=$(deadline 60)
until [ "$(ck_field sb pages_last)" -ge 8192 ] 2>/dev/null; do
	[ "$(date +%s)" -le "$_end" ] || fail "no large checkpoint: $(ck_status sb)"
	sleep 0.1
done
big=$(ck_field sb bytes_last)
"$VMM" ctl "pr-$$" pause >"$T/p.out" 2>&1 || fail "pause: $(cat "$T/p.out")"
e=$(ck_field sb committed_epoch)
wait_field_ge sb committed_epoch $((e + 2)) 30 ||
	fail "no further checkpoint committed while paused: $(ck_status sb)"
[ "$(ck_field sb pages_last)" -lt 256 ] || fail "the checkpoints did not become small: $(ck_status sb)"
anon=$(rss_anon "$sb_pid")
[ -n "$anon" ] || fail "no RssAnon for the standby"
echo "a checkpoint of $((big >> 20)) MiB committed; after two small ones the standby's RssAnon is $((anon >> 10)) MiB"
[ $((anon * 1024)) -lt $((big / 2)) ] ||
	fail "the standby keeps $((anon >> 10)) MiB of anonymous memory after a $((big >> 20)) MiB checkpoint"
pass "staging memory released: RssAnon $((anon >> 10)) MiB after a $((big >> 20)) MiB checkpoint"
