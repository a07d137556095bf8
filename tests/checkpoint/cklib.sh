# Helpers for the checkpointing tests (sourced after tests/vmm/lib.sh and
# tests/migration/mlib.sh).
CKCLIENT="$top_srcdir/tests/checkpoint/ckclient.py"

# start_standby ID [ARGS...]: a standby on a fresh port ($PORT), serial on
# $T/ID.sock; returns when it listens.
start_standby() {
	_id=$1; shift
	free_port
	bg_vmm "$_id" run --standby "tcp:127.0.0.1:$PORT" --tls-none --memory 32M --cpus 1 \
		--serial "unix:$T/$_id.sock" --control "$_id-$$" "$@"
	wait_for_line "$T/$_id.err" "waiting for an incoming migration" 20 ||
		fail "$_id: the standby did not listen: $(cat "$T/$_id.err")"
}

# start_primary ID [ARGS...]: the counter guest, serial on $T/ID.sock.
start_primary() {
	_id=$1; shift
	bg_vmm "$_id" run --kernel "$GUESTS/counter.elf" --memory 32M --cpus 1 \
		--serial "unix:$T/$_id.sock" --control "$_id-$$" "$@"
}

# wait_ctl ID: until ID's control service answers (polled: no other signal).
wait_ctl() {
	_end=$(( $(date +%s) + 20 ))
	until "$VMM" ctl "$1-$$" status >/dev/null 2>&1; do
		[ "$(date +%s)" -le "$_end" ] || fail "$1: the control service did not come up: $(cat "$T/$1.err")"
		sleep 0.02
	done
}

# protect ID PORT [ARGS...]: start protection, wait until the sync is done.
protect() {
	_id=$1 _port=$2; shift 2
	wait_ctl "$_id"
	"$VMM" ctl "$_id-$$" protect "tcp:127.0.0.1:$_port" --tls-none "$@" \
		>"$T/ctl.out" 2>&1 || fail "protect: $(cat "$T/ctl.out")"
	wait_for_line "$T/$_id.err" "initial sync to .* done" 20 ||
		fail "$_id: not protected: $(cat "$T/$_id.err")"
}

# status ID: protect-status --json of ID, on stdout.
ck_status() {
	"$VMM" ctl "$1-$$" protect-status --json
}

# A random number of milliseconds below $1.
rand_ms() {
	echo $(( $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % $1 ))
}

# Stop a vmm started by bg_vmm: kill -9 by PID and reap it.
kill_vmm() {
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}
