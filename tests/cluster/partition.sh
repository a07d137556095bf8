#!/bin/sh
# The node with a primary is cut off (its link down): on its side, without
# quorum, hasvcd pauses the primary and nothing more leaves it; the quorate
# majority promotes the standby; a client following the VM loses no
# acknowledged update; when the link returns, the cut-off node's stale copy
# is recognised by its generation and stopped: the VM never runs twice.
# The nodes have a fence command that fails the first time: the majority
# promotes only after the retry (5 s later) succeeded; the events and the
# metrics of the survivors say so.
# Totem: token 300 ms, token_coefficient 0 (cluster_nodes.sh's defaults).
. "$(dirname "$0")/cluster_nodes.sh"
. "$(dirname "$0")/hasvc_cluster.sh"
need_hasvc

cluster_setup 3
HLIB_FENCE="if [ -e $T/fence-ok ]; then echo \$HASVC_FENCE_NODE \$(date +%s%N) >>$T/fenced; else touch $T/fence-ok; exit 1; fi"
HLIB_CLUSTER_EXTRA="metrics_port = 9468"
start_cluster web1:a,b
wait_placed web1 90; set -- $PLACED; [ "$1 $2" = "a b" ] || fail "web1 placed on $1/$2, not a/b"
gen=$(vm_get a web1 'v["generation"]')
old="hasvc.web1.$gen"
start_client web1
wait_acks web1 50 20

cut_link a
echo "cut a off"
# a's side: the primary is paused (a loses quorum about 0.7 s after the cut).
end=$(deadline 10)
until [ "$(node_exec a "$VMM" ctl "$old" status 2>/dev/null | awk '/^state/ { print $2 }')" = paused ]; do
	[ "$(date +%s)" -le "$end" ] || fail "a did not pause web1 within 10 s: $(node_exec a "$VMM" ctl "$old" status 2>&1)"
	sleep 0.05
done
took=$(( $(now_ms) - EVENT_MS ))
# The bound scales like every time limit (corosync's token does too).
bound=$(( 3000 * TIME_SCALE ))
echo "a paused its copy of web1 $took ms after the cut (bound $bound ms)"
[ "$took" -le "$bound" ] || fail "a took $took ms to pause web1 after losing quorum"
wait_vm b web1 'v["primary"] == "b" and v["state"] in ("running", "syncing", "protected")' 30
wait_acks web1 20 20
read -r fenced fenced_ns <"$T/fenced" || fail "nobody fenced a"
[ "$fenced" = a ] || fail "fenced $fenced, not a"
[ $(( fenced_ns / 1000000 - EVENT_MS )) -ge 5000 ] ||
	fail "a was fenced $(( fenced_ns / 1000000 - EVENT_MS )) ms after the cut: the first attempt should have failed"
# The client's first answer from b (after the cut) came after the fencing.
first_b=$(awk '$1 > '"$EVENT_MS"' && $3 == "connected" { print $1; exit }' "$T/web1.acks")
[ -n "$first_b" ] && [ "$first_b" -ge $(( fenced_ns / 1000000 )) ] ||
	fail "web1 answered from b (${first_b:-never}) before a was fenced ($(( fenced_ns / 1000000 )))"
echo "the fence command failed once, succeeded $(( fenced_ns / 1000000 - EVENT_MS )) ms after the cut; then the majority ran web1 on b"
# The cluster events: on a, the quorum it lost; on b, the fencing that
# failed once, then the promotion, in that order.
ev_of() {
	hactl_on "$1" --json events 2>/dev/null | python3 -c '
import json, sys
print(",".join(" ".join(x for x in (e["event"], e["node"], e["vm"]) if x)
               for e in json.load(sys.stdin)["events"]))'
}
case ",$(ev_of a)," in *,quorum_lost,*) ;; *) fail "a's events lack quorum_lost: $(ev_of a)" ;; esac
case ",$(ev_of b)," in
*",node_lost a,fence_started a,fence_failed a,fence_succeeded a,vm_promoted b web1,"*) ;;
*) fail "b's events: $(ev_of b)" ;;
esac
echo "events: quorum_lost on a; on b $(ev_of b | sed 's/.*node_lost a/node_lost a/')"
# The metrics count both attempts, the failed one and its retry (waited
# for: each node counts as it applies the replicated events, c maybe a
# moment after b).
for n in b c; do
	end=$(deadline 10)
	while :; do
		f=$(node_exec $n python3 -c 'import re, urllib.request
t = urllib.request.urlopen("http://127.0.0.1:9468/metrics", timeout=5).read().decode()
print(*(re.search("^hasvc_cluster_fence_%s_total (\\S+)$" % k, t, re.M).group(1) for k in ("attempts", "failures")))') ||
			fail "cannot scrape $n"
		[ "$f" = "2 1" ] && break
		[ "$(date +%s)" -le "$end" ] || fail "$n: fence attempts and failures $f, not 2 1"
		nap
	done
done
echo "b, c: hasvc_cluster_fence_attempts_total 2, _failures_total 1"
# Still paused over there: nothing it holds may run while cut off.
[ "$(node_exec a "$VMM" ctl "$old" status 2>/dev/null | awk '/^state/ { print $2 }')" = paused ] ||
	fail "a's copy of web1 runs while a is cut off"

heal_link a
wait_members "a b c" 3 20
# The stale copy (generation $gen) goes away once a has rejoined.
wait_vmm_gone a "$old" 20
echo "a's stale copy (generation $gen) stopped after the heal"
echo "a's events after the heal: $(ev_of a)"
wait_placed web1 90; set -- $PLACED
[ "$1" = b ] || fail "web1 moved back to $1 after the heal"
wait_acks web1 20 20
stop_client web1
replicas_agree 3 30
echo "replicas agree; ok"
