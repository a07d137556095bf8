# Helpers for the migration tests (sourced after tests/common.sh).
# listening ID WHAT: until ID's vmm, given port 0, listens for a migration;
# the port the kernel gave it in $PORT.  A port chosen by the test could be
# taken meanwhile by a test running in parallel; this one cannot.
listening() {
	wait_for_line "$T/$1.err" "waiting for an incoming migration" 20 ||
		fail "$1: $2: $(cat "$T/$1.err")"
	PORT=$(sed -n 's/.*waiting for an incoming migration on tcp:.*:\([0-9][0-9]*\) (.*/\1/p' \
		"$T/$1.err" | tail -n 1)
	[ -n "$PORT" ] || fail "$1: no port in its log: $(cat "$T/$1.err")"
}

# start_dst ID MEM CPUS [TLS ARGS...]: an incoming vmm on a fresh port ($PORT);
# returns when it listens.
start_dst() {
	_id=$1 _mem=$2 _cpus=$3; shift 3
	bg_vmm "$_id" run --incoming "tcp:127.0.0.1:0" --memory "$_mem" --cpus "$_cpus" \
		--serial "file:$T/$_id.ser" --control "$_id-$$" "$@"
	listening "$_id" "the destination did not listen"
}

# start_src ID MEM CPUS CMDLINE [VMM ARGS...]: the dirty guest; returns after
# its 2nd heartbeat.
start_src() {
	_sid=$1 _smem=$2 _scpus=$3 _scmd=$4; shift 4
	bg_vmm "$_sid" run --kernel "$GUESTS/dirty.elf" --memory "$_smem" --cpus "$_scpus" \
		--cmdline "$_scmd" --serial "file:$T/$_sid.ser" --control "$_sid-$$" "$@"
	wait_for_line "$T/$_sid.ser" '^hb 2 ' 30 || fail "$_sid: the dirty guest did not start"
}

# The guest in serial file $1 runs on: N more heartbeats after the last one
# seen in $2 (default 3: two full verifications with verify_every=2).  One
# more is waited for, as the line after the last complete one may be split
# between the two files (the source's buffered bytes reach the destination).
hb_continues() {
	_from=$(last_hb "$2")
	# A running guest's file ($2 may be $1) can hold no whole heartbeat
	# line yet: a destination's first line is often the rest of one cut by
	# the switch-over, and its first "hb" line still being written.  (Taken
	# as none, the wait below looked for "hb 4": tests/migration/
	# pingpong.sh failed so in a CI rehearsal.)  Polled, as wait_for_line.
	_end=$(deadline 30)
	while [ -z "$_from" ] && [ "$(date +%s)" -le "$_end" ]; do
		sleep 0.05
		_from=$(last_hb "$2")
	done
	_want=$(( ${_from:-0} + ${3:-3} + 1 ))
	wait_for_line "$1" "^hb $_want " 30 ||
		fail "no heartbeat $_want in $1 (last $(last_hb "$1"), source last ${_from:-none})"
	grep -aq "dirty BAD" "$1" "$2" && fail "working set corrupted: $(grep -a 'dirty BAD' "$1" "$2")"
	return 0
}

# migrate SRC DST-PORT ARGS...: run vmm ctl migrate --wait; sets $rc.
migrate() {
	_src=$1 _port=$2; shift 2
	"$VMM" ctl "$_src-$$" migrate "tcp:127.0.0.1:$_port" --wait "$@" >"$T/ctl.out" 2>"$T/ctl.err"
	rc=$?
}

# Post-copy needs userfaultfd(2) (x86-64 syscall 323): skip without it.
# migrate_done NAME MIGRATE-ARGS...: migrates sNAME (start_src) to dNAME
# (start_dst): the command succeeds, the source exits 0 saying "migrated
# to", the guest's heartbeats go on at the destination, which then quits.
migrate_done() {
	_mn=$1; shift
	LOG=$T/s$_mn.err
	migrate "s$_mn" "$PORT" --tls-none "$@"
	[ "$rc" -eq 0 ] || fail "$_mn: migrate failed: $(cat "$T/ctl.err")"
	eval "wait \$s${_mn}_pid"; _src_rc=$?
	[ "$_src_rc" -eq 0 ] || fail "$_mn: the source exited with $_src_rc"
	grep -q "migrated to" "$T/s$_mn.err" || fail "$_mn: the source did not say it migrated"
	LOG=$T/d$_mn.err
	hb_continues "$T/d$_mn.ser" "$T/s$_mn.ser"
	"$VMM" ctl "d$_mn-$$" quit >/dev/null
	eval "wait \$d${_mn}_pid"
}

need_userfaultfd() {
	command -v python3 >/dev/null 2>&1 || skip "python3 is needed to probe userfaultfd"
	python3 -c 'import ctypes, os, sys
fd = ctypes.CDLL(None, use_errno=True).syscall(323, os.O_CLOEXEC)
sys.exit(0 if fd >= 0 else 1)' || skip "userfaultfd is not available here"
}

# wait_status ID REGEX SECS: until `vmm ctl ID migrate-status` has a line
# matching REGEX (the job's state is the event; polled, there is no other).
wait_status() {
	_end=$(deadline "${3:-20}")
	while [ "$(date +%s)" -le "$_end" ]; do
		"$VMM" ctl "$1-$$" migrate-status 2>/dev/null | grep -Eq -- "$2" && return 0
		sleep 0.05
	done
	return 1
}
