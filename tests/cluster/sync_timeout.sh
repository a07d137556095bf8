#!/bin/sh
# A member that joins the group and never answers the state exchange does
# not stop the cluster (docs/hasvc-daemon.md, "The state exchange").  Five
# corosync nodes, all declared; hasvcd runs on a, b, c and e.  In d,
# tests/cluster/rogue_cpg joins the group and stays silent: after
# [cluster] sync_timeout_ms (1.5 s, scaled) the exchange ends without it, d
# is taken as gone, and the held messages are applied.  Then a reload goes
# through and, when node a (web1's primary) dies, web1 fails over to b
# (b, c and e are still a majority of the five declared nodes).
# The messages held during an exchange are bounded too: with the time limit
# raised to 10 minutes, a rogue in d that floods the group with 9000
# messages during the exchange its join opened fills the held queue (8192,
# HASVCD_HELD_MAX): the flooder, which sent messages but not its state, is
# cut off at once with them, and the exchange ends with the others' states.
# (A member only slow to answer is not cut off then: test_hasvc_sync.)
. "$(dirname "$0")/cluster_nodes.sh"
. "$(dirname "$0")/hasvc_cluster.sh"
need_hasvc
ROGUE="$top_builddir/tests/cluster/rogue_cpg"
[ -x "$ROGUE" ] || fail "$ROGUE is not built (make check builds it)"
SYNC_MS=$((1500 * TIME_SCALE))

cluster_setup 5
write_hasvc_conf web1:a,b
sed -i "s/^\\[cluster\\]\$/[cluster]\\nsync_timeout_ms = $SYNC_MS/" "$T/hasvc.conf"
for n in a b c d e; do start_corosync "$n"; done
wait_members "a b c d e" 5 20
for n in a b c e; do start_hasvcd "$n"; done
# The first placement waits up to 10 s for d (HASVCD_FORMATION_WAIT_MS).
wait_placed web1 90; set -- $PLACED; [ "$1 $2" = "a b" ] || fail "web1 placed on $1/$2, not a/b"
echo "web1 protected on a (standby b); d has no hasvcd"

node_bg d rogue "$ROGUE" "hasvc.t$$" silent
wait_for_line "$T/d/rogue.out" '^joined$' 20 || fail "the rogue did not join: $(cat "$T/d/rogue.err")"
t0=$(now_ms)
for n in a b c e; do
	wait_for_line "$T/$n/hasvcd.log" \
		'state exchange ended \(time limit\) without the state of d \(node id 4' 30 ||
		fail "$n: the state exchange did not end without d: $(grep -v debug "$T/$n/hasvcd.log" | tail -8)"
done
echo "the exchange ended without the silent member after $(( $(now_ms) - t0 )) ms (limit $SYNC_MS ms)"

# A configuration change goes through.
cp "$T/hasvc.conf" "$T/next.conf"
printf '[vm web2]\nmemory = 32M\nvcpus = 1\nkernel = %s\nprotected = no\npreferred_nodes = c\n' \
	"$GUESTS/counter.elf" >>"$T/next.conf"
cp "$T/next.conf" "$T/hasvc.conf"
hactl_on b reload >"$T/reload.out" 2>&1 || fail "reload: $(cat "$T/reload.out")"
grep -q "added web2" "$T/reload.out" || fail "reload: $(cat "$T/reload.out")"
wait_vm b web2 'v["state"] == "unprotected" and v["primary"] == "c"' 60
echo "a reload added web2 while the silent member is in the group"

# A failover goes through.
t0=$(now_ms)
kill_node a
wait_vm b web1 'v["primary"] == "b" and v["state"] in ("running", "syncing", "protected")' 30
echo "web1 failed over to b $(( $(now_ms) - t0 )) ms after node a died"
kill "$d_rogue_pid" && wait "$d_rogue_pid" || fail "the rogue did not stop cleanly"

sed -i "s/^sync_timeout_ms = .*/sync_timeout_ms = 600000/" "$T/hasvc.conf"
hactl_on b reload >"$T/reload.out" 2>&1 || fail "reload: $(cat "$T/reload.out")"
t0=$(now_ms)
node_bg d flood "$ROGUE" "hasvc.t$$" flood d 9000
wait_for_line "$T/d/flood.out" '^sent$' 60 || fail "the flood did not get through: $(cat "$T/d/flood.err")"
for n in b c e; do
	wait_for_line "$T/$n/hasvcd.log" \
		'd \(node id 4, pid [0-9]*\) sent [0-9]* messages during the state exchange without its state' 30 ||
		fail "$n: the held messages did not end the exchange: $(grep -v debug "$T/$n/hasvcd.log" | tail -8)"
	grep -q 'd (pid [0-9]*) was cut off from a state exchange: its messages are ignored' \
		"$T/$n/hasvcd.log" || fail "$n did not ignore the rest of the flood"
done
echo "9000 messages from a member that never answered: it was cut off at the held limit after $(( $(now_ms) - t0 )) ms ($(grep -h 'held during the state exchange' "$T/b/hasvcd.log" | sed 's/^.*error: //'))"
hactl_on b reload >"$T/reload.out" 2>&1 || fail "reload after the flood: $(cat "$T/reload.out")"
kill "$d_flood_pid" && wait "$d_flood_pid" || fail "the flooding rogue did not stop cleanly"
replicas_agree 3 30
echo "replicas agree; ok"
