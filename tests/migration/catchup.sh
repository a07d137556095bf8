#!/bin/sh
# The catch-up before the pause (docs/migration.md "Catching up before the
# pause"): with its pages on the main connection, the source sends a Drain
# after its last round and pauses only on the destination's answer.  A
# destination that does not offer it (VMM_TEST_NO_CATCH_UP=1, a test-build
# hook: as an older one) and --parallel keep the old sequence; every
# migration succeeds and the guest runs on at the destination.
. "$(dirname "$0")/../common.sh"
. "$(dirname "$0")/migration_helpers.sh"
need_kvm
# Without the hook the second case would prove nothing: fail, as corrupt.sh.
[ "${FAULT_INJECTION:-}" = yes ] ||
	fail "this build has no fault injection (configure --enable-fault-injection, as setup.sh does): VMM_TEST_NO_CATCH_UP would do nothing"
"$VMM" --version | grep -q "fault injection compiled in" ||
	fail "configure says fault injection but the vmm lacks it: $("$VMM" --version)"

CAUGHT="the destination caught up with round [0-9]* before the pause"
ANSWERED="answered the source's drain of round [0-9]* (caught up)"

# one NAME OLD MIGRATE-ARGS...: an idle guest migrated, both sides logging
# at info (-v), to a success with the guest running at the destination; with
# OLD=old the destination does not offer the catch-up.
one() {
	_n=$1 _old=$2; shift 2
	if [ "$_old" = old ]; then export VMM_TEST_NO_CATCH_UP=1; fi
	start_dst "d$_n" 128M 1 --tls-none -v
	unset VMM_TEST_NO_CATCH_UP
	start_src "s$_n" 128M 1 "mem_mib=32 rate_mib=1 hb_us=20000 verify_every=2" -v
	migrate_done "$_n" "$@"
	LOG=
}

# no_catch_up NAME: neither side logged a catch-up.
no_catch_up() {
	! grep -q "$CAUGHT" "$T/s$1.err" || fail "$1: the source caught up: $(cat "$T/s$1.err")"
	! grep -q "$ANSWERED" "$T/d$1.err" || fail "$1: the destination answered a drain: $(cat "$T/d$1.err")"
}

one new new
grep -q "$CAUGHT" "$T/snew.err" || fail "new: the source did not catch up: $(cat "$T/snew.err")"
grep -q "$ANSWERED" "$T/dnew.err" || fail "new: the destination answered no drain: $(cat "$T/dnew.err")"
pass "catch-up before the pause: $(grep -o "$CAUGHT" "$T/snew.err" | tail -n 1); $(cat "$T/ctl.out")"

one old old
grep -q "test build: not offering the catch-up" "$T/dold.err" || fail "old: the hook did not run: $(cat "$T/dold.err")"
no_catch_up old
pass "a destination without catch_up: the old sequence; $(cat "$T/ctl.out")"

one par new --parallel 2
no_catch_up par
pass "--parallel 2: no catch-up; $(cat "$T/ctl.out")"
