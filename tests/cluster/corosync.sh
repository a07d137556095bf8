#!/bin/sh
# Three corosync nodes on this machine (tests/cluster/cluster_nodes.sh: a network
# namespace, a private /run and /dev/shm per node, a bridge between them)
# with the test totem settings (token 300 ms, token_coefficient 0,
# knet_ping_interval 200 ms, knet_ping_timeout 500 ms):
#  - a, b, c start and each sees 3 members, quorate;
#  - c crashes (SIGKILL of every process in it): a and b see 2 members and
#    stay quorate; c's corosync restarted rejoins (3 members);
#  - a's link is cut: a reports not quorate, b and c stay quorate with 2
#    members; healed, all three see 3 members again;
#  - b's corosync is restarted (SIGTERM, then started): 2 members, then 3.
# b never loses quorum after the start, nor does a while c is down, nor c
# while a is cut off: checked in their logs (votequorum logs "non-primary component" when it does).
# Times are printed from each node's corosync log (the moment its quorum
# service delivered the new membership, to the ms) and, in brackets, from
# polling corosync-quorumtool (coarser: one poll round later at most).
. "$(dirname "$0")/cluster_nodes.sh"

cluster_setup 3
for n in $CL_NODES; do start_corosync "$n"; done
wait_members "a b c" 3 20
wait_quorate "a b c" yes 5
corosync_timing a
pass "a, b, c: 3 members each, quorate"

# Lines logged when a node's partition loses quorum.
NONPRIMARY='non-primary component'
lost_a=$(log_count a "$NONPRIMARY")
lost_b=$(log_count b "$NONPRIMARY")

# report WHAT EVENT_MS REGEX NODES: one line with each node's time from the
# event to the first log line matching REGEX (and the polled SEEN_MS_<node>).
report() {
	rep_line="$1:"
	for rep_n in $4; do
		rep_lt=$(log_ms "$rep_n" "$3" "$2")
		[ -n "$rep_lt" ] || fail "$1: no line matching '$3' in $rep_n's log after the event"
		rep_pt=$(eval "echo \$SEEN_MS_$rep_n")
		rep_line="$rep_line $rep_n $((rep_lt - $2)) ms ($((rep_pt - $2)) ms polled),"
	done
	echo "${rep_line%,}"
}

# 1. c crashes.
kill_node c
t=$EVENT_MS
wait_members "a b" 2 5
report "kill -9 of node c -> 2 members" "$t" '\[QUORUM\] Members\[2\]:' "a b"
wait_quorate "a b" yes 1
[ "$(log_count a "$NONPRIMARY")" = "$lost_a" ] || fail "a lost quorum while c was down"
[ "$(log_count b "$NONPRIMARY")" = "$lost_b" ] || fail "b lost quorum while c was down"
pass "c killed: a and b see 2 members and stayed quorate"

# 2. c comes back.
t=$(now_ms)
start_corosync c
wait_members "a b c" 3 10
report "corosync on c restarted -> 3 members" "$t" '\[QUORUM\] Members\[3\]:' "c a b"
wait_quorate "a b c" yes 2
pass "c rejoined: 3 members, quorate"

# 3. a is cut off.
lost_c=$(log_count c "$NONPRIMARY")
cut_link a
t=$EVENT_MS
wait_quorate a no 5
wait_members a 1 2
report "a's link cut -> a not quorate" "$t" "$NONPRIMARY" a
wait_members "b c" 2 5
report "a's link cut -> 2 members on b, c" "$t" '\[QUORUM\] Members\[2\]:' "b c"
wait_quorate "b c" yes 1
[ "$(log_count b "$NONPRIMARY")" = "$lost_b" ] || fail "b lost quorum when a was cut off"
[ "$(log_count c "$NONPRIMARY")" = "$lost_c" ] || fail "c lost quorum when a was cut off"
pass "a cut off: a not quorate, b and c quorate with 2 members"

# 4. The link comes back.
heal_link a
t=$EVENT_MS
wait_members "a b c" 3 10
report "a's link healed -> 3 members" "$t" '\[QUORUM\] Members\[3\]:' "a b c"
wait_quorate "a b c" yes 2
[ "$(log_count b "$NONPRIMARY")" = "$lost_b" ] || fail "b lost quorum when a came back"
pass "a's link healed: 3 members, quorate"

# 5. b's corosync restarted cleanly (SIGTERM: it announces its leave).
t=$(now_ms)
restart_corosync b
wait_members "a b c" 3 10
wait_quorate "a b c" yes 2
# The leave and the join happened: both are in a's and c's logs.
report "b's corosync stopped (SIGTERM) -> 2 members" "$t" '\[QUORUM\] Members\[2\]:' "a c"
report "b's corosync stopped and started -> 3 members" "$t" '\[QUORUM\] Members\[3\]:' "a c"
pass "b's corosync restarted: 3 members, quorate"
