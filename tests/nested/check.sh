#!/bin/sh
# tests/nested/check.sh [-j N] TEST...: run tests as `make check TESTS=...`
# does (automake's build-aux/test-driver, the environment of Makefile.am's
# AM_TESTS_ENVIRONMENT, TEST.log and TEST.trs beside each test, which
# tests/summary.sh counts), without make.  For the nested VM
# (tests/nested/run.sh): there, make's own start-up (reading the Makefile
# and stat-ing the tree over 9p on an emulated CPU) costs 3-4 minutes
# before the first test.  The tree must be built (make check TESTS=).
# -j N: N tests at a time (default 1).  Exits non-zero if a test failed.
# CHECK_TEST_TIMEOUT (seconds, default 2400; 0: none): a test still running
# then is ended (SIGTERM to its process group, so its cleanup runs; exit
# status 124) and counts as failed, so that one hung test fails the run instead of holding
# the nested VM, and CI, until their own limits.  Raise it for the Linux
# tests' full repetition counts (tests/linux/README.md).
top=$(cd "$(dirname "$0")/../.." && pwd)
jobs=1
if [ "${1:-}" = -j ]; then
	jobs=$2
	shift 2
fi
[ -f "$top/Makefile" ] || { echo "check.sh: $top is not configured" >&2; exit 99; }
top_srcdir=$top top_builddir=$top VMM=$top/vmm/vmm GUESTS=$top/tests/guests
CK_TIMEOUT_MULTIPLIER=${HASVC_TIME_SCALE:-1}
FAULT_INJECTION=$(sed -n 's/^FAULT_INJECTION = //p' "$top/Makefile")
export top_srcdir top_builddir VMM GUESTS CK_TIMEOUT_MULTIPLIER FAULT_INJECTION

# one TEST: the driver's verdict line (PASS: ..., FAIL: ...) on stdout.
one() {
	cd "$top" || exit 99
	case $1 in
	*.sh) set -- "$1" bash "$1" ;;
	*) set -- "$1" "./$1" ;;
	esac
	_t=$1 _t0=$(date +%s) _lim=${CHECK_TEST_TIMEOUT:-2400}
	shift
	# What every process was doing just before a hung test is ended: a
	# console is all a CI keeps.
	_w=""
	if [ "$_lim" -gt 10 ]; then
		(
			trap 'kill "$_s" 2>/dev/null; exit 0' TERM
			sleep $((_lim - 5)) &
			_s=$!
			wait "$_s" || exit 0
			echo "time: $_t still runs after $((_lim - 5)) s; the processes:"
			ps --ppid 2 -p 2 --deselect -o pid,ppid,stat,wchan:24,etimes,args | cut -c1-200
		) &
		_w=$!
	fi
	# Inside the driver: a driver ended by a signal deletes the test's log.
	bash build-aux/test-driver --test-name "$_t" --log-file "${_t%.sh}.log" \
		--trs-file "${_t%.sh}.trs" --color-tests no --enable-hard-errors yes \
		--expect-failure no -- timeout -k 30 "$_lim" "$@"
	_rc=$?
	[ -z "$_w" ] || kill "$_w" 2>/dev/null
	grep -q "(exit status: 124)" "${_t%.sh}.log" 2>/dev/null &&
		echo "time: $_t was ended after $_lim s (CHECK_TEST_TIMEOUT)"
	# A failed test's log now, not only at the end: a run that is itself
	# ended later still shows why.
	# The driver exits 0 whatever the verdict: the .trs file has it.
	grep -q '^:test-result: \(FAIL\|ERROR\)' "${_t%.sh}.trs" 2>/dev/null && {
		echo "==== $_t: the last 60 lines of ${_t%.sh}.log"
		tail -n 60 "${_t%.sh}.log"
		_rc=1
	}
	# What each test costs here (the nested VM's run must fit CI's hour).
	echo "time: $_t $(( $(date +%s) - _t0 )) s"
	return $_rc
}

if [ "${CHECK_ONE:-}" = 1 ]; then
	one "$1"
	exit $?
fi
printf '%s\n' "$@" | CHECK_ONE=1 xargs -r -P "$jobs" -n 1 sh "$0"
