#!/bin/sh
# Cluster events and alert_command on three nodes.  A node hosting a
# primary dies: every surviving node records the same events (node_lost,
# fence_started, fence_succeeded, vm_promoted ...) under the same numbers
# (`hactl events`), and runs alert_command once per event with the event in
# its environment.  The alert for node_lost hangs (a shell and a child in
# the background): the failover and the other alerts go on meanwhile, and
# after alert_timeout_ms its whole process group is killed.  `hactl events
# --follow --json` prints the events as they come, one JSON object a line.
# The dead node comes back: it shows the same events and alerts none of
# those that happened while it was away, nor any twice.  A hasvcd that
# stops kills the alerts still running (node_joined's hang by then).
. "$(dirname "$0")/cluster_nodes.sh"
. "$(dirname "$0")/hasvc_cluster.sh"
need_hasvc
# Long enough for the failover to happen while the node_lost alerts hang.
ALERT_MS=$(( 8000 * TIME_SCALE ))

cat >"$T/alert.sh" <<EOS
#!/bin/sh
echo "\$HASVC_SEQ \$HASVC_EVENT \${HASVC_NODE:--} \${HASVC_VM:--} \$HASVC_TIME" \
	>>"$T/alerts.\$HASVC_LOCAL_NODE"
if [ "\$HASVC_EVENT" = node_lost ] ||
	{ [ "\$HASVC_EVENT" = node_joined ] && [ -e "$T/hang_joined" ]; }; then
	sleep 1000 &
	echo "\$\$ \$!" >>"$T/slow.\$HASVC_LOCAL_NODE"
	wait
fi
EOS

# events_of NODE: "SEQ EVENT NODE VM" lines from hactl --json events on NODE.
events_of() {
	hactl_on "$1" --json events 2>/dev/null | python3 -c '
import json, sys
for e in json.load(sys.stdin)["events"]:
    print(e["seq"], e["event"], e["node"] or "-", e["vm"] or "-")'
}

# has_event NODE "EVENT NODE VM": NODE's events hold that one.
has_event() { events_of "$1" | cut -d' ' -f2- | grep -qx -- "$2"; }

# wait_event NODE "EVENT NODE VM" SECS
wait_event() {
	_end=$(deadline "$3")
	until has_event "$1" "$2"; do
		[ "$(date +%s)" -le "$_end" ] || fail "$1: no event '$2' within $3 s: $(hactl_on "$1" --json events 2>&1)"
		sleep 0.1
	done
}

# alerted_once NODE: NODE's alert log names no event twice.
alerted_once() {
	_dup=$(cut -d' ' -f1 "$T/alerts.$1" | sort | uniq -d)
	[ -z "$_dup" ] || fail "$1 alerted events $(echo $_dup) more than once: $(cat "$T/alerts.$1")"
}

cluster_setup 3
HLIB_FENCE="true"
HLIB_CLUSTER_EXTRA="alert_command = sh $T/alert.sh
alert_timeout_ms = $ALERT_MS"
start_cluster web1:a,b
wait_placed web1 90; set -- $PLACED; [ "$1 $2" = "a b" ] || fail "web1 placed on $1/$2, not a/b"
wait_event c "vm_protected a web1" 10
# Events of the cluster's formation may come before a node's hasvcd took
# the state: those it holds but did not see, and does not alert.
formed=$(events_of c | tail -n 1 | cut -d' ' -f1)
echo "web1 protected on a (standby b), $formed events"

node_bg c follow "$HACTL" --json --follow events
follow_pid=$BG_PID

kill_node a
echo "killed every process of node a"
for n in b c; do
	wait_event $n "node_lost a -" 20
	wait_event $n "vm_promoted b web1" 30
	wait_event $n "fence_succeeded a -" 5
done
# The node_lost alerts hang: the promotion was alerted while they still run.
for n in b c; do
	grep -q " vm_promoted b web1 " "$T/alerts.$n" || fail "$n did not alert vm_promoted"
	read -r sh_pid sleep_pid <"$T/slow.$n" || fail "$n: the node_lost alert did not run"
	kill -0 "$sh_pid" 2>/dev/null && kill -0 "$sleep_pid" 2>/dev/null ||
		fail "$n: the node_lost alert ended before its time limit: $(ps -o pid,ppid,stat,args -p "$sh_pid,$sleep_pid")"
