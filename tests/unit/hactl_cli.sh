#!/bin/sh
# hactl's command line without a daemon: usage errors exit 2 with a sentence
# naming what is wrong, an unreachable hasvcd exits 1 with "cannot reach".
# The commands against a (fake) daemon are in test_hactl_ipc.c.
set -u
# Run directly, the tree the script is in, built in place.
HACTL="${top_builddir:-$(dirname "$0")/../..}/hasvc/hactl"
[ -x "$HACTL" ] || { echo "no $HACTL: build first"; exit 99; }
# A name nobody serves, in this network namespace.
export HASVC_SOCKET="hasvc-test-nobody-$$"
fails=0 passes=0

# expect STATUS WORDS ARGS...: hactl ARGS exits STATUS and says WORDS on stderr.
expect() {
	want=$1 words=$2
	shift 2
	err=$("$HACTL" "$@" 2>&1 >/dev/null)
	rc=$?
	if [ "$rc" -eq "$want" ] && { [ -z "$words" ] || printf '%s' "$err" | grep -qF -- "$words"; }; then
		passes=$((passes + 1))
	else
		echo "FAIL: hactl $*: exit $rc (want $want), stderr: $err (want '$words')"
		fails=$((fails + 1))
	fi
}

expect 1 "hactl: cannot reach hasvcd on '$HASVC_SOCKET': is the daemon running? (Connection refused)" status
expect 1 "cannot reach hasvcd on 'other'" -s other migrate web1 b
expect 1 "cannot reach hasvcd" --socket=other reload
expect 2 "hactl: unknown command 'frob'" frob
expect 2 "hactl: migrate needs VM and NODE" migrate web1
expect 2 "hactl: evacuate needs NODE" evacuate
expect 2 "hactl: failover needs VM" failover
expect 2 "hactl: fence-ack needs NODE" fence-ack
expect 2 "hactl: fence-ack: unexpected argument 'b'" fence-ack a b
expect 2 "hactl: fence-ack does not take --wait" fence-ack --wait a
expect 1 "cannot reach hasvcd" fence-ack a
expect 2 "hactl: maintenance needs NODE on|off" maintenance a
expect 2 "hactl: maintenance a: say on or off, not 'maybe'" maintenance a maybe
expect 2 "hactl: maintenance off does not take --wait" maintenance a off --wait
expect 2 "hactl: --cancel is for evacuate only" migrate web1 b --cancel
expect 2 "hactl: evacuate --cancel does not take --wait" evacuate --cancel --wait a
expect 1 "cannot reach hasvcd" maintenance a on
expect 1 "cannot reach hasvcd" evacuate --cancel a
expect 2 "hactl: status: unexpected argument 'now'" status now
expect 2 "hactl: unprotect does not take --wait" unprotect web1 --wait
expect 2 "hactl: reload does not take --wait" --wait reload
expect 2 "hactl: missing COMMAND"
expect 2 "hactl: unknown option '--frob'" --frob status
expect 2 "hactl: --timeout needs seconds above 0, not '0'" --timeout 0 status
expect 2 "hactl: --timeout needs a value" status --timeout
expect 2 "usage: hactl" -x status
expect 0 "" --help
expect 2 "hactl: --follow goes with events only" --follow status
expect 2 "hactl: events takes no words and no --wait" events web1
expect 1 "cannot reach hasvcd" events

# --json: a transport failure is also a Response on stdout.
out=$("$HACTL" --json status 2>/dev/null)
case $out in
'{"ok":false,"error":"cannot reach hasvcd on '"'$HASVC_SOCKET'"': is the daemon running? (Connection refused)","code":111,"status":null,"text":"","events":[],"events_next_seq":0,"config_digest":""}')
	passes=$((passes + 1)) ;;
*)	echo "FAIL: hactl --json status printed: $out"; fails=$((fails + 1)) ;;
esac

# ... valid JSON whatever the error quotes: a socket name with a quote, a
# backslash, a control character and a byte that is not UTF-8 (U+FFFD).
if "$HACTL" -s "$(printf 'x"\\\001\377')" --json status 2>/dev/null | python3 -c '
import json, sys
e = json.loads(sys.stdin.buffer.read().decode("utf-8"))["error"]
sys.exit(0 if "\x27x\"\\\x01\ufffd\x27" in e else "error: %r" % e)'; then
	passes=$((passes + 1))
else
	echo "FAIL: hactl --json with an odd socket name: not valid JSON, or the name not read back"
	fails=$((fails + 1))
fi

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
