#!/bin/sh
# systemd's notify protocol without systemd: hasvcd on node a gets
# NOTIFY_SOCKET (a unix datagram socket tests/cluster/notify_listen.py
# listens on) and WATCHDOG_USEC.  READY=1 comes once, only after hasvcd's
# state exchange ended; STATUS= lines say what it does (joining, then its
# members, quorum and VMs, and a migration while it runs); WATCHDOG=1 keeps
# coming at half the watchdog period, and stops while the loop hangs;
# SIGTERM sends STOPPING=1.  With JOURNAL_STREAM naming its stderr, its log
# goes to the journal's native socket (played by the same listener in the
# node's private /run) with PRIORITY and CODE_FUNC fields, not to stderr,
# and a cluster event's line also with HASVC_EVENT, HASVC_NODE, HASVC_VM and
# HASVC_SEQ.
. "$(dirname "$0")/cluster_nodes.sh"
. "$(dirname "$0")/hasvc_cluster.sh"
need_hasvc
# The hung loop is a fault-injection hook: without it that part would prove
# nothing, so the test fails, saying so (as newer_state.sh).
[ "${FAULT_INJECTION:-}" = yes ] ||
	fail "this build has no fault injection (configure --enable-fault-injection, as setup.sh does): HASVCD_TEST_STALL would do nothing"
WD_US=400000
OUT="$T/notify.out"

# wait_line PATTERN TIMEOUT: until a line of $OUT matches (grep -E).
wait_line() {
	_end=$(deadline "$2")
	until grep -Eq "$1" "$OUT" 2>/dev/null; do
		[ "$(date +%s)" -le "$_end" ] || fail "no '$1' within $2 s: $(tail -5 "$OUT")"
		sleep 0.1
	done
}

cluster_setup 3
HLIB_CLUSTER_EXTRA="metrics_port = 9467"
write_hasvc_conf web1:a,b
for n in $CL_NODES; do start_corosync "$n"; done
wait_members "$CL_NODES" 3 20

python3 "$top_srcdir/tests/cluster/notify_listen.py" "$T/notify.sock" "$OUT" "$T/a/hasvcd.log" \
	>"$T/listen.err" 2>&1 &
PIDS="$PIDS $!"
wait_line '^listening$' 10
node_exec a mkdir -p /run/systemd/journal || fail "no /run/systemd/journal in a"
node_bg a journal python3 "$top_srcdir/tests/cluster/notify_listen.py" \
	/run/systemd/journal/socket "$T/journal.out" - joined
end=$(deadline 10)
until grep -q '^listening$' "$T/journal.out" 2>/dev/null; do
	[ "$(date +%s)" -le "$end" ] || fail "the journal listener did not start"
	sleep 0.1
done
start_hasvcd b
start_hasvcd c
# node_bg truncates a's stderr file, which keeps its inode: systemd's
# JOURNAL_STREAM names it.
: >"$T/a/hasvcd.err"
js=$(stat -c %d:%i "$T/a/hasvcd.err")
node_bg a hasvcd env NOTIFY_SOCKET="$T/notify.sock" WATCHDOG_USEC=$WD_US JOURNAL_STREAM="$js" \
	HASVCD_TEST_STALL="$T/stall" \
	"$HASVCD" -c "$T/hasvc.conf" -r "$T/a/run" --vmm "$VMM" -l "$T/a/hasvcd.log" -v

wait_line ' READY=1$' 30
grep -q '^SYNCED-AT-READY yes$' "$OUT" || fail "READY=1 came before the state exchange ended"
grep -q ' STATUS=joining the cluster group$' "$OUT" || fail "no STATUS while joining"
[ "$(sed -n '/ STATUS=joining/=' "$OUT" | head -1)" -lt "$(sed -n '/ READY=1$/=' "$OUT")" ] ||
	fail "the joining STATUS came after READY=1"
echo "READY=1 after the state exchange; STATUS=joining before it"

j=$(grep '|MESSAGE=told systemd: ready' "$T/journal.out") || fail "no journal entry for READY: $(tail -3 "$T/journal.out")"
for f in PRIORITY=6 CODE_FUNC=notify__ready SYSLOG_IDENTIFIER=hasvcd; do
	case "|${j#* }|" in *"|$f|"*) ;; *) fail "journal entry without $f: $j" ;; esac
done
grep -q 'told systemd' "$T/a/hasvcd.err" && fail "the log went to stderr as well as the journal"
echo "journal: ${j#* }"
# Each field once (the sender's own CODE_* must not come on top).
dup=$(awk '{ sub(/^[0-9]+ /, ""); n = split($0, f, "|"); delete seen
	for (i = 1; i <= n; i++) { k = f[i]; sub(/=.*/, "", k); if (seen[k]++) { print; next } } }' \
	"$T/journal.out")
[ -z "$dup" ] || fail "a journal entry names a field twice: $(echo "$dup" | head -1)"

wait_line ' STATUS=node a: 3 members, quorate; 1 primary, 0 standbys here$' 60
echo "STATUS: $(grep ' STATUS=node a' "$OUT" | tail -1 | cut -d' ' -f2-)"