done
echo "web1 promoted on b and alerted while the node_lost alerts hang"
end=$(deadline $(( ALERT_MS / 1000 + 10 )))
for n in b c; do
	read -r sh_pid sleep_pid <"$T/slow.$n"
	while kill -0 "$sh_pid" 2>/dev/null || kill -0 "$sleep_pid" 2>/dev/null; do
		[ "$(date +%s)" -le "$end" ] || fail "$n: the node_lost alert's group outlived its time limit"
		sleep 0.1
	done
	grep -q "alert_command for event .* (node_lost) still runs after $ALERT_MS ms: killed" \
		"$T/$n/hasvcd.log" || fail "$n: no log line for the killed alert"
done
echo "after $ALERT_MS ms the node_lost alerts were killed with their children"

# The same events under the same numbers on b and c; each alerted once there.
events_of b >"$T/ev.b"
events_of c >"$T/ev.c"
cmp -s "$T/ev.b" "$T/ev.c" || fail "b and c differ: $(diff "$T/ev.b" "$T/ev.c")"
for n in b c; do
	alerted_once $n
	cut -d' ' -f1-4 "$T/alerts.$n" | sort -n >"$T/al.$n"
	# Every alert is an event it holds; every event since the formation is alerted.
	[ -z "$(sort "$T/al.$n" | comm -13 "$(sort "$T/ev.$n" >"$T/evs.$n"; echo "$T/evs.$n")" -)" ] ||
		fail "$n alerted events it does not hold: $(cat "$T/al.$n")"
	awk -v f="$formed" '$1 > f' "$T/ev.$n" >"$T/since.$n"
	awk -v f="$formed" '$1 > f' "$T/al.$n" | cmp -s "$T/since.$n" - ||
		fail "$n did not alert each event since the formation once: held $(cat "$T/since.$n"), alerted $(cat "$T/al.$n")"
	grep -q '^[0-9]* node_lost a - [0-9-]*T[0-9:.]*Z$' "$T/alerts.$n" ||
		fail "$n: HASVC_* of node_lost: $(grep node_lost "$T/alerts.$n")"
done
echo "b and c hold the same $(wc -l <"$T/ev.b") events and alerted each of the $(wc -l <"$T/since.b") since the formation once"

# --follow printed them as they came, one JSON object per line.
wait_for_line "$T/c/follow.out" '"event":"vm_promoted"' 10 || fail "--follow: $(cat "$T/c/follow.out")"
python3 - "$T/c/follow.out" "$T/ev.c" <<'EOP' || fail "--follow --json"
import json, sys
got = [json.loads(l) for l in open(sys.argv[1])]
want = [l.split() for l in open(sys.argv[2])]
got = [[str(e["seq"]), e["event"], e["node"] or "-", e["vm"] or "-"] for e in got]
if got != want[:len(got)] or len(got) < len(want) - 1:
    sys.exit("followed %r, held %r" % (got, want))
EOP
kill "$follow_pid"
echo "events --follow --json: one object a line, the same events"

# a comes back empty: it holds the same events, and alerts none of the past.
before=$(tail -n 1 "$T/ev.b" | cut -d' ' -f1)
touch "$T/hang_joined"
start_corosync a
start_hasvcd a
wait_event a "node_joined a -" 30
replicas_agree 3 30
events_of a >"$T/ev.a"
events_of b >"$T/ev.b"
cmp -s "$T/ev.a" "$T/ev.b" || fail "a and b differ after a's return: $(diff "$T/ev.a" "$T/ev.b")"
alerted_once a
lost=$(grep ' node_lost a ' "$T/ev.b" | cut -d' ' -f1)
! grep -q "^$lost " "$T/alerts.a" || fail "a alerted its own loss after it came back"
awk -v b="$before" '$1 > b' "$T/ev.a" | cut -d' ' -f1 >"$T/new.a"
for s in $(cat "$T/new.a"); do
	grep -q "^$s " "$T/alerts.a" || fail "a did not alert event $s, which came after its return"
done
echo "a came back: the same events, none of its absence alerted, the new ones once ($(wc -l <"$T/new.a"))"

# b's node_joined alert still hangs: stopping b's hasvcd kills its group.
read -r sh_pid sleep_pid <<EOS2
$(tail -n 1 "$T/slow.b")
EOS2
kill -0 "$sleep_pid" 2>/dev/null || fail "b's node_joined alert is not running"
kill -TERM "$b_hasvcd_pid"
end=$(deadline 5)
while kill -0 "$sh_pid" 2>/dev/null || kill -0 "$sleep_pid" 2>/dev/null; do
	[ "$(date +%s)" -le "$end" ] || fail "b's hasvcd stopped, its alert runs on"
	sleep 0.1
done
! grep -q "(node_joined) still runs after" "$T/b/hasvcd.log" || fail "the time limit, not the stop, ended it"
echo "b's hasvcd stopped: its running alert went with it"
