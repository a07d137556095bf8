#!/bin/sh
# Watchdog self-fencing (fencing = watchdog): a stand-in device per node (a
# plain file as watchdog_device: hasvcd opens it and writes a keepalive
# byte, the same code path as for /dev/watchdog; the test reads its size).
#  - only the node running a primary arms its watchdog and feeds it
#  - the primary's node is cut off: it stops feeding when it loses quorum
#  - the majority promotes the standby only after the watchdog timeout (3 s)
#    plus the margin (2 s) have passed since the last keepalive: a real
#    watchdog would have reset the node by then
#  - the new primary's node arms its own; after the heal the old node,
#    empty, disarms with the magic close ('V')
#  - a hasvcd that hangs (SIGSTOP) feeds nothing until it runs again
#  - a hasvcd stopped cleanly (a restart) leaves the watchdog armed (no
#    magic close) and unfed; the new one adopts the primary and feeds it
# Totem: token 300 ms, token_coefficient 0 (cluster_nodes.sh's defaults).
. "$(dirname "$0")/cluster_nodes.sh"
. "$(dirname "$0")/hasvc_cluster.sh"
need_hasvc

cluster_setup 3
for n in a b c; do : >"$T/$n.wd"; done
HLIB_NODE_EXTRA="fencing = watchdog
watchdog_device = $T/@NODE@.wd
watchdog_timeout = 3"
HLIB_CLUSTER_EXTRA="watchdog_margin_ms = 2000"
start_cluster web1:a,b
wait_placed web1 90; set -- $PLACED; [ "$1 $2" = "a b" ] || fail "web1 placed on $1/$2, not a/b"

size() { stat -c %s "$T/$1.wd"; }
# wait_fed NODE TIMEOUT: until NODE's stand-in grows.
wait_fed() {
	_s=$(size "$1"); _end=$(deadline "$2")
	until [ "$(size "$1")" -gt "$_s" ]; do
		[ "$(date +%s)" -le "$_end" ] || fail "node $1's watchdog is not fed: $(grep watchdog "$T/$1/hasvcd.log")"
		sleep 0.05
	done
}
wait_fed a 5
wait_fed a 5
grep -q "watchdog $T/a.wd armed (3 s)" "$T/a/hasvcd.log" || fail "a did not log arming"
grep -q "is not a watchdog: keepalives are written" "$T/a/hasvcd.log" ||
	fail "a did not say its device is a stand-in"
[ "$(size b)" = 0 ] && [ "$(size c)" = 0 ] ||
	fail "b or c armed a watchdog without a primary: b $(size b) c $(size c) bytes"
echo "a (primary) feeds its watchdog ($(size a) keepalives so far); b (standby) and c do not arm theirs"

start_client web1
wait_acks web1 50 20

cut_link a
t_cut=$EVENT_MS
echo "cut a off"
wait_for_line "$T/a/hasvcd.log" "watchdog $T/a.wd: not fed without quorum" 10 ||
	fail "a kept feeding its watchdog after the cut: $(grep -i 'watchdog\|quorum' "$T/a/hasvcd.log")"
stopped=$(size a)
last_feed=$(stat -c %.3Y "$T/a.wd" | tr -d .)
echo "a stopped feeding $(( $(now_ms) - t_cut )) ms after the cut (last keepalive $(( last_feed - t_cut )) ms after it)"

wait_vm b web1 'v["primary"] == "b" and v["state"] in ("running", "syncing", "protected")' 30
wait_acks web1 20 20
first_answer web1 "$t_cut"
first_b=$FIRST_MS
echo "web1 answered from b $(( first_b - t_cut )) ms after the cut, $(( first_b - last_feed )) ms after a's last keepalive (timeout 3000 + margin 2000 ms)"
[ $(( first_b - last_feed )) -ge 5000 ] ||
	fail "b took over $(( first_b - last_feed )) ms after a's last keepalive: before its watchdog timeout and the margin"
grep -q "fencing a: waiting 5000 ms for its watchdog to reset it" "$T/b/hasvcd.log" ||
	fail "b did not wait for a's watchdog: $(grep fenc "$T/b/hasvcd.log")"
[ "$(size a)" = "$stopped" ] || fail "a fed its watchdog again while cut off ($stopped -> $(size a) bytes)"
echo "no keepalive from a since the cut"
wait_fed b 5
echo "b, the new primary, feeds its watchdog"