# A cluster event's line carries the event, node, VM and number as fields.
end=$(deadline 60)
until j=$(grep '|HASVC_EVENT=vm_protected|' "$T/journal.out"); do
	[ "$(date +%s)" -le "$end" ] ||
		fail "no journal entry with HASVC_EVENT=vm_protected: $(grep 'MESSAGE=event' "$T/journal.out" | tail -3)"
	sleep 0.1
done
for f in HASVC_NODE=a HASVC_VM=web1 PRIORITY=5 CODE_FUNC=history__after_step \
	"MESSAGE=event [0-9]*: vm_protected node a vm web1"; do
	printf '|%s|\n' "${j#* }" | grep -q "|$f|" || fail "the event's journal entry lacks $f: $j"
done
printf '|%s|\n' "${j#* }" | grep -q '|HASVC_SEQ=[1-9][0-9]*|' || fail "no HASVC_SEQ: $j"
grep 'HASVC_EVENT=' "$T/journal.out" | grep -vq 'MESSAGE=event ' &&
	fail "a line that is not an event has event fields: $(grep 'HASVC_EVENT=' "$T/journal.out" | grep -v 'MESSAGE=event ')"
grep -v 'MESSAGE=event ' "$T/journal.out" | grep -q '|HASVC_' &&
	fail "a line that is not an event has HASVC_ fields"
echo "journal: ${j#* }"

# What the cluster is in the middle of is in the line, as it starts and as
# it ends (sent after the step, not at the next tick): a live migration to c.
hactl_on b migrate web1 c --wait --timeout "$(secs 60)" >"$T/migrate.out" 2>&1 ||
	fail "hactl migrate web1 c: $(cat "$T/migrate.out")"
mig=$(grep -n ' STATUS=node a: 3 members, quorate; 1 primary, 0 standbys here; migrating web1 to c$' "$OUT" |
	head -1 | cut -d: -f1)
[ -n "$mig" ] || fail "no STATUS line with the migration: $(grep STATUS= "$OUT" | tail -3)"
wait_line ' STATUS=node a: 3 members, quorate; 0 primaries, [01] standbys? here$' 30
echo "STATUS during the migration: $(sed -n "${mig}p" "$OUT" | cut -d' ' -f2-); after: $(grep ' STATUS=' "$OUT" | tail -1 | cut -d' ' -f2-)"

# WATCHDOG=1 every WD_US/2: over two seconds (a measurement, not a wait),
# at least half of the 10 expected.
w1=$(grep -c ' WATCHDOG=1$' "$OUT")
sleep 2
w2=$(grep -c ' WATCHDOG=1$' "$OUT")
echo "WATCHDOG=1: $w1 so far, $((w2 - w1)) in the last 2 s (period $((WD_US / 2000)) ms)"
[ $((w2 - w1)) -ge 5 ] || fail "only $((w2 - w1)) WATCHDOG=1 in 2 s"
[ "$(grep -c ' READY=1$' "$OUT")" = 1 ] || fail "READY=1 more than once"

# A hung loop (HASVCD_TEST_STALL, test builds only) feeds the watchdog no
# more, though the daemon's other threads still work (the metrics endpoint
# answers): systemd would restart it.  The loop back, the feeding goes on.
touch "$T/stall"
end=$(deadline 10)
until grep -q '|MESSAGE=test: the loop stalls' "$T/journal.out"; do
	[ "$(date +%s)" -le "$end" ] || fail "the loop did not stall"
	sleep 0.05
done
# The two listeners are separate processes: the stall's journal line may
# be written before the notify listener wrote a WATCHDOG=1 sent just before
# the stall.  A marker datagram, queued behind it on the same socket, says
# when every datagram sent so far is in $OUT.
drained() {
	python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(("TEST-MARK=" + sys.argv[2]).encode(), sys.argv[1])' "$T/notify.sock" "$1" ||
		fail "cannot send a marker to $T/notify.sock"
	wait_line " TEST-MARK=$1\$" 10
}
drained stall-start
w1=$(grep -c ' WATCHDOG=1$' "$OUT")
sleep 1
node_exec a python3 -c 'import sys, urllib.request
t = urllib.request.urlopen("http://127.0.0.1:9467/metrics", timeout=5).read().decode()
sys.exit("hasvc_cluster_quorate 1" not in t)' || fail "the metrics endpoint did not answer during the stall"
drained stall-end
w2=$(grep -c ' WATCHDOG=1$' "$OUT")
rm -f "$T/stall"
[ "$w2" = "$w1" ] || fail "$((w2 - w1)) WATCHDOG=1 while the loop hung"
end=$(deadline 10)
until [ "$(grep -c ' WATCHDOG=1$' "$OUT")" -gt "$w2" ]; do
	[ "$(date +%s)" -le "$end" ] || fail "no WATCHDOG=1 after the loop came back"
	sleep 0.05
done
echo "loop hung for over 1 s: no WATCHDOG=1 (metrics still served); fed again after"

kill -TERM "$a_hasvcd_pid"
wait_line ' STOPPING=1$' 20
wait "$a_hasvcd_pid"; rc=$?
# A clean stop, the journal target closed with the rest of the log.
[ "$rc" = 0 ] || fail "hasvcd exited with status $rc after SIGTERM: $(tail -3 "$T/a/hasvcd.err")"
[ "$(grep -c ' READY=1$' "$OUT")" = 1 ] || fail "READY=1 more than once"
echo "SIGTERM: STOPPING=1"
echo "ok"
