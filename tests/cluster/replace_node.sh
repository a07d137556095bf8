#!/bin/sh
# docs/operations.md, "Replacing a node" (same name, new machine), step by
# step under client traffic.  web1 keeps its counter on its disk (counter.c
# disk=1, a node-local image under the node's /run), primary a, standby c.
#  - hactl maintenance c on --wait: web1's standby moves to b
#  - the old c is powered off (every process killed): it held nothing, so
#    nobody fences it and web1 does not move
#  - the new c: empty run and state directories, no disk image, a new
#    certificate from the cluster CA; corosync and hasvcd started: c is a
#    member and ready, still in maintenance, holding nothing
#  - hactl maintenance c off, then hactl migrate web1 c --wait: web1 runs
#    on the new machine with its disk (a live migration onto a blank image),
#    protected again; the client loses no acknowledged update; a stop and
#    a start on c read the counter back from c's image
# Replicas agree at the end.
# Totem: token 300 ms, token_coefficient 0 (cluster_nodes.sh's defaults).
. "$(dirname "$0")/cluster_nodes.sh"
. "$(dirname "$0")/hasvc_cluster.sh"
need_hasvc

# c_is KEY: node c's KEY in b's status.
c_is() { vm_get b web1 '[n.get("'"$1"'") for n in s["nodes"] if n["name"] == "c"][0]'; }

cluster_setup 3
HLIB_FENCE="true"
HLIB_EXTRA_web1="cmdline = disk=1 acpi=1
disk = /run/hasvc-test-web1.img
disk_size = 1M"
start_cluster web1:a,c
wait_placed web1 90; set -- $PLACED; [ "$1 $2" = "a c" ] || fail "web1 placed on $1/$2, not a/c"
start_client web1
wait_acks web1 30 20

hactl_on b maintenance c on --wait --timeout "$(secs 60)" >"$T/mon.out" 2>&1 ||
	fail "hactl maintenance c on: $(cat "$T/mon.out")"
wait_placed web1 90; set -- $PLACED; [ "$1 $2" = "a b" ] || fail "web1 on $1/$2 after maintenance c on"
wait_acks web1 20 20
# (The primary resumed under a new generation when its standby moved.)
gen=$(vm_get b web1 'v["generation"]')
echo "maintenance c on: web1's standby moved to b"

kill_node c
wait_vm b web1 '[n["member"] for n in s["nodes"] if n["name"] == "c"] == [False]' 20
# Two more checkpoints' worth of answers: time for a fence had one started.
wait_acks web1 20 20
[ "$(vm_get b web1 'v["primary"] + v["standby"] + str(v["generation"])')" = "ab$gen" ] ||
	fail "web1 moved when the empty c went away: $(hactl_on b status)"
hactl_on b --json events >"$T/events.json"
grep -q '"fence_started"' "$T/events.json" && fail "the empty node c was fenced: $(cat "$T/events.json")"
echo "the old c powered off: nobody fenced it, web1 stayed on a/b"

# The new machine: nothing of the old one but its name, address and files
# from the configuration (corosync.conf, hasvc.conf, the CA).
rm -rf "$T/c/run" "$T/c/state" || fail "cannot clear c's directories"
mkdir "$T/c/run" || fail "mkdir $T/c/run"
old_cert=$(sha256sum <"$T/pki/c.pem")
sh "$top_srcdir/conf/make-certs.sh" "$T/pki" c >"$T/certs.out" 2>&1 ||
	fail "make-certs.sh for the new c: $(cat "$T/certs.out")"
[ "$(sha256sum <"$T/pki/c.pem")" != "$old_cert" ] || fail "c's certificate did not change"
node_exec c test -e /run/hasvc-test-web1.img && fail "the new c has the old disk image"
start_corosync c
start_hasvcd c
wait_vm b web1 'all(n.get("member") and n.get("ready") for n in s["nodes"])' 30
[ "$(c_is maintenance)" = True ] || fail "the new c is not in maintenance: $(hactl_on b status)"
[ "$(c_is primaries) $(c_is standbys)" = "0 0" ] || fail "the new c holds copies: $(hactl_on b status)"
echo "the new c: a member, ready, in maintenance, holding nothing"

hactl_on b maintenance c off >"$T/moff.out" 2>&1 || fail "maintenance c off: $(cat "$T/moff.out")"
hactl_on b migrate web1 c --wait --timeout "$(secs 60)" >"$T/mig.out" 2>&1 ||
	fail "hactl migrate web1 c: $(cat "$T/mig.out")"
wait_placed web1 90; set -- $PLACED; [ "$1" = c ] || fail "web1 on $1/$2 after the migration to c"
node_exec c test -s /run/hasvc-test-web1.img || fail "no disk image for web1 on the new c"
wait_acks web1 30 20
echo "maintenance c off; web1 migrated to the new c with its disk, protected on $1/$2"
# The disk image on c holds the counter: stopped and started there, the
# guest reads back at least the last acknowledged value.
hactl_on b stop web1 --wait --timeout "$(secs 20)" >"$T/stop.out" 2>&1 ||
	fail "hactl stop web1: $(cat "$T/stop.out")"
last=$(awk 'NF == 2 { v = $2 } END { print v + 0 }' "$T/web1.acks")
t0=$(now_ms)
hactl_on b start web1 --wait --timeout "$(secs 60)" >"$T/start.out" 2>&1 ||
	fail "hactl start web1: $(cat "$T/start.out")"
[ "$(vm_get b web1 'v["primary"]')" = c ] || fail "web1 started on $(vm_get b web1 'v["primary"]'), not c"
wait_acks web1 20 30
first=$(awk -v t="$t0" '$1 > t && $3 == "connected" { print $2; exit }' "$T/web1.acks")
[ "${first:-0}" -ge "$last" ] || fail "web1 came back on c with ${first:-nothing}, below the acknowledged $last"
echo "stopped and started on c: its disk gave back $first (last acknowledged $last)"
stop_client web1
replicas_agree 3 30
echo "replicas agree; ok"
