#!/bin/sh
# Copy-on-write capture (docs/checkpointing.md): each checkpoint holds the
# guest's RAM as of its pause although its pages are copied after the
# guest runs again.  The dirty guest in incr mode (tests/guests/dirty.c)
# checks and increments 64 pages in turn as fast as it can: every page is
# dirty in every 20 ms epoch, and a page saved after the guest wrote it
# again would be incremented twice once a standby resumes from it (the
# guest says "dirty BAD").  The copier starts only once two writes after
# the resume faulted, or 50 ms after it (VMM_TEST_COW_COPY_DELAY_US, fault
# injection), so the guest writes protected pages before they are copied:
# each such write must wait for its page's copy (the second trial runs
# without the delay: the copier's own copies from RAM).  The primary shows `capture: cow`; after 100 epochs it is
# killed (-9), the standby activated, and its guest must run on (thousands
# of passes checking every page) without "dirty BAD".  Then the same with
# VMM_TEST_CAPTURE_COPY (the pauses copy: the path of a kernel without
# userfaultfd write protection of shared memory): `capture: copy`.  With
# VMM_TEST_COW_NO_FAULT_COPY (a handler that lets the writer through
# without copying its page) a cow trial fails.  Three cow trials (only the
# last checkpoint before each kill is checked), one copy trial, and one
# cow trial of a guest that arrived by post-copy; about 20 s.  (An epoch
# of 32 dirty pages or fewer is copied in its pause even with cow: these
# guests' epochs have more, which the cow trials check.)
. "$(dirname "$0")/../common.sh"
. "$top_srcdir/tests/migration/migration_helpers.sh"
. "$top_srcdir/tests/checkpoint/checkpoint_helpers.sh"
need_kvm
[ "${FAULT_INJECTION:-}" = yes ] ||
	fail "this build has no fault injection (configure --enable-fault-injection, as setup.sh does): VMM_TEST_CAPTURE_COPY would do nothing"

# last_pass FILE: the last "pass N" line's N.
last_pass() {
	sed -n 's/^pass \([0-9]*\)$/\1/p' "$1" | tail -n 1
}

# start_guest ID [ARGS...]: the incrementing guest, serial in $T/ID.ser.
start_guest() {
	_id=$1; shift
	bg_vmm "$_id" run --kernel "$GUESTS/dirty.elf" --memory 64M --cpus 1 \
		--cmdline "incr=64 mem_mib=1 hb_us=20000" --serial "file:$T/$_id.ser" \
		--control "$_id-$$" "$@"
	wait_for_line "$T/$_id.ser" '^pass ' 20 || fail "$_id: the dirty guest did not start"
}

# trial NAME MODE: protect, fail over, check; MODE is what protect-status says.
trial() {
	_n=$1 _mode=$2
	start_guest "pr$_n"
	protected_trial "$_n" "$_mode"
}

# protected_trial NAME MODE: the same, for the running guest pr$NAME.
protected_trial() {
	_n=$1 _mode=$2
	bg_vmm "sb$_n" run --standby "tcp:127.0.0.1:0" --tls-none --memory 64M --cpus 1 \
		--serial "file:$T/sb$_n.ser" --control "sb$_n-$$"
	listening "sb$_n" "the standby did not listen"
	protect "pr$_n" "$PORT" --interval 20 --output-epochs off
	wait_epochs "pr$_n" 100 30 || fail "$_n: no 100 epochs: $(ck_status "pr$_n")"
	"$VMM" ctl "pr$_n-$$" protect-status >"$T/st$_n" 2>&1
	if [ "$_mode" = cow ] && grep -q "no userfaultfd write protection" "$T/pr$_n.err"; then
		echo "note: this kernel lacks userfaultfd write protection of shared memory: capture copy"
		_mode=copy
	fi
	grep -q "^capture: *$_mode\$" "$T/st$_n" || fail "$_n: not capture $_mode: $(cat "$T/st$_n")"
	# 64 pages and more an epoch: copied after the pause, not in it (<= 32).
	_copied=$(ck_field "pr$_n" epochs_copied)
	[ "$_mode" != cow ] || [ $((_copied * 10)) -lt "$(ck_field "pr$_n" epochs)" ] ||
		fail "$_n: $_copied epochs copied in the pause: $(ck_status "pr$_n")"
	eval "kill_vmm \$pr${_n}_pid"
	"$VMM" ctl "sb$_n-$$" activate >"$T/act$_n" 2>&1 || fail "$_n: activate: $(cat "$T/act$_n")"
	# Three heartbeats from the activated guest: thousands of passes, each
	# checking every page (the first one finds a page saved late).
	_from=$(grep -c '^pass ' "$T/sb$_n.ser")
	_end=$(deadline 20)
	until [ "$(grep -c '^pass ' "$T/sb$_n.ser")" -ge $((_from + 3)) ] ||
	      grep -aq "dirty BAD" "$T/sb$_n.ser"; do
		[ "$(date +%s)" -le "$_end" ] ||
			fail "$_n: the activated standby's guest does not run: $(tail -n 3 "$T/sb$_n.ser")"
		sleep 0.05
	done
	grep -aq "dirty BAD" "$T/sb$_n.ser" "$T/pr$_n.ser" &&
		fail "$_n: the standby did not get the memory of one instant: $(grep -a 'dirty BAD' "$T/sb$_n.ser" "$T/pr$_n.ser")"
	pass "$_n: capture $_mode, $(sed -n 's/^epochs: *\([0-9]*\).*/\1/p' "$T/st$_n") epochs; the activated standby's guest ran to pass $(last_pass "$T/sb$_n.ser") with every page right"
	eval "kill_vmm \$sb${_n}_pid"
}

VMM_TEST_COW_COPY_DELAY_US=50000
export VMM_TEST_COW_COPY_DELAY_US
trial cow1 cow
# Without the delay the copier takes most pages from RAM before the guest
# writes them (a copier that lifted the protection before copying fails).
unset VMM_TEST_COW_COPY_DELAY_US
trial cow2 cow
VMM_TEST_COW_COPY_DELAY_US=50000
export VMM_TEST_COW_COPY_DELAY_US
trial cow3 cow
VMM_TEST_CAPTURE_COPY=1
export VMM_TEST_CAPTURE_COPY
trial copy copy
unset VMM_TEST_CAPTURE_COPY

# A guest that arrived by post-copy: once every page is there, post-copy's
# userfaultfd lets go of its RAM and copy-on-write capture takes it.
need_userfaultfd
start_guest src
bg_vmm prpc run --incoming "tcp:127.0.0.1:0" --tls-none --memory 64M --cpus 1 \
	--serial "file:$T/prpc.ser" --control "prpc-$$"
listening prpc "the destination did not listen"
# 1 MiB/s: round 1 is still running when the switch is asked.
"$VMM" ctl "src-$$" migrate "tcp:127.0.0.1:$PORT" --tls-none --bandwidth 1 --postcopy \
	>"$T/mig.out" 2>&1 || fail "migrate --postcopy: $(cat "$T/mig.out")"
"$VMM" ctl "src-$$" migrate-postcopy >"$T/mig.out" 2>&1 || fail "migrate-postcopy: $(cat "$T/mig.out")"
wait_for_line "$T/prpc.err" "post-copy: every page is here" 20 ||
	fail "post-copy did not finish: $(cat "$T/prpc.err")"
protected_trial pc cow
unset VMM_TEST_COW_COPY_DELAY_US
