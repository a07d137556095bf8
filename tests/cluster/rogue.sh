#!/bin/sh
# hasvcd believes the corosync node id a cluster message came from, not what
# the message says about itself (docs/hasvc-daemon.md, "Who sent it").
# tests/cluster/rogue_cpg joins the group and multicasts a State that would
# win any state exchange (an empty replica with the largest event count)
# and a configuration that adds a VM and a fence command, both claiming to
# come from another node:
#  1. from node a, where hasvcd runs: a second member from a's node id,
#     ignored and logged while it stays in the group;
#  2. from node d (a corosync node hasvc.conf does not declare), claiming
#     to be c: the claim does not match d's node id, ignored and logged;
#  3. from node d under its own name: d is not declared, so its state and
#     its configuration are not used.
# After each, every hasvcd runs the same configuration (digest) and VMs as
# before, nobody ran the rogue's fence command, and a reload from b still
# goes through (nothing waits for the rogue).
#  4. A silent rogue on c that was in the group before c's hasvcd starts
#     again: the others took it for c's hasvcd, so the new hasvcd refuses
#     to run beside it (exits as a failure, saying why); the others cut the
#     silent member off after sync_timeout_ms; once it is gone, c's hasvcd
#     starts and joins as before.
#  5. A silent rogue on a, older than a's hasvcd (a lower pid) but joining
#     after it, then c's hasvcd restarts: c cannot tell which of a's two
#     members is hasvcd, guesses the lowest pid (the rogue), counts a's
#     real State as a's answer and, once it adopts the cluster's state,
#     takes the pid that state names; then a reload from a applies on c.
. "$(dirname "$0")/cluster_nodes.sh"
. "$(dirname "$0")/hasvc_cluster.sh"
need_hasvc
ROGUE="$top_builddir/tests/cluster/rogue_cpg"
[ -x "$ROGUE" ] || fail "$ROGUE is not built (make check builds it)"

cluster_setup 4
# d is a corosync node only: hasvc.conf does not declare it.
CL_NODES="a b c"
HLIB_PROTECT=no write_hasvc_conf web1
CL_NODES="a b c d"
sed -i "s/^\\[cluster\\]\$/[cluster]\\nsync_timeout_ms = $((2000 * TIME_SCALE))/" "$T/hasvc.conf"
for n in a b c d; do start_corosync "$n"; done
wait_members "a b c d" 4 20
group="hasvc.t$$"
node_bg a late "$ROGUE" "$group" silent "$T/a/late.go"
late_pid=$BG_PID
for n in a b c; do start_hasvcd "$n"; done
[ "$late_pid" -lt "$a_hasvcd_pid" ] || fail "pids: the late rogue ($late_pid) is not older than a's hasvcd"
wait_vm a web1 'v["state"] == "unprotected" and all(n.get("ready") for n in s["nodes"])' 60

# What every node's hasvcd runs: the configuration's digest and the VMs.
view() {
	vm_get "$1" web1 's.get("config_digest", "") + " " + ",".join(sorted(x["name"] for x in s.get("vms", [])))'
}
expect_view() {
	for n in a b c; do
		[ "$(view "$n")" = "$1" ] || fail "$2: $n runs '$(view "$n")', not '$1'"
	done
	[ ! -e "$T/pwned" ] || fail "$2: the rogue's fence command ran"
}

# The rogue's configuration: one more VM, a fence command on every node.
sed "s|^\\[node \\(.*\\)\\]\$|[node \\1]\\nfence_command = touch $T/pwned|" "$T/hasvc.conf" \
	>"$T/rogue.conf"
printf '[vm evil]\nmemory = 32M\nvcpus = 1\nkernel = %s\nprotected = no\n' \
	"$GUESTS/counter.elf" >>"$T/rogue.conf"
"$HASVCD" --check-config -c "$T/rogue.conf" >/dev/null || fail "the rogue's file does not parse"

# rogue NODE NAME TAG LOGREGEX: a rogue in NODE claiming NAME; waits until
# its messages were delivered and every hasvcd logged LOGREGEX; leaves it
# in the group (ROGUE_PID) so that the checks run while it is there.
rogue() {
	node_bg "$1" "$3" "$ROGUE" "$group" inject "$2" "$T/rogue.conf"
	ROGUE_PID=$BG_PID
	wait_for_line "$T/$1/$3.out" '^sent$' 20 ||
		fail "$3: the rogue never got its messages back: $(cat "$T/$1/$3.err")"
	for n in a b c; do
		wait_for_line "$T/$n/hasvcd.log" "$4" 20 ||
			fail "$3: $n's hasvcd did not log '$4': $(grep -v debug "$T/$n/hasvcd.log" | tail -8)"
	done
	echo "$3 ($1 claiming $2): $(grep -Eh -- "$4" "$T/a/hasvcd.log" | tail -1 | sed 's/^.*: \(message\|state\|config\)/\1/')"
}

stop_rogue() {
	kill "$ROGUE_PID" && wait "$ROGUE_PID" || fail "the rogue did not stop cleanly"
}

