# Helpers for the virtio checkpointing and migration tests (sourced after
# tests/common.sh and tests/migration/migration_helpers.sh; failover_verify also wants
# tests/checkpoint/checkpoint_helpers.sh).

# finished_verified NAME IMAGE WHAT: the vmm NAME (PID in $NAME_pid, serial
# in $T/NAME.ser) must exit 0 with its block guest done, all 16384 records
# verified, without starting over, and IMAGE must pass check_image.py; else
# fail, naming WHAT.  LOG is left at NAME's stderr.
finished_verified() {
	eval "wait \$${1}_pid"; _rc=$?
	LOG=$T/$1.err
	[ "$_rc" -eq 0 ] && grep -qx "block ok 16384" "$T/$1.ser" ||
		fail "$3: rc $_rc, $(grep -a block "$T/$1.ser")"
	grep -q "block start" "$T/$1.ser" && fail "$3: the guest started over"
	python3 "$top_srcdir/tests/virtio/check_image.py" "$2" 16384 >"$T/chk" ||
		fail "$3: the image: $(cat "$T/chk")"
}

# refused_carried_on DST SRC REGEX RECORDS WHAT: the migration of the vmm SRC
# to DST ("migrate": $rc, $T/ctl.err) must have failed with REGEX (ERE) said,
# DST must exit non-zero without running the guest, and SRC's block guest
# must finish with RECORDS records verified; else fail, naming WHAT.
refused_carried_on() {
	[ "$rc" -ne 0 ] && grep -Eq "$3" "$T/ctl.err" ||
		fail "$5: not refused as expected: rc $rc, $(cat "$T/ctl.err")"
	eval "wait \$${1}_pid"; _rc=$?
	[ "$_rc" -ne 0 ] && [ ! -s "$T/$1.ser" ] || fail "$5: the destination ran (rc $_rc)"
	eval "wait \$${2}_pid"; _rc=$?
	[ "$_rc" -eq 0 ] && grep -qx "block ok $4" "$T/$2.ser" ||
		fail "$5: the source did not carry on: rc $_rc, $(grep -a block "$T/$2.ser")"
}

# failover_verify IMAGE: the primary "pr" (still writing) is killed with
# SIGKILL, the standby "sb" (serial in $T/sb.ser) is activated; its guest
# must carry on from the last checkpoint, finish with every record verified
# and not start over, and IMAGE (the standby's own) must pass check_image.py.
failover_verify() {
	grep -q "block ok" "$T/pr.ser" && fail "the guest finished before the failure"
	kill_vmm "$pr_pid"
	"$VMM" ctl "sb-$$" activate >"$T/act" 2>&1 || fail "activate: $(cat "$T/act")"
	finished_verified sb "$1" "the activated standby"
}
