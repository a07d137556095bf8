#!/bin/sh
# A node hosting a primary dies (SIGKILL of every process in it: corosync,
# hasvcd, vmm): the quorate rest promotes the standby from its last
# committed checkpoint, a client following the VM loses no acknowledged
# update, and a new standby is synced on the third node.
# Two protected counter guests, one primary on a and one on b; a is killed.
# Totem: token 300 ms, token_coefficient 0 (clib.sh's defaults).
. "$(dirname "$0")/clib.sh"
. "$(dirname "$0")/hlib.sh"
need_hasvc
BOUND_MS=${BOUND_MS:-5000}

cluster_setup 3
start_cluster web1:a,b web2:b,c
set -- $(wait_protected web1 90); [ "$1 $2" = "a b" ] || fail "web1 placed on $1/$2, not a/b"
set -- $(wait_protected web2 90); [ "$1 $2" = "b c" ] || fail "web2 placed on $1/$2, not b/c"
echo "web1 on a (standby b), web2 on b (standby c): protected"

start_client web1
start_client web2
wait_acks web1 50 20
wait_acks web2 50 20

t0=$(now_ms)
kill_node a
echo "killed every process of node a"
wait_vm b web1 'v["primary"] == "b" and v["state"] in ("running", "syncing", "protected")' 20
wait_acks web1 20 20
# The client's first answer from the new primary ("get" after reconnecting).
t1=$(awk '$1 > '"$t0"' && $3 == "connected" { print $1; exit }' "$T/web1.acks")
[ -n "$t1" ] || fail "web1: the client never reconnected: $(tail -5 "$T/web1.acks")"
echo "web1 answered from b $(( t1 - t0 )) ms after the kill (bound ${BOUND_MS} ms)"
[ $(( t1 - t0 )) -le "$BOUND_MS" ] || fail "failover took $(( t1 - t0 )) ms, over ${BOUND_MS} ms"

set -- $(wait_protected web1 90)
[ "$1 $2" = "b c" ] || fail "web1 after the failover: $1/$2, expected b/c"
echo "web1 protected again: primary b, standby c"
wait_acks web2 20 20
stop_client web1
stop_client web2
# The clients check that "get" never went below the last acknowledged value.
[ "$(vm_get b web2 'v["primary"]')" = b ] || fail "web2 moved though its node lived"
echo "ok"
