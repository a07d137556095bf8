# Helpers for the checkpointing tests (sourced after tests/common.sh and
# tests/migration/migration_helpers.sh).
CKCLIENT="$top_srcdir/tests/checkpoint/ckclient.py"

# start_standby ID [ARGS...]: a standby on a fresh port ($PORT), serial on
# $T/ID.sock; returns when it listens.
start_standby() {
	_id=$1; shift
	bg_vmm "$_id" run --standby "tcp:127.0.0.1:0" --tls-none --memory 32M --cpus 1 \
		--serial "unix:$T/$_id.sock" --control "$_id-$$" "$@"
	listening "$_id" "the standby did not listen"
}

# start_primary ID [ARGS...]: the counter guest, serial on $T/ID.sock.
start_primary() {
	_id=$1; shift
	bg_vmm "$_id" run --kernel "$GUESTS/counter.elf" --memory 32M --cpus 1 \
		--serial "unix:$T/$_id.sock" --control "$_id-$$" "$@"
}

# wait_ctl ID: until ID's control service answers (polled: no other signal).
wait_ctl() {
	_end=$(deadline 20)
	until "$VMM" ctl "$1-$$" status >/dev/null 2>&1; do
		[ "$(date +%s)" -le "$_end" ] || fail "$1: the control service did not come up: $(cat "$T/$1.err")"
		sleep 0.02
	done
}

# wait_for_count FILE REGEX N [SECS]: until N lines of FILE match REGEX
# (polled, as wait_for_line).
wait_for_count() {
	_end=$(deadline "${4:-20}")
	until [ "$(grep -Ec -- "$2" "$1" 2>/dev/null)" -ge "$3" ]; do
		[ "$(date +%s)" -le "$_end" ] || return 1
		sleep 0.05
	done
}

# protect ID PORT [ARGS...]: start protection, wait until the sync is done
# (this protect's: ID may have been protected before).
protect() {
	_id=$1 _port=$2; shift 2
	wait_ctl "$_id"
	_syncs=$(grep -c "initial sync to .* done" "$T/$_id.err")
	"$VMM" ctl "$_id-$$" protect "tcp:127.0.0.1:$_port" --tls-none "$@" \
		>"$T/ctl.out" 2>&1 || fail "protect: $(cat "$T/ctl.out")"
	wait_for_count "$T/$_id.err" "initial sync to .* done" $((_syncs + 1)) 20 ||
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

# wait_status ID REGEX [SECS]: until ID's protect-status --json matches
# REGEX (polled: the status is the event).
wait_status() {
	_end=$(deadline "${3:-20}")
	until ck_status "$1" 2>/dev/null | grep -Eq -- "$2"; do
		[ "$(date +%s)" -le "$_end" ] || return 1
		sleep 0.05
	done
}

# ck_digest ID: the disk_digest of ID's protect-status --json.
ck_digest() {
	ck_status "$1" | json_field disk_digest
}

# sha FILE: its SHA-256 in hex.
sha() {
	sha256sum "$1" | cut -d' ' -f1
}

# ck_field ID FIELD: a numeric field of ID's protect-status --json.
ck_field() {
	ck_status "$1" | json_field "$2"
}

# wait_epochs ID N [SECS]: until ID has counted N epochs.
wait_epochs() {
	wait_field_ge "$1" epochs "$2" "${3:-20}"
}

# wait_field_ge ID FIELD N [SECS]: until protect-status's FIELD of ID is at
# least N (a count compared as a number: many may pass between two polls).
wait_field_ge() {
	_end=$(deadline "${4:-20}")
	until [ "$(ck_field "$1" "$2")" -ge "$3" ] 2>/dev/null; do
		[ "$(date +%s)" -le "$_end" ] || return 1
		sleep 0.05
	done
}

# vm_state ID: running, paused... from vmm ctl status.
vm_state() {
	"$VMM" ctl "$1-$$" status | sed -n 's/^state: //p'
}

# start_client ID LOG: the incrementing client on ID's serial socket; its
# PID in $cl.
start_client() {
	: >"$2"
	python3 "$CKCLIENT" inc "$T/$1.sock" "$2" >"$2.out" 2>&1 &
	cl=$!
	PIDS="$PIDS $cl"
}

# start_proxy ID TARGET_PORT: a loopback forwarder (ckproxy.py) whose SIGSTOP
# cuts the link; its port in $PPORT.
start_proxy() {
	python3 "$top_srcdir/tests/checkpoint/ckproxy.py" "$2" >"$T/$1.out" 2>&1 &
	eval "$1_pid=$!"
	PIDS="$PIDS $!"
	wait_for_line "$T/$1.out" '^listening [0-9]+$' 10 || fail "$1: the proxy did not start: $(cat "$T/$1.out")"
	PPORT=$(sed -n 's/^listening //p' "$T/$1.out")
}
