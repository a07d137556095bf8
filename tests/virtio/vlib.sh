# Helpers for the virtio checkpointing tests (sourced after tests/vmm/lib.sh,
# tests/migration/mlib.sh and tests/checkpoint/cklib.sh).

# failover_verify IMAGE: the primary "pr" (still writing) is killed with
# SIGKILL, the standby "sb" (serial in $T/sb.ser) is activated; its guest
# must carry on from the last checkpoint, finish with every record verified
# and not start over, and IMAGE (the standby's own) must pass check_image.py.
failover_verify() {
	grep -q "block ok" "$T/pr.ser" && fail "the guest finished before the failure"
	kill_vmm "$pr_pid"
	"$VMM" ctl "sb-$$" activate >"$T/act" 2>&1 || fail "activate: $(cat "$T/act")"
	wait "$sb_pid"; _rc=$?
	LOG=$T/sb.err
	[ "$_rc" -eq 0 ] && grep -qx "block ok 16384" "$T/sb.ser" ||
		fail "the activated standby: rc $_rc, $(grep -a block "$T/sb.ser")"
	grep -q "block start" "$T/sb.ser" && fail "the standby's guest started over"
	python3 "$top_srcdir/tests/virtio/check_image.py" "$1" 16384 >"$T/chk" ||
		fail "the standby's image: $(cat "$T/chk")"
}
