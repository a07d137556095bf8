#!/bin/sh
# One configuration for the whole cluster (docs/operations.md, "Changing
# the configuration").  Three nodes, each hasvcd with its own file
# ($T/NODE/etc/hasvc.conf).  `hactl config apply` on a makes every node's file
# byte-identical to the applied one and `hactl status` shows the text each
# node runs; `config show` and `config diff` (exit 0 same, 1 different, 2
# trouble); a text that does not parse, a text too big and a text that drops
# a running node are refused with nothing changed on any node; a node that
# cannot write its file (a read-only mount in its namespace) is named in the
# answer, which fails; a node whose hasvcd was stopped while the text changed
# gets it when it comes back (a text of 150 KiB); `hactl reload` pushes the
# file of the node where it runs.  The VM's vmm log is bounded (1 MiB, then
# .log.1), and its files go when a text without the VM is applied, or at
# the start if they were left from before.
. "$(dirname "$0")/cluster_nodes.sh"
. "$(dirname "$0")/hasvc_cluster.sh"
need_hasvc

start_node() {
	node_bg "$1" hasvcd "$HASVCD" -c "$T/$1/etc/hasvc.conf" -r "$T/$1/run" --vmm "$VMM" \
		-l "$T/$1/hasvcd.log" -v
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

# same_everywhere FILE WHAT: every node's file is FILE, byte for byte.
same_everywhere() {
	for n in a b c; do
		cmp -s "$1" "$T/$n/etc/hasvc.conf" || fail "$2: $n's file differs from $(basename "$1")"
	done
}

# status_runs NODE DIGEST: NODE's status shows DIGEST as the cluster's text
# and as what every node runs and holds.
status_runs() {
	_sr=$(hactl_on "$1" --json status 2>/dev/null | python3 -c '
import json, sys
s = json.load(sys.stdin).get("status")
want = sys.argv[1]
bad = [n["name"] for n in (s or {}).get("nodes", [])
       if n.get("config_running") != want or n.get("config_digest") != want]
print("ok" if s and s.get("config_digest") == want and not bad else "differ: " + " ".join(bad))' "$2" 2>/dev/null)
	[ "$_sr" = ok ] || return 1
}

wait_status_runs() {
	_end=$(deadline "$3")
	until status_runs "$1" "$2"; do
		[ "$(date +%s)" -le "$_end" ] || { hactl_on "$1" status >&2; fail "$1: status does not show every node running ${2%"${2#????????????}"}"; }
		nap
	done
}

cluster_setup 3
write_hasvc_conf
for n in a b c; do mkdir "$T/$n/etc" && cp "$T/hasvc.conf" "$T/$n/etc/hasvc.conf"; done
cp "$T/hasvc.conf" "$T/v1.conf"
for n in a b c; do start_corosync "$n"; done
wait_members "a b c" 3 20
# Logs of a VM the configuration no longer has, left from before this
# hasvcd started (no copy of it will end here to prune them): removed.
mkdir -p "$T/a/run"
for f in hasvc.ghost.7.log hasvc.ghost.7.log.1 hasvc.ghost.7.serial; do echo old >"$T/a/run/$f"; done
for n in a b c; do start_node "$n"; done
wait_status_runs a "$(sha "$T/v1.conf")" 30
end=$(deadline 10)
while [ -e "$T/a/run/hasvc.ghost.7.log" ] || [ -e "$T/a/run/hasvc.ghost.7.log.1" ]; do
	[ "$(date +%s)" -le "$end" ] || fail "the logs of VM ghost, not configured, are still in a's run directory"
	sleep 0.1
done
[ -e "$T/a/run/hasvc.ghost.7.serial" ] || fail "a file that is not a vmm log was removed"
echo "the old logs of a VM not in the configuration removed at a's start"
echo "three nodes run $(sha "$T/v1.conf" | cut -c1-12)"

# show prints the running text; diff compares a file with it.
hactl_on b config show >"$T/shown" || fail "config show failed"
cmp -s "$T/shown" "$T/v1.conf" || fail "config show is not the running text"
{ cat "$T/v1.conf"; printf '[vm web1]\nmemory = 32M\nvcpus = 1\nkernel = %s\nprotected = no\npreferred_nodes = a\n' \
	"$GUESTS/counter.elf"; } >"$T/v2.conf"
hactl_on a config diff "$T/v1.conf" >"$T/out" 2>&1 ||
	fail "config diff of the running text exited $?: $(cat "$T/out")"
[ ! -s "$T/out" ] || fail "config diff of the same text printed: $(cat "$T/out")"
echo "config diff v1.conf -> 0, nothing printed"
expect 1 "^+\[vm web1\]" hactl_on a config diff "$T/v2.conf"
# The hunks are diff -u's (the --- and +++ lines name the texts otherwise).
diff -u "$T/v1.conf" "$T/v2.conf" | tail -n +3 >"$T/want.diff"
tail -n +3 "$T/out" | cmp -s - "$T/want.diff" || fail "config diff is not diff -u's: $(cat "$T/out")"
expect 2 "cannot read" hactl_on a config diff "$T/nosuch.conf"
expect 2 "config needs apply FILE" hactl_on a config frob

# apply: every node's file becomes the text, every status shows it.
t0=$(now_ms)
expect 0 "added web1; taken by a, b, c" hactl_on a config apply "$T/v2.conf"
echo "config apply answered after $(( $(now_ms) - t0 )) ms"
same_everywhere "$T/v2.conf" "after config apply"
for n in a b c; do wait_status_runs "$n" "$(sha "$T/v2.conf")" 10; done
wait_vm b web1 'v["primary"] == "a" and v["state"] == "unprotected"' 60
echo "v2 written on a, b and c, byte-identical; web1 added and started on a"

# Bad texts: refused, nothing changed anywhere.
cp "$T/v2.conf" "$T/broken.conf"
printf '[vm web9]\nmemory = 12Q\n' >>"$T/broken.conf"
expect 1 "broken.conf:$(wc -l <"$T/broken.conf"): vm web9: memory '12Q'" \
	hactl_on a config apply "$T/broken.conf"
{ cat "$T/v2.conf"; i=0; while [ $i -lt 3000 ]; do
	echo "# padding line $i of a text above the 192 KiB bound....................................."
	i=$((i + 1)); done; } >"$T/huge.conf"
expect 1 "larger than 196608 bytes" hactl_on a config apply "$T/huge.conf"
# hasvcd bounds it too: reload reads the file in the daemon.
cp "$T/huge.conf" "$T/a/etc/hasvc.conf"
expect 1 "more than 196608 bytes" hactl_on a reload
cp "$T/v2.conf" "$T/a/etc/hasvc.conf"
# (two_node: the parser would refuse two nodes for another reason.)
awk '/^\[node c\]/ { skip = 1; next } /^\[/ { skip = 0 } !skip' "$T/v2.conf" |
	sed 's/^\[cluster\]$/&\ntwo_node = yes/' >"$T/noc.conf"
expect 1 "hasvcd of node c is in the group" hactl_on b config apply "$T/noc.conf"
same_everywhere "$T/v2.conf" "after the refused texts"
status_runs c "$(sha "$T/v2.conf")" || fail "c's status changed after the refused texts"
echo "a text that does not parse, one too big and one without a running node: refused, nothing changed"

# A node that cannot write its file: the answer names it and fails; the
# text runs there all the same, and its status says what its file holds.
node_exec c mount --bind "$T/c/etc" "$T/c/etc" &&
	node_exec c mount -o remount,bind,ro "$T/c/etc" || fail "cannot make c's etc read-only"
sed 's/^preferred_nodes = a$/&\npriority = 5/' "$T/v2.conf" >"$T/v2b.conf"
expect 1 "changed web1; taken by a, b; refused by c (cannot write $T/c/etc/hasvc.conf: Read-only file system)" \
	hactl_on a config apply "$T/v2b.conf"
node_exec c umount "$T/c/etc" || fail "cannot unmount c's etc"
cmp -s "$T/v2.conf" "$T/c/etc/hasvc.conf" || fail "c's read-only file changed"
hactl_on a status >"$T/status.out" || fail "status failed"
grep -q "note: c's configuration file holds another text ($(sha "$T/v2.conf" | cut -c1-12))" \
	"$T/status.out" || fail "status does not say c's file differs: $(cat "$T/status.out")"
echo "c could not write its file: named in the answer (exit 1) and in the status"

# A node whose hasvcd is down while the text changes gets it on its return.
kill -TERM "$c_hasvcd_pid"
wait "$c_hasvcd_pid" || fail "c's hasvcd did not stop cleanly: $(tail -3 "$T/c/hasvcd.log")"
# v3 is near the bound (150 KiB of comments): the Config and, at c's
# return, the State carry it whole through corosync.
{ sed 's/^name = .*/&\nrestart_grace_ms = 30000/' "$T/v2b.conf"; i=0; while [ $i -lt 1500 ]; do
	echo "# comment line $i: a text of about 150 KiB, under the bound of 192 KiB......................"
	i=$((i + 1)); done; } >"$T/v3.conf"
expect 0 "no VM changed; taken by a, b" hactl_on b config apply "$T/v3.conf"
cmp -s "$T/v3.conf" "$T/a/etc/hasvc.conf" && cmp -s "$T/v3.conf" "$T/b/etc/hasvc.conf" ||
	fail "v3 not written on a and b"
cmp -s "$T/v2.conf" "$T/c/etc/hasvc.conf" || fail "c's file changed while its hasvcd was down"
t0=$(now_ms)
start_node c
wait_for_line "$T/c/hasvcd.log" "wrote the cluster's text $(sha "$T/v3.conf" | cut -c1-12)" 30 ||
	fail "c did not write the cluster's text: $(grep -v debug "$T/c/hasvcd.log" | tail -5)"
same_everywhere "$T/v3.conf" "after c came back"
for n in a c; do wait_status_runs "$n" "$(sha "$T/v3.conf")" 10; done
echo "c came back with v2 and wrote v3 $(( $(now_ms) - t0 )) ms after its start; status shows v3 on every node"
# reload: the file of the node where it runs, written on the others.
cp "$T/v2.conf" "$T/a/etc/hasvc.conf"
expect 0 "changed web1; taken by a, b, c" hactl_on a reload
same_everywhere "$T/v2.conf" "after reload on a"
echo "reload on a pushed a's file to b and c"

# web1's vmm log in a's run directory is bounded while it runs: past 1 MiB
# (here a flood written into it) its contents move to .log.1.
wait_vm a web1 'v["primary"] == "a" and v["state"] == "unprotected"' 60
log=$(ls "$T"/a/run/hasvc.web1.*.log) || fail "no vmm log of web1 on a"
head -c 1100000 /dev/zero | tr '\0' x >>"$log"
end=$(deadline 10)
until [ -e "$log.1" ] && [ "$(stat -c %s "$log")" -lt 1048576 ]; do
	[ "$(date +%s)" -le "$end" ] || fail "$log not bounded: $(stat -c %s "$log") bytes"
	sleep 0.1
done
echo "web1's log on a past 1 MiB: moved to $(basename "$log").1, the log starts again"
# Removed from the configuration: its copy stops, and its files go.
reloads() {
	hactl_on "$1" --json events 2>/dev/null |
		python3 -c 'import json, sys; print(sum(e["event"] == "config_reloaded" for e in json.load(sys.stdin)["events"]))'
}
r0=$(reloads c)
expect 0 "removed web1" hactl_on a config apply "$T/v1.conf"
[ "$(reloads c)" = $((r0 + 1)) ] || fail "config_reloaded events on c: $r0, then $(reloads c)"
end=$(deadline 30)
while left=$(find "$T"/a/run "$T"/b/run "$T"/c/run -name 'hasvc.web1.*' -o -name web1.serial) &&
	[ -n "$left" ]; do
	[ "$(date +%s)" -le "$end" ] || fail "web1 removed, yet its files remain: $left"
	sleep 0.1
done
echo "web1 removed from the configuration (one more config_reloaded event): its log, .log.1, serial socket and record are gone"

# --json of texts an operator wrote: quotes, backslashes and control
# characters in a comment (config show) and in a refused value (the error
# quotes it) come out as valid JSON that reads back as they were.
{ cat "$T/v1.conf"; printf '# a "quoted" \\back\\slash, a tab\t, a bell\a, caf\303\251\n'; } >"$T/odd.conf"
expect 0 "no VM changed" hactl_on a config apply "$T/odd.conf"
hactl_on b --json config show >"$T/show.json" || fail "config show --json failed"
python3 - "$T/show.json" "$T/odd.conf" <<'EOP' || fail "config show --json: $(cat "$T/show.json")"
import json, sys
raw = open(sys.argv[1], "rb").read().decode("utf-8")
assert raw.count("\n") == 1, "not one line"
got = json.loads(raw, parse_constant=lambda c: sys.exit(c + " is not JSON"))["text"]
sys.exit(got != open(sys.argv[2], encoding="utf-8").read())
EOP
{ cat "$T/odd.conf"; printf '[vm web9]\nmemory = 1"\\Q\t\n'; } >"$T/oddbad.conf"
hactl_on a --json config apply "$T/oddbad.conf" >"$T/bad.json" 2>/dev/null && fail "a bad memory value was taken"
python3 - "$T/bad.json" <<'EOP' || fail "config apply --json refused: $(cat "$T/bad.json")"
import json, sys
e = json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))["error"]
sys.exit('1"\\Q' not in e)
EOP
echo "config show --json and a refused apply's error: valid JSON, the text read back as written"
replicas_agree 3 30
echo "replicas agree; ok"