heal_link a
wait_members "a b c" 3 20
wait_for_line "$T/a/hasvcd.log" "watchdog $T/a.wd disarmed: no primary runs here" 20 ||
	fail "a did not disarm its watchdog once empty: $(grep watchdog "$T/a/hasvcd.log")"
[ "$(tail -c 1 "$T/a.wd")" = V ] || fail "a's disarm did not end with the magic 'V'"
echo "after the heal a holds no primary: its watchdog disarmed with the magic close"
wait_placed web1 90; set -- $PLACED
[ "$1" = b ] || fail "web1 moved back to $1 after the heal"

# A hung hasvcd (SIGSTOP) feeds nothing: its node would be reset.
wait_fed b 5
kill -STOP "$b_hasvcd_pid"
hung=$(size b)
t_stop=$(now_ms)
# Four ticks of 750 ms without a keepalive.
until [ $(( $(now_ms) - t_stop )) -ge 3000 ]; do sleep 0.2; done
got=$(size b)
kill -CONT "$b_hasvcd_pid"
[ "$got" = "$hung" ] || fail "b's watchdog was fed while its hasvcd was stopped ($hung -> $got bytes)"
wait_fed b 5
echo "b's hasvcd stopped for 3 s: no keepalive meanwhile; fed again once it runs"

# A clean stop of b's hasvcd (a restart) while web1's primary runs there:
# the watchdog stays armed (closed without the magic 'V') and unfed, so a
# node whose hasvcd does not come back resets; the new hasvcd adopts web1
# and feeds it again.  (It writes from the start of the stand-in again:
# the file's time shows the keepalives, not its size.)
gen=$(vm_get c web1 'v["generation"]')
# The vmm's control name keeps the token it was started with (a promoted
# standby's), not the VM's generation.
ctl=$(basename "$(ls "$T"/b/run/hasvc.web1.*.rec)" .rec)
armed0=$(grep -c "watchdog $T/b.wd armed" "$T/b/hasvcd.log")
kill -TERM "$b_hasvcd_pid"
wait "$b_hasvcd_pid" || fail "b's hasvcd did not stop cleanly: $(tail -3 "$T/b/hasvcd.log")"
grep -q "watchdog $T/b.wd stays armed: hasvcd stops while a primary runs here" "$T/b/hasvcd.log" ||
	fail "b did not leave its watchdog armed: $(grep watchdog "$T/b/hasvcd.log" | tail -3)"
[ "$(tail -c 1 "$T/b.wd")" != V ] || fail "b's hasvcd disarmed its watchdog (magic 'V') on a clean stop"
t_stop=$(now_ms)
left=$(stat -c %.9Y "$T/b.wd")
# More than a tick (750 ms) without a keepalive.
until [ $(( $(now_ms) - t_stop )) -ge 1000 ]; do sleep 0.2; done
[ "$(stat -c %.9Y "$T/b.wd")" = "$left" ] || fail "b's watchdog was fed while its hasvcd was stopped"
start_hasvcd b
wait_for_line "$T/b/hasvcd.log" "$ctl \\(pid [0-9]*\\) left by an earlier hasvcd: adopted" 20 ||
	fail "b's new hasvcd did not adopt web1: $(grep -v debug "$T/b/hasvcd.log" | tail -5)"
_end=$(deadline 10)
until [ "$(stat -c %.9Y "$T/b.wd")" != "$left" ]; do
	[ "$(date +%s)" -le "$_end" ] || fail "b's new hasvcd does not feed its watchdog: $(grep watchdog "$T/b/hasvcd.log" | tail -3)"
	sleep 0.05
done
[ "$(grep -c "watchdog $T/b.wd armed" "$T/b/hasvcd.log")" -gt "$armed0" ] ||
	fail "b's new hasvcd did not arm its watchdog"
[ "$(vm_get c web1 'v["primary"] + str(v["generation"])')" = "b$gen" ] ||
	fail "web1 moved during b's restart: $(hactl_on c status)"
wait_acks web1 20 20
gap=$(python3 -c 'import sys; print(int((float(sys.argv[2]) - float(sys.argv[1])) * 1000))' \
	"$left" "$(stat -c %.9Y "$T/b.wd")")
echo "b's hasvcd restarted cleanly: its watchdog stayed armed, unfed for $gap ms between the old hasvcd's last keepalive and the new one's first (timeout 3 s); web1 stayed on b"
stop_client web1
replicas_agree 3 30
echo "replicas agree; ok"
