# The base of every shell test (sourced first, POSIX sh): the build it
# tests ($VMM, $GUESTS), time limits (secs, deadline), skip/fail/pass,
# a temporary directory $T, and every process a test starts, recorded and
# killed by PID on exit.

# make check gives every test its environment (Makefile.am,
# AM_TESTS_ENVIRONMENT).  A test run directly (sudo tests/vmm/boot.sh, from
# any directory) finds what is not set the same way from the tree the
# script is in, built in place (or from $top_builddir when set), and says
# so in one line on stderr.
direct_run_env() {
	_top=$(cd "$(dirname "$0")" && while [ ! -f tests/common.sh ] && [ "$PWD" != / ]; do cd ..; done && pwd)
	[ -f "$_top/tests/common.sh" ] || { echo "$0: no source tree holding tests/common.sh above it" >&2; exit 99; }
	top_srcdir=${top_srcdir:-$_top}
	top_builddir=${top_builddir:-$top_srcdir}
	[ -f "$top_builddir/Makefile" ] || {
		echo "$0: $top_builddir is not configured: build it (./configure && make), or set top_builddir to the build tree" >&2
		exit 99
	}
	VMM=${VMM:-$top_builddir/vmm/vmm}
	GUESTS=${GUESTS:-$top_builddir/tests/guests}
	[ -x "$VMM" ] || { echo "$0: $VMM is not built: run make in $top_builddir" >&2; exit 99; }
	[ -n "${FAULT_INJECTION+set}" ] ||
		FAULT_INJECTION=$(sed -n 's/^FAULT_INJECTION = //p' "$top_builddir/Makefile")
	CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-${HASVC_TIME_SCALE:-1}}
	export top_srcdir top_builddir VMM GUESTS FAULT_INJECTION CK_TIMEOUT_MULTIPLIER
	echo "${0##*/}: not under make check: testing the build in $top_builddir" \
		"(VMM=$VMM, FAULT_INJECTION=$FAULT_INJECTION, HASVC_TIME_SCALE=${HASVC_TIME_SCALE:-1})" >&2
}
[ -n "${VMM:-}" ] && [ -n "${GUESTS:-}" ] && [ -n "${top_srcdir:-}" ] && [ -n "${top_builddir:-}" ] ||
	direct_run_env

# HASVC_TIME_SCALE, a whole number (1; tests/nested/run.sh sets 4): every
# time limit a test waits for is multiplied by it, so that a slow KVM (an
# emulated one) gets more time for the same checks.  What a test asserts
# does not change with it.
TIME_SCALE=${HASVC_TIME_SCALE:-1}
case $TIME_SCALE in ''|0|*[!0-9]*) echo "HASVC_TIME_SCALE is a whole number above 0, not '$TIME_SCALE'"; exit 99 ;; esac

# secs N: the time limit of N (whole) seconds, scaled.
secs() { echo $(( $1 * TIME_SCALE )); }

# deadline N: the time (date +%s) at which a wait of N seconds ends, scaled.
deadline() { echo $(( $(date +%s) + $1 * TIME_SCALE )); }

# nap: the pause between two polls, 0.1 s scaled: in a nested VM a poll
# (a hactl and a python3 start) costs the emulated CPU the guest runs on.
NAP=$((TIME_SCALE / 10)).$((TIME_SCALE % 10))
nap() { sleep "$NAP"; }

T=$(mktemp -d "${TMPDIR:-/tmp}/vmmtest.XXXXXX")
PIDS=""

cleanup() {
	for p in $PIDS; do
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	# KEEP_T=1 keeps the files for a post-mortem.
	if [ -n "${KEEP_T:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

skip() { echo "SKIP: $*"; exit 77; }
# The message again after the log: a CI report shows a log's last lines.
fail() {
	echo "FAIL: $*"
	if [ -n "${LOG:-}" ] && [ -f "$LOG" ]; then
		sed 's/^/  | /' "$LOG"
		echo "FAIL: $*"
	fi
	exit 1
}
pass() { echo "ok: $*"; }

# A KVM test that cannot run fails: a suite must never pass with the VMM
# untested (setup.sh check runs these tests in a nested VM where the host
# has no KVM).
need_kvm() {
	[ -c /dev/kvm ] || fail "/dev/kvm is missing: this test needs KVM (setup.sh check runs it in a nested VM)"
	[ -r /dev/kvm ] && [ -w /dev/kvm ] || fail "no read/write access to /dev/kvm"
}

# Start vmm in the background: bg_vmm ID ARGS...; its PID goes to ${ID}_pid, stdout to $T/NAME.out, stderr to $T/NAME.err.
bg_vmm() {
	_bg=$1; shift
	"$VMM" "$@" >"$T/$_bg.out" 2>"$T/$_bg.err" &
	eval "${_bg}_pid=$!"
	PIDS="$PIDS $!"
}

# alive PID: true if PID is a process that has not exited (a zombie, dead
# but not yet reaped, counts as exited).
alive() {
	_as=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$_as" ] && [ "${_as%% *}" != Z ]
}

# wait_exit PID [SECS]: until the child PID exits (polled: a shell cannot
# wait with a time limit), then its exit status in $rc; 1 if it runs on.
wait_exit() {
	_end=$(deadline "${2:-30}")
	while alive "$1"; do
		[ "$(date +%s)" -le "$_end" ] || return 1
		sleep 0.05
	done
	wait "$1"
	rc=$?
	return 0
}

# Wait until FILE contains a line matching REGEX, at most SECS seconds, by
# polling the file (the event is a line being written; there is no other
# signal to wait on from a shell).
wait_for_line() {
	file=$1 regex=$2
	end=$(deadline "${3:-20}")
	while [ "$(date +%s)" -le "$end" ]; do
		grep -Eq -- "$regex" "$file" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# The number of the last complete heartbeat line ("hb N ...\n") in FILE.  A
# line still being written (no newline yet) is not counted: its number may
# be cut short ("hb 3" of "hb 36 ...").
last_hb() {
	if [ -n "$(tail -c 1 "$1" 2>/dev/null)" ]; then
		sed '$d' "$1"
	else
		cat "$1" 2>/dev/null
	fi | grep -a '^hb ' | tail -n 1 | cut -d' ' -f2
}

# Run vmm in the foreground with a time limit; sets $rc.
run_vmm() {
	secs=$1; shift
	timeout -k 2 "$(secs "$secs")" "$VMM" "$@" >"$T/out" 2>"$T/err"
	rc=$?
	LOG=$T/err
}

# json_field KEY: the value of KEY in the JSON object on stdin (a --json
# output), parsed by python3's json module rather than matched as text:
# strings as they are, other values as JSON (true, 40.0, -1).  Prints
# nothing and returns 1 when stdin is empty (the vmm was not there) or has
# no KEY; says so on stderr when stdin is not JSON.
json_field() {
	python3 -c '
import json, sys
text = sys.stdin.read()
if not text.strip():
    sys.exit(1)
try:
    d = json.loads(text)
except ValueError as e:
    sys.exit("json_field %s: not JSON (%s): %r" % (sys.argv[1], e, text[:200]))
if not isinstance(d, dict) or sys.argv[1] not in d:
    sys.exit(1)
v = d[sys.argv[1]]
print(v if isinstance(v, str) else json.dumps(v))' "$1"
}