# reload_adds VM: a reload from b adding VM applies everywhere.
reload_adds() {
	cat "$T/hasvc.conf" >"$T/next.conf"
	printf '[vm %s]\nmemory = 32M\nvcpus = 1\nkernel = %s\nprotected = no\n' "$1" \
		"$GUESTS/counter.elf" >>"$T/next.conf"
	cp "$T/next.conf" "$T/hasvc.conf"
	hactl_on b reload >"$T/reload.out" 2>&1 || fail "reload adding $1: $(cat "$T/reload.out")"
	grep -q "added $1" "$T/reload.out" || fail "reload adding $1: $(cat "$T/reload.out")"
	for n in a b c; do wait_vm "$n" "$1" '"name" in v' 30; done
}

before=$(view a)
echo "before: $before"

rogue a b rogue_a 'pid [0-9]+ on node id 1 \(a\), which is not that node.s hasvcd: ignored'
expect_view "$before" "rogue from a's node id"
reload_adds web2
before=$(view a)
stop_rogue
echo "a rogue on a's node id: ignored; a reload from b applied ($before)"

rogue d c rogue_d1 "from node id 4 \\(d\\) says it is from 'c': ignored"
expect_view "$before" "rogue on d claiming to be c"
stop_rogue

rogue d d rogue_d2 'configuration from d, a node the configuration in force does not declare: ignored'
# d's State came before the configuration: it is out of the exchange its
# join opened (not used, logged) or, if a, b and c had all answered first,
# after it (ignored like any late State).  Either way it was not adopted:
for n in a b c; do
	grep -q 'state from d (node id 4, pid [0-9]*), which the configuration does not declare: not used' \
		"$T/$n/hasvcd.log" && echo "$n: d's state came during the exchange: not used" ||
		echo "$n: d's state came after the exchange: ignored"
done
expect_view "$before" "rogue on d under its own name"
reload_adds web3
stop_rogue
echo "rogues on undeclared d: ignored; a reload from b applied"

kill "$c_hasvcd_pid" && wait "$c_hasvcd_pid" || fail "c's hasvcd did not stop cleanly"
node_bg c squatter "$ROGUE" "$group" silent
wait_for_line "$T/c/squatter.out" '^joined$' 20 || fail "the squatter did not join"
for n in a b; do
	wait_for_line "$T/$n/hasvcd.log" 'without the state of c \(node id 3' 30 ||
		fail "$n did not cut the silent squatter off: $(grep -v debug "$T/$n/hasvcd.log" | tail -5)"
done
start_hasvcd c
wait "$c_hasvcd_pid" && fail "c's hasvcd ran beside the squatter" || true
grep -q "was in the group .* before this daemon: the other members take it for this node's hasvcd" \
	"$T/c/hasvcd.log" || fail "c's hasvcd did not say why it stopped: $(tail -3 "$T/c/hasvcd.log")"
echo "c's hasvcd refused to run beside a process already in the group from c"
kill "$c_squatter_pid" && wait "$c_squatter_pid" || fail "the squatter did not stop cleanly"
start_hasvcd c
wait_vm a web1 'all(n.get("ready") for n in s["nodes"])' 30
echo "with the squatter gone, c's hasvcd joined again"

touch "$T/a/late.go"
wait_for_line "$T/a/late.out" '^joined$' 20 || fail "the late rogue did not join"
for n in a b c; do
	wait_for_line "$T/$n/hasvcd.log" "pid $late_pid on node id 1 \\(a\\) is in the group, not as that node's hasvcd" 20 ||
		fail "$n did not refuse the late rogue: $(grep -v debug "$T/$n/hasvcd.log" | tail -5)"
done
kill "$c_hasvcd_pid" && wait "$c_hasvcd_pid" || fail "c's hasvcd did not stop cleanly"
start_hasvcd c
wait_for_line "$T/c/hasvcd.log" "node id 1 \\(a\\) has several members in the group: taking pid $late_pid as its hasvcd until" 20 ||
	fail "c did not guess: $(grep -v debug "$T/c/hasvcd.log" | tail -5)"
wait_for_line "$T/c/hasvcd.log" "node id 1 \\(a\\): pid $a_hasvcd_pid is its hasvcd, as the cluster's state says, not pid $late_pid" 30 ||
	fail "c did not learn a's hasvcd from the state: $(grep -v debug "$T/c/hasvcd.log" | tail -8)"
wait_vm c web1 'all(n.get("ready") for n in s["nodes"])' 30
echo "c (restarted) guessed pid $late_pid for a, then took $a_hasvcd_pid from the cluster's state"
cat "$T/hasvc.conf" >"$T/next.conf"
printf '[vm web4]\nmemory = 32M\nvcpus = 1\nkernel = %s\nprotected = no\n' "$GUESTS/counter.elf" >>"$T/next.conf"
cp "$T/next.conf" "$T/hasvc.conf"
hactl_on a reload >"$T/reload.out" 2>&1 || fail "reload from a: $(cat "$T/reload.out")"
wait_vm c web4 '"name" in v' 30
echo "a reload from a's hasvcd applied on c"
replicas_agree 3 30
echo "replicas agree; ok"
