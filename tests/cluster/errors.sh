#!/bin/sh
# Bad input to hasvcd and hactl gets a clear error and a non-zero exit, and
# leaves the cluster running: a broken configuration (at start and on
# reload), an unknown VM or node, bad usage, hactl with no daemon.  With the
# same cluster: protect and unprotect an unprotected VM, and live-migrate it
# with hactl migrate.
. "$(dirname "$0")/cluster_nodes.sh"
. "$(dirname "$0")/hasvc_cluster.sh"
need_hasvc

cluster_setup 3
HLIB_PROTECT=no start_cluster web1
wait_vm a web1 'v["state"] == "unprotected"' 60

# A broken file: hasvcd refuses it at start, naming the file and the line.
cp "$T/hasvc.conf" "$T/broken.conf"
printf '[vm web9]\nmemory = 12Q\n' >>"$T/broken.conf"
line=$(( $(wc -l <"$T/broken.conf") ))
expect 1 "broken.conf:$line: vm web9: memory '12Q'" "$HASVCD" --check-config -c "$T/broken.conf"
expect 1 "broken.conf:$line" "$HASVCD" -c "$T/broken.conf"
expect 2 "unknown option" "$HASVCD" --frobnicate

# hactl: usage, unknown names, no daemon.
expect 2 "" hactl_on a frob
expect 2 "" hactl_on a migrate web1
expect 1 "no VM nosuch" hactl_on a failover nosuch
expect 1 "no node zzz" hactl_on a migrate web1 zzz
expect 1 "cannot reach" hactl_on a -s nosuchdaemon status

# reload: a broken file is refused and nothing changes; a good one applies.
cp "$T/hasvc.conf" "$T/good.conf"
cp "$T/broken.conf" "$T/hasvc.conf"
expect 1 "hasvc.conf:$line" hactl_on b reload
[ "$(vm_get a web1 'v["state"]')" = unprotected ] || fail "web1 changed after a refused reload"
{ cat "$T/good.conf"; printf '[vm web2]\nmemory = 32M\nvcpus = 1\nkernel = %s\nprotected = no\n' \
	"$GUESTS/counter.elf"; } >"$T/hasvc.conf"
expect 0 "added web2" hactl_on b reload
wait_vm c web2 'v["state"] == "unprotected"' 60
echo "web2 added by reload and started on $(vm_get c web2 'v["primary"]')"

# A running VM's memory cannot change by a reload.
cp "$T/hasvc.conf" "$T/good2.conf"
sed 's/^memory = 32M$/memory = 64M/' "$T/good2.conf" >"$T/hasvc.conf"
expect 1 "memory, vcpus, disk and network keys cannot change while it runs" hactl_on b reload
cp "$T/good2.conf" "$T/hasvc.conf"

# A guest that powers off with status 1 as soon as it boots: hasvcd starts
# it again after 1, 2, 4 s (docs/hasvc-daemon.md, the restart back-off), not
# every few milliseconds.  Its starts are its vmm logs in the run dirs.
bad_starts() {
	ls "$T/a/run" "$T/b/run" "$T/c/run" 2>/dev/null | grep -c '^hasvc\.bad\..*\.log$' || true
}
{ cat "$T/good2.conf"; printf '[vm bad]\nmemory = 32M\nvcpus = 1\nkernel = %s\n' \
	"$GUESTS/fault.elf"; printf 'cmdline = mode=poweroff status=1\nprotected = no\n'; \
	printf 'preferred_nodes = %s\n' "${BAD_NODES:-a}"; } >"$T/hasvc.conf"
expect 0 "added bad" hactl_on b reload
_end=$(deadline 20)
until [ "$(bad_starts)" -ge 1 ]; do
	[ "$(date +%s)" -le "$_end" ] || fail "vm bad never started"
	sleep 0.1
done
sleep 8 # the window measured, not a synchronisation
n=$(bad_starts)
echo "bad: $n vmm starts in 8 s"
grep -h "hasvc\.bad\..*failed .* times in a row" "$T"/*/hasvcd.log | sed 's/^.*hasvc\.bad/hasvc.bad/' | tail -3
[ "$n" -le 6 ] || fail "vm bad started $n times in 8 s: no back-off"
[ "$n" -ge 2 ] || fail "vm bad started $n times in 8 s: not retried"
cp "$T/good2.conf" "$T/hasvc.conf"
expect 0 "removed bad" hactl_on b reload
wait_vm a bad '"name" not in v' 30
n2=$(bad_starts)
sleep 2
[ "$(bad_starts)" = "$n2" ] || fail "vm bad still started after it was removed"

# protect, unprotect and a live migration of web1 with hactl.
expect 0 "" hactl_on a protect web1 --wait --timeout "$(secs 60)"
wait_placed web1 30; set -- $PLACED
echo "web1 protected: primary $1, standby $2"
expect 0 "" hactl_on a unprotect web1
wait_vm a web1 'v["state"] == "unprotected" and not v.get("standby")' 30
from=$(vm_get a web1 'v["primary"]')
to=$(for n in a b c; do [ "$n" = "$from" ] || { echo "$n"; break; }; done)
expect 0 "" hactl_on a migrate web1 "$to" --wait --timeout "$(secs 60)"
wait_vm a web1 'v["primary"] == "'"$to"'" and v["state"] == "unprotected"' 30
echo "web1 live-migrated from $from to $to"

# A node whose hasvcd is gone: its hactl says so; the others carry on.
kill "$c_hasvcd_pid"
wait "$c_hasvcd_pid" 2>/dev/null || true
expect 1 "cannot reach" hactl_on c status
hactl_on a status >/dev/null || fail "hactl status on a failed after c's hasvcd stopped"
replicas_agree 2 30
echo "replicas agree; ok"
